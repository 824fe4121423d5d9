//! The `merge_import` target's work: a real `Store` (SQLite, in memory, one per input
//! so that every finding reproduces from its input alone), enrolled in a local space
//! with a fixed relay key, fed bundles and relay log entries made from the input —
//! honest signed batches of real automerge changes next to edited, forged and garbage
//! ones.
//!
//! Why: a bundle file or a relay page is the widest door into a phone's database.
//! Whatever comes through it, the store must not panic, must stay a valid SQLite
//! database whose every entity loads, must change nothing when it refuses (an import
//! is all or nothing), and must never lose what it held before.

use crate::change::{chunk_around, template, T0};
use crate::{device_key, RELAY_SECRET};
use arbitrary::Arbitrary;
use cunwu_core::local_space::LocalSpace;
use cunwu_core::{bundle, EntityKind, Store};
use cunwu_protocol::doc::EntityDoc;
use cunwu_protocol::identity::DeviceKey;
use cunwu_protocol::model::deliberation::Tally;
use cunwu_protocol::roster::{DeviceEntry, Role, SignedRoster};
use cunwu_protocol::wire::{self, Bundle, EntityId, Item, LogEntry, SignedBatch, SignedTally};
use serde_json::Value;
use std::collections::BTreeMap;

/// The entities an input may touch: a small pool, so that changes meet.
const ENTITIES: [EntityId; 4] = [[0x10; 16], [0x11; 16], [0x12; 16], [0x13; 16]];
const SPACE: [u8; 16] = [0x5A; 16];
const MEMBERS: [(&str, Role); 3] = [
    ("alice", Role::Cadre),
    ("bob", Role::Township),
    ("carol", Role::Resident),
];

#[derive(Arbitrary, Debug)]
pub struct Input {
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// `Store::import_bundle` of a bundle built from the description.
    Bundle {
        batches: Vec<ArbBatch>,
        roster: RosterChoice,
        other_space: bool,
        tallies: Vec<ArbTally>,
    },
    /// Bytes through `bundle::decode` (the CLI's import reads the file, then this), then
    /// `import_bundle` when they decode.
    File(Vec<u8>),
    /// `Store::receive` of relay log entries (the sync path's merge).
    Receive { entries: Vec<(u8, ArbBatch)> },
}

#[derive(Arbitrary, Debug)]
enum RosterChoice {
    None,
    /// The space's roster as it is, signed by the relay.
    Current,
    /// Arbitrary JSON bytes signed by the relay.
    Junk(Vec<u8>),
    /// The current roster signed by another key.
    BadSignature,
}

