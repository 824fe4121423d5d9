//! The relay's work, independent of HTTP: accept a device's signed changes after
//! checking each with the core policy, append them to the space log, and answer with
//! what this member may read after their cursor. Also enrolment, invites, revocation
//! and the tallies the relay publishes for secret ballots and hidden results.

use crate::db::{AcceptedChange, EntityRecord, InviteRecord, LogBatch, LogRow, Storage};
use crate::error::RelayError;
use crate::metrics::Metrics;
use cunwu_protocol::doc::EntityDoc;
use cunwu_protocol::identity::{self, decode_key_hex, DeviceKey};
use cunwu_protocol::ids::{new_id, now_ms, DAY_MS};
use cunwu_protocol::model::deliberation::{
    tally, BallotEvent, Deliberation, Tally, BALLOT_GRACE_MS,
};
use cunwu_protocol::model::request::DEFAULT_KINDS;
use cunwu_protocol::policy::{self, Audience, Lookup};
use cunwu_protocol::roster::{DeviceEntry, Member, Role, Roster, SignedRoster};
use cunwu_protocol::wire::control::*;
use cunwu_protocol::wire::{
    self, entity_hex, FrameKind, Item, LogEntry, Rejection, SignedBatch, SignedTally, SyncResponse,
};
use cunwu_protocol::{ChangeHash, EntityKind};
use parking_lot::Mutex;
use rand::Rng;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, RelayError>;

/// Invites expire this long after they are made.
pub const INVITE_TTL_MS: i64 = 7 * DAY_MS;

/// A sync counter more than this beyond the relay's clock is refused and not
/// recorded: phones count from their clock (`Store::next_counter`), and recording a
/// counter years ahead would lock the device out until the relay's clock caught up.
pub const MAX_COUNTER_AHEAD_MS: i64 = DAY_MS;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_page_bytes: u32,
    pub requests_per_minute: u32,
    /// How long the relay works on one sync's uploads before it cuts the sync (less
    /// than the HTTP request timeout, so the work stops when the answer could no
    /// longer be delivered). Nothing half done is kept: batches are atomic.
    pub sync_budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_page_bytes: 8 * 1024 * 1024,
            requests_per_minute: 120,
            sync_budget: Duration::from_secs(20),
        }
    }
}

pub struct Relay {
    storage: Arc<dyn Storage>,
    limits: Limits,
    pub metrics: Metrics,
    docs: Mutex<HashMap<(String, String), EntityDoc>>,
    space_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Requests per (space, device) in the current minute: (minute start, count).
    rate: Mutex<HashMap<(String, String), (i64, u32)>>,
    tally_checked: Mutex<HashMap<String, i64>>,
    /// Who may read each entity, per space (loaded once, kept up to date on accept;
    /// an entity missing here is looked up in storage).
    audiences: Mutex<HashMap<String, HashMap<String, Audience>>>,
    /// The signed roster of each space at its latest version: signed once per version,
    /// not once per sync (a village roster is ~200 KB of JSON to hash).
    signed_rosters: Mutex<HashMap<String, (u64, SignedRoster)>>,
    /// Per space, the log end this process's document cache reflects. Another relay
    /// process sharing the database (PostgreSQL) may have appended since: then the
    /// cached documents of that space are dropped (`hold_space`).
    log_seen: Mutex<HashMap<String, u64>>,
}

const DOC_CACHE_MAX: usize = 20_000;

fn invite_hash(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex::encode(Sha256::digest(norm.as_bytes()))
}

fn new_invite_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let raw: String = (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..])
}

struct RelayLookup<'a> {
    relay: &'a Relay,
    space: &'a str,
}

impl Lookup for RelayLookup<'_> {
    fn deliberation(&self, id: &str) -> Option<Deliberation> {
        self.relay.load_doc(self.space, id).ok()??.deliberation()
    }

    fn latest_ballot_at(&self, deliberation: &str) -> Option<i64> {
        let ids = self
            .relay
            .storage
            .referencing(self.space, deliberation)
            .ok()?;
        ids.iter()
            .filter_map(|b| self.relay.load_doc(self.space, b).ok().flatten())
            .filter_map(|doc| doc.events::<BallotEvent>().ok())
            .flat_map(|evs| evs.into_iter().map(|e| e.at))
            .max()
    }
}

fn bad_sig(e: cunwu_protocol::Error) -> RelayError {
    RelayError::Unauthorized(e.to_string())
}

impl Relay {
    pub fn new(storage: Arc<dyn Storage>, limits: Limits) -> Relay {
        Relay {
            storage,
            limits,
            metrics: Metrics::default(),
            docs: Mutex::new(HashMap::new()),
            space_locks: Mutex::new(HashMap::new()),
            rate: Mutex::new(HashMap::new()),
            tally_checked: Mutex::new(HashMap::new()),
            audiences: Mutex::new(HashMap::new()),
            signed_rosters: Mutex::new(HashMap::new()),
            log_seen: Mutex::new(HashMap::new()),
        }
    }

