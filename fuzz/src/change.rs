//! The `change_decode` target's work, here so the seed generator and unit tests share
//! the honest changes and the judging code.
//!
//! Why: every change a phone or relay takes from elsewhere passes
//! `doc::change_from_bytes`, `doc::inspect_change` and `policy::check_change` before it
//! is applied, and `EntityDoc::to_json` recurses over what was accepted. A panic, a
//! budget that does not hold, or a document nested deeper than `MAX_DEPTH` is a bug.

use crate::device_key;
use arbitrary::{Arbitrary, Unstructured};
use cunwu_protocol::doc::{self, EntityDoc};
use cunwu_protocol::model::request::DEFAULT_KINDS;
use cunwu_protocol::model::{MAX_CHANGE_BYTES, MAX_DEPTH, MAX_OPS_PER_CHANGE};
use cunwu_protocol::policy::{self, Context};
use cunwu_protocol::roster::{DeviceEntry, Member, Role, Roster};
use cunwu_protocol::{wire, EntityKind, Error};
use serde_json::{json, Map, Value};

pub const T0: i64 = 1_780_000_000_000;
pub const REQUEST_ID: [u8; 16] = [0x01; 16];
pub const NOTICE_ID: [u8; 16] = [0x02; 16];
pub const NEW_ID: [u8; 16] = [0x0C; 16];

/// Member ids of the roster; device key `i` belongs to member `i` (key 2 is a
/// resident, keys 0 and 1 are staff), and a fourth member has no device.
pub const MEMBERS: [&str; 4] = ["m-alice", "m-bob", "m-carol", "m-dan"];

pub fn roster() -> Roster {
    let roles = [
        Role::Cadre,
        Role::Township,
        Role::Resident,
        Role::VillagerRep,
    ];
    Roster {
        space_id: wire::entity_hex(&[0x5A; 16]),
        space_name: "fuzz".into(),
        version: 4,
        members: MEMBERS
            .iter()
            .zip(roles)
            .enumerate()
            .map(|(i, (id, role))| Member {
                id: id.to_string(),
                name: id.to_string(),
                role,
                household: format!("h{}", i % 2),
                group: "g1".into(),
                migrant: i == 3,
                household_rep: i != 3,
                party: role == Role::Cadre,
                revoked: false,
                joined_version: 1,
                person: None,
                lives_in: None,
            })
            .collect(),
        devices: (0..3)
            .map(|i| DeviceEntry {
                key: device_key(i).id(),
                member: MEMBERS[i].into(),
                revoked_at_seq: None,
            })
            .collect(),
    }
}

/// Event templates the app writes, by member `m` at time `at`.
pub fn template(i: usize, m: &str, at: i64) -> Value {
    match i % 5 {
        0 => json!({"id": "e1", "by": m, "at": at, "type": "file", "kind": "social_assistance",
                    "title": "申请低保", "description": "家中困难", "filer": m}),
        1 => json!({"id": "e2", "by": m, "at": at, "type": "comment", "text": "补充了户口本"}),
        2 => {
            json!({"id": "e3", "by": m, "at": at, "type": "post", "title": "停水通知", "body": "周三停水"})
        }
        3 => json!({"id": "e4", "by": m, "at": at, "type": "cast", "option": 1}),
        _ => {
            json!({"id": "e5", "by": m, "at": at, "type": "status", "to": "accepted", "note": "ok"})
        }
    }
}

/// Honest documents and changes, built once per thread (`EntityDoc` holds automerge
/// state; building it per input would dominate the run time).
pub struct Honest {
    /// The empty document (a change creating a new entity), a request with two events
    /// and a notice with one.
    pub docs: Vec<(EntityDoc, String)>,
    /// Raw chunks: the creations and the append.
    pub chunks: Vec<Vec<u8>>,
}

