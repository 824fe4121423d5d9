//! Receiving signed data (relay log entries, bundles) and exporting bundles.
//! Both paths verify batch signatures here, then hand the changes to `merge`, so an
//! imported bundle is checked exactly like what the relay sends.

use super::merge::MergeReport;
use super::{local_get, ConnLookup, Store};
use crate::doc::change_from_bytes;
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::policy::{self, Audience};
use crate::roster::SignedRoster;
use crate::wire::{
    change_hash_of, entity_bytes, entity_hex, BatchPairs, Bundle, EntityId, Hash, Have, Item,
    LogEntry, SignedBatch, SignedTally, VerifiedChange,
};
use automerge::ChangeHash;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Most automerge operations a phone takes from one bundle, counted on the bytes
/// before anything is parsed: two hundred changes of the largest size a change may
/// have (`MAX_OPS_PER_CHANGE`), where an ordinary change has a few dozen. The bytes
/// alone (64 MiB decoded, at least two bytes per operation) would allow eight times
/// as much work.
pub const MAX_BUNDLE_OPS: u64 = 4_000_000;

/// What one receive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiveReport {
    pub merge: MergeReport,
    pub tallies: usize,
    /// Batches whose signature did not verify (from the relay: skipped and reported).
    pub bad_batches: Vec<String>,
    /// Attachments a bundle brought that were new here (`bundle::import`).
    pub attachments: usize,
}

/// Keep a batch's signature (to pass it on in bundles) and, when the relay says when
/// the batch reached it, that time for each of its changes.
fn record_batch(
    conn: &Connection,
    b: &SignedBatch,
    seq: Option<u64>,
    arrived_at: Option<i64>,
) -> Result<()> {
    let flat = b.pairs()?.to_bytes();
    conn.execute(
        "INSERT OR IGNORE INTO batches(author, signed_at, signature, pairs, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![&b.author[..], b.signed_at, b.signature, flat, seq.map(|s| s as i64)],
    )?;
    let id: i64 = conn.query_row(
        "SELECT id FROM batches WHERE signature = ?1",
        [&b.signature],
        |r| r.get(0),
    )?;
    let mut st = conn
        .prepare_cached("INSERT OR IGNORE INTO change_batches(hash, batch_id) VALUES (?1, ?2)")?;
    let mut arrival =
        conn.prepare_cached("INSERT OR IGNORE INTO arrivals(hash, at) VALUES (?1, ?2)")?;
    for it in &b.items {
        if let Item::Change { bytes, .. } = it {
            let h = change_from_bytes(bytes)?.hash().0;
            st.execute(params![&h[..], id])?;
            if let Some(at) = arrived_at {
                arrival.execute(params![&h[..], at])?;
            }
        }
    }
    Ok(())
}

impl Store {
    /// Take entries from the relay log: verify each batch, merge its changes, store tallies.
    pub fn receive(&self, entries: &[LogEntry]) -> Result<ReceiveReport> {
        let mut report = ReceiveReport::default();
        let mut changes = vec![];
        let mut tallies = vec![];
        {
            let mut conn = self.conn.lock();
            let tx = conn.transaction()?;
            for e in entries {
                match e {
                    LogEntry::Batch {
                        seq,
                        batch,
                        arrived_at,
                    } => match batch.verify(Some(*seq)) {
                        Ok(v) => {
                            record_batch(&tx, batch, Some(*seq), *arrived_at)?;
                            changes.extend(v);
                        }
                        Err(err) => report.bad_batches.push(format!("batch at {seq}: {err}")),
                    },
                    LogEntry::Tally { tally, .. } => tallies.push(tally.clone()),
                }
            }
            tx.commit()?;
        }
        report.merge = self.merge(changes)?;
        report.tallies = self.merge_tallies(&tallies)?.len();
        Ok(report)
    }

