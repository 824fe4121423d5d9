//! Bundles and relay log entries into a real store (see `cunwu_fuzz::merge`).
//!
//! The input is read with `arbitrary` into up to 6 steps, each a bundle built from a
//! description (honest signed batches of real automerge changes, batches signed by a
//! fixed device over edited, misfiled or garbage items, unsigned garbage; the
//! space's roster, junk signed by the relay, or a roster signed by another key;
//! tallies), raw bytes as a bundle file, or relay log entries through
//! `Store::receive`. Each goes into a fresh in-memory `Store` enrolled in a local
//! space.
//!
//! Asserted: nothing panics; a refused step changes no document; an accepted one
//! loses no entity and changes no earlier event; at the end `PRAGMA
//! integrity_check` is "ok", every entity loads, and the store's own export verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: cunwu_fuzz::merge::Input| {
    cunwu_fuzz::merge::run(&input);
});
