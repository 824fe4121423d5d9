//! The records and enums that cross the FFI, with their conversions to and from
//! core's types. Core stays free of FFI derives (uniffi 0.28 has no remote types), so
//! each type here mirrors one in core field for field; the conversions are the only
//! logic in this file. Doc comments travel into the generated Kotlin, Swift and Python.

use crate::error::{CunwuError, Result};
use cunwu_core::model::deliberation as cd;
use cunwu_core::model::notice as cn;
use cunwu_core::model::request as cr;
use cunwu_core::store as cs;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;

// ---- helpers ---------------------------------------------------------------------

/// Convert every element; works for `From` (infallible) and `TryFrom<Error = CunwuError>`.
pub(crate) fn convert<A, B>(v: Vec<A>) -> Result<Vec<B>>
where
    B: TryFrom<A>,
    CunwuError: From<B::Error>,
{
    v.into_iter()
        .map(|a| B::try_from(a).map_err(CunwuError::from))
        .collect()
}

fn map<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

/// The snake_case name core stores in projection rows (`"in_progress"`).
fn wire_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// The enum a projection row's snake_case name stands for.
fn from_wire_name<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| CunwuError::Internal(format!("unexpected value {s:?} in the store")))
}

/// Declare an FFI enum with the same unit variants as a core enum, both conversions.
macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident = $core:ident { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl From<$core> for $name {
            fn from(x: $core) -> Self { match x { $($core::$v => $name::$v),+ } }
        }
        impl From<$name> for $core {
            fn from(x: $name) -> Self { match x { $($name::$v => $core::$v),+ } }
        }
    };
}

// ---- enums -----------------------------------------------------------------------

use cd::{DecidingBody as CoreDecidingBody, Phase as CorePhase};
use cn::{
    Category as CoreCategory, Direction as CoreDirection, NoticeStatus as CoreNoticeStatus,
    PeriodKind as CorePeriodKind, Subtype as CoreSubtype,
};
use cr::Status as CoreStatus;
use cs::{ChangeState as CoreChangeState, Origin as CoreOrigin};
use cunwu_core::{EntityKind as CoreEntityKind, Role as CoreRole};

mirror_enum!(
    /// 党务 / 村务 / 财务 notices.
    NoticeCategory = CoreCategory { Party, Village, Finance }
);
mirror_enum!(
    NoticeSubtype = CoreSubtype {
        Resolution,
        Implementation,
        ReliefFunds,
        SubsidyList,
        Homestead,
        LandContract,
        WorkAllowance,
        QuarterlyAccounts,
        Other
    }
);
mirror_enum!(
    PeriodKind = CorePeriodKind {
        Monthly,
        Quarterly,
        AdHoc
    }
);
mirror_enum!(
    /// Whether a finance line is money in or money out.
    Direction = CoreDirection { Income, Expense }
);
mirror_enum!(
    NoticeStatus = CoreNoticeStatus {
        Draft,
        Published,
        Corrected,
        Withdrawn
    }
);
mirror_enum!(
    /// A service request's status, derived from its transitions.
    RequestStatus = CoreStatus { Submitted, Accepted, InProgress, Referred, Resolved, Rejected, Withdrawn, Reopened }
);
mirror_enum!(
    Role = CoreRole {
        Resident,
        VillagerRep,
        PartyMember,
        Cadre,
        Township
    }
);
mirror_enum!(
    /// Who decides a deliberation; fixes eligibility and quorum.
    DecidingBody = CoreDecidingBody { VillagersMeeting, VillagerReps, HouseholdReps, PartyMembers, GroupMeeting, ConsultationOnly }
);
mirror_enum!(
    DeliberationPhase = CorePhase {
        Discussion,
        Voting,
        Closed
    }
);
mirror_enum!(
    EntityKind = CoreEntityKind {
        Notice,
        Request,
        RequestNotes,
        Deliberation,
        Ballot
    }
);
mirror_enum!(
    /// Whether a change was made on this device or arrived from elsewhere (sync, bundle).
    ChangeOrigin = CoreOrigin { Local, Remote }
);
mirror_enum!(
    /// What became of a change made on this device.
    ChangeState = CoreChangeState { Pending, Sent, Acked, Rejected }
);