impl Honest {
    fn build() -> Honest {
        let alice = device_key(0).public();
        let req = wire::entity_hex(&REQUEST_ID);
        let notice = wire::entity_hex(&NOTICE_ID);
        let (mut rdoc, c1) = EntityDoc::create(
            &alice,
            EntityKind::Request,
            &req,
            &template(0, MEMBERS[0], T0),
            T0,
        )
        .expect("create");
        let c2 = rdoc
            .append(&alice, &template(1, MEMBERS[0], T0 + 1000), T0 + 1000)
            .expect("append");
        let (ndoc, c3) = EntityDoc::create(
            &alice,
            EntityKind::Notice,
            &notice,
            &template(2, MEMBERS[0], T0),
            T0,
        )
        .expect("create");
        let (_, c4) = EntityDoc::create(
            &device_key(2).public(),
            EntityKind::Request,
            &wire::entity_hex(&NEW_ID),
            &template(0, MEMBERS[2], T0),
            T0,
        )
        .expect("create");
        // the request as it was after its creation only, so c2 is an append to it
        let r0 = EntityDoc::load(None, [c1.raw_bytes()]).expect("load");
        Honest {
            docs: vec![
                (EntityDoc::empty(), String::new()),
                (r0, req.clone()),
                (rdoc, req),
                (ndoc, notice),
            ],
            chunks: [c1, c2, c3, c4]
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect(),
        }
    }

    pub fn with<R>(f: impl FnOnce(&Honest) -> R) -> R {
        thread_local! {
            static H: Honest = Honest::build();
        }
        H.with(f)
    }
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Flip { at: u16, bit: u8 },
    Set { at: u16, byte: u8 },
    Insert { at: u16, bytes: Vec<u8> },
    Remove { at: u16, len: u8 },
    Truncate { keep: u16 },
}

fn edit(bytes: &mut Vec<u8>, edits: &[Edit]) {
    for e in edits.iter().take(16) {
        let len = bytes.len();
        match e {
            Edit::Flip { at, bit } if len > 0 => bytes[*at as usize % len] ^= 1 << (bit % 8),
            Edit::Set { at, byte } if len > 0 => bytes[*at as usize % len] = *byte,
            Edit::Insert { at, bytes: b } => {
                let at = *at as usize % (len + 1);
                bytes.splice(at..at, b.iter().take(64).copied());
            }
            Edit::Remove { at, len: n } if len > 0 => {
                let at = *at as usize % len;
                bytes.drain(at..(at + *n as usize + 1).min(len));
            }
            Edit::Truncate { keep } => bytes.truncate(*keep as usize % (len + 1)),
            _ => {}
        }
    }
}

fn uleb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// The data section of an honest chunk (after magic, checksum, type and length).
fn data_of(chunk: &[u8]) -> &[u8] {
    let mut at = 9;
    while chunk[at] & 0x80 != 0 {
        at += 1;
    }
    &chunk[at + 1..]
}

/// A change chunk around `data`, with the right length and checksum (the first four
/// bytes of the SHA-256 over type, length and data, as `wire::change_hash_of` computes).
pub fn chunk_around(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1];
    uleb(data.len() as u64, &mut out);
    out.extend_from_slice(data);
    let h = wire::change_hash_of(&out).expect("a chunk header");
    out[4..8].copy_from_slice(&h[..4]);
    out
}

/// Arbitrary JSON, at most `depth` levels of containers.
fn arb_json(u: &mut Unstructured, depth: usize) -> arbitrary::Result<Value> {
    let pick = if depth == 0 {
        u.int_in_range(0..=4)?
    } else {
        u.int_in_range(0..=6)?
    };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.arbitrary::<i64>()?),
        3 => Value::String(u.arbitrary()?),
        4 => json!(u.arbitrary::<f64>()?.to_string()),
        5 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array(
                (0..n)
                    .map(|_| arb_json(u, depth - 1))
                    .collect::<arbitrary::Result<_>>()?,
            )
        }
        _ => {
            let n = u.int_in_range(0..=4)?;
            let mut m = Map::new();
            for _ in 0..n {
                m.insert(u.arbitrary()?, arb_json(u, depth - 1)?);
            }
            Value::Object(m)
        }
    })
}

