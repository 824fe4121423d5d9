//! Benchmarks. Each prints a table of figures measured in one run, so ratios compare
//! like with like on a noisy shared machine. docs/BENCHMARKS.md records the results
//! with the command that reproduces them:
//!
//!   cargo run --release -p cunwu-tests --bin bench -- store   [--notices N --requests N --deliberations N]
//!   cargo run --release -p cunwu-tests --bin bench -- sync    [--notices N --requests N --deliberations N] [--no-2g]
//!   cargo run --release -p cunwu-tests --bin bench -- relay-load [--devices N --changes N [--settled [--replay]] | --county] [--postgres URL] [--nodes N]
//!   cargo run --release -p cunwu-tests --bin bench -- hostile [--repeat N]
//!   cargo run -p cunwu-tests --bin bench -- attachments [--cut BYTES]
//!   cargo run --release -p cunwu-tests --bin bench -- relay-blobs [--repeat N]

mod blob_bench;
mod blobs_relay_bench;
mod hostile_bench;
mod store_bench;
mod sync_bench;

use std::time::{Duration, Instant};

pub fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

/// Median time of `n` runs of `f`.
pub fn median<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0)
}

/// Benchmarks measure the release relay: unless CUNWU_RELAY_BIN says otherwise, build
/// and use target/release/cunwu-relay (the test harness defaults to the debug build).
fn use_release_relay() {
    if std::env::var_os("CUNWU_RELAY_BIN").is_some() {
        return;
    }
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = std::process::Command::new("cargo")
        .args(["build", "--release", "-p", "cunwu-relay"])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the release relay failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or(root.join("target"));
    std::env::set_var("CUNWU_RELAY_BIN", target.join("release/cunwu-relay"));
}

fn super_arg_repeat(args: &[String]) -> usize {
    arg(args, "--repeat", 10)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(
        args.first().map(String::as_str),
        Some("sync" | "relay-load" | "hostile" | "relay-blobs")
    ) {
        use_release_relay();
    }
    match args.first().map(String::as_str) {
        Some("store") => store_bench::run(&args[1..]),
        Some("store-measure") => store_bench::measure(&args[1..]),
        Some("sync") => sync_bench::run(&args[1..]),
        Some("relay-load") => sync_bench::relay_load(&args[1..]),
        Some("hostile") => hostile_bench::run(&args[1..]),
        Some("attachments") => blob_bench::run(&args[1..]),
        Some("relay-blobs") => blobs_relay_bench::run(&args[1..]),
        Some("concurrent-view") => hostile_bench::concurrent_view(super_arg_repeat(&args[1..])),
        _ => {
            eprintln!("usage: bench store|sync|relay-load|hostile|attachments|concurrent-view [options] (see the top of tests/src/bin/bench.rs)");
            std::process::exit(2);
        }
    }
}
