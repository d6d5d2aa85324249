//! The generated catalogue compiled as a product compiles it: `include!`d in a module of a
//! crate with the workspace lints, where clippy (`--all-targets`) checks it too. The checked-in
//! `fixtures/i18n.rs` must be what `catalogue` writes today, so a change to the generator
//! shows up here as a diff to review.

use std::path::Path;

mod i18n {
    include!("fixtures/i18n.rs");
}

#[test]
fn the_checked_in_output_is_current() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("i18n.rs");
    web_build::catalogue(&fixtures.join("locales"), &out).expect("catalogue");
    let now = std::fs::read_to_string(&out).expect("generated");
    let checked_in = std::fs::read_to_string(fixtures.join("i18n.rs")).expect("fixture");
    assert!(
        now == checked_in,
        "tests/fixtures/i18n.rs is out of date; the generator now writes:\n{now}"
    );
}

#[test]
fn the_generated_code_works() {
    assert_eq!(i18n::DA.logout, "Log ud");
    assert_eq!(i18n::EN.last_seen, "Last \"seen\" \\ today");
    assert_eq!(i18n::EN.get("machines"), Some("Machines"));
    assert_eq!(i18n::DA.get("nope"), None);
    assert!(format!("{:?}", i18n::DA).contains("Maskiner"));
}
