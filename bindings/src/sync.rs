//! Network work: enrolment, invites, sync, the background sync handle and the
//! one-shot `syncOnce` for WorkManager / BGTaskScheduler. These are the only async
//! entry points. They run on one tokio runtime owned by this crate (two worker
//! threads), so the foreground `sync()`, the background loop and `syncOnce` share one
//! HTTP connection pool; the foreign side (Kotlin coroutine, Swift task, Python
//! asyncio) only awaits the result. A sync abandoned half way (a cancelled coroutine,
//! a stopped handle) is safe: changes are content-addressed and the cursor is saved
//! per page, so the next sync resumes where this one left off.

use crate::error::{CunwuError, Result};
use crate::records::{
    BlobProgress, BlobReport, Invite, Membership, Role, SyncProgress, SyncReport,
};
use crate::store::{open_shared, CunwuStore};
use cunwu_core::store::BlobObserver;
use cunwu_core::sync::{ProgressObserver, SyncClient};
use cunwu_core::Store;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Attempts (with backoff, on network errors only) for background and one-shot syncs.
const ATTEMPTS: u32 = 3;

/// The stack of the threads that run sync and merge (512 KiB).
const SYNC_THREAD_STACK: usize = 512 * 1024;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cunwu-net")
        // what iOS gives a secondary thread: sync and merge must fit in it (the depth of
        // every document is bounded by the policy, see core's doc.rs)
        .thread_stack_size(SYNC_THREAD_STACK)
        .enable_all()
        .build()
        .expect("cunwu: cannot start the tokio runtime")
});

static CLIENT: LazyLock<SyncClient> = LazyLock::new(SyncClient::default);

/// Run `f` on the crate's runtime; the caller's executor just awaits the handle.
async fn on_runtime<T: Send + 'static>(
    f: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    RUNTIME
        .spawn(f)
        .await
        .map_err(|e| CunwuError::Internal(format!("sync task failed: {e}")))?
}

/// Told how a sync goes. Every sync it watches ends with exactly one call to
/// `completed` or `failed`. Called on a background thread.
#[uniffi::export(callback_interface)]
pub trait SyncObserver: Send + Sync {
    /// After each page of the relay's answer is applied.
    fn progress(&self, progress: SyncProgress);
    fn completed(&self, report: SyncReport);
    /// `error` is the readable message of the `CunwuError` the sync ended with.
    fn failed(&self, error: String);
}

/// Told how an attachment's transfer goes (bytes done of its size), on a background thread.
#[uniffi::export(callback_interface)]
pub trait AttachmentObserver: Send + Sync {
    fn progress(&self, progress: BlobProgress);
}

struct BlobAdapter(Arc<dyn AttachmentObserver>);

impl BlobObserver for BlobAdapter {
    fn progress(&self, p: &BlobProgress) {
        guarded(|| self.0.progress(p.clone()))
    }
}

