//! Shared code of the fuzz targets and of the seed generator (examples/seeds.rs).
//!
//! `decode_all` is what a relay or a phone does with bytes from outside: read the
//! frame as every kind it could be and, when that works, run every check that
//! follows (`SealedRequest::read/verify/open`, `SignedBatch::verify/pairs/redacted`,
//! tally, roster and `Have` signatures). Errors are fine; a panic, a hang or an
//! unbounded allocation is a bug. A few invariants that must hold for *any* decoded
//! message are asserted as well (see `check_batch` and `check_reencode`).

pub mod change;
pub mod merge;

use cunwu_core::bundle;
use cunwu_protocol::identity::DeviceKey;
use cunwu_protocol::wire::{
    self, Bundle, FrameKind, Have, Item, LogEntry, SealedRequest, SignedBatch, SignedTally,
    SyncRequest, SyncResponse,
};
use cunwu_protocol::{roster::SignedRoster, Error};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use std::sync::OnceLock;

pub const KINDS: [FrameKind; 4] = [
    FrameKind::SyncRequest,
    FrameKind::SyncResponse,
    FrameKind::Bundle,
    FrameKind::Have,
];

/// Fixed keys, so the corpus and every crash reproduce exactly.
pub const RELAY_SECRET: [u8; 32] = [0xAA; 32];
pub const DEVICE_SECRETS: [[u8; 32]; 3] = [[0x11; 32], [0x22; 32], [0x33; 32]];

pub fn relay_key() -> &'static DeviceKey {
    static K: OnceLock<DeviceKey> = OnceLock::new();
    K.get_or_init(|| DeviceKey::from_secret(&RELAY_SECRET).expect("32 bytes"))
}

pub fn relay_public() -> [u8; 32] {
    static P: OnceLock<[u8; 32]> = OnceLock::new();
    *P.get_or_init(|| relay_key().public())
}

/// One of the fixed device keys (`i` is taken modulo their number).
pub fn device_key(i: usize) -> &'static DeviceKey {
    static K: OnceLock<Vec<DeviceKey>> = OnceLock::new();
    let keys = K.get_or_init(|| {
        DEVICE_SECRETS
            .iter()
            .map(|s| DeviceKey::from_secret(s).expect("32 bytes"))
            .collect()
    });
    &keys[i % keys.len()]
}

/// A frame around an arbitrary body, laid out as `wire::encode` lays it out (magic,
/// version, kind, zstd frame with content checksum), but at zstd level 1 and with one
/// reused compression context, for speed. Lets the fuzzer reach the postcard layer
/// without having to forge zstd checksums.
pub fn frame_raw(kind: FrameKind, body: &[u8]) -> Vec<u8> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<zstd::bulk::Compressor<'static>> = std::cell::RefCell::new({
            let mut c = zstd::bulk::Compressor::new(1).expect("zstd compressor");
            c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true)).expect("zstd checksum flag");
            c
        });
    }
    let z = COMPRESSOR.with(|c| c.borrow_mut().compress(body).expect("compress to memory"));
    let mut out = Vec::with_capacity(z.len() + 5);
    out.extend_from_slice(wire::MAGIC);
    out.push(wire::WIRE_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&z);
    out
}

/// Decode `bytes` as every frame kind (and as a bundle file) and exercise whatever
/// decodes. Never panics on any input unless the core has a bug.
pub fn decode_all(bytes: &[u8]) {
    // The relay's path: the sealed header, its signature, then (only then) the body.
    if let Ok(sealed) = SealedRequest::read(bytes) {
        exercise_sealed(&sealed);
    }
    // A sync request is never read with decode (that would inflate before verifying).
    assert!(
        wire::decode::<SyncRequest>(FrameKind::SyncRequest, bytes).is_err(),
        "wire::decode accepted a SyncRequest frame"
    );
    // The phone's path after a sync.
    if let Ok(resp) = wire::decode::<SyncResponse>(FrameKind::SyncResponse, bytes) {
        check_reencode(FrameKind::SyncResponse, &resp);
        exercise_response(&resp);
    }
    // Bundle files, through both entry points; they must agree.
    let via_wire = wire::decode::<Bundle>(FrameKind::Bundle, bytes);
    let via_bundle = bundle::decode(bytes);
    match (&via_wire, &via_bundle) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "wire::decode and bundle::decode disagree"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "wire::decode and bundle::decode disagree: {:?} vs {:?}",
            a.is_ok(),
            b.is_ok()
        ),
    }
    if let Ok(b) = via_bundle {
        check_reencode(FrameKind::Bundle, &b);
        exercise_bundle(&b);
    }
    if let Ok(h) = wire::decode::<Have>(FrameKind::Have, bytes) {
        check_reencode(FrameKind::Have, &h);
        let _ = h.verify();
    }
}

