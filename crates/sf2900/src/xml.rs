//! A small namespace-aware XML tree and writer: the only place that touches XML syntax.
//!
//! Decoding parses a document into an [`Element`] tree with resolved namespace URIs (prefixes
//! are the sender's business, not ours), then the typed model reads from the tree. The tree is
//! also how open content (`FormularXML`, `RouteParameter`) is carried: it is re-emitted with
//! exactly the namespace declarations it needs, including `xmlns=""` when a no-namespace
//! element sits under a default namespace. Parsing is iterative with a depth limit, so no input
//! can overflow the stack, and it never panics.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use std::fmt::Write as _;

/// Deeper documents are refused. SF2900 messages nest about 12 levels; form XML a few more.
pub const MAX_DEPTH: usize = 128;

/// An element with its resolved namespace URI (`None`: no namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Its namespace URI; `None`: no namespace.
    pub ns: Option<String>,
    /// Its local name.
    pub name: String,
    /// Its attributes, namespace declarations excluded (they are resolved).
    pub attrs: Vec<Attr>,
    /// Its content: elements and text, in order.
    pub children: Vec<Node>,
}

/// An attribute with its resolved namespace URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Its namespace URI; `None` for an unprefixed attribute.
    pub ns: Option<String>,
    /// Its local name.
    pub name: String,
    /// Its value, with entities and character references resolved.
    pub value: String,
}

/// A piece of an element's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Text (entities resolved, CDATA included as text).
    Text(String),
}

/// Why a document could not be read as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed XML at byte {position}: {reason}")]
pub struct SyntaxError {
    /// The byte offset where reading stopped.
    pub position: u64,
    /// What was wrong there.
    pub reason: String,
}

impl Element {
    /// An empty element.
    pub fn new(ns: Option<&str>, name: &str) -> Self {
        Self {
            ns: ns.map(str::to_owned),
            name: name.to_owned(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Child elements, skipping text.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Child elements with this local name, in any namespace. Decoding matches by local name
    /// because real peers disagree about namespaces more often than about names.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.name == name)
    }

    /// The first child element with this local name, in any namespace.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// All text directly inside this element, concatenated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// Parses a whole document; its root element is returned.
    pub fn parse(input: &str) -> Result<Element, SyntaxError> {
        parse(input)
    }

    /// Serialises this element as a standalone fragment (no XML declaration).
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new();
        w.element_tree(self);
        w.finish()
    }
}

fn parse(input: &str) -> Result<Element, SyntaxError> {
    let mut reader = quick_xml::reader::NsReader::from_str(input);
    let cfg = reader.config_mut();
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let err = |reader: &quick_xml::reader::NsReader<&[u8]>, reason: String| SyntaxError {
        position: reader.buffer_position(),
        reason,
    };
    loop {
        let (resolved, event) = match reader.read_resolved_event() {
            Ok((r, e)) => (to_ns(&r), e),
            Err(e) => return Err(err(&reader, e.to_string())),
        };
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(event, Event::Empty(_));
                if root.is_some() {
                    return Err(err(&reader, "content after the root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        &reader,
                        format!("nested deeper than {MAX_DEPTH} elements"),
                    ));
                }
                let ns = match resolved {
                    Ok(ns) => ns,
                    Err(p) => return Err(err(&reader, format!("unknown namespace prefix `{p}`"))),
                };
                let name = s.local_name().as_ref().to_owned();
                let mut el = Element {
                    ns,
                    name,
                    attrs: Vec::new(),
                    children: Vec::new(),
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| err(&reader, e.to_string()))?;
                    let key = a.key;
                    if key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (ans, local) = reader.resolver().resolve_attribute(key);
                    let ans = to_ns(&ans)
                        .map_err(|p| err(&reader, format!("unknown namespace prefix `{p}`")))?;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| err(&reader, e.to_string()))?
                        .into_owned();
                    el.attrs.push(Attr {
                        ns: ans,
                        name: local.as_ref().to_owned(),
                        value,
                    });
                }
                if empty {
                    close(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => match stack.pop() {
                Some(el) => close(&mut stack, &mut root, el),
                None => return Err(err(&reader, "unexpected end tag".into())),
            },
            Event::Text(t) => {
                let text = t.xml10_content();
                push_text(&mut stack, &text, &reader)?;
            }
            Event::CData(c) => {
                let text = c.into_inner();
                push_text(&mut stack, &text, &reader)?;
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match resolve_predefined_entity(&r.xml10_content()) {
                        Some(s) => s.to_owned(),
                        None => {
                            return Err(err(
                                &reader,
                                format!("unknown entity `&{};`", r.xml10_content()),
                            ));
                        }
                    },
                    Err(e) => return Err(err(&reader, e.to_string())),
                };
                push_text(&mut stack, &ch, &reader)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err(err(&reader, "DOCTYPE is not allowed".into())),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(SyntaxError {
            position: input.len() as u64,
            reason: "unclosed element".into(),
        });
    }
    root.ok_or(SyntaxError {
        position: 0,
        reason: "no root element".into(),
    })
}

fn to_ns(r: &ResolveResult<'_>) -> Result<Option<String>, String> {
    match r {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(ns) => Ok(Some(ns.as_ref().to_owned())),
        ResolveResult::Unknown(p) => Err(p.clone()),
    }
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

fn push_text(
    stack: &mut [Element],
    text: &str,
    reader: &quick_xml::reader::NsReader<&[u8]>,
) -> Result<(), SyntaxError> {
    match stack.last_mut() {
        Some(parent) => {
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(text);
            } else {
                parent.children.push(Node::Text(text.to_owned()));
            }
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(SyntaxError {
            position: reader.buffer_position(),
            reason: "text outside the root element".into(),
        }),
    }
}

/// Namespaces bound to fixed prefixes when we write. One prefix per namespace, declared once
/// on the root element, so output never depends on a default namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ns {
    /// The prefix we write it with.
    pub prefix: &'static str,
    /// The namespace URI.
    pub uri: &'static str,
}

/// Escapes an attribute value. Besides the markup characters it escapes the whitespace that a
/// parser would normalise away (`\r`, `\n`, `\t`), so that what we write is read back exactly.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    escape_chars(s, |b| {
        matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | b'\r' | b'\n' | b'\t')
    })
}

