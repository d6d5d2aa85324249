//! `borgerpc-admin demo` (the README's main command for the portal) reaches its expected
//! outcome: every simulated PC registered, activated and seen, every job reported, every
//! security event stored, the forged call refused.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ends_with_the_expected_outcome() {
    let dir = tempfile::tempdir().unwrap();
    assert!(borgerpc_admin::demo::run(dir.path(), 40).await.unwrap());
}
