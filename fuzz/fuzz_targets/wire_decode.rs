//! Any bytes to the wire decoder.
//!
//! 1. The input as a frame: `SealedRequest::read` then `verify()`/`open()` (the
//!    relay's path), `wire::decode` as every other kind (SyncResponse, Bundle also
//!    through `bundle::decode`, Have; a SyncRequest frame must be refused), then on
//!    success verify()/pairs()/redacted() and the roster/tally/have checks.
//! 2. When the input is not a frame (no `CWU` header), it is taken as a postcard body
//!    and framed (zstd level 1, with checksum) as each of the other kinds, and sealed
//!    as a sync request by a fixed device key (so `open()` gets past the signature and
//!    inflates and decodes it), so that the fuzzer reaches the postcard and automerge
//!    layers without forging zstd checksums or signatures.
//!
//! Errors are fine; a panic, a hang or an unbounded allocation is a bug.
#![no_main]

use cunwu_fuzz::{decode_all, frame_raw, open_as_sealed_body, KINDS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    decode_all(data);
    if !data.starts_with(cunwu_protocol::wire::MAGIC) {
        // Compress once; only the kind byte (offset 4) differs between the kinds.
        let mut frame = frame_raw(KINDS[0], data);
        for kind in KINDS {
            frame[4] = kind as u8;
            decode_all(&frame);
        }
        open_as_sealed_body(data, 0);
    }
});