    /// What this phone holds, for a peer to export only what it lacks.
    pub fn have(&self) -> Result<Have> {
        let m = self.membership()?.ok_or(Error::NotEnrolled)?;
        let mut entities = vec![];
        let conn = self.conn.lock();
        let ids: Vec<String> = {
            let mut s = conn.prepare("SELECT id FROM entities ORDER BY id")?;
            let v = s
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        for id in ids {
            if let Some(doc) = Store::load_doc(&conn, &id)? {
                entities.push((
                    entity_bytes(&id)?,
                    doc.heads().into_iter().map(|h| h.0).collect(),
                ));
            }
        }
        Ok(Have::sign(entity_bytes(&m.space_id)?, &self.key, entities))
    }

    /// A bundle for a peer. With the peer's signed `Have`: what that phone lacks among
    /// what its member may read. Without: everything this phone holds that every member
    /// of the space may read (notices, deliberations, public ballots) — never someone's
    /// service request or a secret ballot.
    pub fn export_bundle(&self, peer: Option<&Have>) -> Result<Bundle> {
        Ok(self.export_bundle_readable(peer)?.0)
    }

    /// `export_bundle`, and the ids of every entity the peer may read (whose
    /// attachments the bundle file may carry, `bundle::export_for`).
    pub(crate) fn export_bundle_readable(
        &self,
        peer: Option<&Have>,
    ) -> Result<(Bundle, Vec<String>)> {
        let m = self.membership()?.ok_or(Error::NotEnrolled)?;
        let roster = self.roster()?;
        let reader: Option<crate::roster::Member> = match peer {
            Some(p) => {
                if entity_hex(&p.space) != m.space_id {
                    return Err(Error::invalid("the peer's summary is for another space"));
                }
                p.verify()?;
                Some(roster.signer(&hex::encode(p.device), None)?.clone())
            }
            None => None,
        };
        let peer_heads: HashMap<EntityId, Vec<Hash>> = peer
            .map(|p| p.entities.iter().cloned().collect())
            .unwrap_or_default();
        let me = self.device_id();
        let conn = self.conn.lock();
        let ids: Vec<String> = {
            let mut s = conn.prepare("SELECT id FROM entities ORDER BY id")?;
            let v = s
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        // change hash -> (entity, bytes) for everything the peer lacks
        let mut wanted: HashMap<Hash, (EntityId, Vec<u8>, String)> = HashMap::new();
        let mut order: Vec<Hash> = vec![];
        // which batch each entity's changes go in (`policy::batch_group`), so this phone's
        // own changes are signed one batch per audience, as for the relay
        let mut audience_of: HashMap<EntityId, String> = HashMap::new();
        // drafts go to the supervision committee too (`policy::may_read_in`)
        // (folded only when a draft meets a reader who is not staff)
        let mut register: Option<Option<crate::model::register::Register>> = None;
        let mut readable_ids: Vec<String> = vec![];
        for id in ids {
            let Some(doc) = Store::load_doc(&conn, &id)? else {
                continue;
            };
            let json = doc.to_json();
            let audience = policy::audience(&json, &ConnLookup(&conn))?;
            let readable = match &reader {
                Some(r) if policy::may_read(&audience, r) => true,
                Some(r) if matches!(audience, Audience::Draft { .. }) => {
                    let reg = register
                        .get_or_insert_with(|| policy::Lookup::register(&ConnLookup(&conn), None));
                    policy::may_read_in(&audience, r, reg.as_ref())
                }
                Some(_) => false,
                None => audience == Audience::Space,
            };
            if !readable {
                continue;
            }
            readable_ids.push(id.clone());
            let e = entity_bytes(&id)?;
            let have: Vec<ChangeHash> = peer_heads
                .get(&e)
                .map(|v| v.iter().map(|h| ChangeHash(*h)).collect())
                .unwrap_or_default();
            let since = if have.iter().all(|h| doc.has_change(h)) {
                have
            } else {
                vec![]
            };
            for c in doc.changes_since(&since) {
                let h = c.hash().0;
                order.push(h);
                wanted.insert(h, (e, c.raw_bytes().to_vec(), c.actor_id().to_hex_string()));
                if let std::collections::hash_map::Entry::Vacant(slot) = audience_of.entry(e) {
                    slot.insert(policy::batch_group(&json, audience.clone())?);
                }
            }
        }
        // group by the batch that carried each change here
        let mut by_batch: BTreeMap<i64, ()> = BTreeMap::new();
        let mut own: Vec<Hash> = vec![];
        for h in &order {
            let b: Option<i64> = conn
                .query_row(
                    "SELECT batch_id FROM change_batches WHERE hash = ?1",
                    [&h[..]],
                    |r| r.get(0),
                )
                .optional()?;
            match b {
                Some(b) => {
                    by_batch.insert(b, ());
                }
                None if wanted[h].2 == me => own.push(*h),
                None => {} // someone else's change we hold without its signature cannot be passed on
            }
        }
        let mut batches = vec![];
        for b in by_batch.keys() {
            let (author, signed_at, signature, pairs): (Vec<u8>, i64, Vec<u8>, Vec<u8>) = conn
                .query_row(
                    "SELECT author, signed_at, signature, pairs FROM batches WHERE id = ?1",
                    [b],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
            let items = BatchPairs::from_bytes(&pairs)?
                .into_iter()
                .map(|(e, h)| match wanted.get(&h) {
                    Some((_, bytes, _)) => Item::Change {
                        entity: e,
                        bytes: bytes.clone(),
                    },
                    None => Item::Withheld { entity: e, hash: h },
                })
                .collect();
            let author: [u8; 32] = author
                .try_into()
                .map_err(|_| Error::Database("stored batch author is not 32 bytes".into()))?;
            batches.push(SignedBatch {
                author,
                signed_at,
                items,
                signature,
            });
        }
        if !own.is_empty() {
            let cs: Vec<(EntityId, automerge::Change)> = own
                .iter()
                .map(|h| Ok((wanted[h].0, change_from_bytes(&wanted[h].1)?)))
                .collect::<Result<_>>()?;
            let mut groups: Vec<(&String, Vec<(EntityId, automerge::Change)>)> = vec![];
            for (e, c) in cs {
                let a = &audience_of[&e];
                match groups.iter_mut().find(|g| g.0 == a) {
                    Some(g) => g.1.push((e, c)),
                    None => groups.push((a, vec![(e, c)])),
                }
            }
            for (_, group) in groups {
                for chunk in group.chunks(512) {
                    batches.push(SignedBatch::sign(&self.key, now_ms(), chunk));
                }
            }
        }
        let roster_raw = local_get(&conn, "roster")?.ok_or(Error::NotEnrolled)?;
        let roster: SignedRoster = serde_json::from_slice(&roster_raw)
            .map_err(|e| Error::Database(format!("stored roster: {e}")))?;
        let tallies: Vec<SignedTally> = {
            let mut s = conn.prepare("SELECT tally_json, signature FROM tallies")?;
            let v = s
                .query_map([], |r| {
                    Ok(SignedTally {
                        tally_json: r.get(0)?,
                        signature: r.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        Ok((
            Bundle {
                space: entity_bytes(&m.space_id)?,
                created_at: now_ms(),
                roster: Some(roster),
                batches,
                tallies,
            },
            readable_ids,
        ))
    }

    /// Import a bundle. Every signature (roster, batches, tallies) is checked first; if
    /// any fails, nothing is imported and the error says which part failed.
    pub fn import_bundle(&self, b: &Bundle) -> Result<ReceiveReport> {
        let m = self.membership()?.ok_or(Error::NotEnrolled)?;
        if entity_hex(&b.space) != m.space_id {
            return Err(Error::invalid("the bundle is for another space"));
        }
        if let Some(r) = &b.roster {
            r.verify(&m.relay_key).map_err(|_| {
                Error::BadSignature(
                    "the bundle's roster is not signed by this space's relay".into(),
                )
            })?;
        }
        for t in &b.tallies {
            t.verify(&m.relay_key)?;
        }
        // Budget before any change is parsed: each distinct change once (a copy already
        // seen in this bundle, or already held, is withheld from parsing; its batch
        // signature still covers it), and the operations of all of them bounded.
        let mut seen: HashSet<Hash> = HashSet::new();
        let mut ops: u64 = 0;
        let mut distinct = Vec::with_capacity(b.batches.len());
        for batch in &b.batches {
            let batch = batch.redacted(|_, it| match it {
                Item::Change { bytes, .. } => match change_hash_of(bytes) {
                    Ok(h) if seen.insert(h) => {
                        // unreadable bytes count nothing here; `verify` names them
                        ops += crate::doc::change_ops(bytes).unwrap_or(0);
                        true
                    }
                    Ok(_) => false,
                    Err(_) => true,
                },
                Item::Withheld { .. } => true,
            })?;
            distinct.push(batch);
        }
        if ops > MAX_BUNDLE_OPS {
            return Err(Error::TooLarge(format!(
                "the bundle holds {ops} operations; a phone takes at most {MAX_BUNDLE_OPS} from one bundle (export it in parts: `cunwu bundle export` for fewer documents, or sync with the relay)"
            )));
        }
        let mut changes: Vec<VerifiedChange> = vec![];
        for (i, batch) in distinct.iter().enumerate() {
            let v = batch
                .verify(None)
                .map_err(|e| Error::BadSignature(format!("bundle batch {}: {e}", i + 1)))?;
            changes.extend(v);
        }
        if let Some(r) = &b.roster {
            self.install_roster(r)?;
        }
        {
            let mut conn = self.conn.lock();
            let tx = conn.transaction()?;
            for batch in &b.batches {
                record_batch(&tx, batch, None, None)?;
            }
            tx.commit()?;
        }
        let merge = self.merge(changes)?;
        let tallies = self.merge_tallies(&b.tallies)?.len();
        Ok(ReceiveReport {
            merge,
            tallies,
            bad_batches: vec![],
            attachments: 0,
        })
    }
}

/// A stored batch: author, signed_at, signature, pairs.
type BatchRow = (Vec<u8>, i64, Vec<u8>, Vec<u8>);

/// Who made a change of an entity, and whether that can be checked here and now,
/// without a network: the change's automerge actor is a device key, the device
/// belongs to a member in the relay-signed roster, and the batch signature the
/// change arrived under (kept in `batches`) still verifies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    pub change: String,
    pub device: String,
    pub member_id: Option<String>,
    pub member_name: Option<String>,
    pub role: Option<crate::Role>,
    /// The author's signed time of the change (UTC ms, from the automerge change).
    pub time_ms: i64,
    pub signature_verified: bool,
    /// Why the signature could not be checked, when it could not.
    pub problem: Option<String>,
}

impl Store {
    /// The authorship of every change of an entity, oldest first (a notice shows who
    /// published it and that the signature checks).
    pub fn provenance(&self, entity_id: &str) -> Result<Vec<Provenance>> {
        let roster = self.roster().ok();
        let me = self.device_id();
        let conn = self.conn.lock();
        let doc = Store::load_doc(&conn, entity_id)?
            .ok_or_else(|| Error::NotFound(format!("entity {entity_id}")))?;
        let mut out = vec![];
        for c in doc.all_changes() {
            let device = c.actor_id().to_hex_string();
            let member = roster
                .as_ref()
                .and_then(|r| r.device(&device).and_then(|d| r.member(&d.member)).cloned());
            let batch: Option<BatchRow> = conn
                .query_row(
                    "SELECT b.author, b.signed_at, b.signature, b.pairs FROM change_batches cb JOIN batches b ON b.id = cb.batch_id
                     WHERE cb.hash = ?1",
                    [&c.hash().0[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let (verified, problem) = match batch {
                Some((author, signed_at, signature, pairs)) => {
                    let author: [u8; 32] = author.try_into().unwrap_or([0; 32]);
                    // a damaged list covers nothing: reported as a problem below
                    let pairs = BatchPairs::from_bytes(&pairs).unwrap_or_default();
                    let covered = pairs.covers(&c.hash().0);
                    let msg = SignedBatch::message(&author, signed_at, &pairs);
                    if hex::encode(author) != device {
                        (
                            false,
                            Some(
                                "the batch was signed by another device than the change's author"
                                    .to_string(),
                            ),
                        )
                    } else if !covered {
                        (
                            false,
                            Some("the signature does not cover this change".to_string()),
                        )
                    } else {
                        match crate::identity::verify(&author, &msg, &signature) {
                            Ok(()) => (true, None),
                            Err(e) => (false, Some(e.to_string())),
                        }
                    }
                }
                // made on this device: its own key, no batch needed to know that
                None if device == me => (true, None),
                None => (
                    false,
                    Some("no signature is held for this change".to_string()),
                ),
            };
            out.push(Provenance {
                change: c.hash().to_string(),
                device,
                member_id: member.as_ref().map(|m| m.id.clone()),
                member_name: member.as_ref().map(|m| m.name.clone()),
                role: member.as_ref().map(|m| m.role),
                time_ms: c.timestamp() * 1000,
                signature_verified: verified,
                problem,
            });
        }
        Ok(out)
    }
}
