//! What one relay process keeps in memory about each space, in one type behind one
//! lock: parsed documents, who may read each entity, the signed roster of the latest
//! version, the log end the documents reflect, the space's lock, the request rate per
//! device and when tallies were last checked. All of it can be dropped at any time and
//! rebuilt from storage; none of it is shared between relay processes.

use cunwu_protocol::doc::EntityDoc;
use cunwu_protocol::policy::Audience;
use cunwu_protocol::roster::SignedRoster;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// Most parsed documents kept, over all spaces (past it the document cache restarts).
pub const DOC_CACHE_MAX: usize = 20_000;

/// Devices whose request rate is tracked per space before stale entries are pruned.
const RATE_ENTRIES_MAX: usize = 100_000;

/// One space's cache.
#[derive(Default)]
pub(super) struct SpaceCache {
    /// Parsed documents by entity id.
    docs: HashMap<String, EntityDoc>,
    /// Who may read each entity (loaded once, kept up to date on accept; an entity
    /// missing here is looked up in storage). `None` until first loaded.
    audiences: Option<HashMap<String, Audience>>,
    /// The signed roster at its latest version: signed once per version, not once
    /// per sync (a village roster is ~200 KB of JSON to hash).
    signed_roster: Option<(u64, SignedRoster)>,
    /// The log end the cached documents reflect. Another relay process sharing the
    /// database (PostgreSQL) may have appended since: then the documents are dropped.
    log_seen: Option<u64>,
    /// Taken while a sync's changes are checked and appended, one batch at a time.
    lock: Arc<Mutex<()>>,
    /// Requests per device in the current minute: (minute start, count).
    rate: HashMap<String, (i64, u32)>,
    /// When this space's tallies were last checked (relay clock).
    tally_checked: i64,
}

/// The caches of every space this process serves.
#[derive(Default)]
pub(super) struct Caches {
    spaces: Mutex<HashMap<String, SpaceCache>>,
}

impl Caches {
    fn with<T>(&self, space: &str, f: impl FnOnce(&mut SpaceCache) -> T) -> T {
        let mut all = self.spaces.lock();
        f(all.entry(space.to_string()).or_default())
    }

    pub fn space_lock(&self, space: &str) -> Arc<Mutex<()>> {
        self.with(space, |c| c.lock.clone())
    }

    pub fn doc(&self, space: &str, entity: &str) -> Option<EntityDoc> {
        self.with(space, |c| c.docs.get(entity).cloned())
    }

    pub fn put_doc(&self, space: &str, entity: &str, doc: EntityDoc) {
        let mut all = self.spaces.lock();
        if all.values().map(|c| c.docs.len()).sum::<usize>() >= DOC_CACHE_MAX {
            for c in all.values_mut() {
                c.docs.clear();
            }
        }
        all.entry(space.to_string())
            .or_default()
            .docs
            .insert(entity.to_string(), doc);
    }

    /// Forget documents whose cached state holds changes that were not stored.
    pub fn forget_docs(&self, space: &str, entities: &[String]) {
        self.with(space, |c| {
            for e in entities {
                c.docs.remove(e);
            }
        })
    }

    /// Record the log end `last` found in storage; when it is not the one the cached
    /// documents reflect, they are dropped.
    pub fn saw_log_end(&self, space: &str, last: u64) {
        self.with(space, |c| {
            if c.log_seen != Some(last) {
                c.docs.clear();
                c.log_seen = Some(last);
            }
        })
    }

    /// This process appended up to `seq`: the cached documents reflect it.
    pub fn appended(&self, space: &str, seq: u64) {
        self.with(space, |c| c.log_seen = Some(seq))
    }

    pub fn signed_roster(&self, space: &str, version: u64) -> Option<SignedRoster> {
        self.with(space, |c| {
            c.signed_roster
                .as_ref()
                .filter(|(v, _)| *v == version)
                .map(|(_, s)| s.clone())
        })
    }

    pub fn put_signed_roster(&self, space: &str, version: u64, signed: SignedRoster) {
        self.with(space, |c| c.signed_roster = Some((version, signed)))
    }

    pub fn audiences_loaded(&self, space: &str) -> bool {
        self.with(space, |c| c.audiences.is_some())
    }

    /// Install the audiences read from storage, unless another sync did first.
    pub fn load_audiences(&self, space: &str, all: HashMap<String, Audience>) {
        self.with(space, |c| {
            c.audiences.get_or_insert(all);
        })
    }

    pub fn audience(&self, space: &str, entity: &str) -> Option<Audience> {
        self.with(space, |c| c.audiences.as_ref()?.get(entity).cloned())
    }

    /// Add an entity's audience, once the space's audiences are loaded.
    pub fn add_audience(&self, space: &str, entity: &str, a: Audience) {
        self.with(space, |c| {
            if let Some(m) = c.audiences.as_mut() {
                m.insert(entity.to_string(), a);
            }
        })
    }

    /// Count one request by `device` at `now`: `Err(seconds to wait)` past `per_minute`.
    pub fn count_request(
        &self,
        space: &str,
        device: &str,
        now: i64,
        per_minute: u32,
    ) -> Result<(), i64> {
        self.with(space, |c| {
            let r = &mut c.rate;
            if r.len() > RATE_ENTRIES_MAX {
                r.retain(|_, (start, _)| now - *start < 60_000);
            }
            let e = r.entry(device.to_string()).or_insert((now, 0));
            if now - e.0 >= 60_000 {
                *e = (now, 0);
            }
            e.1 += 1;
            if e.1 > per_minute {
                return Err((60_000 - (now - e.0)) / 1000 + 1);
            }
            Ok(())
        })
    }

    /// Whether the space's tallies are due a check at `now` (always when `forced`, else
    /// every 10 s); a check due is recorded as done.
    pub fn tally_due(&self, space: &str, now: i64, forced: bool) -> bool {
        self.with(space, |c| {
            if !forced && now - c.tally_checked < 10_000 {
                return false;
            }
            c.tally_checked = now;
            true
        })
    }
}
