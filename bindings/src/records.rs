//! The records that must differ from core's for apps; every other record and enum the
//! FFI carries is core's own, derived behind core's `uniffi` feature. Why each is here:
//! `Notice`, `Tally`: a `BTreeMap` (uniffi 0.28 carries `HashMap`); `Deliberation`,
//! `DeliberationSummary`: the phase computed when read; `Membership`, `Roster`: the relay
//! key and device list kept back; `NoticeFilter`, `RequestFilter`, `NewNotice`: typed,
//! defaulted inputs where core takes names or a non-optional period; `Invite`, `Ballot`,
//! `ImportReport`, `RepairReport`: shapes of their own. Doc comments reach the apps.

use cunwu_core::model::deliberation as cd;
use cunwu_core::model::notice as cn;
use cunwu_core::store as cs;
use std::collections::HashMap;

// Core's types as they cross (the facades add app names: bindings/app-names.txt).
pub use cd::{DComment, DecidingBody, Phase};
pub use cn::{
    Category, Direction, FinanceLine, FinanceTotals, NoticeContent, NoticeStatus, Period,
    PeriodKind, Question, Revision, Subtype,
};
pub use cs::{ActivitySummary, MatterSummary, NewActivity};
pub use cs::{AttachmentState, AttachmentView, BlobProgress, BlobReport};
pub use cs::{
    ChangeState, Counts, EntityChange, FollowUpList, FollowUpPerson, LocalChange, NewDeliberation,
    NewRequest, NoticeSummary, Origin, ProposalView, RequestSummary, SearchHit,
};
pub use cunwu_core::model::attachment::{Attached, Attachment, Kind as AttachmentKind};
pub use cunwu_core::model::branch::{
    Activity, ActivityKind, AttendanceRecord, Minutes, SignInMode, YearAttendance,
};
pub use cunwu_core::model::matter::{
    Attendance, Matter, MatterStatus, Outcome, Stage, StepInput, StepRecord,
};
pub use cunwu_core::model::proposal::{Proposal, ProposalStatus, Support};
pub use cunwu_core::model::register::{
    Departure, Person, PersonDetails, PersonRevision, PersonStatus,
};
pub use cunwu_core::model::request::{Material, ServiceRequest, Status};
pub use cunwu_core::sync::{SyncProgress, SyncReport};
pub use cunwu_core::{EntityKind, Member, Role};

/// The enum of a core name (`"in_progress"`): the strings core's filters take.
fn wire_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// This device's place in a space, set when it enrolls.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Membership {
    pub space_id: String,
    pub space_name: String,
    pub member_id: String,
    pub relay_url: String,
}
impl From<cs::Membership> for Membership {
    fn from(m: cs::Membership) -> Self {
        Membership {
            space_id: m.space_id,
            space_name: m.space_name,
            member_id: m.member_id,
            relay_url: m.relay_url,
        }
    }
}

/// The members of the space, as signed by its relay.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Roster {
    pub space_id: String,
    pub space_name: String,
    pub version: u64,
    pub members: Vec<Member>,
}
impl From<cunwu_core::Roster> for Roster {
    fn from(r: cunwu_core::Roster) -> Self {
        Roster {
            space_id: r.space_id,
            space_name: r.space_name,
            version: r.version,
            members: r.members,
        }
    }
}

/// An invite code a cadre hands to a new member.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Invite {
    pub code: String,
    pub expires_at: i64,
}
impl From<cunwu_core::wire::control::InviteResponse> for Invite {
    fn from(i: cunwu_core::wire::control::InviteResponse) -> Self {
        Invite {
            code: i.invite,
            expires_at: i.expires_at,
        }
    }
}

/// A notice to post. `publish = false` keeps a draft.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewNotice {
    pub category: Category,
    pub subtype: Subtype,
    pub title: String,
    pub body: String,
    /// Ad hoc when absent.
    #[uniffi(default = None)]
    pub period: Option<Period>,
    #[uniffi(default = None)]
    pub opening_balance_fen: Option<i64>,
    #[uniffi(default = [])]
    pub lines: Vec<FinanceLine>,
    #[uniffi(default = true)]
    pub publish: bool,
}
impl From<NewNotice> for cs::NewNotice {
    fn from(n: NewNotice) -> Self {
        cs::NewNotice {
            category: n.category,
            subtype: n.subtype,
            period: n.period.unwrap_or_default(),
            title: n.title,
            body: n.body,
            opening_balance_fen: n.opening_balance_fen,
            lines: n.lines,
            publish: n.publish,
        }
    }
}

