//! Errors with the template name and line, worded like PHP Twig's.
//!
//! Messages describe the template's own text (variable names, filter names, literal keys) and
//! never a rendered value: values are submission data and may be personal (CPR numbers).

use std::fmt;

/// Which of PHP Twig's errors this is: a template that cannot be used at all, or one render
/// that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The template does not parse (PHP `Twig\Error\SyntaxError`).
    Syntax,
    /// Rendering failed (PHP `Twig\Error\RuntimeError` and PHP errors raised while rendering).
    Runtime,
}

/// A template error as PHP Twig reports it: kind, message, template and line. Its message
/// never quotes a rendered value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// A syntax or a runtime error.
    pub kind: ErrorKind,
    /// The problem, without the location (Twig's "raw message").
    pub message: String,
    /// The template's name as it was compiled.
    pub template: String,
    /// 1-based; 0 when unknown.
    pub line: u32,
}

impl Error {
    /// A syntax error in `template` at `line`.
    pub fn syntax(msg: impl Into<String>, template: &str, line: u32) -> Error {
        Error {
            kind: ErrorKind::Syntax,
            message: msg.into(),
            template: template.to_string(),
            line,
        }
    }

    /// A rendering error in `template` at `line`.
    pub fn runtime(msg: impl Into<String>, template: &str, line: u32) -> Error {
        Error {
            kind: ErrorKind::Runtime,
            message: msg.into(),
            template: template.to_string(),
            line,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = self.message.strip_suffix('.').unwrap_or(&self.message);
        if self.line > 0 {
            write!(f, "{msg} in \"{}\" at line {}.", self.template, self.line)
        } else {
            write!(f, "{msg} in \"{}\".", self.template)
        }
    }
}

impl std::error::Error for Error {}
