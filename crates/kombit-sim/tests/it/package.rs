//! The Debian package as it installs the simulator: the hardened unit, and the configuration
//! in /etc/kombit-sim/sim.toml that keeps everything it writes in its state directory (the one
//! place the unit lets it write).

use kombit_sim::config::SimConfig;
use service_kit::testing::package::{Unit, packaging_dir};
use std::path::Path;

#[test]
fn the_packaged_unit_is_hardened_and_its_configuration_writes_only_in_the_state_directory() {
    let unit = Unit::load("kombit-sim", "kombit-sim.service");
    unit.assert_hardened();
    // SOAP and SFTP listeners with the listener module's default limits.
    unit.assert_fits_connections(2, service_kit::listener::DEFAULT_MAX_CONNECTIONS as u64);
    assert_eq!(
        unit.get("ExecStart"),
        "/usr/bin/kombit-sim serve --config /etc/kombit-sim/sim.toml"
    );

    let config = SimConfig::load(&packaging_dir().join("kombit-sim/sim.toml")).unwrap();
    let state = Path::new("/var/lib").join(unit.get("StateDirectory"));
    assert!(config.pki_dir.starts_with(&state), "{:?}", config.pki_dir);
    let sftp_root = config
        .sftp
        .root
        .expect("an SFTP root, not a temporary folder");
    assert!(sftp_root.starts_with(&state), "{sftp_root:?}");
}