#[derive(Arbitrary, Debug)]
enum ArbTally {
    Honest {
        deliberation: u8,
        counts: Vec<u8>,
        final_result: bool,
    },
    Junk {
        json: Vec<u8>,
        signature: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
enum ArbBatch {
    /// Real changes signed by device key `signer`; item `i` is withheld unless bit `i`
    /// of `keep_mask` is set.
    Honest {
        signer: u8,
        signed_at: i64,
        changes: Vec<ArbChange>,
        keep_mask: u64,
    },
    /// Properly signed by `signer`, over items that need not be honest.
    Forged {
        signer: u8,
        signed_at: i64,
        items: Vec<ArbItem>,
    },
    /// Anything.
    Raw {
        author: [u8; 32],
        signed_at: i64,
        items: Vec<ArbItem>,
        signature: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct ArbChange {
    entity: u8,
    /// Create the entity (anew) with this kind, else append to it.
    create: Option<u8>,
    template: u8,
    member: u8,
    extra: Option<(String, String)>,
    dt: i32,
    /// Made by another device's actor than the batch signer.
    foreign: bool,
}

#[derive(Arbitrary, Debug)]
enum ArbItem {
    Bytes {
        entity: u8,
        bytes: Vec<u8>,
    },
    /// An honest chunk made earlier in this input, edited (length and checksum made
    /// right again when `fix`).
    Edited {
        of: u8,
        edits: Vec<(u16, u8)>,
        cut: Option<u16>,
        fix: bool,
    },
    /// An honest change of this input, filed under another entity.
    Misfiled {
        of: u8,
        entity: u8,
    },
    Withheld {
        entity: u8,
        hash: [u8; 32],
    },
}

/// Honest documents made so far in this input, and every chunk they produced.
#[derive(Default)]
struct Builder {
    docs: BTreeMap<usize, EntityDoc>,
    chunks: Vec<(EntityId, Vec<u8>)>,
    budget: usize,
}

fn relay_key() -> DeviceKey {
    DeviceKey::from_secret(&RELAY_SECRET).expect("32 bytes")
}

fn signed(key: &DeviceKey, signed_at: i64, items: Vec<Item>) -> SignedBatch {
    // the message SignedBatch::sign signs (wire::SignedBatch::message), over any items
    let author = key.public();
    let mut m = b"cunwu-batch-v1\0".to_vec();
    m.extend_from_slice(&author);
    m.extend_from_slice(&signed_at.to_le_bytes());
    for it in &items {
        let (e, h) = match it {
            Item::Change { entity, bytes } => {
                (*entity, wire::change_hash_of(bytes).unwrap_or([0; 32]))
            }
            Item::Withheld { entity, hash } => (*entity, *hash),
        };
        m.extend_from_slice(&e);
        m.extend_from_slice(&h);
    }
    SignedBatch {
        author,
        signed_at,
        items,
        signature: key.sign(&m).to_vec(),
    }
}

impl Builder {
    fn change(
        &mut self,
        signer: usize,
        c: &ArbChange,
    ) -> Option<(EntityId, cunwu_protocol::Change)> {
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        let slot = c.entity as usize % ENTITIES.len();
        let id = ENTITIES[slot];
        let actor = device_key(if c.foreign { signer + 1 } else { signer }).public();
        let member = ["m-alice", "m-bob", "m-carol"][c.member as usize % 3];
        let at = T0 + c.dt as i64 * 1000;
        let mut event = template(c.template as usize, member, at);
        if let Some((k, v)) = &c.extra {
            event[k.as_str()] = Value::String(v.clone());
        }
        let change = match (c.create, self.docs.get_mut(&slot)) {
            (None, Some(doc)) => doc.append(&actor, &event, at).ok()?,
            (kind, _) => {
                // even: the kind the template's event belongs to; odd: any kind
                let k = kind.unwrap_or(0) as usize;
                let kind = if k.is_multiple_of(2) {
                    match c.template % 5 {
                        2 => EntityKind::Notice,
                        3 => EntityKind::Ballot,
                        _ => EntityKind::Request,
                    }
                } else {
                    EntityKind::ALL[k / 2 % EntityKind::ALL.len()]
                };
                let (doc, ch) =
                    EntityDoc::create(&actor, kind, &wire::entity_hex(&id), &event, at).ok()?;
                self.docs.insert(slot, doc);
                ch
            }
        };
        self.chunks.push((id, change.raw_bytes().to_vec()));
        Some((id, change))
    }

    fn item(&self, it: &ArbItem) -> Item {
        let entity = |e: &u8| ENTITIES[*e as usize % ENTITIES.len()];
        let pick = |of: &u8| {
            self.chunks
                .get(*of as usize % self.chunks.len().max(1))
                .cloned()
        };
        match it {
            ArbItem::Bytes { entity: e, bytes } => Item::Change {
                entity: entity(e),
                bytes: bytes.clone(),
            },
            ArbItem::Edited {
                of,
                edits,
                cut,
                fix,
            } => {
                let Some((e, mut bytes)) = pick(of) else {
                    return Item::Change {
                        entity: ENTITIES[0],
                        bytes: vec![],
                    };
                };
                for (at, b) in edits.iter().take(8) {
                    let n = bytes.len();
                    bytes[*at as usize % n] = *b;
                }
                if let Some(c) = cut {
                    bytes.truncate(*c as usize % (bytes.len() + 1));
                }
                if *fix && bytes.len() > 10 {
                    let mut at = 9;
                    while at < bytes.len() - 1 && bytes[at] & 0x80 != 0 {
                        at += 1;
                    }
                    bytes = chunk_around(&bytes[at + 1..]);
                }
                Item::Change { entity: e, bytes }
            }
            ArbItem::Misfiled { of, entity: e } => match pick(of) {
                Some((_, bytes)) => Item::Change {
                    entity: entity(e),
                    bytes,
                },
                None => Item::Withheld {
                    entity: entity(e),
                    hash: [0; 32],
                },
            },
            ArbItem::Withheld { entity: e, hash } => Item::Withheld {
                entity: entity(e),
                hash: *hash,
            },
        }
    }

    fn batch(&mut self, b: &ArbBatch) -> SignedBatch {
        match b {
            ArbBatch::Honest {
                signer,
                signed_at,
                changes,
                keep_mask,
            } => {
                let signer = *signer as usize % 3;
                let made: Vec<_> = changes
                    .iter()
                    .take(8)
                    .filter_map(|c| self.change(signer, c))
                    .collect();
                let batch = SignedBatch::sign(device_key(signer), *signed_at, &made);
                batch
                    .redacted(|i, _| i >= 64 || keep_mask & (1 << i) != 0)
                    .expect("an honest batch redacts")
            }
            ArbBatch::Forged {
                signer,
                signed_at,
                items,
            } => {
                let items = items.iter().take(8).map(|i| self.item(i)).collect();
                signed(device_key(*signer as usize), *signed_at, items)
            }
            ArbBatch::Raw {
                author,
                signed_at,
                items,
                signature,
            } => SignedBatch {
                author: *author,
                signed_at: *signed_at,
                items: items.iter().take(8).map(|i| self.item(i)).collect(),
                signature: signature.clone(),
            },
        }
    }
}

fn tally(t: &ArbTally, relay: &DeviceKey) -> SignedTally {
    match t {
        ArbTally::Honest {
            deliberation,
            counts,
            final_result,
        } => SignedTally::sign(
            &Tally {
                deliberation: wire::entity_hex(&ENTITIES[*deliberation as usize % ENTITIES.len()]),
                eligible: 3,
                participants: counts.iter().take(8).map(|c| *c as u32).sum::<u32>().min(3),
                counts: counts.iter().take(8).map(|c| *c as u32).collect(),
                quorum_met: false,
                decided: None,
                final_result: *final_result,
                roll: Default::default(),
                as_of: counts.len() as u64,
                in_hall: 0,
            },
            relay,
        ),
        ArbTally::Junk { json, signature } => SignedTally {
            tally_json: json.clone(),
            signature: signature.clone(),
        },
    }
}

/// A fresh store enrolled (as a resident, "me") in the fuzz space, whose roster also
/// holds the three fixed device keys.
fn setup() -> (Store, LocalSpace) {
    let store = Store::open(":memory:").expect("an in-memory store opens");
    let mut space = LocalSpace::new("fuzz");
    space.relay_key = relay_key();
    space.roster.space_id = wire::entity_hex(&SPACE);
    for (i, (name, role)) in MEMBERS.iter().enumerate() {
        let m = space.add_member(name, *role, &format!("h{i}"), "g1");
        // the templates name members by these ids
        let mid = format!("m-{name}");
        for x in space.roster.members.iter_mut().filter(|x| x.id == m) {
            x.id = mid.clone();
        }
        space.roster.devices.push(DeviceEntry {
            key: device_key(i).id(),
            member: mid,
            revoked_at_seq: None,
        });
    }
    space
        .join(&store, "me", Role::Resident)
        .expect("the store enrols");
    (store, space)
}

/// Every entity's document, as JSON.
fn snapshot(store: &Store) -> BTreeMap<String, Value> {
    store
        .entity_ids()
        .expect("entity ids list")
        .into_iter()
        .map(|(id, _)| {
            let json = store
                .document_json(&id)
                .unwrap_or_else(|e| panic!("entity {id} no longer loads: {e}"));
            (id, json)
        })
        .collect()
}

fn events(doc: &Value) -> &[Value] {
    doc.get("events")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn run(input: &Input) {
    let (store, space) = setup();
    let relay = relay_key();
    let mut b = Builder {
        budget: 24,
        ..Default::default()
    };
    let mut before = snapshot(&store);
    for step in input.steps.iter().take(6) {
        let result = match step {
            Step::Bundle {
                batches,
                roster,
                other_space,
                tallies,
            } => {
                let roster = match roster {
                    RosterChoice::None => None,
                    RosterChoice::Current => Some(space.signed()),
                    RosterChoice::Junk(json) => Some(SignedRoster {
                        signature: relay.sign(json).to_vec(),
                        roster_json: json.clone(),
                    }),
                    RosterChoice::BadSignature => {
                        Some(SignedRoster::sign(&space.roster, device_key(0)))
                    }
                };
                let bundle = Bundle {
                    space: if *other_space { [0x77; 16] } else { SPACE },
                    created_at: T0,
                    roster,
                    batches: batches.iter().take(6).map(|x| b.batch(x)).collect(),
                    tallies: tallies.iter().take(4).map(|t| tally(t, &relay)).collect(),
                };
                // through the file format too: what is imported is what a file holds
                let file = wire::encode(wire::FrameKind::Bundle, &bundle);
                let decoded = bundle::decode(&file).expect("an encoded bundle decodes");
                assert_eq!(decoded, bundle);
                store.import_bundle(&decoded).map(drop)
            }
            Step::File(bytes) => match bundle::decode(bytes) {
                Ok(bundle) => store.import_bundle(&bundle).map(drop),
                Err(e) => Err(e),
            },
            Step::Receive { entries } => {
                let entries: Vec<LogEntry> = entries
                    .iter()
                    .take(6)
                    .map(|(seq, x)| LogEntry::Batch {
                        seq: *seq as u64 + 1,
                        batch: b.batch(x),
                        arrived_at: None,
                    })
                    .collect();
                store.receive(&entries).map(drop)
            }
        };
        let after = snapshot(&store);
        match result {
            Err(e) => {
                let _ = e.to_string();
                assert_eq!(
                    after, before,
                    "a refused import or receive changed documents ({e})"
                );
            }
            Ok(()) => {
                for (id, doc) in &before {
                    let now = after
                        .get(id)
                        .unwrap_or_else(|| panic!("entity {id} was lost"));
                    let (old, new) = (events(doc), events(now));
                    assert!(
                        new.len() >= old.len() && new[..old.len()] == old[..],
                        "entity {id} lost or changed events"
                    );
                }
            }
        }
        before = after;
    }
    let check = store.integrity_check().expect("integrity_check runs");
    assert_eq!(check, "ok", "PRAGMA integrity_check: {check}");
    store.have().expect("the store summarises what it holds");
    let out = store
        .export_bundle(None)
        .expect("the store exports a bundle");
    for (i, batch) in out.batches.iter().enumerate() {
        batch
            .verify(None)
            .unwrap_or_else(|e| panic!("exported batch {i} does not verify: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_honest_bundle_is_imported() {
        let (store, space) = setup();
        let mut b = Builder {
            budget: 24,
            ..Default::default()
        };
        let c = ArbChange {
            entity: 0,
            create: Some(0),
            template: 0,
            member: 0,
            extra: None,
            dt: 0,
            foreign: false,
        };
        let batch = b.batch(&ArbBatch::Honest {
            signer: 0,
            signed_at: T0,
            changes: vec![c],
            keep_mask: !0,
        });
        let bundle = Bundle {
            space: SPACE,
            created_at: T0,
            roster: Some(space.signed()),
            batches: vec![batch],
            tallies: vec![],
        };
        let report = store
            .import_bundle(&bundle)
            .expect("an honest bundle imports");
        assert_eq!(report.merge.applied, 1, "{report:?}");
        assert_eq!(snapshot(&store).len(), 1);
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn arbitrary_inputs_run() {
        for seed in 0u8..64 {
            let data: Vec<u8> = (0..2000u32)
                .map(|i| ((i * 31) as u8).wrapping_mul(seed | 1) ^ seed)
                .collect();
            if let Ok(input) = Input::arbitrary(&mut arbitrary::Unstructured::new(&data)) {
                run(&input);
            }
        }
    }
}
