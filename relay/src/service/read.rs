//! A member's view: the space log after their cursor as they may read it
//! (`policy::may_read_in` on each entity's audience), in pages of about the size the
//! device asked for. Others' items of a batch a reader may not see become
//! `Withheld{entity, hash}`, so the batch's signature still verifies. The rows are
//! found through the read index (`log_readers`, `policy::reader_keys`), so a reader far
//! behind loads only rows filed for them, and `more` says there is more for them.

use super::{Relay, Result};
use crate::db::LogRow;
use cunwu_protocol::policy::{self, Audience};
use cunwu_protocol::roster::Member;
use cunwu_protocol::wire::{BatchPairs, Item, LogEntry, SignedBatch, SignedTally};
use std::collections::HashMap;

/// Index positions read per reader key at a time, and log rows loaded at a time.
const PAGE_ROWS: u32 = 256;

impl Relay {
    /// The log after `cursor` as this member may read it, up to about `max_bytes`.
    pub(super) fn read_for(
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
        // a cursor beyond the end of the log was handed out by a log this one no longer
        // is (the database was restored from a backup): never echo it, or the device
        // would skip what is appended next. Served from the start instead, so the
        // device sees its cursor go back and pulls again (`SyncClient::sync_once`).
        let cursor = if cursor > last {
            tracing::info!(
                space,
                cursor,
                "a device's cursor is beyond the end of the log (restored?): served from the start"
            );
            0
        } else {
            cursor
        };
        if !self.cache.audiences_loaded(space) {
            let all: HashMap<String, Audience> = self
                .storage
                .audiences(space)?
                .into_iter()
                .filter_map(|(e, a)| serde_json::from_str::<Audience>(&a).ok().map(|a| (e, a)))
                .collect();
            self.cache.load_audiences(space, all);
        }
        // drafts are read by the supervision committee too (`policy::may_read_in`): the
        // register is folded only when a draft meets a reader who is not staff
        let mut register: Option<Option<cunwu_protocol::model::register::Register>> = None;
        let mut aud_cache: HashMap<String, bool> = HashMap::new();
        let mut may = |entity: &str| -> bool {
            if let Some(v) = aud_cache.get(entity) {
                return *v;
            }
            let stored = || {
                self.storage
                    .entity(space, entity)
                    .ok()
                    .flatten()
                    .and_then(|r| serde_json::from_str::<Audience>(&r.audience).ok())
                    .inspect(|a| self.cache.add_audience(space, entity, a.clone()))
            };
            let audience = match self.cache.audience(space, entity) {
                // a draft widens when it is published, perhaps through another relay
                // node: storage has the audience committed with the log it reads
                Some(a @ Audience::Draft { .. }) => stored().or(Some(a)),
                Some(a) => Some(a),
                // created after the cache was filled and not yet added to it
                None => stored(),
            };
            let ok = audience.is_some_and(|a| {
                policy::may_read(&a, member)
                    || (matches!(a, Audience::Draft { .. }) && {
                        let reg = register.get_or_insert_with(|| {
                            policy::Lookup::register(
                                &super::RelayLookup { relay: self, space },
                                None,
                            )
                        });
                        policy::may_read_in(&a, member, reg.as_ref())
                    })
            });
            aud_cache.insert(entity.to_string(), ok);
            ok
        };
        // the read index (`policy::reader_keys`): only positions filed under this
        // member's keys are loaded, so what others may read alone costs nothing here
        let keys = policy::reader_keys(member);
        let mut entries = vec![];
        let mut cur = cursor;
        let mut size = 0usize;
        let mut more = false;
        'outer: while cur < last {
            let per_key = self.storage.reader_seqs(space, &keys, cur, PAGE_ROWS)?;
            // a key whose page came back full may file more after its last position:
            // take positions only up to the smallest such, so that none is skipped
            let mut bound = per_key
                .iter()
                .filter(|s| s.len() >= PAGE_ROWS as usize)
                .filter_map(|s| s.last().copied())
                .min()
                .unwrap_or(last)
                .min(last);
            let mut seqs: Vec<u64> = per_key
                .into_iter()
                .flatten()
                .filter(|s| *s <= bound)
                .collect();
            seqs.sort_unstable();
            seqs.dedup();
            if seqs.len() > PAGE_ROWS as usize {
                seqs.truncate(PAGE_ROWS as usize);
                bound = *seqs.last().expect("not empty");
            }
            // change bytes are loaded only for what this reader may see (not its own)
            let rows = self
                .storage
                .read_log_at(space, &seqs, &mut |author, e| author != device && may(e))?;
            self.metrics.log_rows_read.add(rows.len() as u64);
            let n = rows.len();
            for (i, row) in rows.into_iter().enumerate() {
                match row {
                    LogRow::Tally {
                        seq,
                        deliberation,
                        tally_json,
                        signature,
                        arrived_at,
                    } => {
                        if may(&deliberation) {
                            size += tally_json.len();
                            entries.push(LogEntry::Tally {
                                seq,
                                tally: SignedTally {
                                    tally_json,
                                    signature,
                                },
                                arrived_at,
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
                        arrived_at,
                        origin,
                    } => {
                        let mut bytes_of: HashMap<[u8; 32], (String, Vec<u8>)> =
                            changes.into_iter().map(|(e, h, b)| (h, (e, b))).collect();
                        if &author != device {
                            let mut items = vec![];
                            let mut any = false;
                            for (e, h) in pairs {
                                match bytes_of.remove(&h) {
                                    Some((eid, b)) if may(&eid) => {
                                        size += b.len() + BatchPairs::PAIR_BYTES;
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
                                    // a copy is served at its original's position: the
                                    // author is judged in the roster as it was then
                                    seq: origin,
                                    batch: SignedBatch {
                                        author,
                                        signed_at,
                                        items,
                                        signature,
                                    },
                                    arrived_at,
                                });
                            }
                        }
                        cur = seq;
                    }
                }
                if size >= budget {
                    // more only when this member has more to read: a row of the
                    // index after this one, or a key that came back full
                    more = i + 1 < n || bound < last;
                    if !more {
                        cur = last;
                    }
                    break 'outer;
                }
            }
            cur = bound;
        }
        Ok((entries, cur, more))
    }
}