// ---- space -----------------------------------------------------------------------

/// An entity that changed, as told to a `StoreObserver`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EntityChange {
    pub id: String,
    pub kind: EntityKind,
    pub origin: ChangeOrigin,
}

impl From<&cs::EntityChange> for EntityChange {
    fn from(c: &cs::EntityChange) -> Self {
        EntityChange {
            id: c.id.clone(),
            kind: c.kind.into(),
            origin: c.origin.into(),
        }
    }
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

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub household: String,
    pub group: String,
    pub migrant: bool,
    pub household_rep: bool,
    pub party: bool,
    pub revoked: bool,
}

impl From<cunwu_core::Member> for Member {
    fn from(m: cunwu_core::Member) -> Self {
        Member {
            id: m.id,
            name: m.name,
            role: m.role.into(),
            household: m.household,
            group: m.group,
            migrant: m.migrant,
            household_rep: m.household_rep,
            party: m.party,
            revoked: m.revoked,
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
            members: map(r.members),
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

// ---- notices ---------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Period {
    pub kind: PeriodKind,
    /// `YYYY-MM-DD`.
    #[uniffi(default = None)]
    pub start: Option<String>,
    #[uniffi(default = None)]
    pub end: Option<String>,
}

impl From<cn::Period> for Period {
    fn from(p: cn::Period) -> Self {
        Period {
            kind: p.kind.into(),
            start: p.start,
            end: p.end,
        }
    }
}

impl From<Period> for cn::Period {
    fn from(p: Period) -> Self {
        cn::Period {
            kind: p.kind.into(),
            start: p.start,
            end: p.end,
        }
    }
}

/// One line of a finance notice. Money is integer fen (1 yuan = 100 fen).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FinanceLine {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub direction: Direction,
    /// One of the collective accounting categories (经营收入, 管理费用, ...).
    pub account: String,
    pub item: String,
    pub amount_fen: i64,
    #[uniffi(default = "")]
    pub payee_or_dept: String,
    #[uniffi(default = "")]
    pub voucher_no: String,
}

impl From<cn::FinanceLine> for FinanceLine {
    fn from(l: cn::FinanceLine) -> Self {
        FinanceLine {
            date: l.date,
            direction: l.direction.into(),
            account: l.account,
            item: l.item,
            amount_fen: l.amount_fen,
            payee_or_dept: l.payee_or_dept,
            voucher_no: l.voucher_no,
        }
    }
}

impl From<FinanceLine> for cn::FinanceLine {
    fn from(l: FinanceLine) -> Self {
        cn::FinanceLine {
            date: l.date,
            direction: l.direction.into(),
            account: l.account,
            item: l.item,
            amount_fen: l.amount_fen,
            payee_or_dept: l.payee_or_dept,
            voucher_no: l.voucher_no,
        }
    }
}

/// What one revision of a notice says.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NoticeContent {
    pub title: String,
    pub body: String,
    #[uniffi(default = None)]
    pub opening_balance_fen: Option<i64>,
    #[uniffi(default = [])]
    pub lines: Vec<FinanceLine>,
}

impl From<cn::NoticeContent> for NoticeContent {
    fn from(c: cn::NoticeContent) -> Self {
        NoticeContent {
            title: c.title,
            body: c.body,
            opening_balance_fen: c.opening_balance_fen,
            lines: map(c.lines),
        }
    }
}

impl From<NoticeContent> for cn::NoticeContent {
    fn from(c: NoticeContent) -> Self {
        cn::NoticeContent {
            title: c.title,
            body: c.body,
            opening_balance_fen: c.opening_balance_fen,
            lines: map(c.lines),
        }
    }
}

/// A notice to post. `publish = false` keeps a draft.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewNotice {
    pub category: NoticeCategory,
    pub subtype: NoticeSubtype,
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
            category: n.category.into(),
            subtype: n.subtype.into(),
            period: n.period.map(Into::into).unwrap_or_default(),
            title: n.title,
            body: n.body,
            opening_balance_fen: n.opening_balance_fen,
            lines: map(n.lines),
            publish: n.publish,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct FinanceTotals {
    pub opening_fen: i64,
    pub income_fen: i64,
    pub expense_fen: i64,
    pub closing_fen: i64,
}