/// Escapes element content: markup characters and `\r` (which parsers turn into `\n`).
pub fn escape_text(s: &str) -> std::borrow::Cow<'_, str> {
    escape_chars(s, |b| matches!(b, b'&' | b'<' | b'>' | b'\r'))
}

/// `special` says which (ASCII) bytes need escaping; written as a `matches!`, it compiles to a
/// few comparisons per byte that the compiler vectorises over whole chunks, so the common case
/// of nothing to escape, such as a Base64 attachment, is a fast scan.
fn escape_chars(s: &str, special: impl Fn(u8) -> bool + Copy) -> std::borrow::Cow<'_, str> {
    let needs = |c: &[u8]| c.iter().fold(false, |seen, &b| seen | special(b));
    if !s.as_bytes().chunks(64).any(needs) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !c.is_ascii() || !special(c as u8) {
            out.push(c);
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Writes XML with fixed prefixes. Element names are written as given: callers pass the
/// protocol's spelling, prefixed with the namespace's prefix (or bare for no namespace).
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
    /// The in-scope default namespace while writing a foreign tree (FormularXML content).
    default_ns: Vec<Option<String>>,
    pending: Vec<Ns>,
}

impl Writer {
    /// An empty document.
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(4096),
            default_ns: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Writes the XML declaration (UTF-8), for a standalone document.
    pub fn declaration(&mut self) {
        self.out
            .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    }

    /// The next element opened declares these namespaces (the root of a message or envelope).
    pub fn declare_on_next(&mut self, declare: &[Ns]) {
        self.pending.extend_from_slice(declare);
    }

    /// Opens an element; `ns: None` writes it unqualified.
    pub fn open(&mut self, ns: Option<Ns>, name: &str) {
        self.out.push('<');
        self.qname(ns, name);
        self.declarations();
        self.out.push('>');
    }

    fn declarations(&mut self) {
        for d in std::mem::take(&mut self.pending) {
            let _ = write!(self.out, " xmlns:{}=\"{}\"", d.prefix, d.uri);
        }
    }

