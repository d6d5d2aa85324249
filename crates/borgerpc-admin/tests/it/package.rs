//! The Debian package's systemd units: the portal of a host, and the template of one portal
//! per municipality (`borgerpc-admin@<kommune>`), each hardened the same way, each instance
//! with its own user, configuration and state directory. `packaging/smoke` (run by
//! `.ci/run`) installs the package and starts the binary with these very command lines.

use service_kit::testing::package::Unit;

#[test]
fn the_packaged_units_are_hardened_and_instances_share_nothing() {
    let single = Unit::load("borgerpc-admin", "borgerpc-admin.service");
    let template = Unit::load("borgerpc-admin", "borgerpc-admin@.service");
    for unit in [&single, &template] {
        unit.assert_hardened();
        unit.assert_fits_connections(1, service_kit::listener::DEFAULT_MAX_CONNECTIONS as u64);
    }
    assert_eq!(single.get("User"), "borgerpc-admin");
    assert_eq!(
        single.get("ExecStart"),
        "/usr/bin/borgerpc-admin serve --config /etc/borgerpc-admin/borgerpc.toml"
    );
    // Everything an instance owns is named by the instance; its state directory is not inside
    // the single portal's (0700, so another user could not even reach it).
    assert_eq!(template.get("User"), "borgerpc-%i");
    assert_eq!(template.get("StateDirectory"), "borgerpc-admin-%i");
    assert_eq!(
        template.get("ExecStart"),
        "/usr/bin/borgerpc-admin serve --config /etc/borgerpc-admin/%i.toml"
    );
}