impl From<cn::FinanceTotals> for FinanceTotals {
    fn from(t: cn::FinanceTotals) -> Self {
        FinanceTotals {
            opening_fen: t.opening_fen,
            income_fen: t.income_fen,
            expense_fen: t.expense_fen,
            closing_fen: t.closing_fen,
        }
    }
}

/// A published revision; corrections add one and keep the earlier ones readable.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Revision {
    pub number: u32,
    pub content: NoticeContent,
    pub by: String,
    pub at: i64,
    /// Why it was corrected (empty for the first revision).
    pub reason: String,
}

impl From<cn::Revision> for Revision {
    fn from(r: cn::Revision) -> Self {
        Revision {
            number: r.number,
            content: r.content.into(),
            by: r.by,
            at: r.at,
            reason: r.reason,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Answer {
    pub by: String,
    pub at: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Question {
    pub id: String,
    pub by: String,
    pub at: i64,
    pub text: String,
    /// When a reply is due (UTC ms).
    pub due_at: i64,
    pub answers: Vec<Answer>,
}

impl From<cn::Question> for Question {
    fn from(q: cn::Question) -> Self {
        Question {
            id: q.id,
            by: q.by,
            at: q.at,
            text: q.text,
            due_at: q.due_at,
            answers: q
                .answers
                .into_iter()
                .map(|a| Answer {
                    by: a.by,
                    at: a.at,
                    text: a.text,
                })
                .collect(),
        }
    }
}

/// A notice with its whole history. Times are UTC milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Notice {
    pub id: String,
    pub category: NoticeCategory,
    pub subtype: NoticeSubtype,
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
    pub updated_at: i64,
}

impl From<cn::Notice> for Notice {
    fn from(n: cn::Notice) -> Self {
        Notice {
            id: n.id,
            category: n.category.into(),
            subtype: n.subtype.into(),
            period: n.period.into(),
            status: n.status.into(),
            created_by: n.created_by,
            created_at: n.created_at,
            content: n.content.into(),
            totals: n.totals.map(Into::into),
            revisions: map(n.revisions),
            withdrawn_reason: n.withdrawn_reason,
            questions: map(n.questions),
            read_by: n.read_by.into_iter().collect(),
            updated_at: n.updated_at,
        }
    }
}

/// Which notices a list shows. Every field has a default: `NoticeFilter()` lists all.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NoticeFilter {
    #[uniffi(default = None)]
    pub category: Option<NoticeCategory>,
    #[uniffi(default = None)]
    pub status: Option<NoticeStatus>,
    #[uniffi(default = false)]
    pub unread_only: bool,
    /// 0 means the default page of 50; at most 500.
    #[uniffi(default = 0)]
    pub limit: u32,
    #[uniffi(default = 0)]
    pub offset: u32,
}

impl From<NoticeFilter> for cs::NoticeFilter {
    fn from(f: NoticeFilter) -> Self {
        cs::NoticeFilter {
            category: f.category.map(|c| wire_name(&CoreCategory::from(c))),
            status: f
                .status
                .map(|s| CoreNoticeStatus::from(s).as_str().to_string()),
            unread_only: f.unread_only,
            limit: f.limit,
            offset: f.offset,
        }
    }
}

/// A row of the notice list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NoticeSummary {
    pub id: String,
    pub category: NoticeCategory,
    pub subtype: NoticeSubtype,
    pub title: String,
    pub status: NoticeStatus,
    pub revision: u32,
    pub published_at: Option<i64>,
    pub updated_at: i64,
    pub closing_fen: Option<i64>,
    pub open_questions: u32,
    /// This member has read the current revision.
    pub read: bool,
}

impl TryFrom<cs::NoticeSummary> for NoticeSummary {
    type Error = CunwuError;
    fn try_from(n: cs::NoticeSummary) -> Result<Self> {
        Ok(NoticeSummary {
            id: n.id,
            category: from_wire_name::<CoreCategory>(&n.category)?.into(),
            subtype: from_wire_name::<CoreSubtype>(&n.subtype)?.into(),
            title: n.title,
            status: from_wire_name::<CoreNoticeStatus>(&n.status)?.into(),
            revision: n.revision,
            published_at: n.published_at,
            updated_at: n.updated_at,
            closing_fen: n.closing_fen,
            open_questions: n.open_questions,
            read: n.read,
        })
    }
}

// ---- service requests ------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Place {
    pub text: String,
    #[uniffi(default = None)]
    pub lat: Option<f64>,
    #[uniffi(default = None)]
    pub lon: Option<f64>,
}

