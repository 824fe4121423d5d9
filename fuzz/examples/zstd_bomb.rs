//! Writes a small frame whose zstd body inflates to many bytes of zeros: the
//! reproducer of the decompression-amplification finding in docs/FUZZING.md.
//!
//!     cd fuzz && cargo run --example zstd_bomb -- /tmp/bomb.bin            # Bundle, 256 MiB + 1 (just over the limit)
//!     cargo run --example zstd_bomb -- /tmp/req.bin 1 16777216               # SyncRequest, 16 MiB
//!     cargo +nightly fuzz run wire_decode /tmp/bomb.bin -- -malloc_limit_mb=128
//!
//! Arguments: output path, frame kind byte (1 SyncRequest, 2 SyncResponse, 3 Bundle,
//! 4 Have; default 3), inflated size in bytes (default MAX_DECODED_BYTES + 1).
//! Kept out of the seed corpus on purpose: decoding it takes seconds under ASan.

use cunwu_protocol::wire::{MAGIC, MAX_DECODED_BYTES, WIRE_VERSION};
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: zstd_bomb OUT [KIND] [INFLATED_BYTES]");
    let kind: u8 = args
        .next()
        .map(|k| k.parse().expect("kind is a number 1..=4"))
        .unwrap_or(3);
    let size: usize = args
        .next()
        .map(|s| s.parse().expect("size in bytes"))
        .unwrap_or(MAX_DECODED_BYTES + 1);

    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(WIRE_VERSION);
    out.push(kind);
    let mut enc = zstd::stream::Encoder::new(&mut out, 19).expect("zstd encoder");
    enc.include_checksum(true).expect("checksum flag");
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len());
        enc.write_all(&zeros[..n]).expect("write to memory");
        left -= n;
    }
    enc.finish().expect("zstd finish");
    std::fs::write(&path, &out).expect("write the frame");
    println!(
        "wrote {path}: {} bytes that inflate to {size} bytes (kind {kind})",
        out.len()
    );
}
