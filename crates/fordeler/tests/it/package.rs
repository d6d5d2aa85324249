//! The Debian package's systemd unit: hardened, with room for the service's connections,
//! starting `serve` on the configuration `fordeler setup` writes. `packaging/smoke` (run by
//! `.ci/run`) then installs the package and starts the binary with this very command line.

use service_kit::testing::package::Unit;

#[test]
fn the_packaged_unit_is_hardened_and_fits_the_connection_limits() {
    let unit = Unit::load("fordeler", "fordeler.service");
    unit.assert_hardened();
    // The intake and the receipt endpoint, each at the default server.max_connections.
    unit.assert_fits_connections(2, service_kit::listener::DEFAULT_MAX_CONNECTIONS as u64);
    assert_eq!(unit.get("User"), "fordeler");
    assert_eq!(unit.get("StateDirectory"), "fordeler");
    assert_eq!(
        unit.get("ExecStart"),
        "/usr/bin/fordeler serve --config /etc/fordeler/fordeler.toml"
    );
}
