//! Automerge change chunks from outside, through the path every change from elsewhere
//! takes: `doc::change_from_bytes` (the chunk pre-check, then automerge's parser),
//! `doc::inspect_change` against honest documents, `policy::check_change` with a small
//! roster, and `EntityDoc::to_json` on whatever was accepted.
//!
//! The first input byte picks how the chunk is made (see `cunwu_fuzz::change`):
//! 0. the rest of the input, as is (the seed corpus holds honest chunks behind a 0);
//! 1. an honest chunk (made with `EntityDoc::create`/`append`) edited by the input,
//!    its length and checksum optionally made right again, its chunk type optionally
//!    overridden;
//! 2. an honest change built with arbitrary content: extra keys, nested values, long
//!    strings, bulk lists and deep chains (to reach the budgets on depth and ops).
//!
//! Asserted: nothing panics; `change_from_bytes` refuses every chunk whose byte 8 is
//! not 1; whatever `check_change` accepts passed `inspect_change`, has at most
//! `MAX_OPS_PER_CHANGE` operations and `MAX_CHANGE_BYTES` bytes, and gives a document
//! whose JSON (and whose automerge object tree) nests at most `MAX_DEPTH` deep, whose
//! header names the entity it was sent for, and whose earlier events are unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cunwu_fuzz::change::run(data);
});
