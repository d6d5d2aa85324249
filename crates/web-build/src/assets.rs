//! Static files embedded in the binary under content-hashed names (`app.css` is served as
//! `/static/app.<hash>.css`).
//!
//! A name that changes with the content lets browsers cache a file for a year without ever
//! showing a stale one after an upgrade, and `include_bytes!` makes `cargo build` alone produce
//! a self-contained binary: nothing to deploy beside it, nothing read from disk at run time.

use crate::{literal, write_if_changed};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Hex digits of the SHA-256 in a hashed name: 40 bits, ample to tell a handful of versions
/// of one file apart, and short enough to read in a URL.
const NAME_HASH_LEN: usize = 10;

/// For every file directly in `assets_dir` (sorted by name; subdirectories and dot-files such
/// as `.gitkeep` are skipped), writes to `out_file` the Rust source of
/// `pub static ASSETS: &[service_kit::web::Asset]` (hashed name, MIME type, ETag, contents by
/// `include_bytes!`) and one `pub const` per file with its URL path, named after the file:
/// `app.css` gives `pub const APP_CSS: &str = "/static/app.<hash>.css";`.
///
/// The hash is the first 10 hex digits of the file's SHA-256, inserted before the extension;
/// the ETag is the whole SHA-256. Fails on an extension it has no MIME type for (css, js,
/// svg, png, ico, woff2, txt are known), on a file name that makes no constant name, and on
/// files it cannot read. Prints `cargo:rerun-if-changed` for the directory and each file.
pub fn assets(assets_dir: &Path, out_file: &Path) -> Result<(), String> {
    println!("cargo:rerun-if-changed={}", assets_dir.display());
    let dir = std::fs::canonicalize(assets_dir)
        .map_err(|e| format!("cannot read {}: {e}", assets_dir.display()))?;
    let mut files = BTreeMap::new();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(format!("{}: the file name is not UTF-8", path.display()));
        };
        if name.starts_with('.') || path.is_dir() {
            continue;
        }
        files.insert(name, path);
    }

    let mut entries = Vec::new();
    let mut consts = BTreeMap::new();
    for (name, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let Some(abs) = path.to_str() else {
            return Err(format!("{}: the path is not UTF-8", path.display()));
        };
        let mime = mime(name)?;
        let body = std::fs::read(path).map_err(|e| format!("cannot read {abs}: {e}"))?;
        let sha = hex::encode(Sha256::digest(&body));
        let hashed = hashed_name(name, &sha[..NAME_HASH_LEN]);
        let constant = const_name(name)?;
        if let Some(other) = consts.insert(constant.clone(), name) {
            return Err(format!(
                "asset files {other} and {name} would both be the constant {constant}; rename one"
            ));
        }
        entries.push(Entry {
            name,
            constant,
            hashed,
            mime,
            etag: format!("\"{sha}\""),
            abs,
        });
    }
    write_if_changed(out_file, &generate(&entries))
}

/// One file as the generated code describes it.
struct Entry<'a> {
    name: &'a str,
    constant: String,
    hashed: String,
    mime: &'static str,
    etag: String,
    abs: &'a str,
}

/// The `Content-Type` for a file name, by its extension.
fn mime(name: &str) -> Result<&'static str, String> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    Ok(match ext.as_deref() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => {
            return Err(format!(
                "asset {name}: unknown file type (known: css, js, svg, png, ico, woff2, txt)"
            ));
        }
    })
}

/// `app.css` with hash `abc` becomes `app.abc.css`; the extension stays last, where
/// anything that goes by extension looks for it.
fn hashed_name(name: &str, hash: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    }
}

/// `app.css` becomes `APP_CSS`: upper case, anything but ASCII letters and digits as `_`.
fn const_name(name: &str) -> Result<String, String> {
    let constant: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if !constant.starts_with(|c: char| c.is_ascii_uppercase()) || constant == "ASSETS" {
        return Err(format!(
            "asset {name}: its constant would be {constant}, not a usable Rust name; \
             start the file name with a letter"
        ));
    }
    Ok(constant)
}

