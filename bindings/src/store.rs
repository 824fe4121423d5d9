//! `CunwuStore`, the object an app holds: one per store file, every method a line
//! that converts records and delegates to `cunwu_core::Store`. Everything here is
//! synchronous (a local SQLite transaction, milliseconds); network work is in `sync`.
//!
//! Opening the same path twice in one process returns handles to the same core store,
//! so a WorkManager / BGTaskScheduler job (`syncOnce(path)`) and the app's screens
//! share one connection and the screens' observers hear what the job merged.

use crate::error::{CunwuError, Result};
use crate::records::*;
use cunwu_core::words::{read_aloud, Lang};
use cunwu_core::Store;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Weak};

/// Told which entities changed, after the change is committed: by this device
/// (origin Local) or by sync or a bundle (origin Remote). Called on the thread that
/// made the change, possibly a background sync thread: hop to the UI thread yourself.
#[uniffi::export(callback_interface)]
pub trait StoreObserver: Send + Sync {
    fn entities_changed(&self, changes: Vec<EntityChange>);
}

/// Adapts a foreign observer to core's `Observer`. A foreign observer that throws
/// does not fail or undo the write that it was told about.
struct ObserverAdapter(Box<dyn StoreObserver>);

impl cunwu_core::store::Observer for ObserverAdapter {
    fn entities_changed(&self, changes: &[cunwu_core::store::EntityChange]) {
        let list = changes.to_vec();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.0.entities_changed(list)
        }));
    }
}

/// Stores open in this process, by absolute path.
static OPEN: LazyLock<Mutex<HashMap<PathBuf, Weak<Store>>>> = LazyLock::new(Default::default);

/// The open core store for `path`, opening it if no handle in this process holds it.
pub(crate) fn open_shared(path: &str) -> Result<Arc<Store>> {
    let key = std::path::absolute(path)
        .map_err(|e| CunwuError::Storage(format!("store path {path:?}: {e}")))?;
    let mut open = OPEN.lock();
    if let Some(s) = open.get(&key).and_then(Weak::upgrade) {
        return Ok(s);
    }
    let s = Arc::new(Store::open(&key)?);
    open.retain(|_, w| w.strong_count() > 0);
    open.insert(key, Arc::downgrade(&s));
    Ok(s)
}

/// A device's store: one SQLite file holding this phone's identity, membership,
/// documents, outbox and list tables. Safe to share between threads.
#[derive(uniffi::Object)]
pub struct CunwuStore {
    pub(crate) inner: Arc<Store>,
}