/// A foreign callback that throws must not break the sync it observes.
fn guarded(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

struct ProgressAdapter(Arc<dyn SyncObserver>);

impl ProgressObserver for ProgressAdapter {
    fn progress(&self, p: &cunwu_core::sync::SyncProgress) {
        guarded(|| self.0.progress(p.clone()))
    }
}

/// One sync (`attempts` > 1: with retries), reported to the observer.
async fn observed_sync(
    store: Arc<Store>,
    attempts: u32,
    obs: Option<Arc<dyn SyncObserver>>,
) -> Result<SyncReport> {
    let progress = obs
        .clone()
        .map(|o| Arc::new(ProgressAdapter(o)) as Arc<dyn ProgressObserver>);
    let result = match attempts {
        0 | 1 => CLIENT.sync_once(&store, progress).await,
        n => CLIENT.sync_with_retry(&store, n, progress).await,
    };
    let result = result.map_err(CunwuError::from);
    match (&obs, &result) {
        (Some(o), Ok(r)) => guarded(|| o.completed(r.clone())),
        (Some(o), Err(e)) => guarded(|| o.failed(e.to_string())),
        _ => {}
    }
    result
}

#[uniffi::export]
impl CunwuStore {
    /// Join a space: redeem `invite` at the relay, which registers this device's key;
    /// the relay's key is pinned from now on.
    pub async fn enroll(
        &self,
        relay_url: String,
        invite: String,
        name: String,
    ) -> Result<Membership> {
        let s = self.inner.clone();
        on_runtime(async move { Ok(CLIENT.enroll(&s, &relay_url, &invite, &name).await?.into()) })
            .await
    }

    /// One sync now: send the outbox, receive what others did. One attempt; a
    /// `CunwuError.Network` leaves everything in the outbox for the next sync.
    #[uniffi::method(default(observer = None))]
    pub async fn sync(&self, observer: Option<Box<dyn SyncObserver>>) -> Result<SyncReport> {
        on_runtime(observed_sync(
            self.inner.clone(),
            1,
            observer.map(Arc::from),
        ))
        .await
    }

    /// The attachment lane, after `sync`: upload this phone's attachments, download
    /// voice notes and photos this member may read (documents wait to be opened). One
    /// failing attachment never stops the others; see `failed` in the report.
    #[uniffi::method(default(observer = None))]
    pub async fn sync_attachments(
        &self,
        observer: Option<Box<dyn AttachmentObserver>>,
    ) -> Result<BlobReport> {
        let s = self.inner.clone();
        let obs = observer.map(|o| Arc::new(BlobAdapter(o.into())) as Arc<dyn BlobObserver>);
        on_runtime(async move { Ok(CLIENT.sync_blobs(&s, obs).await?) }).await
    }

    /// Fetch one attachment now (a document being opened), resuming a partial
    /// download, and copy it to `out_path`. Progress goes to the observer.
    #[uniffi::method(default(observer = None))]
    pub async fn fetch_attachment(
        &self,
        hash: String,
        out_path: String,
        observer: Option<Box<dyn AttachmentObserver>>,
    ) -> Result<()> {
        let s = self.inner.clone();
        let obs = observer.map(|o| Arc::new(BlobAdapter(o.into())) as Arc<dyn BlobObserver>);
        on_runtime(async move {
            CLIENT.fetch_attachment(&s, &hash, obs).await?;
            Ok(s.export_attachment(&hash, out_path.as_ref())?)
        })
        .await
    }

    /// A cadre asks the relay for an invite code for a new member.
    pub async fn create_invite(
        &self,
        role: Role,
        household: String,
        group: String,
    ) -> Result<Invite> {
        let s = self.inner.clone();
        on_runtime(async move {
            Ok(CLIENT
                .create_invite(&s, role, &household, &group)
                .await?
                .into())
        })
        .await
    }

    /// An invite that enrols a person on the register (`person`: their id), with the
    /// migrant flag and where they live.
    pub async fn create_invite_for_person(
        &self,
        role: Role,
        person: String,
        migrant: bool,
        lives_in: Option<String>,
    ) -> Result<Invite> {
        let s = self.inner.clone();
        on_runtime(async move {
            let enrols = cunwu_core::wire::control::InviteFor {
                person: Some(person),
                migrant,
                lives_in,
            };
            Ok(CLIENT
                .create_invite_for(&s, role, "", "", enrols)
                .await?
                .into())
        })
        .await
    }

    /// A cadre revokes a device (hex key) or a member (id, with all their devices).
    pub async fn revoke(&self, target: String) -> Result<()> {
        let s = self.inner.clone();
        on_runtime(async move { Ok(CLIENT.revoke(&s, &target).await?) }).await
    }

    /// Sync now and then every `interval_secs` (at least 1) while the app runs, until
    /// the handle is stopped or dropped. For syncs while the app is not running use
    /// `syncOnce` from WorkManager / BGTaskScheduler.
    #[uniffi::method(default(observer = None))]
    pub fn start_background_sync(
        &self,
        interval_secs: u64,
        observer: Option<Box<dyn SyncObserver>>,
    ) -> Arc<BackgroundSync> {
        BackgroundSync::start(
            self.inner.clone(),
            Duration::from_secs(interval_secs.max(1)),
            observer.map(Arc::from),
        )
    }
}

/// A running background sync loop. Stopping abandons a sync in flight (safe) and
/// starts no more; dropping the handle stops it too.
#[derive(uniffi::Object)]
pub struct BackgroundSync {
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl BackgroundSync {
    fn start(store: Arc<Store>, every: Duration, obs: Option<Arc<dyn SyncObserver>>) -> Arc<Self> {
        let (stop, mut stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let woken = wake.clone();
        let task = RUNTIME.spawn(async move {
            loop {
                tokio::select! {
                    _ = observed_sync(store.clone(), ATTEMPTS, obs.clone()) => {}
                    _ = stopped.changed() => break,
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = woken.notified() => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Arc::new(BackgroundSync { stop, wake, task })
    }
}

#[uniffi::export]
impl BackgroundSync {
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Sync now instead of at the next tick (connectivity returned, app foregrounded).
    pub fn sync_now(&self) {
        self.wake.notify_one();
    }

    /// False once the loop has ended after `stop`.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// One sync of the store file at `db_path`, retried a few times on network errors:
/// the entry point for Android WorkManager and iOS BGTaskScheduler jobs. Uses the
/// app's open store when this process has one (its observers hear what arrives).
#[uniffi::export]
pub async fn sync_once(db_path: String) -> Result<SyncReport> {
    on_runtime(async move { observed_sync(open_shared(&db_path)?, ATTEMPTS, None).await }).await
}
