//! The few libxml2 functions XSD validation needs, declared by hand against libxml2's C ABI,
//! which these functions and `xmlError` have kept unchanged from 2.9 to 2.14.
//!
//! Declaring them here instead of generating bindings (bindgen, which needs libclang at build
//! time) means the first build needs nothing beyond libxml2 itself: Debian's `libxml2`, which most
//! systems have; not even `libxml2-dev` (`build.rs` links to the run-time name).
//! Everything unsafe about libxml2 is in this module; the types it hands out free what they
//! own, and stay on the thread that made them (raw pointers make them neither `Send` nor `Sync`,
//! as libxml2's contexts require).

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::NonNull;

/// libxml2's `struct _xmlError`.
#[repr(C)]
struct XmlError {
    _domain: c_int,
    _code: c_int,
    message: *mut c_char,
    level: c_int,
    _file: *mut c_char,
    line: c_int,
    _str1: *mut c_char,
    _str2: *mut c_char,
    _str3: *mut c_char,
    _int1: c_int,
    _int2: c_int,
    _ctxt: *mut c_void,
    _node: *mut c_void,
}

/// `XML_ERR_WARNING` in `xmlErrorLevel`.
const LEVEL_WARNING: c_int = 1;

// `xmlParserOption` bits.
const PARSE_NOERROR: c_int = 1 << 5;
const PARSE_NOWARNING: c_int = 1 << 6;
const PARSE_NONET: c_int = 1 << 11;

/// Opaque libxml2 objects.
#[repr(C)]
struct XmlDoc {
    _private: [u8; 0],
}
#[repr(C)]
struct SchemaParserCtxt {
    _private: [u8; 0],
}
#[repr(C)]
struct Schema {
    _private: [u8; 0],
}
#[repr(C)]
struct SchemaValidCtxt {
    _private: [u8; 0],
}

/// `xmlStructuredErrorFunc` (libxml2 2.12 made the error `const`; the ABI is the same).
type StructuredErrorFn = unsafe extern "C" fn(ctx: *mut c_void, error: *mut XmlError);

// Linked by `build.rs` (by its run-time name on Linux, so libxml2-dev is not needed).
unsafe extern "C" {
    fn xmlInitParser();
    fn xmlSetStructuredErrorFunc(ctx: *mut c_void, handler: Option<StructuredErrorFn>);
    fn xmlReadMemory(
        buffer: *const c_char,
        size: c_int,
        url: *const c_char,
        encoding: *const c_char,
        options: c_int,
    ) -> *mut XmlDoc;
    fn xmlFreeDoc(doc: *mut XmlDoc);
    fn xmlSchemaNewParserCtxt(url: *const c_char) -> *mut SchemaParserCtxt;
    fn xmlSchemaSetParserStructuredErrors(
        ctxt: *mut SchemaParserCtxt,
        handler: Option<StructuredErrorFn>,
        ctx: *mut c_void,
    );
    fn xmlSchemaParse(ctxt: *mut SchemaParserCtxt) -> *mut Schema;
    fn xmlSchemaFreeParserCtxt(ctxt: *mut SchemaParserCtxt);
    fn xmlSchemaFree(schema: *mut Schema);
    fn xmlSchemaNewValidCtxt(schema: *mut Schema) -> *mut SchemaValidCtxt;
    fn xmlSchemaSetValidStructuredErrors(
        ctxt: *mut SchemaValidCtxt,
        handler: Option<StructuredErrorFn>,
        ctx: *mut c_void,
    );
    fn xmlSchemaValidateDoc(ctxt: *mut SchemaValidCtxt, doc: *mut XmlDoc) -> c_int;
    fn xmlSchemaFreeValidCtxt(ctxt: *mut SchemaValidCtxt);
}

/// One diagnostic libxml2 reported.
#[derive(Debug, Clone)]
pub(super) struct Diagnostic {
    pub warning: bool,
    pub line: Option<u32>,
    pub message: Option<String>,
}

/// Where libxml2 delivers diagnostics while a call runs: a heap list whose address is handed to
/// libxml2 as the callback's context, and that only the callback touches until it is taken.
struct Collector(NonNull<Vec<Diagnostic>>);

impl Collector {
    fn new() -> Self {
        Collector(NonNull::from(Box::leak(Box::default())))
    }

    fn context(&self) -> *mut c_void {
        self.0.as_ptr().cast()
    }

