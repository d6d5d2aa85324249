//! What every product's Debian package promises about its systemd units, checked on the unit
//! files in `packaging/<product>/` (what cargo-deb installs): one hardening block shared by
//! every unit, a state directory of its own with mode 0700, and an open-file limit the
//! service's own start-up check accepts for its default connection limits. CI then starts the
//! installed binaries with the units' command lines (`packaging/smoke`).

use crate::listener::FD_HEADROOM;
use std::path::{Path, PathBuf};

/// The directives that confine a service, with the value each unit must give them. A unit that
/// drops or weakens one fails [`Unit::assert_hardened`].
pub const HARDENING: &[(&str, &str)] = &[
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("ProtectProc", "invisible"),
    ("ProcSubset", "pid"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("RemoveIPC", "yes"),
    ("KeyringMode", "private"),
    ("DevicePolicy", "closed"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallErrorNumber", "EPERM"),
    ("UMask", "0077"),
    ("StateDirectoryMode", "0700"),
];

/// The folder of the packaging files, beside the workspace's crates.
pub fn packaging_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging")
}

/// A systemd unit file: its `Key=value` lines in order (sections are not needed for the
/// checks here; every key is unique to one section).
pub struct Unit {
    /// The file, for messages.
    pub path: PathBuf,
    lines: Vec<(String, String)>,
}

impl Unit {
    /// Reads `packaging/<product>/<file>`.
    pub fn load(product: &str, file: &str) -> Self {
        let path = packaging_dir().join(product).join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Self { path, lines }
    }

    /// Every value of `key`, in order (systemd adds up repeated list settings).
    pub fn values(&self, key: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of `key`; panics naming the file when it has none or several.
    pub fn get(&self, key: &str) -> &str {
        match self.values(key).as_slice() {
            [v] => v,
            vs => panic!("{}: {key}= given {} times", self.path.display(), vs.len()),
        }
    }

    /// The hardening every unit carries ([`HARDENING`], and a system-call filter of
    /// `@system-service` without `@privileged`), its own user and a private state directory.
    pub fn assert_hardened(&self) {
        for (key, want) in HARDENING {
            assert_eq!(self.get(key), *want, "{}: {key}=", self.path.display());
        }
        assert_eq!(
            self.values("SystemCallFilter"),
            ["@system-service", "~@privileged"],
            "{}: SystemCallFilter=",
            self.path.display()
        );
        let user = self.get("User");
        assert!(
            !user.is_empty() && user != "root",
            "{}: User={user}",
            self.path.display()
        );
        assert_eq!(self.get("Group"), user, "{}: Group=", self.path.display());
        let state = self.get("StateDirectory");
        assert_eq!(
            self.get("WorkingDirectory"),
            format!("/var/lib/{state}"),
            "{}: the service works in its state directory",
            self.path.display()
        );
        assert!(
            self.values("ReadWritePaths").is_empty(),
            "{}: only the state directory is writable",
            self.path.display()
        );
    }

    /// `LimitNOFILE=` leaves room for `listeners` listeners at `max_connections` each plus the
    /// files the service keeps beside them: what `serve` checks before it listens.
    pub fn assert_fits_connections(&self, listeners: u64, max_connections: u64) {
        let limit: u64 = self
            .get("LimitNOFILE")
            .parse()
            .unwrap_or_else(|e| panic!("{}: LimitNOFILE= {e}", self.path.display()));
        let needed = listeners * max_connections + FD_HEADROOM;
        assert!(
            limit >= needed,
            "{}: LimitNOFILE={limit}, but {listeners} listener(s) × {max_connections} \
             connections + {FD_HEADROOM} need {needed}",
            self.path.display()
        );
    }
}
