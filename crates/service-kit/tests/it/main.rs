//! The crate's integration tests in one binary: one build and one link instead of one per
//! file. Each module is what was a test binary of its own; nextest still runs every test in
//! a process of its own.

// Needs Chromium and axe-core (`.ci/run` installs both): `--features browser`.
#[cfg(feature = "browser")]
mod browser;
mod listener;
mod metrics;
