//! The script library: OS2borgerPC scripts kept as files in the "os2borgerpc-scripts" format
//! (the layout of the public core and community script repositories).
//!
//! A library directory holds one `<name>.md` per script, YAML front matter then a Markdown
//! description, with the code it names in `source` (usually `scripts/<name>.sh` or `.py`).
//! [`format`] reads and validates such a directory without touching the database, so the
//! same code serves two users: the portal, which imports a library into its script table,
//! ([`import`]), and [`lint`], which contributors run in their own CI so a broken script is caught at
//! review time instead of on a citizen PC. Problems print gcc-style (`file:line: error: …`)
//! because that is what editors and CI annotators already understand.

pub mod format;
pub mod import;
pub mod lint;