impl From<cr::Place> for Place {
    fn from(p: cr::Place) -> Self {
        Place {
            text: p.text,
            lat: p.lat,
            lon: p.lon,
        }
    }
}

impl From<Place> for cr::Place {
    fn from(p: Place) -> Self {
        cr::Place {
            text: p.text,
            lat: p.lat,
            lon: p.lon,
        }
    }
}

/// A document the filer must bring (户口本, 身份证...).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Material {
    pub name: String,
    #[uniffi(default = false)]
    pub provided: bool,
}

impl From<cr::Material> for Material {
    fn from(m: cr::Material) -> Self {
        Material {
            name: m.name,
            provided: m.provided,
        }
    }
}

impl From<Material> for cr::Material {
    fn from(m: Material) -> Self {
        cr::Material {
            name: m.name,
            provided: m.provided,
        }
    }
}

/// A request to file. `kind` is one of `CunwuStore.requestKinds()`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NewRequest {
    pub kind: String,
    pub title: String,
    pub description: String,
    #[uniffi(default = None)]
    pub place: Option<Place>,
    /// The member it is for, when a cadre files on someone's behalf.
    #[uniffi(default = None)]
    pub on_behalf_of: Option<String>,
    #[uniffi(default = [])]
    pub materials: Vec<Material>,
}

impl From<NewRequest> for cs::NewRequest {
    fn from(r: NewRequest) -> Self {
        cs::NewRequest {
            kind: r.kind,
            title: r.title,
            description: r.description,
            place: r.place.map(Into::into),
            on_behalf_of: r.on_behalf_of,
            materials: map(r.materials),
        }
    }
}

/// One step in a request's history. `applied` is false when the step arrived in
/// conflict with another (two cadres acting offline) and did not change the status.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Transition {
    pub from: RequestStatus,
    pub to: RequestStatus,
    pub by: String,
    pub at: i64,
    pub note: String,
    pub applied: bool,
}

impl From<cr::TransitionRecord> for Transition {
    fn from(t: cr::TransitionRecord) -> Self {
        Transition {
            from: t.from.into(),
            to: t.to.into(),
            by: t.by,
            at: t.at,
            note: t.note,
            applied: t.applied,
        }
    }
}

/// A comment on a request; `internal` ones are seen by cadres only.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Comment {
    pub id: String,
    pub by: String,
    pub at: i64,
    pub text: String,
    pub internal: bool,
}

