//! Sync benchmarks (issue: relay and sync). Filled in below.

pub fn run(_args: &[String]) {
    unimplemented!("sync bench")
}

pub fn relay_load(_args: &[String]) {
    unimplemented!("relay-load bench")
}
