//! `borgerpc-admin bench` in miniature: the whole run (fresh database, registration over HTTP,
//! check-in cycles, the checks in the database) with a tiny fleet. On PostgreSQL when
//! `TEST_DATABASE_URL` says so. Timings are the machine's business, never asserted.

use borgerpc_admin::bench::{Options, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_bench_runs_clean_and_reports_every_figure() {
    service_kit::logging::init(false, "warn");
    let database_url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    let on_postgres = database_url.is_some();
    let report = run(&Options {
        pcs: 50,
        seconds: 2,
        concurrency: 4,
        database_url,
    })
    .await
    .unwrap();
    let line = serde_json::to_string(&report).unwrap();
    assert!(!line.contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    for key in [
        "pcs",
        "seconds",
        "concurrency",
        "database",
        "requests",
        "requests_per_s",
        "checkins_per_s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "errors",
        "setup_s",
        "registrations_per_s",
        "peak_rss_mb",
        "rss_includes_load_generator",
    ] {
        assert!(v.get(key).is_some(), "{key} is missing from {line}");
    }
    assert_eq!(v["pcs"], 50);
    assert_eq!(v["seconds"], 2);
    assert_eq!(v["concurrency"], 4);
    assert_eq!(
        v["database"],
        if on_postgres { "postgres" } else { "sqlite" }
    );
    assert_eq!(v["errors"], 0, "{line}");
    assert_eq!(v["rss_includes_load_generator"], true);
    assert!(report.requests > 0, "{line}");
    // Four workers, four keep-alive connections.
    assert!(report.connections <= 4, "{line}");
    // 50 PCs: one job (PC 0, the first a worker serves) and a security event early on.
    assert_eq!(report.jobs_done, 1, "{line}");
    assert!(report.security_events >= 1, "{line}");
    assert!(report.pcs_checked_in >= 4, "{line}");
}

/// `bench --pages` in miniature: a seeded site, a login over HTTP and every page answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_page_bench_answers_every_page() {
    use borgerpc_admin::bench_pages::{PageOptions, run};
    let database_url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    let report = run(&PageOptions {
        pcs: 300,
        jobs: 3_000,
        events: 400,
        requests: 3,
        database_url,
        keep: false,
    })
    .await
    .unwrap();
    let line = serde_json::to_string(&report).unwrap();
    assert!(!line.contains('\n'));
    assert_eq!(report.pages.len(), 6, "{line}");
    for key in [
        "database",
        "pcs",
        "jobs",
        "events",
        "seed_s",
        "pages",
        "all_p99_under_50ms",
    ] {
        assert!(line.contains(&format!("\"{key}\":")), "{key}: {line}");
    }
    for p in &report.pages {
        assert!(p.p50_ms > 0.0 && p.p99_ms >= p.p50_ms, "{line}");
    }
}

/// `bench --reports` in miniature: two sites, three days of history, every report answered
/// over HTTP and the files holding every PC's days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_report_bench_answers_every_report() {
    use borgerpc_admin::bench_reports::{ReportOptions, run};
    let database_url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    let options = ReportOptions {
        pcs: 220,
        pcs_per_site: 200,
        days: 3,
        requests: 1,
        database_url: database_url.clone(),
        keep: true,
        reuse: None,
    };
    let seeded = run(&options).await.unwrap();
    let kept = seeded.kept.clone().expect("--keep names the database");
    // Measured again without seeding (`--reuse`): the same PCs, sites and days.
    let report = run(&ReportOptions {
        keep: false,
        reuse: Some(kept.clone()),
        ..options
    })
    .await;
    match &database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {kept} CASCADE")))
                .execute(&pool)
                .await
                .unwrap();
        }
        None => std::fs::remove_dir_all(std::path::Path::new(&kept).parent().unwrap()).unwrap(),
    }
    let report = report.unwrap();
    let line = serde_json::to_string(&report).unwrap();
    assert!(!line.contains('\n'));
    assert_eq!(report.sites, 2, "{line}");
    assert_eq!((report.pcs, report.days), (220, 3), "{line}");
    assert_eq!(report.seed_s, None, "{line}");
    assert!(seeded.history_bytes_per_pc_year.unwrap() > 0, "{line}");
    // Each page as JSON, and the jobs' and security's other lists.
    assert!(
        !report.pages.is_empty() && report.json.len() == report.pages.len() + 3,
        "{line}"
    );
    for list in ["list=slowest", "list=pcs", "list=events"] {
        assert!(report.json.iter().any(|p| p.path.contains(list)), "{line}");
    }
    for p in report.pages.iter().chain(&report.json) {
        assert!(p.p50_ms > 0.0 && p.p99_ms >= p.p50_ms, "{line}");
    }
    // Every report, as a page and as JSON (each answered 200, or the bench fails).
    for timings in [&report.pages, &report.json] {
        let names: std::collections::BTreeSet<&str> = timings.iter().map(|p| p.page).collect();
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            [
                "availability",
                "changes",
                "inventory",
                "jobs",
                "security",
                "usage"
            ],
            "{line}"
        );
    }
    // The site's 200 PCs over the three days there are, less a PC in eleven each day; the
    // inventory's every PC, once.
    assert_eq!(
        report
            .files
            .iter()
            .filter(|f| f.file.starts_with("inventory"))
            .map(|f| f.rows)
            .collect::<Vec<_>>(),
        [220, 220],
        "{line}"
    );
    for f in report
        .files
        .iter()
        .filter(|f| !f.file.starts_with("inventory"))
    {
        assert!(f.bytes > 0, "{line}");
        assert!(
            (520..570).contains(&f.rows),
            "{}: {} rows: {line}",
            f.file,
            f.rows
        );
    }
    assert!(report.peak_rss_mb > 0.0, "{line}");
}

/// The README's `bench --reports --reuse <file>` on the command line: a file that is not
/// there is refused, naming the option and what to give it.
#[test]
fn bench_reports_reuse_names_what_it_needs() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_borgerpc-admin"))
        .args(["bench", "--reports", "--reuse", "/nonexistent/bench.db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--reuse") && err.contains("--keep"), "{err}");
}
