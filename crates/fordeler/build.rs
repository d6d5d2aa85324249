//! Links the XSD validation (`src/xsd/libxml2.rs`) to libxml2 by its run-time name,
//! `libxml2.so.2`, which Debian's `libxml2` package installs (most systems have it: much of
//! Debian depends on it). Linking to `-lxml2` would need the `libxml2.so` link name, which only
//! `libxml2-dev` ships, and the headers are not needed: the few functions are declared by hand.
//! If the library is missing, the build stops at its start with the package to install, not
//! minutes later at the link with a linker message.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CC");
    let var = |name: &str| std::env::var(name).ok();
    if var("CARGO_CFG_TARGET_OS").as_deref() != Some("linux") {
        // Elsewhere the platform's usual link name (Homebrew, MSYS2 ship `libxml2` for linking).
        println!("cargo::rustc-link-lib=dylib=xml2");
        return;
    }
    println!("cargo::rustc-link-lib=dylib:+verbatim=libxml2.so.2");
    // Only where the answer is certain: a native build with a C compiler at hand.
    if var("TARGET") != var("HOST") {
        return;
    }
    let cc = var("CC").unwrap_or_else(|| "cc".to_string());
    // `cc -print-file-name=F` prints F's full path where the linker finds it, else just F.
    let Ok(out) = Command::new(&cc)
        .arg("-print-file-name=libxml2.so.2")
        .output()
    else {
        return;
    };
    if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "libxml2.so.2" {
        println!(
            "cargo::error=libxml2 is missing: the Fordeler's XSD validation uses it. On Debian or \
             Ubuntu: sudo apt-get install libxml2"
        );
    }
}
