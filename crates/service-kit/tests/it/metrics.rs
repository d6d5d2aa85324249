//! `/metrics` over real HTTP: latency histograms hold what was measured (counts, sums and
//! buckets that agree with the requests made), and gauges read from elsewhere are refreshed
//! at each scrape.

use axum::Router;
use axum::routing::get;
use service_kit::http::{MetricsAccess, MetricsRefresh};
use service_kit::listener::Limits;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const EVENTUALLY: Duration = Duration::from_secs(90);
/// How long each `/slow` request takes at least.
const SLOW: Duration = Duration::from_millis(30);

/// One request on its own connection; the answer's body.
async fn get_body(addr: SocketAddr, path: &str) -> String {
    let (status, body) = get_with(addr, path, "").await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The status and body of a GET with extra header lines (each ending in CRLF).
async fn get_with(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    tokio::time::timeout(EVENTUALLY, async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n");
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    })
    .await
    .expect("no answer")
}

/// The value of the series `name{labels}` in Prometheus text.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_histograms_hold_real_values_and_gauges_refresh_at_scrape() {
    let refreshes = Arc::new(AtomicU64::new(0));
    let counted = refreshes.clone();
    let refresh: MetricsRefresh = Arc::new(move || {
        let counted = counted.clone();
        Box::pin(async move {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            metrics::gauge!("test_refreshes").set(n as f64);
        })
    });
    let router = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(SLOW).await;
                "done"
            }),
        )
        .merge(service_kit::http::ops_router_with(
            Arc::new(|| Box::pin(async { Ok(()) })),
            Some(refresh),
            MetricsAccess::with_token(Some(TOKEN.to_owned())),
        ));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let served = service_kit::listener::serve(
        "metrics_test",
        "127.0.0.1:0".parse().unwrap(),
        Limits::default(),
        None,
        router,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    )
    .await
    .unwrap();

    const REQUESTS: u32 = 5;
    for _ in 0..REQUESTS {
        assert_eq!(get_body(served.addr, "/slow").await, "done");
    }
    let text = get_body(served.addr, "/metrics").await;

    // A real histogram (cumulative buckets), not a summary over a rolling window.
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "{text}"
    );
    let series = |suffix: &str, extra: &str| {
        let labels = if extra.is_empty() {
            "{listener=\"metrics_test\"}".to_owned()
        } else {
            format!("{{listener=\"metrics_test\",{extra}}}")
        };
        let name = format!("http_request_duration_seconds{suffix}{labels}");
        value(&text, &name).unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    // Only the /slow requests: the scrape's own duration is recorded after it rendered.
    let count = series("_count", "");
    assert_eq!(count, f64::from(REQUESTS), "{text}");
    let sum = series("_sum", "");
    let least = SLOW.as_secs_f64() * f64::from(REQUESTS);
    assert!(
        sum >= least && sum < 60.0,
        "sum {sum} s for {REQUESTS} requests of at least {SLOW:?}"
    );
    // Every request took 30 ms or more: none is in the buckets up to 25 ms, all in +Inf.
    assert_eq!(series("_bucket", "le=\"0.025\""), 0.0, "{text}");
    assert_eq!(series("_bucket", "le=\"+Inf\""), count, "{text}");
    assert!(series("_bucket", "le=\"30\"") >= count, "{text}");

    // The refresh ran for this scrape, before the gauge was rendered.
    let shown = value(&text, "test_refreshes").unwrap_or_else(|| panic!("{text}"));
    assert!(shown >= 1.0, "{text}");
    let again = get_body(served.addr, "/metrics").await;
    assert!(
        value(&again, "test_refreshes").unwrap_or(0.0) > shown,
        "{again}"
    );

    // Not open to the network: through a proxy, or with a wrong token, only with the right one.
    let proxied = "X-Forwarded-For: 192.0.2.7\r\n";
    let (status, why) = get_with(served.addr, "/metrics", proxied).await;
    assert_eq!(status, 401, "{why}");
    assert!(
        why.contains("server.metrics_token") && !why.contains(TOKEN),
        "{why}"
    );
    let wrong = format!("{proxied}Authorization: Bearer wrong-{TOKEN}\r\n");
    assert_eq!(get_with(served.addr, "/metrics", &wrong).await.0, 401);
    let right = format!("{proxied}Authorization: Bearer {TOKEN}\r\n");
    let (status, text) = get_with(served.addr, "/metrics", &right).await;
    assert_eq!(status, 200);
    assert!(text.contains("test_refreshes"));
    let (status, _) = get_with(served.addr, "/healthz", proxied).await;
    assert_eq!(status, 200, "health stays open");

    stop.send_replace(true);
    let _ = tokio::time::timeout(EVENTUALLY, served.task).await;
}

const TOKEN: &str = "metrics-token-0123456789abcdef";

/// Samples recorded long before a scrape are still counted: the histograms are cumulative.
/// (With the exporter's default summaries, quantiles cover only the last minute.)
#[test]
fn histograms_are_cumulative_with_buckets_for_seconds_and_batch_sizes() {
    let handle = service_kit::http::metrics_handle();
    metrics::histogram!("test_op_duration_seconds").record(0.2);
    metrics::histogram!("db_group_commit_batch_size").record(3.0);
    let first = handle.render();
    // Upkeep drains samples into the histograms; a later render still shows them.
    handle.run_upkeep();
    let text = handle.render();
    for t in [&first, &text] {
        assert!(
            t.contains("# TYPE test_op_duration_seconds histogram"),
            "{t}"
        );
        assert_eq!(
            value(t, "test_op_duration_seconds_bucket{le=\"0.25\"}"),
            Some(1.0),
            "{t}"
        );
        assert_eq!(
            value(t, "test_op_duration_seconds_bucket{le=\"0.1\"}"),
            Some(0.0)
        );
        assert!(
            t.contains("# TYPE db_group_commit_batch_size histogram"),
            "{t}"
        );
        assert!(
            value(t, "db_group_commit_batch_size_bucket{le=\"4\"}").unwrap_or(0.0) >= 1.0,
            "{t}"
        );
    }
}