/// A notice with its whole history. Times are UTC milliseconds.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Notice {
    pub id: String,
    pub category: Category,
    pub subtype: Subtype,
    pub period: Period,
    pub status: NoticeStatus,
    pub created_by: String,
    pub created_at: i64,
    /// The current text: the draft while a draft, else the latest revision.
    pub content: NoticeContent,
    pub totals: Option<FinanceTotals>,
    pub revisions: Vec<Revision>,
    pub withdrawn_reason: Option<String>,
    pub questions: Vec<Question>,
    /// Member id → highest revision read.
    pub read_by: HashMap<String, u32>,
    /// Who on the supervision committee signed off the text (民主理财).
    pub reviewed_by: Vec<cn::Review>,
    /// Scans and photos of the notice, its finance lines and its questions.
    pub attachments: Vec<Attached>,
    pub updated_at: i64,
}
impl From<cn::Notice> for Notice {
    fn from(n: cn::Notice) -> Self {
        Notice {
            id: n.id,
            category: n.category,
            subtype: n.subtype,
            period: n.period,
            status: n.status,
            created_by: n.created_by,
            created_at: n.created_at,
            content: n.content,
            totals: n.totals,
            revisions: n.revisions,
            withdrawn_reason: n.withdrawn_reason,
            questions: n.questions,
            read_by: n.read_by.into_iter().collect(),
            reviewed_by: n.reviewed_by,
            attachments: n.attachments,
            updated_at: n.updated_at,
        }
    }
}

fn order(recent_activity: bool) -> cs::ListOrder {
    if recent_activity {
        cs::ListOrder::Recent
    } else {
        cs::ListOrder::Newest
    }
}

/// Which notices a list shows. Every field has a default: `NoticeFilter()` lists all.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NoticeFilter {
    #[uniffi(default = None)]
    pub category: Option<Category>,
    #[uniffi(default = None)]
    pub status: Option<NoticeStatus>,
    #[uniffi(default = false)]
    pub unread_only: bool,
    /// Latest activity first (reads, questions, corrections) instead of newest published first.
    #[uniffi(default = false)]
    pub recent_activity: bool,
    /// 0 means the default page of 50; at most 500.
    #[uniffi(default = 0)]
    pub limit: u32,
    #[uniffi(default = 0)]
    pub offset: u32,
}
impl From<NoticeFilter> for cs::NoticeFilter {
    fn from(f: NoticeFilter) -> Self {
        cs::NoticeFilter {
            category: f.category.as_ref().map(wire_name),
            status: f.status.as_ref().map(wire_name),
            unread_only: f.unread_only,
            order: order(f.recent_activity),
            limit: f.limit,
            offset: f.offset,
        }
    }
}

/// Which requests a list shows. Every field has a default: `RequestFilter()` lists all.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequestFilter {
    #[uniffi(default = None)]
    pub kind: Option<String>,
    #[uniffi(default = None)]
    pub status: Option<Status>,
    #[uniffi(default = None)]
    pub assignee: Option<String>,
    /// Filed by or for this device's member.
    #[uniffi(default = false)]
    pub mine: bool,
    /// Leave out resolved, rejected and withdrawn requests.
    #[uniffi(default = false)]
    pub open_only: bool,
    /// Latest activity first (transitions, comments) instead of newest filed first.
    #[uniffi(default = false)]
    pub recent_activity: bool,
    #[uniffi(default = 0)]
    pub limit: u32,
    #[uniffi(default = 0)]
    pub offset: u32,
}
impl From<RequestFilter> for cs::RequestFilter {
    fn from(f: RequestFilter) -> Self {
        cs::RequestFilter {
            kind: f.kind,
            status: f.status.as_ref().map(wire_name),
            assignee: f.assignee,
            mine: f.mine,
            open_only: f.open_only,
            order: order(f.recent_activity),
            limit: f.limit,
            offset: f.offset,
        }
    }
}

/// A deliberation; `phase` is computed at the moment it is read.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Deliberation {
    pub id: String,
    pub title: String,
    pub body: String,
    pub deciding_body: DecidingBody,
    pub options: Vec<String>,
    pub group: Option<String>,
    pub secret: bool,
    pub hide_results: bool,
    pub opens_at: i64,
    pub closes_at: i64,
    pub created_by: String,
    pub created_at: i64,
    pub opened_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// Members who may vote (snapshot taken when voting opened).
    pub eligible: Vec<String>,
    /// In a vote over the register: the persons who may vote (empty: the members).
    pub persons: Vec<String>,
    /// Persons named as tellers (cadres are tellers too).
    pub tellers: Vec<String>,
    pub comments: Vec<DComment>,
    /// Documents of the proposal and photos or recordings of comments.
    pub attachments: Vec<Attached>,
    pub updated_at: i64,
    pub phase: Phase,
}
impl From<cd::Deliberation> for Deliberation {
    fn from(d: cd::Deliberation) -> Self {
        Deliberation {
            phase: d.phase(cunwu_core::ids::now_ms()),
            id: d.id,
            title: d.title,
            body: d.body,
            deciding_body: d.deciding_body,
            options: d.options,
            group: d.group,
            secret: d.secret,
            hide_results: d.hide_results,
            opens_at: d.opens_at,
            closes_at: d.closes_at,
            created_by: d.created_by,
            created_at: d.created_at,
            opened_at: d.opened_at,
            closed_at: d.closed_at,
            eligible: d.eligible,
            persons: d.persons,
            tellers: d.tellers,
            comments: d.comments,
            attachments: d.attachments,
            updated_at: d.updated_at,
        }
    }
}