/// A decoded message encodes again and decodes to itself. (Framed with `frame_raw`:
/// `wire::encode` builds a fresh level-9 zstd context per call, which would dominate
/// the run time; wire_roundtrip checks `wire::encode` itself.) Not for sync requests,
/// which are sealed, not encoded: see `exercise_sealed`.
pub fn check_reencode<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    kind: FrameKind,
    msg: &T,
) {
    let body = postcard::to_allocvec(msg).expect("a decoded message serializes");
    let again: T = wire::decode(kind, &frame_raw(kind, &body))
        .expect("a decoded message must decode after re-encoding");
    assert_eq!(&again, msg, "re-encoding changed the message");
}

/// `verify()` and `open()` on a sealed request whose header read, with the invariants
/// that tie them:
/// - `open()` succeeds only when `verify()` does, and then returns a request for the
///   space and device of the header;
/// - `open()` fails only with `Malformed`, `BadSignature` or `TooLarge`, and with
///   `BadSignature` whenever `verify()` failed (nothing is inflated before that);
/// - a request that opened, sealed again by the device it names (when that is one of
///   the fixed keys), opens to itself.
pub fn exercise_sealed(s: &SealedRequest) {
    let verified = s.verify();
    match s.open() {
        Ok(req) => {
            assert!(verified.is_ok(), "open() succeeded but verify() failed");
            assert_eq!(
                req.space, s.space,
                "open() returned a request for another space"
            );
            assert_eq!(
                req.device, s.device,
                "open() returned a request by another device"
            );
            if let Some(key) = fixed_key_of(&s.device) {
                let again = SealedRequest::seal(&req, key);
                let read = SealedRequest::read(&again).expect("a sealed request reads");
                assert_eq!(
                    read.open().expect("a sealed request opens"),
                    req,
                    "sealing again changed the request"
                );
            }
            exercise_request(&req);
        }
        Err(e) => {
            let _ = e.to_string();
            assert!(
                matches!(
                    e,
                    Error::Malformed(_) | Error::BadSignature(_) | Error::TooLarge(_)
                ),
                "unexpected error kind from open(): {e:?}"
            );
            if verified.is_err() {
                assert!(
                    matches!(e, Error::BadSignature(_)),
                    "open() of a badly signed request gave {e:?}"
                );
            }
        }
    }
}

/// The fixed device key whose public key is `public`, if any.
pub fn fixed_key_of(public: &[u8; 32]) -> Option<&'static DeviceKey> {
    (0..DEVICE_SECRETS.len())
        .map(device_key)
        .find(|k| &k.public() == public)
}

/// `body` taken as the postcard bytes of a sync request, sealed by fixed device key
/// `signer` so that `open()` gets past the signature and inflates and decodes it. The
/// header names the space the body starts with and the body's device field (bytes
/// 16..48: postcard writes the two arrays raw) is set to the signer, so a body that
/// decodes also passes open()'s header check.
pub fn open_as_sealed_body(body: &[u8], signer: usize) {
    let key = device_key(signer);
    let mut body = body.to_vec();
    if body.len() >= 48 {
        body[16..48].copy_from_slice(&key.public());
    }
    let mut space = [0u8; 16];
    let n = body.len().min(16);
    space[..n].copy_from_slice(&body[..n]);
    let frame = SealedRequest::seal_body(&space, key, &body);
    let sealed = SealedRequest::read(&frame).expect("a sealed frame reads");
    sealed.verify().expect("a freshly sealed frame verifies");
    exercise_sealed(&sealed);
}

pub fn exercise_request(req: &SyncRequest) {
    for b in &req.batches {
        check_batch(b, None);
    }
}