    fn take(&mut self) -> Vec<Diagnostic> {
        // SAFETY: the list is ours and no libxml2 call is running on this thread now, so the
        // callback is not writing to it.
        std::mem::take(unsafe { self.0.as_mut() })
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        // SAFETY: made by `Box::leak` in `new`; whatever libxml2 object held the pointer has
        // been freed (or has had its handler replaced) before its collector is dropped.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

unsafe extern "C" fn collect(ctx: *mut c_void, error: *mut XmlError) {
    if ctx.is_null() || error.is_null() {
        return;
    }
    // SAFETY: `ctx` is a `Collector`'s list (see its users) and `error` is valid for the
    // duration of the call, per libxml2's callback contract.
    let (list, error) = unsafe { (&mut *ctx.cast::<Vec<Diagnostic>>(), &*error) };
    let message = (!error.message.is_null()).then(|| {
        // SAFETY: a NUL-terminated string owned by libxml2 for the duration of the call.
        String::from_utf8_lossy(unsafe { CStr::from_ptr(error.message) }.to_bytes()).into_owned()
    });
    list.push(Diagnostic {
        warning: error.level == LEVEL_WARNING,
        line: u32::try_from(error.line).ok().filter(|l| *l > 0),
        message,
    });
}

unsafe extern "C" fn ignore(_ctx: *mut c_void, _error: *mut XmlError) {}

/// Initialises libxml2 once per process and stops it printing to stderr on this thread: some
/// diagnostics (for example "I/O warning: failed to load external entity") go to the thread's
/// global handler, bypassing the contexts' own collectors.
fn prepare_thread() {
    static INIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: xmlInitParser is meant to be called once before any other use.
    INIT.call_once(|| unsafe { xmlInitParser() });
    thread_local! {
        static SILENCED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    SILENCED.with(|done| {
        if !done.get() {
            // SAFETY: sets this thread's handler to one that ignores its arguments.
            unsafe { xmlSetStructuredErrorFunc(std::ptr::null_mut(), Some(ignore)) };
            done.set(true);
        }
    });
}

/// A parsed document.
pub(super) struct Document(NonNull<XmlDoc>);

impl Document {
    /// Parses without network access, without recovery (a broken document is an error, not a
    /// guess), and without printing anything. `Err` holds what libxml2 reported.
    pub(super) fn parse(text: &str) -> Result<Document, Vec<Diagnostic>> {
        prepare_thread();
        let size = c_int::try_from(text.len()).map_err(|_| {
            vec![Diagnostic {
                warning: false,
                line: None,
                message: Some("the document is larger than 2 GiB".into()),
            }]
        })?;
        let mut collector = Collector::new();
        // SAFETY: the handler is this thread's, set to the collector only for the parse and
        // reset before the collector can go; the buffer outlives the call and `size` is its
        // length (libxml2 does not need it NUL-terminated).
        let doc = unsafe {
            xmlSetStructuredErrorFunc(collector.context(), Some(collect));
            let doc = xmlReadMemory(
                text.as_ptr().cast(),
                size,
                std::ptr::null(),
                std::ptr::null(),
                PARSE_NONET | PARSE_NOERROR | PARSE_NOWARNING,
            );
            xmlSetStructuredErrorFunc(std::ptr::null_mut(), Some(ignore));
            doc
        };
        NonNull::new(doc)
            .map(Document)
            .ok_or_else(|| collector.take())
    }
}

impl Drop for Document {
    fn drop(&mut self) {
        // SAFETY: a document from xmlReadMemory, freed once.
        unsafe { xmlFreeDoc(self.0.as_ptr()) }
    }
}

/// A compiled schema with its validation context.
pub(super) struct Validator {
    // Freed in this order: the context refers to the schema.
    context: NonNull<SchemaValidCtxt>,
    schema: NonNull<Schema>,
    collector: Collector,
}

impl Validator {
    /// Compiles the schema at `path`, resolving `xs:import`/`xs:include` relative to it. `Ok`
    /// carries the warnings libxml2 gave while compiling (a missing imported file is only one).
    pub(super) fn compile(path: &CStr) -> Result<(Validator, Vec<Diagnostic>), Vec<Diagnostic>> {
        prepare_thread();
        let mut parse_collector = Collector::new();
        // SAFETY: the parser context is freed before its collector; its handler writes only to
        // that collector's list.
        let schema = unsafe {
            let parser = xmlSchemaNewParserCtxt(path.as_ptr());
            if parser.is_null() {
                return Err(vec![Diagnostic {
                    warning: false,
                    line: None,
                    message: Some("libxml2 could not start a schema parser".into()),
                }]);
            }
            xmlSchemaSetParserStructuredErrors(parser, Some(collect), parse_collector.context());
            let schema = xmlSchemaParse(parser);
            xmlSchemaFreeParserCtxt(parser);
            schema
        };
        let diagnostics = parse_collector.take();
        let Some(schema) = NonNull::new(schema) else {
            return Err(diagnostics);
        };
        // SAFETY: a schema just compiled; freed here if no context can be made for it.
        let context = unsafe { xmlSchemaNewValidCtxt(schema.as_ptr()) };
        let Some(context) = NonNull::new(context) else {
            unsafe { xmlSchemaFree(schema.as_ptr()) };
            return Err(vec![Diagnostic {
                warning: false,
                line: None,
                message: Some("libxml2 could not make a validation context".into()),
            }]);
        };
        let collector = Collector::new();
        // SAFETY: the context is freed (in Drop) before the collector it writes to.
        unsafe {
            xmlSchemaSetValidStructuredErrors(context.as_ptr(), Some(collect), collector.context())
        };
        Ok((
            Validator {
                context,
                schema,
                collector,
            },
            diagnostics,
        ))
    }

    /// Validates a document. `Err` holds what libxml2 reported (possibly nothing).
    pub(super) fn validate(&mut self, doc: &Document) -> Result<(), Vec<Diagnostic>> {
        prepare_thread();
        // Warnings left from an earlier valid document are not this document's.
        self.collector.take();
        // SAFETY: both objects are alive and were made on this thread.
        let rc = unsafe { xmlSchemaValidateDoc(self.context.as_ptr(), doc.0.as_ptr()) };
        let diagnostics = self.collector.take();
        if rc == 0 { Ok(()) } else { Err(diagnostics) }
    }
}

impl Drop for Validator {
    fn drop(&mut self) {
        // SAFETY: made in `compile`, freed once, the context before the schema it uses.
        unsafe {
            xmlSchemaFreeValidCtxt(self.context.as_ptr());
            xmlSchemaFree(self.schema.as_ptr());
        }
    }
}

/// A path as libxml2 takes it: no interior NUL.
pub(super) fn c_path(path: &str) -> Option<CString> {
    CString::new(path).ok()
}