    /// Closes the element opened with the same `ns` and `name`.
    pub fn close(&mut self, ns: Option<Ns>, name: &str) {
        self.out.push_str("</");
        self.qname(ns, name);
        self.out.push('>');
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, ns: Option<Ns>, name: &str, text: &str) {
        self.open(ns, name);
        self.out.push_str(&escape_text(text));
        self.close(ns, name);
    }

    /// `<name/>`.
    pub fn empty(&mut self, ns: Option<Ns>, name: &str) {
        self.out.push('<');
        self.qname(ns, name);
        self.declarations();
        self.out.push_str("/>");
    }

    fn qname(&mut self, ns: Option<Ns>, name: &str) {
        if let Some(ns) = ns {
            self.out.push_str(ns.prefix);
            self.out.push(':');
        }
        self.out.push_str(name);
    }

    /// Writes a foreign element tree. We never declare a default namespace ourselves, so the
    /// tree starts with none in scope; each element states its own namespace as a default
    /// declaration when it differs from its parent's, and `xmlns=""` when it has none under a
    /// namespaced parent. Namespaced attributes get generated prefixes.
    pub fn element_tree(&mut self, el: &Element) {
        let inherited = self.default_ns.last().cloned().flatten();
        self.out.push('<');
        self.out.push_str(&el.name);
        if el.ns != inherited {
            match &el.ns {
                Some(uri) => {
                    let _ = write!(self.out, " xmlns=\"{}\"", escape(uri));
                }
                None => self.out.push_str(" xmlns=\"\""),
            }
        }
        for (i, a) in el.attrs.iter().enumerate() {
            match &a.ns {
                Some(uri) => {
                    let _ = write!(
                        self.out,
                        " xmlns:a{i}=\"{}\" a{i}:{}=\"{}\"",
                        escape(uri),
                        a.name,
                        escape(&a.value)
                    );
                }
                None => {
                    let _ = write!(self.out, " {}=\"{}\"", a.name, escape(&a.value));
                }
            }
        }
        if el.children.is_empty() {
            self.out.push_str("/>");
            return;
        }
        self.out.push('>');
        self.default_ns.push(el.ns.clone());
        for c in &el.children {
            match c {
                Node::Element(e) => self.element_tree(e),
                Node::Text(t) => self.out.push_str(&escape_text(t)),
            }
        }
        self.default_ns.pop();
        self.out.push_str("</");
        self.out.push_str(&el.name);
        self.out.push('>');
    }

    /// Writes a document that is already XML (its declaration dropped) as the next content:
    /// for a stored message that must go out byte for byte as it was written.
    pub fn document(&mut self, xml: &str) {
        let body = match xml.trim_start().strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or(rest, |(_, body)| body),
            None => xml,
        };
        self.out.push_str(body.trim_start());
    }

    /// The document written.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_namespaces_and_keeps_no_namespace_children() {
        let doc = r#"<?xml version="1.0"?><a:Root xmlns:a="urn:a" xmlns="urn:d"><Kid>x &amp; y &#248;</Kid><Form xmlns=""><SP241 k="v"/></Form></a:Root>"#;
        let root = Element::parse(doc).unwrap();
        assert_eq!(root.ns.as_deref(), Some("urn:a"));
        let kid = root.child("Kid").unwrap();
        assert_eq!(kid.ns.as_deref(), Some("urn:d"));
        assert_eq!(kid.text(), "x & y ø");
        let form = root.child("Form").unwrap();
        assert_eq!(form.ns, None);
        assert_eq!(form.child("SP241").unwrap().attrs[0].value, "v");
    }

    #[test]
    fn foreign_tree_round_trips_with_explicit_namespaces() {
        let src = r#"<X xmlns="urn:x"><Y xmlns="">t</Y><Z/></X>"#;
        let el = Element::parse(src).unwrap();
        let again = Element::parse(&el.to_xml()).unwrap();
        assert_eq!(el, again);
        assert_eq!(el.to_xml(), r#"<X xmlns="urn:x"><Y xmlns="">t</Y><Z/></X>"#);
    }

    #[test]
    fn refuses_bad_input_without_panicking() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<p:a/>",
            "<a/><b/>",
            "text",
            "<!DOCTYPE a><a/>",
            "<a>&foo;</a>",
        ] {
            assert!(Element::parse(bad).is_err(), "{bad:?} should fail");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(Element::parse(&deep).is_err());
    }
}