pub fn exercise_response(resp: &SyncResponse) {
    for e in &resp.entries {
        let _ = e.seq();
        match e {
            LogEntry::Batch { seq, batch, .. } => check_batch(batch, Some(*seq)),
            LogEntry::Tally { tally, .. } => exercise_tally(tally),
        }
    }
    if let Some(r) = &resp.roster {
        exercise_roster(r);
    }
}

pub fn exercise_bundle(b: &Bundle) {
    for batch in &b.batches {
        check_batch(batch, None);
    }
    for t in &b.tallies {
        exercise_tally(t);
    }
    if let Some(r) = &b.roster {
        exercise_roster(r);
    }
}

pub fn exercise_tally(t: &SignedTally) {
    let _ = t.verify(&relay_public());
    let _ = t.verify(&[0u8; 5]);
}

pub fn exercise_roster(r: &SignedRoster) {
    let _ = r.verify(&relay_public());
    let _ = r.verify(&[]);
}

/// verify(), pairs() and redacted() on any batch, with the invariants that tie them:
/// - a batch that verifies has pairs, and returns one change per `Item::Change`;
/// - redacting items never changes the signed pairs, so a batch that verified still
///   verifies after redaction.
pub fn check_batch(b: &SignedBatch, seq: Option<u64>) {
    let pairs = b.pairs();
    let verified = b.verify(seq);
    if let Ok(v) = &verified {
        let p = pairs
            .as_ref()
            .expect("verify() succeeded but pairs() failed");
        assert_eq!(p.len(), b.items.len());
        let n_changes = b
            .items
            .iter()
            .filter(|i| matches!(i, Item::Change { .. }))
            .count();
        assert_eq!(
            v.len(),
            n_changes,
            "verify() returned a different number of changes"
        );
        for c in v {
            assert_eq!(c.seq, seq);
            assert_eq!(c.author, wire::hash_hex(&b.author));
        }
    }
    match (&pairs, b.redacted(|i, _| i % 2 == 0)) {
        (Ok(p), Ok(r)) => {
            assert_eq!(
                &r.pairs().expect("a redacted batch has pairs"),
                p,
                "redaction changed the signed pairs"
            );
            // Withholding items keeps a good batch good (the converse need not hold: a
            // change by another actor that is withheld no longer fails the batch).
            if verified.is_ok() {
                assert!(
                    r.verify(seq).is_ok(),
                    "a batch that verified no longer verifies after redaction"
                );
            }
        }
        (Ok(_), Err(e)) => panic!("pairs() succeeded but redacted() failed: {e}"),
        (Err(_), _) => {}
    }
    if let Err(e) = &verified {
        // Keep the error Display path exercised too (it formats fuzzed data).
        let _ = e.to_string();
        assert!(
            matches!(
                e,
                Error::Malformed(_) | Error::BadSignature(_) | Error::TooLarge(_)
            ),
            "unexpected error kind from verify(): {e:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_frames_decode_like_encoded_ones() {
        let have = Have::sign([7; 16], device_key(0), vec![([1; 16], vec![[2; 32]])]);
        let body = postcard::to_allocvec(&have).unwrap();
        let frame = frame_raw(FrameKind::Have, &body);
        assert_eq!(&frame[..5], &wire::encode(FrameKind::Have, &have)[..5]);
        assert_eq!(wire::decode::<Have>(FrameKind::Have, &frame).unwrap(), have);
        decode_all(&frame);
    }

    #[test]
    fn no_strict_prefix_of_a_frame_decodes() {
        let have = Have::sign(
            [7; 16],
            device_key(1),
            vec![([1; 16], vec![[2; 32], [3; 32]])],
        );
        for frame in [
            wire::encode(FrameKind::Have, &have),
            frame_raw(FrameKind::Have, &postcard::to_allocvec(&have).unwrap()),
        ] {
            assert!(wire::decode::<Have>(FrameKind::Have, &frame).is_ok());
            for n in 0..frame.len() {
                assert!(
                    wire::decode::<Have>(FrameKind::Have, &frame[..n]).is_err(),
                    "prefix of {n} bytes decoded"
                );
            }
        }
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for input in [
            &b""[..],
            b"CWU",
            b"CWU\x01",
            b"CWU\x01\x03",
            b"CWU\x01\x03\x28\xb5\x2f\xfd",
            b"CWU\x02\x01xx",
            b"\0\0\0",
        ] {
            decode_all(input);
        }
    }
}
