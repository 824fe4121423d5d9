//! Structure-aware: build a *valid* message from the input, check that it round-trips,
//! then corrupt it and decode again.
//!
//! The message (a sealed SyncRequest, SyncResponse, Bundle or Have) is made with
//! `arbitrary`: signed batches hold real automerge changes made with
//! `EntityDoc::create`/`append` and signed with `SignedBatch::sign` by fixed device
//! keys (some made by another actor, some items redacted to `Withheld`), rosters and
//! tallies are signed by a fixed relay key, next to raw (garbage) batches, items,
//! rosters and tallies.
//!
//! Checked on the intact message:
//! - `wire::decode(wire::encode(m)) == m` when the input picks the Encoded layer,
//!   `wire::decode(frame_raw(postcard(m))) == m` for the others (and `bundle::decode`
//!   agrees for bundles);
//! - a batch verifies exactly when every change it still carries was made by its
//!   signer; verify() returns those changes; pairs() is unchanged by redaction;
//! - `SealedRequest::seal` then `read().open()` returns the request when its body
//!   names the signing device, and fails (Malformed) when the body names another
//!   device; a header that names another device than the signer fails `verify()` and
//!   `open()` with BadSignature;
//! - signed rosters, tallies and `Have` summaries verify.
//!
//! Then the input's mutations (bit flips, byte sets, inserts, removals, swaps,
//! truncation) are applied either to the frame (what a cut connection or a damaged
//! bundle file gives: Encoded and Frame layers) or to the postcard body before
//! compression (Body layer: reaches the postcard and automerge decoders with nearly
//! valid data), and the result goes through `decode_all` like any untrusted bytes:
//! it must not panic. A frame cut short (a strict prefix) must not decode at all.
#![no_main]

use arbitrary::Arbitrary;
use cunwu_fuzz::{
    check_batch, decode_all, device_key, frame_raw, open_as_sealed_body, relay_key, relay_public,
    DEVICE_SECRETS,
};
use cunwu_protocol::doc::EntityDoc;
use cunwu_protocol::model::deliberation::Tally;
use cunwu_protocol::roster::{DeviceEntry, Member, Role, Roster, SignedRoster};
use cunwu_protocol::wire::{
    self, Bundle, FrameKind, Have, Item, LogEntry, Rejection, SealedRequest, SignedBatch,
    SignedTally, SyncRequest, SyncResponse,
};
use cunwu_protocol::{EntityKind, Error};
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::json;
use std::fmt::Debug;

#[derive(Arbitrary, Debug)]
struct Input {
    msg: Msg,
    layer: Layer,
    mutations: Vec<Mutation>,
}

/// Where the mutations go.
#[derive(Arbitrary, Debug)]
enum Layer {
    /// The frame made by `wire::encode` (zstd level 9), as sent and stored.
    Encoded,
    /// The same layout made by `frame_raw` (zstd level 1): cheaper, since
    /// `wire::encode` zeroes a fresh level-9 zstd context of several MiB per call.
    Frame,
    /// The postcard body, compressed after mutation.
    Body,
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    Flip { at: u16, bit: u8 },
    Set { at: u16, byte: u8 },
    Insert { at: u16, bytes: Vec<u8> },
    Remove { at: u16, len: u8 },
    Swap { a: u16, b: u16 },
    Truncate { keep: u16 },
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Request {
        req: ArbRequest,
        signer: u8,
        names_signer: bool,
    },
    Response(ArbResponse),
    Bundle(ArbBundle),
    Have {
        space: [u8; 16],
        signer: u8,
        entities: Vec<([u8; 16], Vec<[u8; 32]>)>,
    },
}

#[derive(Arbitrary, Debug)]
struct ArbRequest {
    space: [u8; 16],
    counter: u64,
    sent_at: i64,
    cursor: u64,
    roster_version: u64,
    max_page_bytes: u32,
    batches: Vec<ArbBatch>,
}

#[derive(Arbitrary, Debug)]
struct ArbResponse {
    acks: Vec<[u8; 32]>,
    rejections: Vec<([u8; 32], [u8; 16], String)>,
    entries: Vec<ArbEntry>,
    cursor: u64,
    more: bool,
    roster: Option<ArbRoster>,
    server_time: i64,
}

#[derive(Arbitrary, Debug)]
enum ArbEntry {
    Batch { seq: u64, batch: ArbBatch },
    Tally { seq: u64, tally: ArbTally },
}