impl From<cr::Comment> for Comment {
    fn from(c: cr::Comment) -> Self {
        Comment {
            id: c.id,
            by: c.by,
            at: c.at,
            text: c.text,
            internal: c.internal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Rating {
    pub stars: u8,
    pub text: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    pub sha256: String,
    pub mime: String,
    pub bytes: i64,
}

/// A service request with its history.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ServiceRequest {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub place: Option<Place>,
    pub filer: String,
    /// The member who entered it, when a cadre filed on the filer's behalf.
    pub filed_by: Option<String>,
    pub created_at: i64,
    pub status: RequestStatus,
    pub transitions: Vec<Transition>,
    pub assignee: Option<String>,
    pub expected_by: Option<String>,
    pub materials: Vec<Material>,
    pub attachments: Vec<Attachment>,
    pub comments: Vec<Comment>,
    pub rating: Option<Rating>,
    pub updated_at: i64,
}

impl From<cr::ServiceRequest> for ServiceRequest {
    fn from(r: cr::ServiceRequest) -> Self {
        ServiceRequest {
            id: r.id,
            kind: r.kind,
            title: r.title,
            description: r.description,
            place: r.place.map(Into::into),
            filer: r.filer,
            filed_by: r.filed_by,
            created_at: r.created_at,
            status: r.status.into(),
            transitions: map(r.transitions),
            assignee: r.assignee,
            expected_by: r.expected_by,
            materials: map(r.materials),
            attachments: r
                .attachments
                .into_iter()
                .map(|a| Attachment {
                    sha256: a.sha256,
                    mime: a.mime,
                    bytes: a.bytes,
                })
                .collect(),
            comments: map(r.comments),
            rating: r.rating.map(|x| Rating {
                stars: x.stars,
                text: x.text,
                at: x.at,
            }),
            updated_at: r.updated_at,
        }
    }
}

/// Which requests a list shows. Every field has a default: `RequestFilter()` lists all.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequestFilter {
    #[uniffi(default = None)]
    pub kind: Option<String>,
    #[uniffi(default = None)]
    pub status: Option<RequestStatus>,
    #[uniffi(default = None)]
    pub assignee: Option<String>,
    /// Filed by or for this device's member.
    #[uniffi(default = false)]
    pub mine: bool,
    /// Leave out resolved, rejected and withdrawn requests.
    #[uniffi(default = false)]
    pub open_only: bool,
    #[uniffi(default = 0)]
    pub limit: u32,
    #[uniffi(default = 0)]
    pub offset: u32,
}

impl From<RequestFilter> for cs::RequestFilter {
    fn from(f: RequestFilter) -> Self {
        cs::RequestFilter {
            kind: f.kind,
            status: f.status.map(|s| CoreStatus::from(s).as_str().to_string()),
            assignee: f.assignee,
            mine: f.mine,
            open_only: f.open_only,
            limit: f.limit,
            offset: f.offset,
        }
    }
}

/// A row of the request list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RequestSummary {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub status: RequestStatus,
    pub filer: String,
    pub filed_by: Option<String>,
    pub assignee: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub rating: Option<u8>,
}

impl TryFrom<cs::RequestSummary> for RequestSummary {
    type Error = CunwuError;
    fn try_from(r: cs::RequestSummary) -> Result<Self> {
        Ok(RequestSummary {
            id: r.id,
            kind: r.kind,
            title: r.title,
            status: CoreStatus::parse(&r.status)?.into(),
            filer: r.filer,
            filed_by: r.filed_by,
            assignee: r.assignee,
            created_at: r.created_at,
            updated_at: r.updated_at,
            rating: r.rating,
        })
    }
}

// ---- deliberations and ballots ---------------------------------------------------

/// A deliberation to open for discussion (and a vote, unless consultation only).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewDeliberation {
    pub title: String,
    pub body: String,
    pub deciding_body: DecidingBody,
    /// At least two for a vote.
    pub options: Vec<String>,
    /// UTC ms.
    pub opens_at: i64,
    /// UTC ms; after `opens_at`.
    pub closes_at: i64,
    /// The group (村民小组) of a group meeting.
    #[uniffi(default = None)]
    pub group: Option<String>,
    #[uniffi(default = false)]
    pub secret: bool,
    #[uniffi(default = false)]
    pub hide_results: bool,
}

impl From<NewDeliberation> for cs::NewDeliberation {
    fn from(d: NewDeliberation) -> Self {
        cs::NewDeliberation {
            title: d.title,
            body: d.body,
            deciding_body: d.deciding_body.into(),
            options: d.options,
            group: d.group,
            secret: d.secret,
            hide_results: d.hide_results,
            opens_at: d.opens_at,
            closes_at: d.closes_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeliberationComment {
    pub id: String,
    pub by: String,
    pub at: i64,
    pub text: String,
}

/// A deliberation; `phase` is computed at the moment it is read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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
    pub comments: Vec<DeliberationComment>,
    pub updated_at: i64,
    pub phase: DeliberationPhase,
}

impl From<cd::Deliberation> for Deliberation {
    fn from(d: cd::Deliberation) -> Self {
        let phase = d.phase(cunwu_core::ids::now_ms()).into();
        Deliberation {
            id: d.id,
            title: d.title,
            body: d.body,
            deciding_body: d.deciding_body.into(),
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
            comments: d
                .comments
                .into_iter()
                .map(|c| DeliberationComment {
                    id: c.id,
                    by: c.by,
                    at: c.at,
                    text: c.text,
                })
                .collect(),
            updated_at: d.updated_at,
            phase,
        }
    }
}

/// A row of the deliberation list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeliberationSummary {
    pub id: String,
    pub title: String,
    pub deciding_body: DecidingBody,
    pub phase: DeliberationPhase,
    pub opens_at: i64,
    pub closes_at: i64,
    /// This member has cast a ballot.
    pub voted: bool,
}

impl TryFrom<cs::DeliberationSummary> for DeliberationSummary {
    type Error = CunwuError;
    fn try_from(d: cs::DeliberationSummary) -> Result<Self> {
        Ok(DeliberationSummary {
            id: d.id,
            title: d.title,
            deciding_body: from_wire_name::<CoreDecidingBody>(&d.deciding_body)?.into(),
            phase: from_wire_name::<CorePhase>(&d.status)?.into(),
            opens_at: d.opens_at,
            closes_at: d.closes_at,
            voted: d.voted,
        })
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
    /// Member id → option, for recorded (not secret) ballots.
    pub roll: HashMap<String, u32>,
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
        }
    }
}