/// A row of the deliberation list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeliberationSummary {
    pub id: String,
    pub title: String,
    pub deciding_body: DecidingBody,
    pub phase: Phase,
    pub opens_at: i64,
    pub closes_at: i64,
    /// This member has cast a ballot.
    pub voted: bool,
}
impl From<cs::DeliberationSummary> for DeliberationSummary {
    fn from(d: cs::DeliberationSummary) -> Self {
        DeliberationSummary {
            id: d.id,
            title: d.title,
            deciding_body: d.deciding_body,
            phase: d.status,
            opens_at: d.opens_at,
            closes_at: d.closes_at,
            voted: d.voted,
        }
    }
}

/// This member's counted ballot in a deliberation.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Ballot {
    pub deliberation_id: String,
    /// Index into the deliberation's options.
    pub option: u32,
}

/// The count of a deliberation's vote.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Tally {
    pub deliberation_id: String,
    pub eligible: u32,
    pub participants: u32,
    /// Votes per option, in option order.
    pub counts: Vec<u32>,
    pub quorum_met: bool,
    /// The option chosen by more than half of those taking part, if quorum was met.
    pub decided: Option<u32>,
    /// The vote is over; counts will not change.
    pub final_result: bool,
    /// Member id → option, for recorded (not secret) ballots (person id → option in a
    /// vote over the register).
    pub roll: HashMap<String, u32>,
    /// In a vote over the register: persons counted from a record in the hall.
    pub in_hall: u32,
}
impl From<cd::Tally> for Tally {
    fn from(t: cd::Tally) -> Self {
        Tally {
            deliberation_id: t.deliberation,
            eligible: t.eligible,
            participants: t.participants,
            counts: t.counts,
            quorum_met: t.quorum_met,
            decided: t.decided,
            final_result: t.final_result,
            roll: t.roll.into_iter().collect(),
            in_hall: t.in_hall,
        }
    }
}

/// What importing a bundle file did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportReport {
    pub applied: u32,
    pub duplicates: u32,
    /// Waiting for changes they depend on (kept; applied when those arrive).
    pub parked: u32,
    /// Changes refused by signature or policy, with the reason.
    pub refused: Vec<String>,
    /// Attachments the bundle carried, checked against their content address.
    pub attachments: u32,
}
impl From<cs::ReceiveReport> for ImportReport {
    fn from(r: cs::ReceiveReport) -> Self {
        let m = r.merge;
        ImportReport {
            applied: m.applied as u32,
            duplicates: m.duplicates as u32,
            parked: m.parked as u32,
            refused: m
                .rejected
                .into_iter()
                .map(|(id, _, why)| format!("{id}: {why}"))
                .chain(r.bad_batches)
                .collect(),
            attachments: r.attachments as u32,
        }
    }
}

/// What `CunwuStore.repair()` found and did, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RepairReport {
    /// Every problem the integrity check found (empty: no damage).
    pub problems: Vec<String>,
    /// "entity id: reason" of entities set aside to be fetched again.
    pub quarantined: Vec<String>,
    /// Local changes whose outbox row was re-derived (they will be sent).
    pub outbox_restored: u32,
    /// "change hash: reason" of local changes that can never be sent.
    pub lost: Vec<String>,
    /// The next sync fetches everything again from the relay.
    pub full_pull_requested: bool,
    /// Problems left after the repair (they clear with the next sync).
    pub remaining: Vec<String>,
}
impl From<cs::RepairReport> for RepairReport {
    fn from(r: cs::RepairReport) -> Self {
        RepairReport {
            problems: r.before.problems(),
            quarantined: r
                .quarantined
                .into_iter()
                .map(|(e, why)| format!("{e}: {why}"))
                .collect(),
            outbox_restored: r.outbox_restored as u32,
            lost: r
                .lost
                .into_iter()
                .map(|(h, why)| format!("{h}: {why}"))
                .collect(),
            full_pull_requested: r.full_pull_requested,
            remaining: r.after.problems(),
        }
    }
}

/// Attachments still to upload or download, and their bytes.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingBlobs {
    pub count: u32,
    pub bytes: u64,
}