    fn signed_roster(
        &self,
        space: &str,
        roster: &Roster,
        relay_secret: &[u8],
    ) -> Result<SignedRoster> {
        if let Some((v, signed)) = self.signed_rosters.lock().get(space) {
            if *v == roster.version {
                return Ok(signed.clone());
            }
        }
        let signed = SignedRoster::sign(roster, &DeviceKey::from_secret(relay_secret)?);
        self.signed_rosters
            .lock()
            .insert(space.to_string(), (roster.version, signed.clone()));
        Ok(signed)
    }

    /// Take the space in storage (across relay processes) once the in-process lock is
    /// held, and forget cached documents another process may have extended.
    fn hold_space(&self, space: &str) -> Result<crate::db::SpaceGuard> {
        let guard = self.storage.lock_space(space)?;
        let last = self.storage.last_seq(space)?;
        let mut seen = self.log_seen.lock();
        if seen.get(space) != Some(&last) {
            self.docs.lock().retain(|(s, _), _| s != space);
            seen.insert(space.to_string(), last);
        }
        Ok(guard)
    }

    fn space_lock(&self, space: &str) -> Arc<Mutex<()>> {
        self.space_locks
            .lock()
            .entry(space.to_string())
            .or_default()
            .clone()
    }

    fn load_doc(&self, space: &str, entity: &str) -> Result<Option<EntityDoc>> {
        let key = (space.to_string(), entity.to_string());
        if let Some(d) = self.docs.lock().get(&key) {
            return Ok(Some(d.clone()));
        }
        let changes = self.storage.entity_changes(space, entity)?;
        if changes.is_empty() {
            return Ok(None);
        }
        let d = EntityDoc::load(None, changes.iter().map(|c| c.as_slice()))
            .map_err(|e| RelayError::Storage(e.to_string()))?;
        self.cache_doc(key, d.clone());
        Ok(Some(d))
    }

    fn cache_doc(&self, key: (String, String), doc: EntityDoc) {
        let mut c = self.docs.lock();
        if c.len() >= DOC_CACHE_MAX {
            c.clear();
        }
        c.insert(key, doc);
    }

    fn check_rate(&self, space: &str, device: &str, now: i64) -> Result<()> {
        let mut r = self.rate.lock();
        if r.len() > 100_000 {
            r.retain(|_, (start, _)| now - *start < 60_000);
        }
        let e = r
            .entry((space.to_string(), device.to_string()))
            .or_insert((now, 0));
        if now - e.0 >= 60_000 {
            *e = (now, 0);
        }
        e.1 += 1;
        if e.1 > self.limits.requests_per_minute {
            self.metrics.rate_limited.inc();
            return Err(RelayError::TooMany(format!(
                "more than {} requests a minute from this device in this space; retry in {} s",
                self.limits.requests_per_minute,
                (60_000 - (now - e.0)) / 1000 + 1
            )));
        }
        Ok(())
    }

    // ---- admin -------------------------------------------------------------------

