//! Compiles the portal's texts (`locales/`), checked by `web-build`: a key missing in one
//! language stops the build.

use std::path::{Path, PathBuf};

fn main() {
    if let Err(e) = build() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn build() -> Result<(), String> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    web_build::catalogue(Path::new("locales"), &out.join("text.rs"))
}