/// An honest change with arbitrary content.
fn built(u: &mut Unstructured, h: &Honest) -> arbitrary::Result<Option<Vec<u8>>> {
    let author: usize = u.int_in_range(0..=2)?;
    let member = MEMBERS[u.int_in_range(0..=3)?];
    let at = T0 + u.int_in_range(-100_000_000i64..=100_000_000)?;
    let mut event = template(u.arbitrary::<u8>()? as usize, member, at);
    let n = u.int_in_range(0..=4)?;
    for _ in 0..n {
        let k: String = if u.arbitrary()? {
            u.arbitrary()?
        } else {
            ["type", "by", "at", "id", "text", "kind"][u.int_in_range(0..=5)?].into()
        };
        let v = arb_json(u, 10)?;
        event[k] = v;
    }
    // big or deep values, towards the budgets on operations and nesting. The list is
    // kept to 2,048 elements: cargo-fuzz builds with debug assertions, under which
    // automerge checks its whole op tree on every insert (op_tree/node.rs), so building
    // a change of n operations costs n^2 here (a 10 s timeout at ~40,000). Changes past
    // MAX_OPS_PER_CHANGE are reached by raw and edited chunks instead, whose action
    // column can claim any number of operations in a few bytes.
    match u.int_in_range(0..=9)? {
        0 => {
            event["bulk"] = Value::Array(
                (0..(u.arbitrary::<u16>()? % 2048) as i64)
                    .map(Value::from)
                    .collect(),
            )
        }
        1 => {
            let mut v = json!(1);
            for _ in 0..u.int_in_range(0..=40)? {
                v = json!([v]);
            }
            event["deep"] = v;
        }
        2 => event["long"] = Value::String("长".repeat(u.arbitrary::<u16>()? as usize)),
        _ => {}
    }
    let key = device_key(author).public();
    let change = match u.int_in_range(0..=2)? {
        0 => EntityDoc::create(
            &key,
            EntityKind::ALL[u.int_in_range(0..=4)?],
            &wire::entity_hex(&NEW_ID),
            &event,
            at,
        )
        .map(|(_, c)| c),
        i => {
            let (d, _) = &h.docs[i + 1];
            let mut doc = d.clone();
            doc.append(&key, &event, at)
        }
    };
    Ok(change.ok().map(|c| c.raw_bytes().to_vec()))
}

/// The chunk an input describes (see the target's docs), or None.
pub fn chunk_of(data: &[u8], h: &Honest) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    match mode % 3 {
        0 => Some(rest.to_vec()),
        1 => {
            let mut u = Unstructured::new(rest);
            let seed = &h.chunks[u.int_in_range(0..=h.chunks.len() - 1).ok()?];
            let fix: bool = u.arbitrary().ok()?;
            let chunk_type: Option<u8> = u.arbitrary().ok()?;
            let edits: Vec<Edit> = u.arbitrary().ok()?;
            let mut bytes = if fix {
                let mut d = data_of(seed).to_vec();
                edit(&mut d, &edits);
                chunk_around(&d)
            } else {
                let mut b = seed.clone();
                edit(&mut b, &edits);
                b
            };
            if let (Some(t), true) = (chunk_type, bytes.len() > 8) {
                bytes[8] = t;
            }
            Some(bytes)
        }
        _ => built(&mut Unstructured::new(rest), h).ok().flatten(),
    }
}

/// How deep containers nest in `v` (the root is 0).
pub fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.iter().map(|x| 1 + json_depth(x)).max().unwrap_or(0),
        Value::Object(m) => m.values().map(|x| 1 + json_depth(x)).max().unwrap_or(0),
        _ => 0,
    }
}

