//! Writes the seed corpus of the fuzz targets: a few valid frames and their bare
//! postcard bodies, made the way the app makes them (real automerge changes from
//! `EntityDoc::create`/`append`, signed batches, a relay-signed roster and tally).
//! Deterministic: fixed keys and times, so the same files come out every run.
//!
//!     cd fuzz && cargo run --example seeds            # writes corpus/wire_decode/ and corpus/wire_roundtrip/
//!     cargo run --example seeds -- some/dir/wire_decode  # or into another folder (wire_roundtrip/ beside it)
//!
//! The corpus folder is gitignored; only this generator is kept in the repository.

use cunwu_fuzz::{device_key, relay_key};
use cunwu_protocol::doc::EntityDoc;
use cunwu_protocol::model::deliberation::Tally;
use cunwu_protocol::roster::{DeviceEntry, Member, Role, Roster, SignedRoster};
use cunwu_protocol::wire::{
    self, Bundle, FrameKind, Have, LogEntry, Rejection, SealedRequest, SignedBatch, SignedTally,
    SyncRequest, SyncResponse,
};
use cunwu_protocol::EntityKind;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};

const T0: i64 = 1_780_000_000_000;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("corpus")
                .join("wire_decode")
        });
    std::fs::create_dir_all(&dir).expect("create the corpus folder");

    let alice = device_key(0);
    let bob = device_key(1);
    let member = "m-alice";

    // A request with a comment, and a notice: three real automerge changes by alice.
    let req_id = [0x01; 16];
    let notice_id = [0x02; 16];
    let file = json!({"id": "e1", "by": member, "at": T0, "type": "file", "kind": "social_assistance",
                      "title": "申请低保", "description": "家中困难", "filer": member});
    let (mut doc, c1) = EntityDoc::create(
        &alice.public(),
        EntityKind::Request,
        &wire::entity_hex(&req_id),
        &file,
        T0,
    )
    .unwrap();
    let comment = json!({"id": "e2", "by": member, "at": T0 + 100_000, "type": "comment", "text": "补充了户口本"});
    let c2 = doc.append(&alice.public(), &comment, T0 + 100_000).unwrap();
    let post = json!({"id": "e3", "by": member, "at": T0 + 200_000, "type": "post", "title": "停水通知", "body": "周三停水"});
    let (_, c3) = EntityDoc::create(
        &alice.public(),
        EntityKind::Notice,
        &wire::entity_hex(&notice_id),
        &post,
        T0 + 200_000,
    )
    .unwrap();
    let alice_batch = SignedBatch::sign(alice, T0, &[(req_id, c1), (req_id, c2), (notice_id, c3)]);
    alice_batch.verify(None).expect("seed batch verifies");

    // A batch by bob, and the same batch as a reader who may not see its first item gets it.
    let ballot_id = [0x03; 16];
    let cast = json!({"id": "e4", "by": "m-bob", "at": T0, "type": "cast", "option": 1});
    let (mut ballot, c4) = EntityDoc::create(
        &bob.public(),
        EntityKind::Ballot,
        &wire::entity_hex(&ballot_id),
        &cast,
        T0,
    )
    .unwrap();
    let recast = json!({"id": "e5", "by": "m-bob", "at": T0 + 60_000, "type": "cast", "option": 0});
    let c5 = ballot.append(&bob.public(), &recast, T0 + 60_000).unwrap();
    let bob_batch = SignedBatch::sign(bob, T0 + 5, &[(ballot_id, c4), (ballot_id, c5)]);
    bob_batch.verify(None).expect("seed batch verifies");
    let bob_redacted = bob_batch.redacted(|i, _| i != 0).unwrap();
    bob_redacted
        .verify(Some(7))
        .expect("redacted seed batch verifies");

    let space = [0x5A; 16];
    let request = SyncRequest {
        space,
        device: alice.public(),
        counter: 1,
        sent_at: T0,
        cursor: 0,
        roster_version: 1,
        max_page_bytes: 1 << 20,
        batches: vec![alice_batch.clone()],
    };
    let sealed = SealedRequest::seal(&request, alice);
    assert_eq!(
        SealedRequest::read(&sealed).unwrap().open().unwrap(),
        request
    );

    let roster = Roster {
        space_id: wire::entity_hex(&space),
        space_name: "青石村".into(),
        version: 3,
        members: vec![
            Member {
                id: member.into(),
                name: "Alice".into(),
                role: Role::Cadre,
                household: "h1".into(),
                group: "g1".into(),
                migrant: false,
                household_rep: true,
                party: true,
                revoked: false,
                joined_version: 1,
                person: None,
                lives_in: None,
            },
            Member {
                id: "m-bob".into(),
                name: "Bob".into(),
                role: Role::Resident,
                household: "h2".into(),
                group: "g1".into(),
                migrant: true,
                household_rep: false,
                party: false,
                revoked: false,
                joined_version: 2,
                person: None,
                lives_in: None,
            },
        ],
        devices: vec![
            DeviceEntry {
                key: alice.id(),
                member: member.into(),
                revoked_at_seq: None,
            },
            DeviceEntry {
                key: bob.id(),
                member: "m-bob".into(),
                revoked_at_seq: Some(9),
            },
        ],
    };
    let signed_roster = SignedRoster::sign(&roster, relay_key());
    let tally = Tally {
        deliberation: wire::entity_hex(&[0x04; 16]),
        eligible: 2,
        participants: 1,
        counts: vec![0, 1],
        quorum_met: false,
        decided: None,
        final_result: false,
        roll: [("m-bob".to_string(), 1)].into_iter().collect(),
        as_of: 0,
        in_hall: 0,
    };
    let signed_tally = SignedTally::sign(&tally, relay_key());

    let response = SyncResponse {
        acks: alice_batch
            .pairs()
            .unwrap()
            .into_iter()
            .map(|(_, h)| h)
            .collect(),
        rejections: vec![Rejection {
            hash: [0xEE; 32],
            entity: req_id,
            reason: "not allowed: residents cannot decide".into(),
        }],
        entries: vec![
            LogEntry::Batch {
                seq: 6,
                batch: alice_batch.clone(),
                arrived_at: Some(T0 + 1),
            },
            LogEntry::Batch {
                seq: 7,
                batch: bob_redacted,
                arrived_at: Some(T0 + 1),
            },
            LogEntry::Tally {
                seq: 8,
                tally: signed_tally.clone(),
                arrived_at: None,
            },
        ],
        cursor: 8,
        more: true,
        roster: Some(signed_roster.clone()),
        server_time: T0 + 1,
        remaining: wire::Remaining::default(),
        epoch: 1,
    };
    let bundle = Bundle {
        space,
        created_at: T0 + 2,
        roster: Some(signed_roster),
        batches: vec![alice_batch, bob_batch],
        tallies: vec![signed_tally],
    };
    let have = Have::sign(
        space,
        bob,
        vec![
            (req_id, vec![[0x10; 32]]),
            (notice_id, vec![[0x20; 32], [0x30; 32]]),
        ],
    );
    have.verify().unwrap();
    let empty_response = SyncResponse {
        acks: vec![],
        rejections: vec![],
        entries: vec![],
        cursor: 0,
        more: false,
        roster: None,
        server_time: 0,
        remaining: wire::Remaining::default(),
        epoch: 1,
    };

    let mut n = 0;
    let mut write = |name: &str, kind: FrameKind, msg: &dyn ErasedSer| {
        let body = msg.body();
        // The frame as the app sends it, and the bare body (the wire_decode target
        // frames inputs that lack the CWU header itself).
        std::fs::write(dir.join(format!("frame-{name}")), msg.frame(kind)).unwrap();
        std::fs::write(dir.join(format!("body-{name}")), body).unwrap();
        n += 2;
    };
    write("sync-request", FrameKind::SyncRequest, &request);
    write("sync-response", FrameKind::SyncResponse, &response);
    write(
        "sync-response-empty",
        FrameKind::SyncResponse,
        &empty_response,
    );
    write("bundle", FrameKind::Bundle, &bundle);
    write("have", FrameKind::Have, &have);
    // The sealed request as a device sends it; its postcard body (wire_decode seals
    // inputs without the CWU header itself) is written by the "sync-request" line.
    std::fs::write(dir.join("frame-sealed-request"), &sealed).unwrap();
    n += 1;
    println!("wrote {n} seed files to {}", dir.display());

    // wire_roundtrip reads its input through `arbitrary`, so any bytes are a valid
    // seed; a few pseudo-random ones of different sizes spare libFuzzer the slow climb
    // from empty inputs to ones large enough to hold signed batches.
    let rt = dir
        .parent()
        .expect("corpus folder has a parent")
        .join("wire_roundtrip");
    std::fs::create_dir_all(&rt).expect("create the corpus folder");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for (i, len) in [64usize, 128, 256, 512, 1024, 2048, 4096, 4096]
        .into_iter()
        .enumerate()
    {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                // xorshift64*: deterministic, no dependency.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect();
        std::fs::write(rt.join(format!("random-{i}-{len}")), bytes).unwrap();
    }
    println!("wrote 8 seed files to {}", rt.display());

    // change_decode: the honest chunks as raw input (mode 0), and as seeds for the
    // edited (mode 1) and built (mode 2) inputs.
    let cd = dir
        .parent()
        .expect("corpus folder has a parent")
        .join("change_decode");
    std::fs::create_dir_all(&cd).expect("create the corpus folder");
    let chunks = cunwu_fuzz::change::Honest::with(|h| h.chunks.clone());
    for (i, c) in chunks.iter().enumerate() {
        std::fs::write(cd.join(format!("chunk-{i}")), [&[0u8][..], c].concat()).unwrap();
    }
    for mode in [1u8, 2] {
        for (i, len) in [16usize, 64, 256].into_iter().enumerate() {
            let mut bytes = vec![mode];
            bytes.extend((0..len).map(|j| (j as u8).wrapping_mul(37).wrapping_add(i as u8)));
            std::fs::write(cd.join(format!("mode{mode}-{len}")), bytes).unwrap();
        }
    }
    println!("wrote {} seed files to {}", chunks.len() + 6, cd.display());

    // merge_import reads its input through `arbitrary`, like wire_roundtrip.
    let mi = dir
        .parent()
        .expect("corpus folder has a parent")
        .join("merge_import");
    std::fs::create_dir_all(&mi).expect("create the corpus folder");
    for entry in std::fs::read_dir(&rt).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), mi.join(entry.file_name())).unwrap();
    }
    println!("wrote 8 seed files to {}", mi.display());
}

/// `wire::encode` and postcard for any of the message types, behind one `dyn`.
trait ErasedSer {
    fn frame(&self, kind: FrameKind) -> Vec<u8>;
    fn body(&self) -> Vec<u8>;
}

impl<T: Serialize> ErasedSer for T {
    fn frame(&self, kind: FrameKind) -> Vec<u8> {
        wire::encode(kind, self)
    }
    fn body(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap()
    }
}