    /// Create a space with its relay key and the first cadre invite.
    pub fn create_space(&self, name: &str) -> Result<(String, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(RelayError::BadRequest(
                "space name must be 1 to 100 characters".into(),
            ));
        }
        let id = new_id();
        let key = DeviceKey::generate();
        let roster = Roster {
            space_id: id.clone(),
            space_name: name.into(),
            version: 1,
            members: vec![],
            devices: vec![],
        };
        self.storage
            .create_space(&id, name, &key.secret_bytes(), &roster)?;
        let invite = self.make_invite(&id, Role::Cadre, "", "", "admin", now_ms())?;
        Ok((id, invite))
    }

    pub fn admin_invite(
        &self,
        space: &str,
        role: Role,
        household: &str,
        group: &str,
    ) -> Result<String> {
        self.storage
            .space(space)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space} on this relay")))?;
        self.make_invite(space, role, household, group, "admin", now_ms())
    }

    fn make_invite(
        &self,
        space: &str,
        role: Role,
        household: &str,
        group: &str,
        by: &str,
        now: i64,
    ) -> Result<String> {
        let code = new_invite_code();
        self.storage.put_invite(&InviteRecord {
            code_hash: invite_hash(&code),
            space_id: space.into(),
            role,
            household: household.into(),
            group: group.into(),
            expires_at: now + INVITE_TTL_MS,
            created_by: by.into(),
        })?;
        Ok(code)
    }

    /// Revoke a device (hex key) or a member (id) — admin or cadre.
    fn revoke_in(&self, space: &str, target: &str) -> Result<Roster> {
        let lock = self.space_lock(space);
        let _g = lock.lock();
        self.storage
            .space(space)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space}")))?;
        let _held = self.hold_space(space)?;
        let from = self.storage.last_seq(space)? + 1;
        // read, change and write the roster in one transaction: an enrolment on
        // another thread or relay node cannot slip in between and be lost
        self.storage.update_roster(space, &mut |roster| {
            let mut hit = false;
            for d in roster.devices.iter_mut() {
                if (d.key == target || d.member == target) && d.revoked_at_seq.is_none() {
                    d.revoked_at_seq = Some(from);
                    hit = true;
                }
            }
            if let Some(m) = roster.members.iter_mut().find(|m| m.id == target) {
                m.revoked = true;
                hit = true;
            }
            if !hit {
                return Err(RelayError::NotFound(format!(
                    "no device or member {target} to revoke"
                )));
            }
            roster.version += 1;
            Ok(())
        })
    }

    pub fn admin_revoke(&self, space: &str, target: &str) -> Result<()> {
        self.revoke_in(space, target).map(|_| ())
    }

    // ---- control plane -------------------------------------------------------------

    pub fn enroll(&self, req: &EnrollRequest, now: i64) -> Result<EnrollResponse> {
        let key =
            decode_key_hex(&req.device_key).map_err(|e| RelayError::BadRequest(e.to_string()))?;
        let sig = hex::decode(&req.signature)
            .map_err(|_| RelayError::BadRequest("signature is not hex".into()))?;
        identity::verify(
            &key,
            &enroll_message(&req.invite, &req.device_key, &req.name),
            &sig,
        )
        .map_err(bad_sig)?;
        let name = req.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(RelayError::BadRequest(
                "name must be 1 to 100 characters".into(),
            ));
        }
        let device_hex = hex::encode(key);
        let member_id = new_id();
        let (inv, roster) =
            self.storage
                .redeem_invite(&invite_hash(&req.invite), now, &mut |inv, roster| {
                    if roster.device(&device_hex).is_some() {
                        return Err(RelayError::Conflict(
                            "this device is already enrolled".into(),
                        ));
                    }
                    roster.members.push(Member {
                        id: member_id.clone(),
                        name: name.to_string(),
                        role: inv.role,
                        household: inv.household.clone(),
                        group: inv.group.clone(),
                        migrant: false,
                        household_rep: false,
                        party: inv.role == Role::PartyMember,
                        revoked: false,
                        joined_version: roster.version + 1,
                    });
                    roster.devices.push(DeviceEntry {
                        key: device_hex.clone(),
                        member: member_id.clone(),
                        revoked_at_seq: None,
                    });
                    roster.version += 1;
                    Ok(())
                })?;
        let space = self
            .storage
            .space(&inv.space_id)?
            .ok_or_else(|| RelayError::Storage("space vanished".into()))?;
        self.storage
            .set_roster_sent(&space.id, &device_hex, roster.version)?;
        let relay_key = DeviceKey::from_secret(&space.relay_secret)?;
        tracing::info!(space = %space.id, role = inv.role.as_str(), "device enrolled");
        Ok(EnrollResponse {
            space_id: space.id,
            space_name: space.name,
            member_id,
            role: inv.role,
            relay_key: hex::encode(relay_key.public()),
            roster: SignedRoster::sign(&roster, &relay_key),
        })
    }

    /// The cadre behind a signed control request (invite, revoke), after the checks.
    fn cadre_of(
        &self,
        space: &str,
        device_key: &str,
        msg: &[u8],
        signature: &str,
        nonce: &str,
        now: i64,
    ) -> Result<Member> {
        let key = decode_key_hex(device_key).map_err(|e| RelayError::BadRequest(e.to_string()))?;
        let sig = hex::decode(signature)
            .map_err(|_| RelayError::BadRequest("signature is not hex".into()))?;
        identity::verify(&key, msg, &sig).map_err(bad_sig)?;
        let rec = self
            .storage
            .space(space)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space}")))?;
        let m = rec.roster.signer(device_key, None)?.clone();
        if m.role != Role::Cadre {
            return Err(RelayError::Forbidden(format!(
                "only cadres may do this; {} is a {}",
                m.name,
                m.role.as_str()
            )));
        }
        if nonce.len() < 16 || !self.storage.use_nonce(nonce, now)? {
            return Err(RelayError::Conflict(
                "this request was already used (replayed nonce)".into(),
            ));
        }
        Ok(m)
    }

    pub fn create_invite(&self, req: &InviteRequest, now: i64) -> Result<InviteResponse> {
        let m = self.cadre_of(
            &req.space_id,
            &req.device_key,
            &invite_message(req),
            &req.signature,
            &req.nonce,
            now,
        )?;
        if req.role == Role::Township {
            return Err(RelayError::Forbidden(
                "township officials are invited by the relay admin".into(),
            ));
        }
        let invite = self.make_invite(
            &req.space_id,
            req.role,
            &req.household,
            &req.group,
            &m.id,
            now,
        )?;
        Ok(InviteResponse {
            invite,
            expires_at: now + INVITE_TTL_MS,
        })
    }

    pub fn revoke(&self, req: &RevokeRequest, now: i64) -> Result<()> {
        self.cadre_of(
            &req.space_id,
            &req.device_key,
            &revoke_message(req),
            &req.signature,
            &req.nonce,
            now,
        )?;
        self.revoke_in(&req.space_id, &req.target).map(|_| ())
    }

    /// A device replaces its key: both keys signed the request; the old key is revoked
    /// from the next log position (what it signed before stays valid, so its changes
    /// still verify on every phone), the new key is added for the same member, and
    /// the roster version is bumped. Asking again for a rotation already done (the
    /// answer was lost) answers the same roster and changes nothing.
    pub fn rotate(&self, req: &RotateRequest, now: i64) -> Result<RotateResponse> {
        let msg = rotate_message(req);
        for (key, sig, which) in [
            (&req.old_key, &req.old_signature, "old"),
            (&req.new_key, &req.new_signature, "new"),
        ] {
            let k = decode_key_hex(key)
                .map_err(|e| RelayError::BadRequest(format!("{which} key: {e}")))?;
            let sig = hex::decode(sig).map_err(|_| {
                RelayError::BadRequest(format!("{which} key's signature is not hex"))
            })?;
            identity::verify(&k, &msg, &sig).map_err(|_| {
                RelayError::Unauthorized(format!(
                    "the rotation request is not signed by its {which} key"
                ))
            })?;
        }
        if req.old_key == req.new_key {
            return Err(RelayError::BadRequest(
                "the new key must differ from the old one".into(),
            ));
        }
        let rec = self.storage.space(&req.space_id)?.ok_or_else(|| {
            RelayError::NotFound(format!("no space {} on this relay", req.space_id))
        })?;
        let member = match rec.roster.device(&req.old_key) {
            Some(d) => d.member.clone(),
            None => {
                return Err(RelayError::Unauthorized(
                    "the old key is not enrolled in this space".into(),
                ))
            }
        };
        if req.nonce.len() < 16 || !self.storage.use_nonce(&req.nonce, now)? {
            return Err(RelayError::Conflict(
                "this request was already used (replayed nonce)".into(),
            ));
        }
        let roster = self.rotate_in(&req.space_id, &req.old_key, &req.new_key, &member)?;
        // the new key inherits the old one's roster floor (eligibility snapshots)
        let floor = self
            .storage
            .roster_sent(&req.space_id, &req.old_key)?
            .max(roster.version);
        self.storage
            .set_roster_sent(&req.space_id, &req.new_key, floor)?;
        tracing::info!(space = %req.space_id, member = %member, "device key rotated");
        Ok(RotateResponse {
            roster: self.signed_roster(&req.space_id, &roster, &rec.relay_secret)?,
        })
    }

    fn rotate_in(&self, space: &str, old: &str, new: &str, member: &str) -> Result<Roster> {
        let lock = self.space_lock(space);
        let _g = lock.lock();
        let _held = self.hold_space(space)?;
        let from = self.storage.last_seq(space)? + 1;
        let mut unchanged = None;
        let roster = self.storage.update_roster(space, &mut |roster| {
            let new_entry = roster
                .device(new)
                .map(|d| (d.member.clone(), d.revoked_at_seq));
            if roster.members.iter().any(|m| m.id == member && m.revoked) {
                return Err(RelayError::Forbidden("this member is revoked".into()));
            }
            let Some(old_entry) = roster.devices.iter_mut().find(|d| d.key == old) else {
                return Err(RelayError::Unauthorized(
                    "the old key is not enrolled in this space".into(),
                ));
            };
            if old_entry.revoked_at_seq.is_some() {
                // done before with this very key (the answer was lost): nothing to change
                if new_entry == Some((member.to_string(), None)) {
                    unchanged = Some(roster.clone());
                    return Err(RelayError::Conflict("already rotated".into()));
                }
                return Err(RelayError::Forbidden(
                    "the old key is revoked; a revoked device cannot rotate its key".into(),
                ));
            }
            if new_entry.is_some() {
                return Err(RelayError::Conflict(
                    "the new key is already enrolled in this space".into(),
                ));
            }
            old_entry.revoked_at_seq = Some(from);
            roster.devices.push(DeviceEntry {
                key: new.to_string(),
                member: member.to_string(),
                revoked_at_seq: None,
            });
            roster.version += 1;
            Ok(())
        });
        match unchanged {
            Some(r) => Ok(r),
            None => roster,
        }
    }

    /// The replay rule for sync counters, per (space, device): a counter must be above
    /// the last one recorded and at most `MAX_COUNTER_AHEAD_MS` beyond the relay's
    /// clock. A refusal records nothing and names the lowest counter the relay would
    /// take (`RelayError::Counter`), so an honest phone restored from a backup, or one
    /// whose clock ran ahead, can continue from there (`SyncClient::sync_once`).
    fn check_counter(&self, space: &str, device: &str, counter: u64, now: i64) -> Result<()> {
        let bound = now.saturating_add(MAX_COUNTER_AHEAD_MS).max(0) as u64;
        if counter > bound {
            let expected = self.storage.counter(space, device)? + 1;
            return Err(RelayError::Counter {
                reason: format!(
                    "sync counter {counter} is more than {} h beyond the relay's clock ({now} ms) and was not recorded; \
                     is this phone's clock right? The relay expects a counter from {expected}",
                    MAX_COUNTER_AHEAD_MS / 3_600_000
                ),
                expected,
            });
        }
        if !self.storage.advance_counter(space, device, counter)? {
            let expected = self.storage.counter(space, device)? + 1;
            return Err(RelayError::Counter {
                reason: format!(
                    "replayed or out-of-order sync request: counter {counter} is not above the last one seen; \
                     the relay expects a counter from {expected}"
                ),
                expected,
            });
        }
        Ok(())
    }

    // ---- sync ------------------------------------------------------------------------

    /// One sync exchange: a sealed request (`wire::SealedRequest`) in, a framed
    /// `SyncResponse` out.
    ///
    /// Who sent it is settled before any work: the header names the space and the
    /// device, the device must be enrolled there and not revoked, and its signature
    /// over the still-compressed body must verify. Only then is the body inflated (to
    /// an absolute bound) and decoded, and only after that is any change parsed.
    pub fn sync(&self, body: &[u8], now: i64) -> Result<Vec<u8>> {
        let deadline = Instant::now() + self.limits.sync_budget;
        let sealed = wire::SealedRequest::read(body)?;
        let space_id = entity_hex(&sealed.space);
        let device_hex = hex::encode(sealed.device);
        let rec = self
            .storage
            .space(&space_id)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space_id} on this relay")))?;
        let member = match rec.roster.signer(&device_hex, None) {
            Ok(m) => m.clone(),
            Err(cunwu_protocol::Error::BadSignature(m)) => return Err(RelayError::Unauthorized(m)),
            Err(e) => return Err(RelayError::Forbidden(e.to_string())),
        };
        let req = sealed.open()?;
        // what judging this request may cost, counted before any change is judged
        let mut ops: u64 = 0;
        for b in &req.batches {
            for it in &b.items {
                if let Item::Change { bytes, .. } = it {
                    ops += cunwu_protocol::doc::change_ops(bytes).unwrap_or(0);
                }
            }
        }
        if ops > wire::MAX_REQUEST_OPS {
            return Err(RelayError::TooLarge(format!(
                "the request carries {ops} automerge operations; the limit is {} (the app splits its uploads)",
                wire::MAX_REQUEST_OPS
            )));
        }
        self.check_counter(&space_id, &device_hex, req.counter, now)?;
        // counted only for fresh requests, so replaying a captured one cannot lock a device out
        self.check_rate(&space_id, &device_hex, now)?;
        let roster_floor = self.storage.roster_sent(&space_id, &device_hex)?;
        // the space is locked one batch at a time, so one large upload never keeps the
        // village's other phones waiting for long
        let lock = self.space_lock(&space_id);
        let mut acks = vec![];
        let mut rejections = vec![];
        let mut needs_tally = false;
        // changes refused earlier in this request, with the reason: a change repeated in
        // a request is judged once
        let mut refused: HashMap<ChangeHash, String> = HashMap::new();
        for batch in &req.batches {
            let _guard = lock.lock();
            let _held = self.hold_space(&space_id)?;
            let (a, r, t) = self.accept_batch(
                &space_id,
                &rec.roster,
                &member,
                &req.device,
                batch,
                roster_floor,
                now,
                deadline,
                &mut refused,
            )?;
            acks.extend(a);
            rejections.extend(r);
            needs_tally |= t;
        }
        {
            let _guard = lock.lock();
            let _held = self.hold_space(&space_id)?;
            self.publish_tallies(&space_id, &rec.relay_secret, needs_tally, now)?;
        }
        self.metrics.changes_accepted.add(acks.len() as u64);
        self.metrics.changes_rejected.add(rejections.len() as u64);
        let (entries, cursor, more) = self.read_for(
            &space_id,
            &member,
            &req.device,
            req.cursor,
            req.max_page_bytes,
        )?;
        let roster = if rec.roster.version > req.roster_version {
            let current = self
                .storage
                .space(&space_id)?
                .map(|s| s.roster)
                .unwrap_or(rec.roster.clone());
            if current.version > roster_floor {
                self.storage
                    .set_roster_sent(&space_id, &device_hex, current.version)?;
            }
            Some(self.signed_roster(&space_id, &current, &rec.relay_secret)?)
        } else {
            let held = req.roster_version.min(rec.roster.version);
            if held > roster_floor {
                self.storage.set_roster_sent(&space_id, &device_hex, held)?;
            }
            None
        };
        let resp = SyncResponse {
            acks,
            rejections,
            entries,
            cursor,
            more,
            roster,
            server_time: now,
        };
        Ok(wire::encode(FrameKind::SyncResponse, &resp))
    }

    // the arguments are what one batch is judged by; issue 10 gives the relay one
    // context type per space
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn accept_batch(
        &self,
        space: &str,
        roster: &Roster,
        member: &Member,
        device: &[u8; 32],
        batch: &SignedBatch,
        roster_floor: u64,
        now: i64,
        deadline: Instant,
        refused: &mut HashMap<ChangeHash, String>,
    ) -> Result<(Vec<[u8; 32]>, Vec<Rejection>, bool)> {
        let mut acks = vec![];
        let mut rejections = vec![];
        let reject_all = |reason: String, rejections: &mut Vec<Rejection>| -> Result<()> {
            for (e, h) in batch.pairs().unwrap_or_default() {
                rejections.push(Rejection {
                    hash: h,
                    entity: e,
                    reason: reason.clone(),
                });
            }
            Ok(())
        };
        if &batch.author != device {
            reject_all(
                "a device may only send changes it signed itself".into(),
                &mut rejections,
            )?;
            return Ok((acks, rejections, false));
        }
        let verified = match batch.verify(None) {
            Ok(v) => v,
            Err(e) => {
                reject_all(e.to_string(), &mut rejections)?;
                return Ok((acks, rejections, false));
            }
        };
        let kinds: Vec<String> = DEFAULT_KINDS.iter().map(|s| s.to_string()).collect();
        let mut accepted: Vec<AcceptedChange> = vec![];
        let mut seen: HashSet<ChangeHash> = HashSet::new();

        let mut touched: Vec<(String, String)> = vec![];
        let mut needs_tally = false;
        // readers of this batch: every document in it must have the same audience, so a
        // reader receives a batch whole or not at all and never learns the id, author
        // or time of a document they may not read
        let mut batch_audience: Option<Audience> = None;
        let forget = |touched: &[(String, String)]| {
            let mut c = self.docs.lock();
            for k in touched {
                c.remove(k);
            }
        };
        for vc in verified {
            if Instant::now() > deadline {
                // nothing of this batch is stored; batches before it are, and are acked
                // again when the device retries
                forget(&touched);
                self.metrics.sync_errors.inc();
                return Err(RelayError::Unavailable(format!(
                    "the sync took longer than its budget of {} s and was cut; changes acked before are kept, send the rest again",
                    self.limits.sync_budget.as_secs()
                )));
            }
            let hash = vc.change.hash();
            let eid = wire::entity_bytes(&vc.entity)?;
            let known_audience = self.audience_of(space, &vc.entity);
            if seen.contains(&hash) || self.storage.has_change(space, &hash.0)? {
                // held already: acked, but its audience still counts for the batch, or a
                // held private change could ride in a public batch and be named to readers
                if let Some(a) = &known_audience {
                    if batch_audience.as_ref().is_some_and(|b| b != a) {
                        return Ok(self.refuse_mixed_batch(batch, &touched, acks, &seen));
                    }
                    batch_audience.get_or_insert_with(|| a.clone());
                }
                acks.push(hash.0);
                continue;
            }
            let reject = |reason: String| Rejection {
                hash: hash.0,
                entity: eid,
                reason,
            };
            if let Some(reason) = refused.get(&hash) {
                rejections.push(reject(reason.clone()));
                continue;
            }
            let rejected = |reason: String,
                            rejections: &mut Vec<Rejection>,
                            refused: &mut HashMap<ChangeHash, String>| {
                refused.insert(hash, reason.clone());
                rejections.push(reject(reason));
            };
            if let Some(dep) = vc.change.deps().iter().find(|d| refused.contains_key(d)) {
                rejected(
                    format!("depends on change {dep} which was rejected"),
                    &mut rejections,
                    refused,
                );
                continue;
            }
            let doc = self.load_doc(space, &vc.entity)?.unwrap_or_default();
            let missing = doc.missing_deps(&vc.change);
            if !missing.is_empty() {
                rejected(
                    format!(
                        "depends on {} change(s) the relay does not have (first: {}); send changes in order",
                        missing.len(),
                        missing[0]
                    ),
                    &mut rejections,
                    refused,
                );
                continue;
            }
            let is_new = doc.header().is_none();
            let ctx = policy::Context {
                roster,
                kinds: &kinds,
                arrival: Some(now),
                roster_floor: Some(roster_floor),
                lookup: &RelayLookup { relay: self, space },
            };
            let doc = match policy::check_change(&ctx, member, &doc, &vc.entity, &vc.change) {
                Ok(after) => after,
                Err(e) => {
                    rejected(e.to_string(), &mut rejections, refused);
                    continue;
                }
            };
            let after = doc.to_json();
            let (kind, _) = doc.header().expect("checked by the policy");
            let audience = match known_audience {
                Some(a) => a,
                None => policy::audience(&after, &RelayLookup { relay: self, space })?,
            };
            match &batch_audience {
                Some(a) if *a != audience => {
                    return Ok(self.refuse_mixed_batch(batch, &touched, acks, &seen));
                }
                _ => batch_audience = Some(audience.clone()),
            }
            let new_entity = if is_new {
                let ref_id = match kind {
                    EntityKind::Ballot => first_field(&after, "deliberation"),
                    // the relay publishes a signed tally for every vote once it closes
                    EntityKind::Deliberation => (first_field(&after, "deciding_body").as_deref()
                        != Some("consultation_only"))
                    .then(|| "tally".to_string()),
                    EntityKind::RequestNotes => first_field(&after, "request"),
                    _ => None,
                };
                Some(EntityRecord {
                    kind: kind.as_str().into(),
                    audience: serde_json::to_string(&audience).expect("json"),
                    ref_id,
                })
            } else {
                None
            };
            if kind == EntityKind::Deliberation || kind == EntityKind::Ballot {
                needs_tally = true;
            }
            self.cache_doc((space.to_string(), vc.entity.clone()), doc);
            touched.push((space.to_string(), vc.entity.clone()));
            seen.insert(hash);
            acks.push(hash.0);
            accepted.push(AcceptedChange {
                entity: vc.entity,
                hash: hash.0,
                bytes: vc.change.raw_bytes().to_vec(),
                new_entity,
            });
        }
        if !accepted.is_empty() {
            let mut pairs = vec![];
            for (e, h) in batch.pairs()? {
                pairs.extend_from_slice(&e);
                pairs.extend_from_slice(&h);
            }
            let lb = LogBatch {
                author: batch.author,
                signed_at: batch.signed_at,
                signature: batch.signature.clone(),
                pairs,
                changes: accepted,
            };
            let appended = self.storage.append_batch(space, &lb);
            if let Ok(seq) = &appended {
                self.log_seen.lock().insert(space.to_string(), *seq);
            }
            if let Err(e) = appended {
                // the cache holds changes that were not stored: forget them
                forget(&touched);
                return Err(e);
            }
            if let Some(m) = self.audiences.lock().get_mut(space) {
                for ch in &lb.changes {
                    if let Some(a) = ch
                        .new_entity
                        .as_ref()
                        .and_then(|e| serde_json::from_str::<Audience>(&e.audience).ok())
                    {
                        m.insert(ch.entity.clone(), a);
                    }
                }
            }
        }
        Ok((acks, rejections, needs_tally))
    }

    /// A batch whose documents have different audiences: every change of it the relay
    /// does not already hold is refused (and forgotten by the document cache).
    fn refuse_mixed_batch(
        &self,
        batch: &SignedBatch,
        touched: &[(String, String)],
        mut acks: Vec<[u8; 32]>,
        accepted: &HashSet<ChangeHash>,
    ) -> (Vec<[u8; 32]>, Vec<Rejection>, bool) {
        let mut c = self.docs.lock();
        for k in touched {
            c.remove(k);
        }
        drop(c);
        acks.retain(|h| !accepted.contains(&ChangeHash(*h)));
        let held: HashSet<[u8; 32]> = acks.iter().copied().collect();
        let reason = "a batch may only hold documents with the same readers (the app signs one batch per audience); \
                      this one mixes them";
        let rejections = batch
            .pairs()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, h)| !held.contains(h))
            .map(|(e, h)| Rejection {
                hash: h,
                entity: e,
                reason: reason.into(),
            })
            .collect();
        (acks, rejections, false)
    }

    /// Who may read an entity the relay already holds (`None` for a new one).
    fn audience_of(&self, space: &str, entity: &str) -> Option<Audience> {
        if let Some(a) = self
            .audiences
            .lock()
            .get(space)
            .and_then(|m| m.get(entity).cloned())
        {
            return Some(a);
        }
        self.storage
            .entity(space, entity)
            .ok()
            .flatten()
            .and_then(|r| serde_json::from_str::<Audience>(&r.audience).ok())
    }

    /// Publish a signed tally for each closed deliberation with secret ballots or hidden
    /// results whose counts changed. Checked when ballots or deliberations change, and
    /// at most every 10 s otherwise (deadlines pass without any write).
    fn publish_tallies(
        &self,
        space: &str,
        relay_secret: &[u8],
        forced: bool,
        now: i64,
    ) -> Result<()> {
        {
            let mut t = self.tally_checked.lock();
            let last = t.get(space).copied().unwrap_or(0);
            if !forced && now - last < 10_000 {
                return Ok(());
            }
            t.insert(space.to_string(), now);
        }
        let relay_key = DeviceKey::from_secret(relay_secret)?;
        for did in self.storage.referencing(space, "tally")? {
            let Some(doc) = self.load_doc(space, &did)? else {
                continue;
            };
            let Some(d) = doc.deliberation() else {
                continue;
            };
            if now < d.effective_close() {
                continue;
            }
            let mut choices = BTreeMap::new();
            for bid in self.storage.referencing(space, &did)? {
                let Some(b) = self.load_doc(space, &bid)? else {
                    continue;
                };
                if let Some((voter, c)) = b.ballot_choice(&d)? {
                    choices.insert(voter, c);
                }
            }
            let mut t = tally(&d, &choices, now);
            t.final_result = now > d.effective_close() + BALLOT_GRACE_MS;
            // signed with the log end it was computed at (phones keep the newest); a
            // new position alone is no reason to publish again
            t.as_of = self.storage.last_seq(space)?;
            let prev = self
                .storage
                .tallied(space, &did)?
                .and_then(|j| serde_json::from_slice::<Tally>(&j).ok());
            if prev
                .map(|p| Tally {
                    as_of: t.as_of,
                    ..p
                })
                .as_ref()
                != Some(&t)
            {
                let signed = SignedTally::sign(&t, &relay_key);
                let seq = self.storage.append_tally(
                    space,
                    &did,
                    &signed.tally_json,
                    &signed.signature,
                )?;
                self.log_seen.lock().insert(space.to_string(), seq);
                tracing::info!(space, deliberation = %did, participants = t.participants, "tally published");
            }
        }
        Ok(())
    }

    /// The log after `cursor` as this member may read it, up to about `max_bytes`.
    fn read_for(
        &self,
        space: &str,
        member: &Member,
        device: &[u8; 32],
        cursor: u64,
        max_bytes: u32,
    ) -> Result<(Vec<LogEntry>, u64, bool)> {
        let budget = max_bytes.clamp(16 * 1024, self.limits.max_page_bytes) as usize;
        // read the end of the log first: every entity created at or before `last` is
        // then in the audience snapshot taken after it (another sync may append meanwhile)
        let last = self.storage.last_seq(space)?;
        if !self.audiences.lock().contains_key(space) {
            let all: HashMap<String, Audience> = self
                .storage
                .audiences(space)?
                .into_iter()
                .filter_map(|(e, a)| serde_json::from_str::<Audience>(&a).ok().map(|a| (e, a)))
                .collect();
            self.audiences
                .lock()
                .entry(space.to_string())
                .or_insert(all);
        }
        let mut aud_cache: HashMap<String, bool> = HashMap::new();
        let mut may = |entity: &str| -> bool {
            if let Some(v) = aud_cache.get(entity) {
                return *v;
            }
            let known = self
                .audiences
                .lock()
                .get(space)
                .and_then(|m| m.get(entity).cloned());
            let audience = match known {
                Some(a) => Some(a),
                // created after the cache was filled and not yet added to it
                None => self
                    .storage
                    .entity(space, entity)
                    .ok()
                    .flatten()
                    .and_then(|r| serde_json::from_str::<Audience>(&r.audience).ok())
                    .inspect(|a| {
                        if let Some(m) = self.audiences.lock().get_mut(space) {
                            m.insert(entity.to_string(), a.clone());
                        }
                    }),
            };
            let ok = audience.is_some_and(|a| policy::may_read(&a, member));
            aud_cache.insert(entity.to_string(), ok);
            ok
        };
        let mut entries = vec![];
        let mut cur = cursor;
        let mut size = 0usize;
        'outer: while cur < last {
            // change bytes are loaded only for what this reader may see (not its own)
            let rows = self
                .storage
                .read_log(space, cur, 256, &mut |author, e| author != device && may(e))?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let row_seq = match &row {
                    LogRow::Tally { seq, .. } | LogRow::Batch { seq, .. } => *seq,
                };
                if row_seq > last {
                    break 'outer;
                }
                match row {
                    LogRow::Tally {
                        seq,
                        deliberation,
                        tally_json,
                        signature,
                    } => {
                        if may(&deliberation) {
                            size += tally_json.len();
                            entries.push(LogEntry::Tally {
                                seq,
                                tally: SignedTally {
                                    tally_json,
                                    signature,
                                },
                            });
                        }
                        cur = seq;
                    }
                    LogRow::Batch {
                        seq,
                        author,
                        signed_at,
                        signature,
                        pairs,
                        changes,
                    } => {
                        let mut bytes_of: HashMap<[u8; 32], (String, Vec<u8>)> =
                            changes.into_iter().map(|(e, h, b)| (h, (e, b))).collect();
                        if &author != device {
                            let mut items = vec![];
                            let mut any = false;
                            for ch in pairs.chunks_exact(48) {
                                let e: [u8; 16] = ch[..16].try_into().expect("16");
                                let h: [u8; 32] = ch[16..].try_into().expect("32");
                                match bytes_of.remove(&h) {
                                    Some((eid, b)) if may(&eid) => {
                                        size += b.len() + 48;
                                        any = true;
                                        items.push(Item::Change {
                                            entity: e,
                                            bytes: b,
                                        });
                                    }
                                    _ => items.push(Item::Withheld { entity: e, hash: h }),
                                }
                            }
                            if any {
                                entries.push(LogEntry::Batch {
                                    seq,
                                    batch: SignedBatch {
                                        author,
                                        signed_at,
                                        items,
                                        signature,
                                    },
                                });
                            }
                        }
                        cur = seq;
                    }
                }
                if size >= budget {
                    break 'outer;
                }
            }
        }
        Ok((entries, cur, cur < last))
    }
}

fn first_field(after: &Value, key: &str) -> Option<String> {
    after
        .get("events")?
        .get(0)?
        .get(key)?
        .as_str()
        .map(String::from)
}
