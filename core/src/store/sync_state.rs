//! What sync needs from the store: the outbox of local changes and their states
//! (pending → sent → acked | rejected), the relay cursor, the request counter (and
//! continuing from the one the relay expects), the device-key rotation state, and
//! undoing rejected changes so the device returns to what the rest of the space sees.

use super::merge::drop_changes;
use super::{local_get, local_set, EntityChange, Origin, Store};
use crate::error::{Error, Result};
use crate::identity::DeviceKey;
use crate::ids::now_ms;
use crate::model::EntityKind;
use crate::wire::{entity_bytes, Rejection, SignedBatch, BATCH_TARGET_BYTES};
use automerge::ChangeHash;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ChangeState {
    Pending,
    Sent,
    Acked,
    Rejected,
}

impl ChangeState {
    fn parse(s: &str) -> ChangeState {
        match s {
            "sent" => ChangeState::Sent,
            "acked" => ChangeState::Acked,
            "rejected" => ChangeState::Rejected,
            _ => ChangeState::Pending,
        }
    }
}

/// A change made on this device and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LocalChange {
    pub hash: String,
    pub entity_id: String,
    pub kind: crate::model::EntityKind,
    pub summary: String,
    pub state: ChangeState,
    pub reason: Option<String>,
    pub created_at: i64,
}

/// Changes waiting to be signed into one batch: the audience they share (as JSON),
/// the changes, and their size in bytes.
type AudienceGroup = (
    String,
    Vec<(crate::wire::EntityId, automerge::Change)>,
    usize,
);

