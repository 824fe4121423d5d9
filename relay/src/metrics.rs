//! Counters and a latency histogram for `GET /metrics` (Prometheus text format).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1)
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

const BUCKETS_MS: [u64; 10] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; 10],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: std::time::Duration) {
        let ms = d.as_millis() as u64;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct Metrics {
    pub syncs: Counter,
    pub sync_errors: Counter,
    pub changes_accepted: Counter,
    pub changes_rejected: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub rate_limited: Counter,
    pub enrollments: Counter,
    pub blob_requests: Counter,
    pub blob_bytes_in: Counter,
    pub blob_bytes_out: Counter,
    /// Log rows loaded to answer syncs (`service/read.rs`): with the read index, what
    /// the readers may read, not the whole log after their cursors.
    pub log_rows_read: Counter,
    pub sync_latency: Histogram,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let counters = [
            ("cunwu_syncs_total", "Sync exchanges answered", &self.syncs),
            (
                "cunwu_sync_errors_total",
                "Sync exchanges refused or failed",
                &self.sync_errors,
            ),
            (
                "cunwu_changes_accepted_total",
                "Changes accepted or acknowledged",
                &self.changes_accepted,
            ),
            (
                "cunwu_changes_rejected_total",
                "Changes rejected by the policy or signature checks",
                &self.changes_rejected,
            ),
            (
                "cunwu_bytes_in_total",
                "Sync request bytes received",
                &self.bytes_in,
            ),
            (
                "cunwu_bytes_out_total",
                "Sync response bytes sent",
                &self.bytes_out,
            ),
            (
                "cunwu_rate_limited_total",
                "Requests refused by the per-device rate limit",
                &self.rate_limited,
            ),
            (
                "cunwu_enrollments_total",
                "Devices enrolled",
                &self.enrollments,
            ),
            (
                "cunwu_blob_requests_total",
                "Attachment requests from authenticated devices",
                &self.blob_requests,
            ),
            (
                "cunwu_blob_bytes_in_total",
                "Attachment bytes received and verified",
                &self.blob_bytes_in,
            ),
            (
                "cunwu_blob_bytes_out_total",
                "Attachment bytes served",
                &self.blob_bytes_out,
            ),
            (
                "cunwu_log_rows_read_total",
                "Log rows loaded to answer syncs",
                &self.log_rows_read,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.get()
            );
        }
        let h = &self.sync_latency;
        let _ = writeln!(
            s,
            "# HELP cunwu_sync_seconds Sync handling time\n# TYPE cunwu_sync_seconds histogram"
        );
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                s,
                "cunwu_sync_seconds_bucket{{le=\"{}\"}} {}",
                *b as f64 / 1000.0,
                h.buckets[i].load(Ordering::Relaxed)
            );
        }
        let n = h.count.load(Ordering::Relaxed);
        let _ = writeln!(s, "cunwu_sync_seconds_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(
            s,
            "cunwu_sync_seconds_sum {}",
            h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(s, "cunwu_sync_seconds_count {n}");
        s
    }
}
