//! Group commit of log appends, for both storages (SQLite `db.rs`, PostgreSQL `pg.rs`):
//! the batches of syncs that arrive together are appended in one transaction, with one
//! commit (one fsync, one WAL flush), instead of one each. Each sync's append still
//! waits until the transaction holding it is committed, so nothing is acknowledged
//! before it is durable; the storage runs each batch of a shared transaction in its own
//! savepoint, so one that fails fails alone. The service holds each space's lock around
//! its append (across relay nodes on PostgreSQL: `lock_space`), so the batches of one
//! transaction are of different spaces, which never wait for each other's locks; they
//! share the commit.
//!
//! Leader and followers: a sync that finds no commit under way leads: it opens what the
//! transaction is written on (the writer connection), then takes every append queued by
//! then, and commits them; appends queued meanwhile are the next round's (the leader
//! runs rounds until none is left). This module only queues and hands out results; the
//! storages write the transactions.

use crate::db::Result;
use crate::error::RelayError;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// The queue of appends waiting for a transaction, of items `T` (a space and a batch).
pub(crate) struct GroupCommit<T> {
    state: Mutex<State<T>>,
    /// Transactions committed and batches appended through them (tests, metrics).
    pub(crate) commits: AtomicU64,
    pub(crate) appended: AtomicU64,
}

impl<T> Default for GroupCommit<T> {
    fn default() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                queue: vec![],
                leading: false,
            }),
            commits: AtomicU64::new(0),
            appended: AtomicU64::new(0),
        }
    }
}

struct State<T> {
    queue: Vec<(T, Arc<Slot>)>,
    leading: bool,
}

/// Where a follower waits for its append's result.
#[derive(Default)]
struct Slot {
    result: Mutex<Option<Result<u64>>>,
    ready: Condvar,
}

impl Slot {
    fn put(&self, r: Result<u64>) {
        *self.result.lock() = Some(r);
        self.ready.notify_all();
    }
    fn wait(&self) -> Result<u64> {
        let mut r = self.result.lock();
        loop {
            if let Some(v) = r.take() {
                return v;
            }
            self.ready.wait(&mut r);
        }
    }
}

impl<T> GroupCommit<T> {
    /// Queue `item` and return its log position once the transaction holding it is
    /// committed. When no commit is under way this thread leads: `open` gives what a
    /// transaction is written on (taken before the queue, so that what arrives while
    /// the previous transaction is written joins the next), and `commit` writes the
    /// items in one transaction, returning one result per item in order, or an error
    /// when the transaction as a whole was not committed (then no item is stored).
    pub(crate) fn submit<C>(
        &self,
        item: T,
        mut open: impl FnMut() -> Result<C>,
        mut commit: impl FnMut(&mut C, &[T]) -> Result<Vec<Result<u64>>>,
    ) -> Result<u64> {
        let done = Arc::new(Slot::default());
        {
            let mut st = self.state.lock();
            st.queue.push((item, done.clone()));
            if st.leading {
                drop(st);
                return done.wait();
            }
            st.leading = true;
        }
        // should a storage panic, the followers of that round are told, and the next
        // append leads again
        struct Lead<'a, T>(&'a GroupCommit<T>, Vec<Arc<Slot>>);
        impl<T> Drop for Lead<'_, T> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    for s in self.1.drain(..) {
                        s.put(Err(RelayError::Storage(
                            "the log append was not committed: the relay's writer failed".into(),
                        )));
                    }
                    self.0.state.lock().leading = false;
                }
            }
        }
        let mut lead = Lead(self, vec![]);
        loop {
            let target = open();
            let (items, slots): (Vec<T>, Vec<Arc<Slot>>) = {
                let mut st = self.state.lock();
                if st.queue.is_empty() {
                    st.leading = false;
                    break;
                }
                std::mem::take(&mut st.queue).into_iter().unzip()
            };
            lead.1 = slots;
            let outcome = target.and_then(|mut c| commit(&mut c, &items));
            let outcome = outcome.and_then(|r| {
                if r.len() == items.len() {
                    Ok(r)
                } else {
                    Err(RelayError::Storage(format!(
                        "a group commit returned {} results for {} appends",
                        r.len(),
                        items.len()
                    )))
                }
            });
            match outcome {
                Ok(results) => {
                    self.commits.fetch_add(1, Relaxed);
                    self.appended
                        .fetch_add(results.iter().filter(|r| r.is_ok()).count() as u64, Relaxed);
                    for (s, r) in lead.1.drain(..).zip(results) {
                        s.put(r);
                    }
                }
                Err(e) => {
                    for s in lead.1.drain(..) {
                        s.put(Err(not_committed(&e)));
                    }
                }
            }
        }
        drop(lead);
        done.wait()
    }

    /// Appends waiting for a transaction (tests).
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.state.lock().queue.len()
    }
}

/// What every append of a transaction that was not committed is told: a full or
/// read-only database stays that (507), anything else is a storage error.
fn not_committed(e: &RelayError) -> RelayError {
    match e {
        RelayError::Full(m) => RelayError::Full(m.clone()),
        e => RelayError::Storage(format!("the log append was not committed: {e}")),
    }
}
