//! web-build: what a product's `build.rs` does for its web portal, so the portal's texts and
//! static files are checked and embedded by `cargo build` alone.
//!
//! - [`catalogue`]: the Danish and English message catalogues (`da.toml`, `en.toml`) compiled
//!   into one struct, so a key missing in one language stops the build and a mistyped key in
//!   a template is a compile error.
//! - [`assets`]: the files of `assets/` embedded under content-hashed names, served by
//!   `service_kit::web::assets_router` and cached for a year by browsers; templates link
//!   them through generated constants, so a removed asset is a compile error.
//!
//! This crate is only ever a `[build-dependencies]` entry. It depends on nothing of the
//! product's runtime (service-kit, axum, sqlx), which would otherwise be compiled a second
//! time for the build host; the generated code names `service_kit::web::Asset` by path only.
//!
//! Both functions write Rust source for `include!`. In the product's `build.rs` (an error is
//! printed as written, rather than as `main`'s `Err` would show it, with escaped quotes):
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//!
//! fn main() {
//!     if let Err(e) = build() {
//!         eprintln!("{e}");
//!         std::process::exit(1);
//!     }
//! }
//!
//! fn build() -> Result<(), String> {
//!     let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
//!     web_build::catalogue(Path::new("locales"), &out.join("i18n.rs"))?;
//!     web_build::assets(Path::new("assets"), &out.join("assets.rs"))
//! }
//! ```
//!
//! and in `src/lib.rs`:
//!
//! ```ignore
//! /// The portal's texts in Danish and English.
//! pub mod i18n {
//!     include!(concat!(env!("OUT_DIR"), "/i18n.rs"));
//! }
//! /// The portal's static files and their URLs (`assets::APP_CSS`).
//! pub mod assets {
//!     include!(concat!(env!("OUT_DIR"), "/assets.rs"));
//! }
//! ```
//!
//! The generated items are `pub` and documented; inside a `pub(crate)` module they allow
//! `unreachable_pub` themselves, since how far they reach is the including `mod`'s decision.
//! In a private module an asset constant no template uses warns as dead code, on purpose.

#![warn(missing_docs)]

mod assets;
mod i18n;

pub use assets::assets;
pub use i18n::catalogue;

use std::path::Path;

/// Writes `text` to `path` unless the file already holds exactly that, so a build script that
/// reruns without a change leaves the file's time alone and nothing including it rebuilds.
fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `s` as a Rust string literal: quoted, with `"`, `\` and control characters escaped.
fn literal(s: &str) -> String {
    format!("{s:?}")
}