#[derive(Arbitrary, Debug)]
struct ArbBundle {
    space: [u8; 16],
    created_at: i64,
    roster: Option<ArbRoster>,
    batches: Vec<ArbBatch>,
    tallies: Vec<ArbTally>,
}

#[derive(Arbitrary, Debug)]
enum ArbBatch {
    /// Real changes signed by device key `signer`; item `i` stays a change when bit
    /// `i` of `keep_mask` is set, else it is redacted to `Withheld`.
    Signed {
        signer: u8,
        signed_at: i64,
        changes: Vec<ArbChange>,
        keep_mask: u64,
    },
    /// Anything at all.
    Raw {
        author: [u8; 32],
        signed_at: i64,
        items: Vec<ArbItem>,
        signature: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct ArbChange {
    entity: [u8; 16],
    kind: u8,
    text: String,
    time_ms: i64,
    appends: Vec<String>,
    /// Made by another device's actor than the batch signer (verify() must refuse it).
    foreign_actor: bool,
}

#[derive(Arbitrary, Debug)]
enum ArbItem {
    Change { entity: [u8; 16], bytes: Vec<u8> },
    Withheld { entity: [u8; 16], hash: [u8; 32] },
}

#[derive(Arbitrary, Debug)]
enum ArbRoster {
    Real {
        space_id: String,
        space_name: String,
        version: u64,
        members: Vec<ArbMember>,
        devices: Vec<(u8, String, Option<u64>)>,
    },
    /// Any bytes as the roster JSON, correctly signed by the relay (reaches serde_json).
    SignedJson(Vec<u8>),
    Garbage {
        json: Vec<u8>,
        signature: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct ArbMember {
    id: String,
    name: String,
    role: u8,
    household: String,
    group: String,
    flags: u8,
    joined_version: u64,
}

#[derive(Arbitrary, Debug)]
enum ArbTally {
    Real {
        deliberation: String,
        eligible: u32,
        participants: u32,
        counts: Vec<u32>,
        quorum_met: bool,
        decided: Option<u32>,
        final_result: bool,
        roll: Vec<(String, u32)>,
    },
    SignedJson(Vec<u8>),
    Garbage {
        json: Vec<u8>,
        signature: Vec<u8>,
    },
}

/// Caps the automerge work per input (each change is a document transaction).
const MAX_CHANGES: usize = 8;
const MAX_APPENDS: usize = 2;

/// A batch to check: (batch, log position, whether verify() must succeed (None:
/// anything goes), the pairs the signer signed).
type ExpectedBatch = (
    SignedBatch,
    Option<u64>,
    Option<bool>,
    Vec<(wire::EntityId, wire::Hash)>,
);

/// What the intact message must do when checked.
#[derive(Default)]
struct Expect {
    batches: Vec<ExpectedBatch>,
    rosters: Vec<(SignedRoster, Option<Roster>)>,
    tallies: Vec<(SignedTally, Option<Tally>)>,
}

struct Builder {
    changes_left: usize,
    expect: Expect,
}

impl Builder {
    fn batch(&mut self, b: &ArbBatch, seq: Option<u64>) -> SignedBatch {
        match b {
            ArbBatch::Raw {
                author,
                signed_at,
                items,
                signature,
            } => {
                let items = items
                    .iter()
                    .map(|it| match it {
                        ArbItem::Change { entity, bytes } => Item::Change {
                            entity: *entity,
                            bytes: bytes.clone(),
                        },
                        ArbItem::Withheld { entity, hash } => Item::Withheld {
                            entity: *entity,
                            hash: *hash,
                        },
                    })
                    .collect();
                let batch = SignedBatch {
                    author: *author,
                    signed_at: *signed_at,
                    items,
                    signature: signature.clone(),
                };
                self.expect.batches.push((batch.clone(), seq, None, vec![]));
                batch
            }
            ArbBatch::Signed {
                signer,
                signed_at,
                changes,
                keep_mask,
            } => {
                let signer = *signer as usize % DEVICE_SECRETS.len();
                let key = device_key(signer);
                let mut made = vec![]; // (entity, change, by the signer?)
                for c in changes {
                    if self.changes_left == 0 {
                        break;
                    }
                    self.changes_left -= 1;
                    let actor = if c.foreign_actor {
                        device_key(signer + 1).public()
                    } else {
                        key.public()
                    };
                    let kind = EntityKind::ALL[c.kind as usize % EntityKind::ALL.len()];
                    let first = json!({"id": "e0", "by": "m1", "at": c.time_ms, "type": "comment", "text": c.text});
                    let (mut doc, ch) = EntityDoc::create(
                        &actor,
                        kind,
                        &wire::entity_hex(&c.entity),
                        &first,
                        c.time_ms,
                    )
                    .expect("creating a document from valid JSON works");
                    made.push((c.entity, ch, !c.foreign_actor));
                    for (i, text) in c.appends.iter().take(MAX_APPENDS).enumerate() {
                        let ev = json!({"id": format!("e{}", i + 1), "by": "m1", "at": c.time_ms, "type": "comment", "text": text});
                        let ch = doc
                            .append(&actor, &ev, c.time_ms)
                            .expect("appending valid JSON works");
                        made.push((c.entity, ch, !c.foreign_actor));
                    }
                }
                let to_sign: Vec<_> = made.iter().map(|(e, c, _)| (*e, c.clone())).collect();
                let full = SignedBatch::sign(key, *signed_at, &to_sign);
                let pairs: Vec<_> = to_sign.iter().map(|(e, c)| (*e, c.hash().0)).collect();
                assert_eq!(
                    full.pairs().expect("a freshly signed batch has pairs"),
                    pairs
                );
                let keep = |i: usize| i < 64 && keep_mask & (1 << i) != 0;
                let batch = full
                    .redacted(|i, _| keep(i))
                    .expect("redacting a freshly signed batch works");
                let should_verify = made
                    .iter()
                    .enumerate()
                    .all(|(i, (_, _, by_signer))| *by_signer || !keep(i));
                self.expect
                    .batches
                    .push((batch.clone(), seq, Some(should_verify), pairs));
                batch
            }
        }
    }

    fn roster(&mut self, r: &ArbRoster) -> SignedRoster {
        let (signed, roster) = match r {
            ArbRoster::Real {
                space_id,
                space_name,
                version,
                members,
                devices,
            } => {
                let roster = Roster {
                    space_id: space_id.clone(),
                    space_name: space_name.clone(),
                    version: *version,
                    members: members
                        .iter()
                        .map(|m| Member {
                            id: m.id.clone(),
                            name: m.name.clone(),
                            role: Role::ALL[m.role as usize % Role::ALL.len()],
                            household: m.household.clone(),
                            group: m.group.clone(),
                            migrant: m.flags & 1 != 0,
                            household_rep: m.flags & 2 != 0,
                            party: m.flags & 4 != 0,
                            revoked: m.flags & 8 != 0,
                            joined_version: m.joined_version,
                        })
                        .collect(),
                    devices: devices
                        .iter()
                        .map(|(k, member, revoked_at_seq)| DeviceEntry {
                            key: device_key(*k as usize).id(),
                            member: member.clone(),
                            revoked_at_seq: *revoked_at_seq,
                        })
                        .collect(),
                };
                (SignedRoster::sign(&roster, relay_key()), Some(roster))
            }
            ArbRoster::SignedJson(json) => {
                // The signed message as roster.rs makes it.
                let mut m = b"cunwu-roster-v1\0".to_vec();
                m.extend_from_slice(json);
                (
                    SignedRoster {
                        roster_json: json.clone(),
                        signature: relay_key().sign(&m).to_vec(),
                    },
                    None,
                )
            }
            ArbRoster::Garbage { json, signature } => (
                SignedRoster {
                    roster_json: json.clone(),
                    signature: signature.clone(),
                },
                None,
            ),
        };
        self.expect.rosters.push((signed.clone(), roster));
        signed
    }

    fn tally(&mut self, t: &ArbTally) -> SignedTally {
        let (signed, tally) = match t {
            ArbTally::Real {
                deliberation,
                eligible,
                participants,
                counts,
                quorum_met,
                decided,
                final_result,
                roll,
            } => {
                let tally = Tally {
                    deliberation: deliberation.clone(),
                    eligible: *eligible,
                    participants: *participants,
                    counts: counts.clone(),
                    quorum_met: *quorum_met,
                    decided: *decided,
                    final_result: *final_result,
                    roll: roll.iter().cloned().collect(),
                    as_of: 0,
                    in_hall: 0,
                };
                (SignedTally::sign(&tally, relay_key()), Some(tally))
            }
            ArbTally::SignedJson(json) => {
                let mut m = b"cunwu-tally-v1\0".to_vec();
                m.extend_from_slice(json);
                (
                    SignedTally {
                        tally_json: json.clone(),
                        signature: relay_key().sign(&m).to_vec(),
                    },
                    None,
                )
            }
            ArbTally::Garbage { json, signature } => (
                SignedTally {
                    tally_json: json.clone(),
                    signature: signature.clone(),
                },
                None,
            ),
        };
        self.expect.tallies.push((signed.clone(), tally));
        signed
    }

    fn check(&self) {
        for (batch, seq, should_verify, pairs) in &self.expect.batches {
            check_batch(batch, *seq);
            if let Some(should) = should_verify {
                let got = batch.verify(*seq);
                assert_eq!(got.is_ok(), *should, "signed batch: verify() gave {got:?}");
                if let Err(e) = &got {
                    assert!(
                        matches!(e, Error::BadSignature(_)),
                        "a foreign change must fail as BadSignature: {e:?}"
                    );
                }
                assert_eq!(
                    &batch.pairs().expect("signed batch has pairs"),
                    pairs,
                    "redaction changed the pairs"
                );
            }
        }
        for (signed, roster) in &self.expect.rosters {
            let got = signed.verify(&relay_public());
            if let Some(r) = roster {
                assert_eq!(got.expect("a roster signed by the relay verifies"), *r);
            }
        }
        for (signed, tally) in &self.expect.tallies {
            let got = signed.verify(&relay_public());
            if let Some(t) = tally {
                assert_eq!(got.expect("a tally signed by the relay verifies"), *t);
            }
        }
    }
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations.iter().take(16) {
        let len = bytes.len();
        match m {
            Mutation::Flip { at, bit } if len > 0 => bytes[*at as usize % len] ^= 1 << (bit % 8),
            Mutation::Set { at, byte } if len > 0 => bytes[*at as usize % len] = *byte,
            Mutation::Insert { at, bytes: ins } => {
                let at = *at as usize % (len + 1);
                bytes.splice(at..at, ins.iter().take(64).copied());
            }
            Mutation::Remove { at, len: n } if len > 0 => {
                let at = *at as usize % len;
                let end = (at + *n as usize + 1).min(len);
                bytes.drain(at..end);
            }
            Mutation::Swap { a, b } if len > 0 => bytes.swap(*a as usize % len, *b as usize % len),
            Mutation::Truncate { keep } => bytes.truncate(*keep as usize % (len + 1)),
            _ => {}
        }
    }
}

/// Encode, check the round trip, return (frame, postcard body). With `real`, the frame
/// is made by `wire::encode`; otherwise by `frame_raw` (same layout, zstd level 1):
/// `wire::encode` builds a fresh level-9 zstd context (several MiB, zeroed) per call,
/// which took half the run time when every input paid for it.
fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    kind: FrameKind,
    msg: &T,
    real: bool,
) -> (Vec<u8>, Vec<u8>) {
    let body = postcard::to_allocvec(msg).expect("message serializes");
    let frame = if real {
        wire::encode(kind, msg)
    } else {
        frame_raw(kind, &body)
    };
    let back: T = wire::decode(kind, &frame).expect("an encoded message decodes");
    assert_eq!(&back, msg, "decode(encode(m)) != m");
    (frame, body)
}

/// Whether `bytes` decode as a message of `kind`.
fn decode_kind(kind: FrameKind, bytes: &[u8]) -> Result<(), Error> {
    match kind {
        FrameKind::SyncRequest => SealedRequest::read(bytes).and_then(|s| s.open()).map(drop),
        FrameKind::SyncResponse => wire::decode::<SyncResponse>(kind, bytes).map(drop),
        FrameKind::Bundle => wire::decode::<Bundle>(kind, bytes).map(drop),
        FrameKind::Have => wire::decode::<Have>(kind, bytes).map(drop),
    }
}

fuzz_target!(|input: Input| {
    let mut b = Builder {
        changes_left: MAX_CHANGES,
        expect: Expect::default(),
    };
    let real = matches!(input.layer, Layer::Encoded);
    let (kind, frame, body) = match &input.msg {
        Msg::Request {
            req,
            signer,
            names_signer,
        } => {
            let key = device_key(*signer as usize);
            let device = if *names_signer {
                key.public()
            } else {
                device_key(*signer as usize + 1).public()
            };
            let req = SyncRequest {
                space: req.space,
                device,
                counter: req.counter,
                sent_at: req.sent_at,
                cursor: req.cursor,
                roster_version: req.roster_version,
                max_page_bytes: req.max_page_bytes,
                batches: req.batches.iter().map(|x| b.batch(x, None)).collect(),
            };
            let frame = SealedRequest::seal(&req, key);
            let sealed = SealedRequest::read(&frame).expect("a sealed request reads");
            assert_eq!(
                (sealed.space, sealed.device),
                (req.space, key.public()),
                "the header names the signer"
            );
            sealed.verify().expect("a freshly sealed request verifies");
            match sealed.open() {
                Ok(opened) => {
                    assert!(
                        *names_signer,
                        "open() accepted a body that names another device than the header"
                    );
                    assert_eq!(opened, req);
                }
                Err(e) => {
                    assert!(!*names_signer, "open() refused a well-sealed request: {e}");
                    assert!(matches!(e, Error::Malformed(_)), "{e:?}");
                }
            }
            // A header that names another device than the one that signed.
            let mut forged = frame.clone();
            forged[21..53].copy_from_slice(&device_key(*signer as usize + 1).public());
            let forged = SealedRequest::read(&forged).expect("a forged header still reads");
            assert!(
                matches!(forged.verify(), Err(Error::BadSignature(_))),
                "a forged header verified"
            );
            assert!(
                matches!(forged.open(), Err(Error::BadSignature(_))),
                "a forged header opened"
            );
            let body = postcard::to_allocvec(&req).expect("request serializes");
            (FrameKind::SyncRequest, frame, body)
        }
        Msg::Response(r) => {
            let resp = SyncResponse {
                acks: r.acks.clone(),
                rejections: r
                    .rejections
                    .iter()
                    .map(|(hash, entity, reason)| Rejection {
                        hash: *hash,
                        entity: *entity,
                        reason: reason.clone(),
                    })
                    .collect(),
                entries: r
                    .entries
                    .iter()
                    .map(|e| match e {
                        ArbEntry::Batch { seq, batch } => LogEntry::Batch {
                            seq: *seq,
                            batch: b.batch(batch, Some(*seq)),
                            arrived_at: Some(r.server_time),
                        },
                        ArbEntry::Tally { seq, tally } => LogEntry::Tally {
                            seq: *seq,
                            tally: b.tally(tally),
                            arrived_at: None,
                        },
                    })
                    .collect(),
                cursor: r.cursor,
                more: r.more,
                roster: r.roster.as_ref().map(|x| b.roster(x)),
                server_time: r.server_time,
                remaining: wire::Remaining {
                    entries: r.cursor,
                    changes: r.acks.len() as u64,
                    bytes: r.server_time.unsigned_abs(),
                },
                epoch: r.cursor ^ 0x5eed,
            };
            let (frame, body) = roundtrip(FrameKind::SyncResponse, &resp, real);
            (FrameKind::SyncResponse, frame, body)
        }
        Msg::Bundle(x) => {
            let bundle = Bundle {
                space: x.space,
                created_at: x.created_at,
                roster: x.roster.as_ref().map(|r| b.roster(r)),
                batches: x.batches.iter().map(|y| b.batch(y, None)).collect(),
                tallies: x.tallies.iter().map(|t| b.tally(t)).collect(),
            };
            let (frame, body) = roundtrip(FrameKind::Bundle, &bundle, real);
            assert_eq!(
                cunwu_core::bundle::decode(&frame).expect("bundle file decodes"),
                bundle
            );
            (FrameKind::Bundle, frame, body)
        }
        Msg::Have {
            space,
            signer,
            entities,
        } => {
            let have = Have::sign(*space, device_key(*signer as usize), entities.clone());
            have.verify().expect("a freshly signed Have verifies");
            let (frame, body) = roundtrip(FrameKind::Have, &have, real);
            (FrameKind::Have, frame, body)
        }
    };
    b.check();

    if input.mutations.is_empty() {
        return;
    }
    match input.layer {
        Layer::Encoded | Layer::Frame => {
            let mut bytes = frame.clone();
            mutate(&mut bytes, &input.mutations);
            decode_all(&bytes);
            // A cut connection or a partly copied bundle file: a strict prefix of a
            // frame must never decode (docs/WIRE.md promises the refusal).
            if bytes.len() < frame.len() && frame.starts_with(&bytes) {
                assert!(
                    decode_kind(kind, &bytes).is_err(),
                    "a truncated frame ({} of {} bytes) decoded",
                    bytes.len(),
                    frame.len()
                );
            }
        }
        Layer::Body => {
            let mut bytes = body;
            mutate(&mut bytes, &input.mutations);
            if kind == FrameKind::SyncRequest {
                // sealed again by a fixed key, so that open() inflates and decodes it
                open_as_sealed_body(&bytes, 0);
            } else {
                decode_all(&frame_raw(kind, &bytes));
            }
        }
    }
});
