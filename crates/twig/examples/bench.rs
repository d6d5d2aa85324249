//! Render throughput on an SP241-like template and context, on all cores (the Fordeler's
//! machine has two). Prints one JSON line: `{"renders_per_sec": …, "threads": …, …}`.
//!
//! Run: `cargo run --release -p twig --example bench [seconds]`

use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let source = std::fs::read_to_string(format!("{dir}/sp241.xml.twig")).expect("template");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/sp241.json")).expect("ctx"))
            .expect("context json");

    let mut env = twig::Environment::new();
    twig::register_os2forms(&mut env);
    let compile_start = Instant::now();
    let template = env.compile("sp241.xml.twig", &source).expect("compiles");
    let compile_us = compile_start.elapsed().as_secs_f64() * 1e6;
    let env = Arc::new(env);
    let template = Arc::new(template);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());

    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (env, template, json) = (env.clone(), template.clone(), json.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut bytes = 0usize;
                while Instant::now() < deadline {
                    // Each render converts the JSON context as the Fordeler does per submission.
                    let out = template.render_json(&env, &json).expect("renders");
                    bytes += out.len();
                    n += 1;
                }
                (n, bytes)
            })
        })
        .collect();
    let (mut total, mut bytes) = (0u64, 0usize);
    for h in handles {
        let (n, b) = h.join().expect("thread");
        total += n;
        bytes += b;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{{\"renders_per_sec\":{:.0},\"threads\":{},\"renders\":{},\"seconds\":{:.2},\"avg_output_bytes\":{},\"compile_us\":{:.0}}}",
        total as f64 / elapsed,
        threads,
        total,
        elapsed,
        bytes / total.max(1) as usize,
        compile_us
    );
}
