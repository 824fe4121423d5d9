//! The relay's work, independent of HTTP: accept a device's signed changes after
//! checking each with the core policy, append them to the space log, and answer with
//! what this member may read after their cursor. Also enrolment, invites, revocation
//! and the tallies the relay publishes for secret ballots and hidden results.
//!
//! One job per file:
//! - `control.rs`: the control plane — spaces, invites, enrolment, revocation, key
//!   rotation (who may do what is `cunwu_protocol::policy`);
//! - `accept.rs`: a sync request — who sent it, replay and rate, then each batch's
//!   changes judged by the policy and appended to the log;
//! - `read.rs`: a member's view — the log after their cursor as they may read it;
//! - `tally.rs`: the signed tallies the relay publishes;
//! - `blobs.rs`: the attachment lane — blob requests' authentication, the read rule
//!   for attachment bytes (`blobs::may_fetch`), uploads verified piece by piece;
//! - `cache.rs`: what this process keeps in memory per space (`SpaceCache`);
//! - here: the `Relay` and what every job shares (documents, the space lock, the policy's
//!   view of other entities).

mod accept;
pub mod blobs;
mod cache;
mod control;
mod read;
mod tally;

pub use control::INVITE_TTL_MS;

use crate::db::Storage;
use crate::error::RelayError;
use crate::metrics::Metrics;

use cache::Caches;
use cunwu_protocol::doc::EntityDoc;
use cunwu_protocol::identity::DeviceKey;
use cunwu_protocol::ids::DAY_MS;
use cunwu_protocol::model::deliberation::{BallotEvent, Deliberation};
use cunwu_protocol::model::register::{register_id, Register};
use cunwu_protocol::policy::Lookup;
use cunwu_protocol::roster::{Roster, SignedRoster};
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub type Result<T> = std::result::Result<T, RelayError>;

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
    /// Per space: documents, audiences, signed roster, log end, lock, rate, tallies.
    cache: Caches,
    /// Sync counters of pull-only syncs that could not be written (disk full or
    /// read-only), by (space, device): replay protection until the disk has room.
    unwritten_counters: Mutex<std::collections::HashMap<(String, String), u64>>,
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

    fn register(&self, at: Option<&[String]>) -> Option<Register> {
        let id = register_id(self.space);
        self.relay.load_doc(self.space, &id).ok()??.register(at)
    }
}

/// An open read snapshot (`Relay::reads`), ended on drop. Not `Send`: the snapshot
/// belongs to the thread that opened it.
struct Reads<'a>(&'a dyn Storage, std::marker::PhantomData<*const ()>);

impl Reads<'_> {
    /// End the snapshot and take a new one: a long judgement (a large upload) does not
    /// hold one read transaction, and so the WAL, for its whole length.
    fn renew(&mut self) -> Result<()> {
        self.0.end_reads();
        self.0.begin_reads()
    }
}

impl Drop for Reads<'_> {
    fn drop(&mut self) {
        self.0.end_reads()
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
            cache: Caches::default(),
            unwritten_counters: Mutex::default(),
        }
    }

    fn signed_roster(
        &self,
        space: &str,
        roster: &Roster,
        relay_secret: &[u8],
    ) -> Result<SignedRoster> {
        if let Some(signed) = self.cache.signed_roster(space, roster.version) {
            return Ok(signed);
        }
        let signed = SignedRoster::sign(roster, &DeviceKey::from_secret(relay_secret)?);
        self.cache
            .put_signed_roster(space, roster.version, signed.clone());
        Ok(signed)
    }

    /// Take the space in storage (across relay processes) once the in-process lock is
    /// held, and forget cached documents another process may have extended.
    fn hold_space(&self, space: &str) -> Result<crate::db::SpaceGuard> {
        let guard = self.storage.lock_space(space)?;
        let last = self.storage.last_seq(space)?;
        self.cache.saw_log_end(space, last);
        Ok(guard)
    }

    /// Until the guard drops, this thread's reads see one snapshot of the storage
    /// (`Storage::begin_reads`): for the lookups a sync makes between two of its writes.
    fn reads(&self) -> Result<Reads<'_>> {
        self.storage.begin_reads()?;
        Ok(Reads(&*self.storage, std::marker::PhantomData))
    }

    fn space_lock(&self, space: &str) -> Arc<Mutex<()>> {
        self.cache.space_lock(space)
    }

    fn load_doc(&self, space: &str, entity: &str) -> Result<Option<EntityDoc>> {
        if let Some(d) = self.cache.doc(space, entity) {
            return Ok(Some(d));
        }
        let changes = self.storage.entity_changes(space, entity)?;
        if changes.is_empty() {
            return Ok(None);
        }
        let d = EntityDoc::load(None, changes.iter().map(|c| c.as_slice()))
            .map_err(|e| RelayError::Storage(e.to_string()))?;
        self.cache.put_doc(space, entity, d.clone());
        Ok(Some(d))
    }

    fn check_rate(&self, space: &str, device: &str, now: i64) -> Result<()> {
        let per_minute = self.limits.requests_per_minute;
        self.cache
            .count_request(space, device, now, per_minute)
            .map_err(|wait_s| {
                self.metrics.rate_limited.inc();
                RelayError::TooMany(format!(
                    "more than {per_minute} requests a minute from this device in this space; retry in {wait_s} s"
                ))
            })
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
