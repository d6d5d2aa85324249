//! Compiles the web foundation's texts (`locales/`) and embeds its stylesheet and script
//! (`assets/`), checked by `web-build`.

use std::path::{Path, PathBuf};

fn main() {
    if let Err(e) = build() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn build() -> Result<(), String> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    web_build::catalogue(Path::new("locales"), &out.join("text.rs"))?;
    web_build::assets(Path::new("assets"), &out.join("own_assets.rs"))
}
