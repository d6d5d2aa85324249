//! Stops a build that could not link, at its start and with the fix: the XSD validation links to
//! libxml2 (`src/xsd/libxml2.rs`), which Debian ships for linking in `libxml2-dev`. Without this
//! check a first build would fail only in its last step, minutes in, with a linker message.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CC");
    let var = |name: &str| std::env::var(name).ok();
    // Only where the answer is certain: a native build for Linux with a C compiler at hand.
    if var("CARGO_CFG_TARGET_OS").as_deref() != Some("linux") || var("TARGET") != var("HOST") {
        return;
    }
    let cc = var("CC").unwrap_or_else(|| "cc".to_string());
    // `cc -print-file-name=F` prints F's full path where the linker finds it, else just F.
    let Ok(out) = Command::new(&cc)
        .arg("-print-file-name=libxml2.so")
        .output()
    else {
        return;
    };
    if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "libxml2.so" {
        println!(
            "cargo::error=libxml2 for linking is missing: the Fordeler's XSD validation links to \
             it. On Debian or Ubuntu: sudo apt-get install libxml2-dev"
        );
    }
}