/// Judge the chunk against every honest document and check the invariants.
pub fn judge(bytes: &[u8], h: &Honest) {
    let parsed = doc::change_from_bytes(bytes);
    if bytes.len() > 8 && bytes[8] != 1 {
        assert!(
            parsed.is_err(),
            "change_from_bytes accepted a chunk of type {}",
            bytes[8]
        );
    }
    let change = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            assert!(
                matches!(e, Error::Malformed(_) | Error::TooLarge(_)),
                "change_from_bytes gave {e:?}"
            );
            return;
        }
    };
    let roster = roster();
    let kinds: Vec<String> = DEFAULT_KINDS.iter().map(|s| s.to_string()).collect();
    let ctx = Context {
        roster: &roster,
        kinds: &kinds,
        arrival: None,
        roster_floor: None,
        lookup: &(),
    };
    let actor = change.actor_id().to_hex_string();
    // the member whose device made it, else one without a device (as if misfiled)
    let signer = roster
        .signer(&actor, None)
        .cloned()
        .unwrap_or_else(|_| roster.members[3].clone());
    for (d, id) in &h.docs {
        let shape = doc::inspect_change(d, &change);
        if let Err(e) = &shape {
            let _ = e.to_string();
            assert!(
                matches!(e, Error::NotAllowed(_) | Error::TooLarge(_)),
                "inspect_change gave {e:?}"
            );
        }
        let entity = if id.is_empty() {
            doc::creation_id(&change).unwrap_or_else(|| wire::entity_hex(&NEW_ID))
        } else {
            id.clone()
        };
        let heads = d.heads();
        let verdict = policy::check_change(&ctx, &signer, d, &entity, &change);
        assert_eq!(
            d.heads(),
            heads,
            "check_change changed the document it judged"
        );
        let after = match verdict {
            Ok(a) => a,
            Err(e) => {
                let _ = e.to_string();
                continue;
            }
        };
        let shape = shape.expect("check_change accepted a change that inspect_change refuses");
        assert_eq!(
            shape.creates,
            id.is_empty(),
            "a change accepted for an existing document wrote its root"
        );
        assert!(
            shape.new_events <= 1,
            "an accepted change appends {} events",
            shape.new_events
        );
        assert!(
            change.len() <= MAX_OPS_PER_CHANGE,
            "an accepted change has {} operations",
            change.len()
        );
        assert!(
            change.raw_bytes().len() <= MAX_CHANGE_BYTES,
            "an accepted change has {} bytes",
            change.raw_bytes().len()
        );
        let json = after.to_json();
        assert!(
            json_depth(&json) <= MAX_DEPTH,
            "an accepted document's JSON nests {} deep",
            json_depth(&json)
        );
        let real = after.object_depth(MAX_DEPTH + 4);
        assert!(
            real <= MAX_DEPTH,
            "an accepted document nests {real} deep (to_json shows only {MAX_DEPTH})"
        );
        assert_eq!(
            after.header().map(|x| x.1),
            Some(entity),
            "an accepted document names another entity"
        );
        let before = d.events_json();
        let now = after.events_json();
        assert!(
            now.len() >= before.len() && now[..before.len()] == before[..],
            "an accepted change altered earlier events"
        );
    }
}

pub fn run(data: &[u8]) {
    Honest::with(|h| {
        if let Some(bytes) = chunk_of(data, h) {
            judge(&bytes, h);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_chunks_are_accepted_and_rebuilt_exactly() {
        Honest::with(|h| {
            for c in &h.chunks {
                assert_eq!(
                    &chunk_around(data_of(c)),
                    c,
                    "chunk_around rebuilds an honest chunk"
                );
                doc::change_from_bytes(c).expect("an honest chunk parses");
                judge(c, h);
            }
            // the append is accepted on the request it was made for
            let c2 = doc::change_from_bytes(&h.chunks[1]).unwrap();
            let ctx_roster = roster();
            let kinds: Vec<String> = DEFAULT_KINDS.iter().map(|s| s.to_string()).collect();
            let ctx = Context {
                roster: &ctx_roster,
                kinds: &kinds,
                arrival: None,
                roster_floor: None,
                lookup: &(),
            };
            let (d, id) = &h.docs[1];
            policy::check_change(&ctx, &ctx_roster.members[0], d, id, &c2)
                .expect("an honest append is accepted");
        });
    }

    #[test]
    fn other_chunk_types_are_refused() {
        Honest::with(|h| {
            let mut c = h.chunks[0].clone();
            for t in [0u8, 2, 3, 0xff] {
                c[8] = t;
                assert!(doc::change_from_bytes(&c).is_err());
                judge(&c, h);
            }
        });
    }

    #[test]
    fn every_mode_runs() {
        for seed in 0u8..=255 {
            let data: Vec<u8> = (0..300u32)
                .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
                .collect();
            for mode in 0..3u8 {
                let mut d = vec![mode];
                d.extend_from_slice(&data);
                run(&d);
            }
        }
    }
}

/// Finding 4 (docs/FUZZING.md), fixed in `doc::change_ops`: the chunk is refused before
/// automerge parses it (it used to panic automerge in `Change::decode` and
/// `apply_changes`).
#[cfg(test)]
mod finding_4 {
    use super::*;

    /// The change_decode input of artifacts/change_decode/crash-38c41e91…
    pub const INPUT: &[u8] = b"\x22\x14\x42\x64\x65\x73\x63\xbf\x42\xb6\x60\x25\x60\xbe\x25";

    #[test]
    fn a_change_naming_a_missing_actor_is_refused_without_panicking() {
        Honest::with(|h| {
            let chunk = chunk_of(INPUT, h).expect("the input makes a chunk");
            println!("chunk ({} bytes): {}", chunk.len(), hex_of(&chunk));
            let e = doc::change_from_bytes(&chunk).expect_err("the chunk is refused");
            assert!(
                e.to_string()
                    .contains("names an actor the change does not list"),
                "{e}"
            );
        });
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
