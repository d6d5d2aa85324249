//! A pure Rust renderer for PHP Twig 3 templates, byte-compatible with PHP Twig 3.5 for the
//! subset that OS2forms Fordeler XML templates use.
//!
//! Municipalities have Twig XML templates written for the PHP module
//! `os2forms_fordelingskomponent`; the Fordeler renders them unchanged. A template compiles
//! once (`Environment::compile`) into an immutable, shareable `Template`, which renders a
//! JSON/PHP-like context many times:
//!
//! ```
//! let mut env = twig::Environment::new();
//! twig::register_os2forms(&mut env);
//! let t = env.compile("sp241.xml.twig", "<N>{{ submission.data.navn }}</N>").unwrap();
//! let ctx = serde_json::json!({"submission": {"data": {"navn": "Æble & Co"}}});
//! assert_eq!(t.render_json(&env, &ctx).unwrap(), "<N>Æble &amp; Co</N>");
//! ```
//!
//! Semantics follow PHP 8 and Twig 3.5 as the module configures it (strict variables, `html`
//! auto-escaping); `tests/php_parity.rs` checks that against PHP Twig itself.

#![warn(missing_docs)]

mod ast;
mod date;
mod env;
mod error;
mod filters;
mod lexer;
mod os2forms;
mod parser;
mod pcre;
mod phpfmt;
mod render;
mod value;

pub use date::PhpDate;
pub use env::{Autoescape, Environment, FilterFn, FunctionFn, Template};
pub use error::{Error, ErrorKind};
pub use os2forms::register_os2forms;
pub use value::{Array, Key, Value};