impl Store {
    /// Sign the outbox (pending and sent-but-unacknowledged changes) into batches.
    /// Marks them sent. Retrying a sent change is safe: the relay acks a change it holds.
    ///
    /// One batch holds documents of one audience only (the relay refuses a batch that
    /// mixes them): a reader then receives a batch whole or not at all, and learns
    /// nothing of documents they may not read. A change whose bytes this phone no longer
    /// holds (a damaged or missing document) can never be sent: it is marked rejected
    /// with the reason instead of stopping the sync.
    pub fn outgoing_batches(&self) -> Result<Vec<SignedBatch>> {
        let conn = self.conn.lock();
        let rows: Vec<(String, Vec<u8>)> = {
            let mut s = conn.prepare_cached(
                "SELECT entity_id, hash FROM outbox WHERE state IN ('pending', 'sent') ORDER BY local_seq",
            )?;
            let v = s
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        // the change bytes live in the entity's document (incremental row or snapshot)
        let mut docs: HashMap<String, Option<(crate::doc::EntityDoc, String)>> = HashMap::new();
        // changes waiting to be signed, one group per audience, in order of first appearance
        let mut groups: Vec<AudienceGroup> = vec![];
        let mut batches = vec![];
        let mut lost: Vec<(Vec<u8>, String)> = vec![];
        let now = now_ms();
        for (e, h) in rows {
            let entry = docs.entry(e.clone()).or_insert_with(|| {
                let doc = match Store::load_doc(&conn, &e) {
                    Ok(d) => d?,
                    // a damaged entity never stops the sync (heal.rs): it is set aside and
                    // fetched again; this device's changes that still read are kept and
                    // sent once they are put back
                    Err(err) => {
                        let why = format!("stored document does not load ({err})");
                        if let Err(q) =
                            super::heal::quarantine_now(&conn, &e, &why, &self.device_id())
                        {
                            tracing::warn!(entity = %e, error = %q, "could not quarantine");
                        }
                        return None;
                    }
                };
                let json = doc.to_json();
                let audience = crate::policy::audience(&json, &super::ConnLookup(&conn)).ok()?;
                let group = crate::policy::batch_group(&json, audience).ok()?;
                Some((doc, group))
            });
            let Some((doc, audience)) = entry else {
                if super::heal::is_kept(&conn, &h)? {
                    continue;
                }
                lost.push((h, format!("its document {e} is missing or damaged on this phone; the change cannot be sent")));
                continue;
            };
            let Some(change) = <[u8; 32]>::try_from(&h[..])
                .ok()
                .and_then(|h| doc.change(&ChangeHash(h)).cloned())
            else {
                if super::heal::is_kept(&conn, &h)? {
                    continue;
                }
                lost.push((h, format!("the change is missing from its document {e} on this phone; it cannot be sent")));
                continue;
            };
            let g = match groups.iter().position(|g| g.0 == *audience) {
                Some(g) => g,
                None => {
                    groups.push((audience.clone(), vec![], 0));
                    groups.len() - 1
                }
            };
            groups[g].2 += change.raw_bytes().len();
            groups[g].1.push((entity_bytes(&e)?, change));
            if groups[g].2 >= BATCH_TARGET_BYTES {
                batches.push(SignedBatch::sign(&self.key, now, &groups[g].1));
                groups[g].1.clear();
                groups[g].2 = 0;
            }
        }
        for (_, cur, _) in groups {
            if !cur.is_empty() {
                batches.push(SignedBatch::sign(&self.key, now, &cur));
            }
        }
        for (h, reason) in &lost {
            conn.execute(
                "UPDATE outbox SET state = 'rejected', reason = ?2, updated_at = ?3 WHERE hash = ?1",
                params![h, reason, now],
            )?;
            tracing::warn!(reason, "outbox change cannot be sent");
        }
        conn.execute(
            "UPDATE outbox SET state = 'sent', updated_at = ?1 WHERE state = 'pending'",
            [now],
        )?;
        Ok(batches)
    }

    /// The relay holds these changes: they are acked and their outbox bytes dropped.
    /// The relay holds these changes of this phone, as of its clock `relay_time` (the
    /// answer's `server_time`): they are acked, and reached the village then (or
    /// before, for a change acked again: the first time recorded stays). Projections
    /// of the documents they belong to are refreshed, so lists date them as the
    /// village does.
    pub fn apply_acks(&self, hashes: &[[u8; 32]], relay_time: i64) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let now = now_ms();
        let mut entities: std::collections::BTreeSet<String> = Default::default();
        for h in hashes {
            tx.execute(
                "UPDATE outbox SET state = 'acked', updated_at = ?2 WHERE hash = ?1 AND state != 'rejected'",
                params![&h[..], now],
            )?;
            let new = tx.execute(
                "INSERT OR IGNORE INTO arrivals(hash, at) VALUES (?1, ?2)",
                params![&h[..], relay_time],
            )?;
            if new > 0 {
                if let Some(e) = tx
                    .query_row(
                        "SELECT entity_id FROM outbox WHERE hash = ?1",
                        [&h[..]],
                        |r| r.get::<_, String>(0),
                    )
                    .optional()?
                {
                    entities.insert(e);
                }
            }
        }
        // only a notice's rows carry arrival-dated fields
        for e in &entities {
            if let Some(doc) = Store::load_doc(&tx, e)? {
                if let Some((kind @ crate::EntityKind::Notice, _)) = doc.header() {
                    super::projection::project(&tx, kind, e, &doc)?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The relay refused these changes. Each is marked rejected with the reason, and
    /// its document is rebuilt without it (and without later local changes that
    /// depend on it, which are rejected too), so the device shows what the rest of the
    /// space sees. Returns the entities that changed.
    pub fn apply_rejections(&self, rejections: &[Rejection]) -> Result<Vec<EntityChange>> {
        if rejections.is_empty() {
            return Ok(vec![]);
        }
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let now = now_ms();
        let mut by_entity: HashMap<String, HashSet<ChangeHash>> = HashMap::new();
        let mut reasons: HashMap<ChangeHash, String> = HashMap::new();
        for r in rejections {
            let known: Option<String> = tx
                .query_row(
                    "SELECT entity_id FROM outbox WHERE hash = ?1",
                    [&r.hash[..]],
                    |row| row.get(0),
                )
                .ok();
            let Some(entity) = known else { continue };
            by_entity
                .entry(entity)
                .or_default()
                .insert(ChangeHash(r.hash));
            reasons.insert(ChangeHash(r.hash), r.reason.clone());
        }
        let mut changed = vec![];
        for (entity, drop) in by_entity {
            let kind: Option<String> = tx
                .query_row("SELECT kind FROM entities WHERE id = ?1", [&entity], |r| {
                    r.get(0)
                })
                .ok();
            let dropped = drop_changes(&tx, &entity, &drop)?;
            for h in dropped.iter().chain(drop.iter()) {
                let reason = reasons
                    .get(h)
                    .cloned()
                    .unwrap_or_else(|| "depends on a change the relay rejected".to_string());
                tx.execute(
                    "UPDATE outbox SET state = 'rejected', reason = ?2, updated_at = ?3 WHERE hash = ?1",
                    params![&h.0[..], reason, now],
                )?;
            }
            if let Some(k) = kind {
                changed.push(EntityChange {
                    id: entity,
                    kind: EntityKind::parse(&k)?,
                    origin: Origin::Remote,
                });
            }
        }
        tx.commit()?;
        drop(conn);
        self.notify(changed.clone());
        Ok(changed)
    }

    /// Changes made on this device, newest first, optionally only in one state.
    pub fn local_changes(
        &self,
        state: Option<ChangeState>,
        limit: u32,
    ) -> Result<Vec<LocalChange>> {
        let conn = self.conn.lock();
        let st = state.map(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        });
        let mut s = conn.prepare_cached(
            "SELECT hash, entity_id, kind, summary, state, reason, created_at FROM outbox
             WHERE ?1 IS NULL OR state = ?1 ORDER BY local_seq DESC LIMIT ?2",
        )?;
        let rows = s.query_map(params![st, limit.clamp(1, 10_000)], |r| {
            let h: Vec<u8> = r.get(0)?;
            let state: String = r.get(4)?;
            Ok(LocalChange {
                hash: hex::encode(h),
                entity_id: r.get(1)?,
                kind: super::queries::named(r, 2)?,
                summary: r.get(3)?,
                state: ChangeState::parse(&state),
                reason: r.get(5)?,
                created_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The state of one local change, by hash (hex).
    pub fn change_state(&self, hash_hex: &str) -> Result<LocalChange> {
        let h = hex::decode(hash_hex)
            .map_err(|_| Error::invalid(format!("change hash {hash_hex:?} is not hex")))?;
        self.local_changes(None, 10_000)?
            .into_iter()
            .find(|c| hex::decode(&c.hash).ok().as_deref() == Some(&h[..]))
            .ok_or_else(|| Error::NotFound(format!("local change {hash_hex}")))
    }

    /// Where the next sync starts in the relay log. After a damaged entity was
    /// quarantined (or `repair`), a full pull was requested: this then returns 0 and
    /// stores 0, so the relay sends everything again (merge is idempotent) and the
    /// quarantined entities are re-created from it. A request made while a sync is
    /// under way survives that sync's cursor updates and takes effect on the next one.
    pub fn cursor(&self) -> Result<u64> {
        let mut conn = self.conn.lock();
        if local_get(&conn, super::heal::FULL_PULL_KEY)?.is_some() {
            let tx = conn.transaction()?;
            local_set(&tx, "cursor", &0u64.to_le_bytes())?;
            tx.execute(
                "DELETE FROM local WHERE key = ?1",
                [super::heal::FULL_PULL_KEY],
            )?;
            tx.commit()?;
            return Ok(0);
        }
        Ok(local_get(&conn, "cursor")?
            .map(|v| u64::from_le_bytes(v.try_into().unwrap_or([0; 8])))
            .unwrap_or(0))
    }

    pub fn set_cursor(&self, cursor: u64) -> Result<()> {
        local_set(&self.conn.lock(), "cursor", &cursor.to_le_bytes())
    }

    /// The epoch of the relay's log this phone last synced with (0: none known yet,
    /// or a relay older than wire version 5).
    pub fn relay_epoch(&self) -> Result<u64> {
        Ok(local_get(&self.conn.lock(), "relay_epoch")?
            .map(|v| u64::from_le_bytes(v.try_into().unwrap_or([0; 8])))
            .unwrap_or(0))
    }

    pub fn set_relay_epoch(&self, epoch: u64) -> Result<()> {
        local_set(&self.conn.lock(), "relay_epoch", &epoch.to_le_bytes())
    }

    /// The relay's log is not the one this phone synced with (it was restored from a
    /// backup: a new epoch, or this phone's cursor is beyond its end). In one
    /// transaction: the cursor goes back to 0 (pull the whole log again; merging is
    /// idempotent), the new epoch is kept, and every acked change of this phone is
    /// marked for sending again, since the relay may have lost those acked after its
    /// backup (it acks again those it holds, and stores the rest). Returns how many
    /// changes will be sent again.
    pub fn restart_relay_log(&self, epoch: u64) -> Result<u32> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        local_set(&tx, "cursor", &0u64.to_le_bytes())?;
        local_set(&tx, "relay_epoch", &epoch.to_le_bytes())?;
        let n = tx.execute(
            "UPDATE outbox SET state = 'pending', updated_at = ?1 WHERE state = 'acked'",
            [now_ms()],
        )?;
        tx.commit()?;
        Ok(n as u32)
    }

    /// The next request counter: strictly increasing across restarts, and at least
    /// the current time in ms (`max(last + 1, now)`), so a phone restored from a
    /// backup, whose stored counter went back, still counts above what the relay saw.
    pub fn next_counter(&self) -> Result<u64> {
        let conn = self.conn.lock();
        let cur = stored_counter(&conn)?;
        let next = cur.saturating_add(1).max(now_ms().max(0) as u64);
        local_set(&conn, "counter", &next.to_le_bytes())?;
        Ok(next)
    }

    /// The relay refused a counter and named the lowest it accepts (`expected`, in
    /// `ErrorBody::expected_counter`): continue from there. This raises the counter
    /// of a phone restored from a backup, and lowers that of one whose clock once ran
    /// far ahead (the relay never recorded those counters). Returns the counter to
    /// send now; `next_counter` continues above it.
    pub fn adopt_counter(&self, expected: u64) -> Result<u64> {
        local_set(&self.conn.lock(), "counter", &expected.to_le_bytes())?;
        Ok(expected)
    }

    /// Local changes the relay has not acknowledged or rejected yet.
    pub fn unsent_changes(&self) -> Result<u32> {
        let n: i64 = self.conn.lock().query_row(
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u32)
    }

    /// The key this device is rotating to, if a rotation was begun and not finished
    /// (`SyncClient::rotate_key`): the relay may already have taken it.
    pub fn pending_device_key(&self) -> Result<Option<DeviceKey>> {
        local_get(&self.conn.lock(), "pending_device_secret")?
            .map(|s| DeviceKey::from_secret(&s))
            .transpose()
            .map_err(Error::from)
    }

    /// Begin a key rotation: the new key, generated once and kept until the rotation
    /// is done, so an answer lost on the way can be asked for again with the same key.
    pub fn begin_key_rotation(&self) -> Result<DeviceKey> {
        let conn = self.conn.lock();
        if let Some(s) = local_get(&conn, "pending_device_secret")? {
            return Ok(DeviceKey::from_secret(&s)?);
        }
        let k = DeviceKey::generate();
        local_set(&conn, "pending_device_secret", &k.secret_bytes())?;
        Ok(k)
    }

    /// Make `new` this device's key (after the relay replaced it in the roster). The
    /// key of an open store does not change: reopen it (`Store::open`) to sign with
    /// the new key; until then `key_is_current` is false and `sync_once` refuses.
    pub fn replace_device_key(&self, new: &DeviceKey) -> Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        local_set(&tx, "device_secret", &new.secret_bytes())?;
        local_set(&tx, "retired_device_secret", &self.key.secret_bytes())?;
        tx.execute("DELETE FROM local WHERE key = 'pending_device_secret'", [])?;
        tx.commit()?;
        Ok(())
    }

    /// Whether this open store signs with the key stored in it (false after
    /// `replace_device_key`, until the store is reopened).
    pub fn key_is_current(&self) -> Result<bool> {
        let stored = local_get(&self.conn.lock(), "device_secret")?;
        Ok(stored.as_deref() == Some(&self.key.secret_bytes()[..]))
    }
}

fn stored_counter(conn: &rusqlite::Connection) -> Result<u64> {
    Ok(local_get(conn, "counter")?
        .map(|v| u64::from_le_bytes(v.try_into().unwrap_or([0; 8])))
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_follows_the_clock_and_continues_from_the_one_the_relay_expects() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.db")).unwrap();
        let before = now_ms() as u64;
        let a = store.next_counter().unwrap();
        assert!(a >= before);
        assert!(store.next_counter().unwrap() > a);
        // a phone whose clock once ran years ahead: the relay names a lower counter
        let years = a + 5 * 365 * 86_400_000;
        store.adopt_counter(years).unwrap();
        assert_eq!(store.next_counter().unwrap(), years + 1);
        assert_eq!(store.adopt_counter(a + 10).unwrap(), a + 10);
        let next = store.next_counter().unwrap();
        assert!(next > a + 10 && next < years, "{next}");
        // a counter at the top of the range does not wrap
        store.adopt_counter(u64::MAX).unwrap();
        assert_eq!(store.next_counter().unwrap(), u64::MAX);
    }

    #[test]
    fn a_key_rotation_keeps_its_new_key_until_done_and_takes_effect_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let old = store.device_id();
        assert!(store.pending_device_key().unwrap().is_none());
        let new = store.begin_key_rotation().unwrap();
        assert_eq!(
            store.begin_key_rotation().unwrap().id(),
            new.id(),
            "the same key when asked again"
        );
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.pending_device_key().unwrap().map(|k| k.id()),
            Some(new.id()),
            "kept across a restart"
        );
        assert_eq!(store.device_id(), old);
        assert!(store.key_is_current().unwrap());
        store.replace_device_key(&new).unwrap();
        assert!(
            !store.key_is_current().unwrap(),
            "the open store still holds the old key"
        );
        assert!(store.pending_device_key().unwrap().is_none());
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.device_id(), new.id());
        assert!(store.key_is_current().unwrap());
    }
}