#[uniffi::export]
impl CunwuStore {
    /// Open (or create) the store at `path`. On Android use
    /// `File(context.noBackupFilesDir, "cunwu.db").path`; on iOS
    /// `CunwuPaths.defaultStore()`. Both keep the file out of backups: it holds this
    /// device's private key, which must not be restored onto another phone.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>> {
        Ok(Arc::new(CunwuStore {
            inner: open_shared(&path)?,
        }))
    }

    // ---- identity and space ------------------------------------------------------

    /// This device's id (hex of its Ed25519 public key).
    pub fn device_id(&self) -> String {
        self.inner.device_id()
    }

    pub fn path(&self) -> String {
        self.inner.path().display().to_string()
    }

    /// The space this device joined, or null before `enroll`.
    pub fn membership(&self) -> Result<Option<Membership>> {
        Ok(self.inner.membership()?.map(Into::into))
    }

    /// The member this device acts for.
    pub fn me(&self) -> Result<Member> {
        Ok(self.inner.me()?)
    }

    pub fn roster(&self) -> Result<Roster> {
        Ok(self.inner.roster()?.into())
    }

    /// The request kinds this space offers (`social_assistance`, `certificate`, ...).
    pub fn request_kinds(&self) -> Vec<String> {
        self.inner.request_kinds()
    }

    // ---- observers -----------------------------------------------------------------

    /// Be told of every committed change; returns an id for `unsubscribe`.
    pub fn subscribe(&self, observer: Box<dyn StoreObserver>) -> u64 {
        self.inner.subscribe(Arc::new(ObserverAdapter(observer)))
    }

    pub fn unsubscribe(&self, subscription: u64) {
        self.inner.unsubscribe(subscription)
    }

    // ---- notices -------------------------------------------------------------------

    /// Post a notice (cadres); returns its id.
    pub fn post_notice(&self, notice: NewNotice) -> Result<String> {
        Ok(self.inner.post_notice(notice.into())?)
    }

    pub fn notice(&self, id: String) -> Result<Notice> {
        Ok(self.inner.notice(&id)?.into())
    }

    pub fn edit_notice_draft(&self, id: String, content: NoticeContent) -> Result<()> {
        Ok(self.inner.edit_notice_draft(&id, content)?)
    }

    pub fn publish_notice(&self, id: String) -> Result<()> {
        Ok(self.inner.publish_notice(&id)?)
    }

    /// Publish a corrected revision; earlier revisions stay readable.
    pub fn correct_notice(&self, id: String, content: NoticeContent, reason: String) -> Result<()> {
        Ok(self.inner.correct_notice(&id, content, &reason)?)
    }

    pub fn withdraw_notice(&self, id: String, reason: String) -> Result<()> {
        Ok(self.inner.withdraw_notice(&id, &reason)?)
    }

    /// Ask a question on a notice; returns the question id.
    pub fn ask_question(&self, notice_id: String, text: String) -> Result<String> {
        Ok(self.inner.ask_question(&notice_id, &text)?)
    }

    pub fn answer_question(
        &self,
        notice_id: String,
        question_id: String,
        text: String,
    ) -> Result<()> {
        Ok(self
            .inner
            .answer_question(&notice_id, &question_id, &text)?)
    }

    /// Mark the current revision read; returns its number.
    pub fn mark_read(&self, notice_id: String) -> Result<u32> {
        Ok(self.inner.mark_read(&notice_id)?)
    }

    pub fn list_notices(&self, filter: NoticeFilter) -> Result<Vec<NoticeSummary>> {
        Ok(self.inner.list_notices(&filter.into())?)
    }

    /// Sign off a draft finance disclosure (a supervision committee member; 民主理财).
    pub fn review_notice(&self, id: String, note: String) -> Result<()> {
        Ok(self.inner.review_notice(&id, &note)?)
    }

    // ---- 四议两公开 -----------------------------------------------------------------

    /// Record a major matter (cadres); returns its id.
    pub fn create_matter(&self, title: String, body: String) -> Result<String> {
        Ok(self.inner.create_matter(&title, &body)?)
    }

    /// Record the next step of a matter (cadres); refused out of order.
    pub fn record_matter_step(&self, id: String, step: StepInput) -> Result<()> {
        Ok(self.inner.record_matter_step(&id, step)?)
    }

    pub fn matter(&self, id: String) -> Result<Matter> {
        Ok(self.inner.matter(&id)?)
    }

    pub fn list_matters(&self, limit: u32, offset: u32) -> Result<Vec<MatterSummary>> {
        Ok(self.inner.list_matters(limit, offset)?)
    }

    // ---- the party branch ----------------------------------------------------------

    /// Create an activity of the party branch (cadres); returns its id.
    pub fn create_party_activity(&self, activity: NewActivity) -> Result<String> {
        Ok(self.inner.create_party_activity(activity)?)
    }

    /// Sign a person in: the secretary for anyone, a party member for themselves (online).
    pub fn sign_in_party_activity(
        &self,
        id: String,
        person: String,
        mode: SignInMode,
    ) -> Result<()> {
        Ok(self.inner.sign_in_party_activity(&id, &person, mode)?)
    }

    pub fn mark_party_absent(&self, id: String, person: String, reason: String) -> Result<()> {
        Ok(self.inner.mark_party_absent(&id, &person, &reason)?)
    }

    pub fn write_party_minutes(&self, id: String, text: String) -> Result<()> {
        Ok(self.inner.write_party_minutes(&id, &text)?)
    }

    pub fn party_activity(&self, id: String) -> Result<Activity> {
        Ok(self.inner.party_activity(&id)?)
    }

    /// Activities of one year (village time), or all when `year` is null.
    pub fn list_party_activities(&self, year: Option<i32>) -> Result<Vec<ActivitySummary>> {
        Ok(self.inner.list_party_activities(year)?)
    }

    /// A person's attendance over one year's activities (present, online, absent).
    pub fn party_attendance(&self, person: String, year: i32) -> Result<YearAttendance> {
        Ok(self.inner.party_attendance(&person, year)?)
    }

    // ---- service requests ----------------------------------------------------------

    /// File a service request; returns its id.
    pub fn file_request(&self, request: NewRequest) -> Result<String> {
        Ok(self.inner.file_request(request)?)
    }

    /// The request as this device sees it (cadres also see internal comments).
    pub fn request(&self, id: String) -> Result<ServiceRequest> {
        Ok(self.inner.request(&id)?)
    }

    /// Move a request along its lifecycle (cadres accept/resolve; the filer withdraws/reopens).
    pub fn transition_request(&self, id: String, to: Status, note: String) -> Result<()> {
        Ok(self.inner.transition_request(&id, to, &note)?)
    }

    /// Comment on a request; `internal` comments are for cadres only.
    pub fn comment_request(&self, id: String, text: String, internal: bool) -> Result<()> {
        Ok(self.inner.comment_request(&id, &text, internal)?)
    }

    pub fn assign_request(&self, id: String, assignee_member_id: String) -> Result<()> {
        Ok(self.inner.assign_request(&id, &assignee_member_id)?)
    }

    /// Expected completion date, `YYYY-MM-DD`.
    pub fn set_request_expected(&self, id: String, date: String) -> Result<()> {
        Ok(self.inner.set_request_expected(&id, &date)?)
    }

    pub fn set_request_materials(&self, id: String, materials: Vec<Material>) -> Result<()> {
        Ok(self.inner.set_request_materials(&id, materials)?)
    }

    pub fn edit_request_description(&self, id: String, description: String) -> Result<()> {
        Ok(self.inner.edit_request_description(&id, &description)?)
    }

    /// Rate a resolved request, 1 to 5 stars.
    pub fn rate_request(&self, id: String, stars: u8, text: String) -> Result<()> {
        Ok(self.inner.rate_request(&id, stars, &text)?)
    }

    pub fn list_requests(&self, filter: RequestFilter) -> Result<Vec<RequestSummary>> {
        Ok(self.inner.list_requests(&filter.into())?)
    }

    // ---- deliberations -------------------------------------------------------------

    /// Create a deliberation (cadres); returns its id.
    pub fn create_deliberation(&self, deliberation: NewDeliberation) -> Result<String> {
        Ok(self.inner.create_deliberation(deliberation)?)
    }

    pub fn deliberation(&self, id: String) -> Result<Deliberation> {
        Ok(self.inner.deliberation(&id)?.into())
    }

    /// Open voting; eligibility is snapshotted from the roster now.
    pub fn open_voting(&self, id: String) -> Result<()> {
        Ok(self.inner.open_voting(&id)?)
    }

    pub fn comment_deliberation(&self, id: String, text: String) -> Result<()> {
        Ok(self.inner.comment_deliberation(&id, &text)?)
    }

    pub fn close_deliberation(&self, id: String) -> Result<()> {
        Ok(self.inner.close_deliberation(&id)?)
    }

    /// Cast (or re-cast) this member's ballot; the last one before the close counts.
    pub fn cast_ballot(&self, deliberation_id: String, option: u32) -> Result<()> {
        Ok(self.inner.cast_ballot(&deliberation_id, option)?)
    }

    /// This member's counted ballot, if any.
    pub fn my_ballot(&self, deliberation_id: String) -> Result<Option<Ballot>> {
        Ok(self
            .inner
            .my_ballot(&deliberation_id)?
            .map(|option| Ballot {
                deliberation_id,
                option,
            }))
    }

    // ---- the register of villagers and the hall -------------------------------------

    /// Add a person to the register (cadres); returns the person's id.
    pub fn register_add(&self, details: PersonDetails) -> Result<String> {
        Ok(self.inner.register_add(details)?)
    }

    /// Correct a person's record (`details` is the whole record as it now stands).
    pub fn register_amend(&self, person: String, details: PersonDetails) -> Result<()> {
        Ok(self.inner.register_amend(&person, details)?)
    }

    /// Record that a person moved away or died on `on` (YYYY-MM-DD).
    pub fn register_leave(&self, person: String, reason: Departure, on: String) -> Result<()> {
        Ok(self.inner.register_leave(&person, reason, &on)?)
    }

    /// Everyone on the register, in register order, with their history (empty on a
    /// phone that may not read it).
    pub fn persons(&self) -> Result<Vec<Person>> {
        Ok(self.inner.persons()?)
    }

    /// Name the persons who record ballots in the hall besides cadres.
    pub fn name_tellers(&self, deliberation_id: String, persons: Vec<String>) -> Result<()> {
        Ok(self.inner.name_tellers(&deliberation_id, persons)?)
    }

    /// A teller records a paper ballot a person cast in the hall (it wins over the
    /// person's online ballot; a person counts once).
    pub fn record_ballot(
        &self,
        deliberation_id: String,
        person: String,
        option: u32,
    ) -> Result<()> {
        Ok(self
            .inner
            .record_ballot(&deliberation_id, &person, option)?)
    }

    /// A teller records that a person attended (counts toward the quorum).
    pub fn record_attendance(&self, deliberation_id: String, person: String) -> Result<()> {
        Ok(self.inner.record_attendance(&deliberation_id, &person)?)
    }

    /// Put a matter forward for a meeting (this phone must be linked to a person on the
    /// register); returns the proposal's id.
    pub fn propose(&self, title: String, body: String, meeting: DecidingBody) -> Result<String> {
        Ok(self.inner.propose(&title, &body, meeting)?)
    }

    /// Support a proposal, as the person this phone is linked to.
    pub fn co_sign(&self, proposal_id: String) -> Result<()> {
        Ok(self.inner.co_sign(&proposal_id)?)
    }

    pub fn withdraw_proposal(&self, proposal_id: String) -> Result<()> {
        Ok(self.inner.withdraw_proposal(&proposal_id)?)
    }

    /// A cadre takes a proposal up and calls the meeting.
    pub fn take_up_proposal(
        &self,
        proposal_id: String,
        deliberation_id: Option<String>,
        note: String,
    ) -> Result<()> {
        Ok(self
            .inner
            .take_up_proposal(&proposal_id, deliberation_id, &note)?)
    }

    /// One proposal with its support (on a cadre's phone: whether the meeting is due).
    pub fn proposal(&self, proposal_id: String) -> Result<ProposalView> {
        Ok(self.inner.proposal(&proposal_id)?)
    }

    pub fn proposals(&self) -> Result<Vec<ProposalView>> {
        Ok(self.inner.proposals()?)
    }

    /// Adults on the register who have not read a notice, by group and household.
    pub fn not_read(&self, notice_id: String) -> Result<FollowUpList> {
        Ok(self.inner.not_read(&notice_id)?)
    }

    /// Persons of a vote's electorate not known to have voted or attended.
    pub fn not_voted(&self, deliberation_id: String) -> Result<FollowUpList> {
        Ok(self.inner.not_voted(&deliberation_id)?)
    }

    /// The result this member may see now (`Store::visible_tally`: the model's one
    /// rule); `NotAllowed` with the reason while it is hidden.
    pub fn tally(&self, deliberation_id: String) -> Result<Tally> {
        match self.inner.visible_tally(&deliberation_id)? {
            cunwu_core::model::deliberation::VisibleResult::Shown(t) => Ok(t.into()),
            cunwu_core::model::deliberation::VisibleResult::Hidden(why) => {
                Err(CunwuError::NotAllowed(why.reason().into()))
            }
        }
    }

    #[uniffi::method(default(limit = 0, offset = 0))]
    pub fn list_deliberations(&self, limit: u32, offset: u32) -> Result<Vec<DeliberationSummary>> {
        Ok(self
            .inner
            .list_deliberations(limit, offset)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    // ---- badges, search, outbox, bundles -------------------------------------------

    pub fn counts(&self) -> Result<Counts> {
        Ok(self.inner.counts()?)
    }

    /// Full-text search (finds two-character words such as 低保 or 修路). `limit` 0: 50.
    #[uniffi::method(default(limit = 0))]
    pub fn search(&self, query: String, limit: u32) -> Result<Vec<SearchHit>> {
        Ok(self.inner.search(&query, limit)?)
    }

    /// Changes made on this device, newest first, optionally only those in `state`.
    #[uniffi::method(default(state = None, limit = 100))]
    pub fn local_changes(
        &self,
        state: Option<ChangeState>,
        limit: u32,
    ) -> Result<Vec<LocalChange>> {
        Ok(self.inner.local_changes(state, limit)?)
    }

    /// Write everything this device holds to a bundle file (share sheet, Bluetooth,
    /// SD card) for a phone with no signal; returns its size in bytes.
    pub fn export_bundle(&self, path: String) -> Result<u64> {
        Ok(cunwu_core::bundle::export(
            &self.inner,
            path.as_ref(),
            None,
        )?)
    }

    /// Import a bundle file; it is checked exactly like what the relay sends.
    pub fn import_bundle(&self, path: String) -> Result<ImportReport> {
        Ok(cunwu_core::bundle::import(&self.inner, path.as_ref())?.into())
    }

    // ---- attachments (issue 12) ----------------------------------------------------

    /// Attach files (photo, voice note, scan: by path) to a request, notice or
    /// deliberation; `to` names a comment or question of it, `line` a finance line (from
    /// 0). The files are copied into the store; they upload on the next sync, after the
    /// documents. Returns the references (`hash` is the content address).
    #[uniffi::method(default(to = None, line = None))]
    pub fn attach_files(
        &self,
        entity_id: String,
        paths: Vec<String>,
        to: Option<String>,
        line: Option<u32>,
    ) -> Result<Vec<Attachment>> {
        let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
        Ok(self.inner.attach(&entity_id, &paths, to, line)?)
    }

    /// An entity's attachments with their state on this phone (pending, uploading with
    /// bytes done, uploaded, not downloaded, downloading, downloaded, failed with the reason).
    pub fn attachments(&self, entity_id: String) -> Result<Vec<AttachmentView>> {
        Ok(self.inner.attachments(&entity_id)?)
    }

    /// What is still on the way: attachments and bytes ("2 photos on the way (1.3 MB left)").
    pub fn attachments_pending(&self) -> Result<PendingBlobs> {
        let (count, bytes) = self.inner.blobs_pending()?;
        Ok(PendingBlobs { count, bytes })
    }

    /// The most bytes of others' attachments this phone keeps; beyond it the least
    /// recently used are removed (fetched again when opened). Never this phone's own
    /// attachments before they are uploaded.
    pub fn set_attachment_budget(&self, bytes: u64) -> Result<()> {
        Ok(self.inner.set_blob_budget(bytes)?)
    }

    // ---- read aloud (issue 14) -----------------------------------------------------

    /// The notice as a short paragraph for the phone's text-to-speech: its category and
    /// title, when it was published (or that it is a draft, corrected, withdrawn), a
    /// finance notice's period and totals, open questions, the start of the body. In
    /// Chinese every figure is in words (amounts, dates, numbers in the title).
    pub fn read_notice_aloud(&self, id: String, lang: Lang, now_ms: i64) -> Result<String> {
        Ok(read_aloud::read_notice(
            lang,
            &self.inner.notice(&id)?,
            now_ms,
        ))
    }

    /// The request read aloud: what it is, when it was filed, its status with the plain
    /// explanation, the village's latest note, the expected date, what is still needed.
    pub fn read_request_aloud(&self, id: String, lang: Lang, now_ms: i64) -> Result<String> {
        Ok(read_aloud::read_request(
            lang,
            &self.inner.request(&id)?,
            now_ms,
        ))
    }

    /// The vote read aloud: the deciding body and title, the phase and its deadline, and
    /// the result this member may see (as `tally`: why it is hidden, or the turnout, the
    /// votes per option, the outcome, provisional or final). Whether the result may be
    /// seen is judged on this device's clock, as `tally` judges it; `now_ms` says when.
    pub fn read_vote_aloud(&self, id: String, lang: Lang, now_ms: i64) -> Result<String> {
        let d = self.inner.deliberation(&id)?;
        let result = self.inner.visible_tally(&id)?;
        Ok(read_aloud::read_vote(lang, &d, &result, now_ms))
    }

    // ---- healing -------------------------------------------------------------------

    /// Check the store for damage and fix it: damaged entities are set aside and
    /// fetched again by the next sync (which pulls everything again from the relay),
    /// missing outbox rows are re-derived, lists are rebuilt. Safe to call any time
    /// (e.g. from a "repair" button in settings); nothing the relay holds is lost.
    pub fn repair(&self) -> Result<RepairReport> {
        Ok(self.inner.repair()?.into())
    }
}