// ---- queries ---------------------------------------------------------------------

/// Badge counts for this device's member.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Counts {
    pub unread_notices: u32,
    pub open_requests: u32,
    pub my_open_requests: u32,
    pub assigned_to_me: u32,
    pub open_votes_not_cast: u32,
    /// Changes made here that the relay has not acknowledged yet.
    pub pending_changes: u32,
    pub rejected_changes: u32,
}

impl From<cs::Counts> for Counts {
    fn from(c: cs::Counts) -> Self {
        Counts {
            unread_notices: c.unread_notices,
            open_requests: c.open_requests,
            my_open_requests: c.my_open_requests,
            assigned_to_me: c.assigned_to_me,
            open_votes_not_cast: c.open_votes_not_cast,
            pending_changes: c.pending_changes,
            rejected_changes: c.rejected_changes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SearchHit {
    pub id: String,
    pub kind: EntityKind,
    pub title: String,
    /// Lower is better.
    pub rank: f64,
}

impl TryFrom<cs::SearchHit> for SearchHit {
    type Error = CunwuError;
    fn try_from(h: cs::SearchHit) -> Result<Self> {
        Ok(SearchHit {
            id: h.id,
            kind: CoreEntityKind::parse(&h.kind)?.into(),
            title: h.title,
            rank: h.rank,
        })
    }
}

/// A change made on this device and what became of it (rejected ones carry the reason).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LocalChange {
    pub hash: String,
    pub entity_id: String,
    pub kind: EntityKind,
    pub summary: String,
    pub state: ChangeState,
    pub reason: Option<String>,
    pub created_at: i64,
}

impl TryFrom<cs::LocalChange> for LocalChange {
    type Error = CunwuError;
    fn try_from(c: cs::LocalChange) -> Result<Self> {
        Ok(LocalChange {
            hash: c.hash,
            entity_id: c.entity_id,
            kind: CoreEntityKind::parse(&c.kind)?.into(),
            summary: c.summary,
            state: c.state.into(),
            reason: c.reason,
            created_at: c.created_at,
        })
    }
}

// ---- sync ------------------------------------------------------------------------

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Local changes sent.
    pub sent: u32,
    /// Local changes the relay acknowledged.
    pub acked: u32,
    /// Changes from others applied here.
    pub received: u32,
    /// Local changes the relay rejected (reasons in `rejections`, and in `localChanges`).
    pub rejected: u32,
    /// Incoming changes this device refused (signature or policy).
    pub refused_incoming: u32,
    pub round_trips: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub cursor: u64,
    pub rejections: Vec<String>,
}

impl From<cunwu_core::sync::SyncReport> for SyncReport {
    fn from(r: cunwu_core::sync::SyncReport) -> Self {
        SyncReport {
            sent: r.sent,
            acked: r.acked,
            received: r.received,
            rejected: r.rejected,
            refused_incoming: r.refused_incoming,
            round_trips: r.round_trips,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            cursor: r.cursor,
            rejections: r.rejections,
        }
    }
}

/// Progress of a sync, after each page of the relay's answer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncProgress {
    pub page: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub received: u32,
    /// The last page has been applied.
    pub done: bool,
}

impl From<&cunwu_core::sync::SyncProgress> for SyncProgress {
    fn from(p: &cunwu_core::sync::SyncProgress) -> Self {
        SyncProgress {
            page: p.page,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            received: p.received,
            done: p.done,
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
        }
    }
}