/// The Rust source for the assets, in file name order.
fn generate(entries: &[Entry<'_>]) -> String {
    const ALLOW_PUB: &str =
        "#[allow(unreachable_pub, reason = \"the including module decides the visibility\")]\n";
    // `write!` to a String cannot fail; the results are ignored for that reason.
    let mut s = String::new();
    s.push_str("// @generated by web_build::assets: edit the asset files, not this.\n\n");
    s.push_str("/// Every asset under its hashed name, for `service_kit::web::assets_router`.\n");
    s.push_str(ALLOW_PUB);
    s.push_str("pub static ASSETS: &[service_kit::web::Asset] = &[\n");
    for e in entries {
        let _ = write!(
            s,
            "    service_kit::web::Asset {{\n        hashed: {},\n        mime: {},\n        etag: {},\n        body: include_bytes!({}),\n    }},\n",
            literal(&e.hashed),
            literal(e.mime),
            literal(&e.etag),
            literal(e.abs),
        );
    }
    s.push_str("];\n");
    for e in entries {
        let _ = write!(
            s,
            "\n/// The URL path of `{}`.\n{ALLOW_PUB}pub const {}: &str = {};\n",
            e.name,
            e.constant,
            literal(&format!("/static/{}", e.hashed)),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(files: &[(&str, &[u8])]) -> Result<(String, tempfile::TempDir), String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let assets_dir = dir.path().join("assets");
        std::fs::create_dir(&assets_dir).expect("mkdir");
        for (name, body) in files {
            std::fs::write(assets_dir.join(name), body).expect("write asset");
        }
        let out = dir.path().join("assets.rs");
        assets(&assets_dir, &out)?;
        Ok((std::fs::read_to_string(out).expect("read output"), dir))
    }

    #[test]
    fn generates_the_table_and_a_constant_per_file_in_name_order() {
        let (code, dir) = run(&[
            ("app.css", b"body{}"),
            ("logo-small.svg", b"<svg/>"),
            (".gitkeep", b""),
        ])
        .expect("generated");
        let sha = hex::encode(Sha256::digest(b"body{}"));
        let short = &sha[..10];
        let abs = std::fs::canonicalize(dir.path().join("assets/app.css")).expect("canonical");
        let expected = format!(
            "    service_kit::web::Asset {{\n        hashed: \"app.{short}.css\",\n        mime: \"text/css; charset=utf-8\",\n        etag: \"\\\"{sha}\\\"\",\n        body: include_bytes!({:?}),\n    }},\n",
            abs.display().to_string()
        );
        assert!(code.contains(&expected), "{expected}\nnot in\n{code}");
        assert!(
            code.contains(&format!(
                "pub const APP_CSS: &str = \"/static/app.{short}.css\";"
            )),
            "{code}"
        );
        assert!(
            code.contains("pub const LOGO_SMALL_SVG: &str = \"/static/logo-small."),
            "{code}"
        );
        assert!(code.contains("mime: \"image/svg+xml\""), "{code}");
        assert!(
            code.find("app.").expect("app") < code.find("logo-small.").expect("logo"),
            "{code}"
        );
        assert!(!code.contains("gitkeep"), "dot-files are skipped:\n{code}");
        assert_eq!(
            code.matches("service_kit::web::Asset {").count(),
            2,
            "{code}"
        );
        assert!(code.starts_with("// @generated"), "{code}");
    }

    #[test]
    fn the_hash_follows_the_content() {
        let (a, _d1) = run(&[("app.css", b"body{}")]).expect("a");
        let (b, _d2) = run(&[("app.css", b"body{color:red}")]).expect("b");
        let url = |code: &str| {
            code.lines()
                .find(|l| l.contains("APP_CSS"))
                .map(str::to_owned)
        };
        assert_ne!(url(&a), url(&b));
    }

    #[test]
    fn mime_types_by_extension() {
        assert_eq!(mime("a.js"), Ok("text/javascript; charset=utf-8"));
        assert_eq!(mime("A.PNG"), Ok("image/png"));
        assert_eq!(mime("favicon.ico"), Ok("image/x-icon"));
        assert_eq!(mime("f.woff2"), Ok("font/woff2"));
        assert_eq!(mime("robots.txt"), Ok("text/plain; charset=utf-8"));
        let err = run(&[("app.css", b""), ("photo.jpeg", b"")]).expect_err("jpeg");
        assert_eq!(
            err,
            "asset photo.jpeg: unknown file type (known: css, js, svg, png, ico, woff2, txt)"
        );
        assert!(mime("Makefile").is_err());
    }

    #[test]
    fn names_and_constants() {
        assert_eq!(hashed_name("app.min.js", "abc"), "app.min.abc.js");
        assert_eq!(const_name("app.min.js"), Ok("APP_MIN_JS".to_owned()));
        let err = run(&[("1x.png", b"")]).expect_err("digit");
        assert!(
            err.starts_with("asset 1x.png: its constant would be 1X_PNG"),
            "{err}"
        );
        let err = run(&[("a-b.css", b""), ("a_b.css", b"")]).expect_err("clash");
        assert_eq!(
            err,
            "asset files a-b.css and a_b.css would both be the constant A_B_CSS; rename one"
        );
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err =
            assets(&dir.path().join("nope"), &dir.path().join("out.rs")).expect_err("missing");
        assert!(
            err.starts_with("cannot read ") && err.contains("nope"),
            "{err}"
        );
    }
}
