//! The catalogue of words (issue 14, "One catalogue of labels in core"): every label,
//! explanation and sentence a person reads or hears, in Simplified Chinese (the
//! default) and English, kept as Project Fluent messages in `core/locales/<lang>/*.ftl`
//! and embedded in the library (`include_str!`), so the CLI, the apps (through the FFI)
//! and the read-aloud paragraphs say the same thing the same way. Code never holds a
//! string a person reads; it names a message.
//!
//! - [`Labelled`]: every domain enum a person sees names its message (an exhaustive
//!   `match`, so a new variant fails the build until it has an id). The message's value
//!   is the short [`label`], its `.explain` attribute the one plain sentence
//!   ([`explain`]), its `.spoken` attribute what text-to-speech says ([`spoken`]).
//! - [`text`]: any other sentence, by message id, with arguments.
//!
//! A bundle per language is built once ([`OnceLock`]) and formatting is a lookup and
//! a walk over a parsed pattern. Fluent's Unicode isolation marks around placeables
//! are turned off: terminals and TTS get clean text. A message id that is missing
//! never panics in a release build: the id itself is returned (and a debug build
//! asserts, so tests catch it).

use crate::model::branch::{ActivityKind, SignInMode};
use crate::model::deliberation::{DecidingBody, Hidden, Phase, ResultView};
use crate::model::matter::{MatterStatus, Outcome, Stage};
use crate::model::notice::{Category, Direction, NoticeStatus, PeriodKind, Subtype};
use crate::model::proposal::ProposalStatus;
use crate::model::register::{Departure, PersonStatus};
use crate::model::request::{Status, DEFAULT_KINDS};
use crate::model::EntityKind;
use crate::roster::Role;
use crate::store::ChangeState;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::borrow::Cow;
use std::sync::OnceLock;

/// The language words are put in. Simplified Chinese is the default: what a cadre, a
/// resident and a CI log see unless someone asks for English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// "zh", "zh-CN", "zh_Hans", "en", "en-US", "EN"... (a language tag or a POSIX
    /// locale name such as "en_US.UTF-8"); `None` for any other language.
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim();
        let primary = s
            .split(['-', '_', '.', '@'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "zh" | "cmn" | "chinese" => Some(Lang::Zh),
            "en" | "english" => Some(Lang::En),
            _ => None,
        }
    }

    /// The BCP 47 tag ("zh-CN", "en-US").
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en-US",
        }
    }
}

/// A value a person sees, with the catalogue message that puts it into words.
pub trait Labelled {
    /// The Fluent message id of this value (`request-status-accepted`).
    fn word_id(&self) -> &'static str;
    /// Arguments of the message (the name of a request kind outside the catalogue).
    fn word_args(&self) -> Vec<(&'static str, Arg<'_>)> {
        vec![]
    }
}

/// An argument of a message: text or a whole number (numbers select plural forms).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    Text(Cow<'a, str>),
    Int(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(Cow::Borrowed(s))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(Cow::Borrowed(s))
    }
}
impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Arg::Text(Cow::Owned(s))
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg<'_> {
            fn from(n: $t) -> Self {
                Arg::Int(n as i64)
            }
        }
    )*};
}
int_arg!(i64, i32, u32, u8, u16, usize, u64);

impl<'a> Arg<'a> {
    fn to_fluent(&self) -> FluentValue<'_> {
        match self {
            Arg::Text(s) => FluentValue::from(s.as_ref()),
            Arg::Int(n) => FluentValue::from(*n),
        }
    }
}

/// The message files of one language, in the order they are added to its bundle.
macro_rules! locale_files {
    ($lang:literal) => {
        [
            (
                "labels",
                include_str!(concat!("../../locales/", $lang, "/labels.ftl")),
            ),
            (
                "dates",
                include_str!(concat!("../../locales/", $lang, "/dates.ftl")),
            ),
            (
                "read_aloud",
                include_str!(concat!("../../locales/", $lang, "/read_aloud.ftl")),
            ),
            (
                "cli",
                include_str!(concat!("../../locales/", $lang, "/cli.ftl")),
            ),
        ]
    };
}

const ZH_FILES: [(&str, &str); 4] = locale_files!("zh");
const EN_FILES: [(&str, &str); 4] = locale_files!("en");

/// The FTL sources of `lang` (name, text): for tests and tools that list message ids.
pub fn sources(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Zh => &ZH_FILES,
        Lang::En => &EN_FILES,
    }
}

type Bundle = FluentBundle<FluentResource>;

fn build(lang: Lang) -> Bundle {
    let tag = lang.tag().parse().expect("a valid language tag");
    let mut bundle = Bundle::new_concurrent(vec![tag]);
    bundle.set_use_isolating(false);
    for (name, src) in sources(lang) {
        // The files are part of the library and parsed by a test; a syntax error in
        // one would drop only the broken entries, so it cannot take every word away.
        let res = match FluentResource::try_new(src.to_string()) {
            Ok(r) => r,
            Err((r, errs)) => {
                debug_assert!(false, "{lang:?}/{name}.ftl does not parse: {errs:?}");
                r
            }
        };
        if let Err(errs) = bundle.add_resource(res) {
            debug_assert!(false, "{lang:?}/{name}.ftl: {errs:?}");
        }
    }
    bundle
}

fn bundle(lang: Lang) -> &'static Bundle {
    static ZH: OnceLock<Bundle> = OnceLock::new();
    static EN: OnceLock<Bundle> = OnceLock::new();
    match lang {
        Lang::Zh => ZH.get_or_init(|| build(Lang::Zh)),
        Lang::En => EN.get_or_init(|| build(Lang::En)),
    }
}

/// Whether `lang` has a message `id` with a value.
pub fn has(lang: Lang, id: &str) -> bool {
    bundle(lang)
        .get_message(id)
        .is_some_and(|m| m.value().is_some())
}

/// Format `id` (its value, or its attribute `attr`) in `lang`. A missing message or
/// attribute gives the id back (and asserts in a debug build); so does a formatting
/// error such as a missing argument (the text Fluent produced is returned then).
fn format(lang: Lang, id: &str, attr: Option<&str>, args: &[(&str, Arg<'_>)]) -> String {
    let b = bundle(lang);
    let pattern = b.get_message(id).and_then(|m| match attr {
        None => m.value(),
        Some(a) => m.get_attribute(a).map(|a| a.value()),
    });
    let Some(pattern) = pattern else {
        debug_assert!(
            false,
            "no message {id}{} in {lang:?}",
            attr.map(|a| format!(".{a}")).unwrap_or_default()
        );
        return id.to_string();
    };
    let fargs = (!args.is_empty()).then(|| {
        let mut fa = FluentArgs::with_capacity(args.len());
        for (k, v) in args {
            fa.set(*k, v.to_fluent());
        }
        fa
    });
    let mut errors = vec![];
    let out = b.format_pattern(pattern, fargs.as_ref(), &mut errors);
    debug_assert!(errors.is_empty(), "{lang:?} {id}: {errors:?}");
    out.into_owned()
}

/// Any sentence of the catalogue by message id, with its arguments:
/// `text(Lang::Zh, "cli-synced", &[("sent", 3.into())])`.
pub fn text(lang: Lang, id: &str, args: &[(&str, Arg<'_>)]) -> String {
    format(lang, id, None, args)
}

/// The short label of `x`: "已受理".
pub fn label(lang: Lang, x: &impl Labelled) -> String {
    format(lang, x.word_id(), None, &x.word_args())
}

/// One plain sentence saying what `x` means, after its label:
/// "已受理：村里已收到您的申请，正在安排办理".
pub fn explain(lang: Lang, x: &impl Labelled) -> String {
    let args = x.word_args();
    let label = format(lang, x.word_id(), None, &args);
    let sentence = format(lang, x.word_id(), Some("explain"), &args);
    format(
        lang,
        "explain-format",
        None,
        &[("label", label.into()), ("text", sentence.into())],
    )
}

/// The plain sentence alone, without the label: "村里已收到您的申请，正在安排办理".
pub fn explanation(lang: Lang, x: &impl Labelled) -> String {
    format(lang, x.word_id(), Some("explain"), &x.word_args())
}

/// What text-to-speech says for `x`: no symbols, no abbreviations.
pub fn spoken(lang: Lang, x: &impl Labelled) -> String {
    format(lang, x.word_id(), Some("spoken"), &x.word_args())
}

// ---- the enums people see, each with its ALL list next to its impl ----
// A new variant fails to build here until it has a message id; the test
// `all_lists_cover_the_catalogue` fails until it is in ALL and its messages exist.

/// Notice categories, in display order.
pub const CATEGORY_ALL: [Category; 3] = [Category::Party, Category::Village, Category::Finance];
impl Labelled for Category {
    fn word_id(&self) -> &'static str {
        match self {
            Category::Party => "category-party",
            Category::Village => "category-village",
            Category::Finance => "category-finance",
        }
    }
}

pub const SUBTYPE_ALL: [Subtype; 9] = [
    Subtype::Resolution,
    Subtype::Implementation,
    Subtype::ReliefFunds,
    Subtype::SubsidyList,
    Subtype::Homestead,
    Subtype::LandContract,
    Subtype::WorkAllowance,
    Subtype::QuarterlyAccounts,
    Subtype::Other,
];
impl Labelled for Subtype {
    fn word_id(&self) -> &'static str {
        match self {
            Subtype::Resolution => "subtype-resolution",
            Subtype::Implementation => "subtype-implementation",
            Subtype::ReliefFunds => "subtype-relief_funds",
            Subtype::SubsidyList => "subtype-subsidy_list",
            Subtype::Homestead => "subtype-homestead",
            Subtype::LandContract => "subtype-land_contract",
            Subtype::WorkAllowance => "subtype-work_allowance",
            Subtype::QuarterlyAccounts => "subtype-quarterly_accounts",
            Subtype::Other => "subtype-other",
        }
    }
}

pub const PERIOD_KIND_ALL: [PeriodKind; 3] = [
    PeriodKind::Monthly,
    PeriodKind::Quarterly,
    PeriodKind::AdHoc,
];
impl Labelled for PeriodKind {
    fn word_id(&self) -> &'static str {
        match self {
            PeriodKind::Monthly => "period-monthly",
            PeriodKind::Quarterly => "period-quarterly",
            PeriodKind::AdHoc => "period-ad_hoc",
        }
    }
}

pub const DIRECTION_ALL: [Direction; 2] = [Direction::Income, Direction::Expense];
impl Labelled for Direction {
    fn word_id(&self) -> &'static str {
        match self {
            Direction::Income => "direction-income",
            Direction::Expense => "direction-expense",
        }
    }
}

pub const NOTICE_STATUS_ALL: [NoticeStatus; 4] = [
    NoticeStatus::Draft,
    NoticeStatus::Published,
    NoticeStatus::Corrected,
    NoticeStatus::Withdrawn,
];
impl Labelled for NoticeStatus {
    fn word_id(&self) -> &'static str {
        match self {
            NoticeStatus::Draft => "notice-status-draft",
            NoticeStatus::Published => "notice-status-published",
            NoticeStatus::Corrected => "notice-status-corrected",
            NoticeStatus::Withdrawn => "notice-status-withdrawn",
        }
    }
}

/// Request statuses: `Status::ALL`.
pub const REQUEST_STATUS_ALL: [Status; 8] = Status::ALL;
impl Labelled for Status {
    fn word_id(&self) -> &'static str {
        match self {
            Status::Submitted => "request-status-submitted",
            Status::Accepted => "request-status-accepted",
            Status::InProgress => "request-status-in_progress",
            Status::Referred => "request-status-referred",
            Status::Resolved => "request-status-resolved",
            Status::Rejected => "request-status-rejected",
            Status::Withdrawn => "request-status-withdrawn",
            Status::Reopened => "request-status-reopened",
        }
    }
}

/// A request kind (`request::catalogue()` holds the identifiers). Kinds are strings a
/// space may one day configure: one outside the default catalogue is shown by its own
/// name (message `request-kind-unlisted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestKind<'a>(pub &'a str);

/// The default request kinds (`request::DEFAULT_KINDS`).
pub const REQUEST_KIND_ALL: [RequestKind<'static>; 9] = {
    let mut out = [RequestKind(""); 9];
    let mut i = 0;
    while i < DEFAULT_KINDS.len() {
        out[i] = RequestKind(DEFAULT_KINDS[i]);
        i += 1;
    }
    out
};

impl RequestKind<'_> {
    fn listed_id(&self) -> Option<&'static str> {
        Some(match self.0 {
            "social_assistance" => "request-kind-social_assistance",
            "medical_insurance" => "request-kind-medical_insurance",
            "social_insurance" => "request-kind-social_insurance",
            "disability" => "request-kind-disability",
            "homestead_building" => "request-kind-homestead_building",
            "certificate" => "request-kind-certificate",
            "legal_mediation" => "request-kind-legal_mediation",
            "public_facility_repair" => "request-kind-public_facility_repair",
            "other" => "request-kind-other",
            _ => return None,
        })
    }
}

impl Labelled for RequestKind<'_> {
    fn word_id(&self) -> &'static str {
        self.listed_id().unwrap_or("request-kind-unlisted")
    }
    fn word_args(&self) -> Vec<(&'static str, Arg<'_>)> {
        if self.listed_id().is_some() {
            vec![]
        } else {
            vec![("kind", Arg::from(self.0))]
        }
    }
}

pub const ROLE_ALL: [Role; 5] = Role::ALL;
impl Labelled for Role {
    fn word_id(&self) -> &'static str {
        match self {
            Role::Resident => "role-resident",
            Role::VillagerRep => "role-villager_rep",
            Role::PartyMember => "role-party_member",
            Role::Cadre => "role-cadre",
            Role::Township => "role-township",
        }
    }
}

pub const DECIDING_BODY_ALL: [DecidingBody; 6] = [
    DecidingBody::VillagersMeeting,
    DecidingBody::VillagerReps,
    DecidingBody::HouseholdReps,
    DecidingBody::PartyMembers,
    DecidingBody::GroupMeeting,
    DecidingBody::ConsultationOnly,
];
impl Labelled for DecidingBody {
    fn word_id(&self) -> &'static str {
        match self {
            DecidingBody::VillagersMeeting => "body-villagers_meeting",
            DecidingBody::VillagerReps => "body-villager_reps",
            DecidingBody::HouseholdReps => "body-household_reps",
            DecidingBody::PartyMembers => "body-party_members",
            DecidingBody::GroupMeeting => "body-group_meeting",
            DecidingBody::ConsultationOnly => "body-consultation_only",
        }
    }
}

pub const PHASE_ALL: [Phase; 3] = Phase::ALL;
impl Labelled for Phase {
    fn word_id(&self) -> &'static str {
        match self {
            Phase::Discussion => "phase-discussion",
            Phase::Voting => "phase-voting",
            Phase::Closed => "phase-closed",
        }
    }
}

pub const HIDDEN_ALL: [Hidden; 4] = [
    Hidden::Consultation,
    Hidden::NotOpened,
    Hidden::UntilClose,
    Hidden::AwaitingRelay,
];
impl Labelled for Hidden {
    fn word_id(&self) -> &'static str {
        match self {
            Hidden::Consultation => "hidden-consultation",
            Hidden::NotOpened => "hidden-not_opened",
            Hidden::UntilClose => "hidden-until_close",
            Hidden::AwaitingRelay => "hidden-awaiting_relay",
        }
    }
}

/// Where a result comes from; `Hidden(h)` reads as `h`.
pub const RESULT_VIEW_ALL: [ResultView; 6] = [
    ResultView::Hidden(Hidden::Consultation),
    ResultView::Hidden(Hidden::NotOpened),
    ResultView::Hidden(Hidden::UntilClose),
    ResultView::Hidden(Hidden::AwaitingRelay),
    ResultView::Counted,
    ResultView::RelayOnly,
];
impl Labelled for ResultView {
    fn word_id(&self) -> &'static str {
        match self {
            ResultView::Hidden(h) => h.word_id(),
            ResultView::Counted => "result-counted",
            ResultView::RelayOnly => "result-relay_only",
        }
    }
}

pub const CHANGE_STATE_ALL: [ChangeState; 4] = [
    ChangeState::Pending,
    ChangeState::Sent,
    ChangeState::Acked,
    ChangeState::Rejected,
];
impl Labelled for ChangeState {
    fn word_id(&self) -> &'static str {
        match self {
            ChangeState::Pending => "change-pending",
            ChangeState::Sent => "change-sent",
            ChangeState::Acked => "change-acked",
            ChangeState::Rejected => "change-rejected",
        }
    }
}

pub const ATTACHMENT_KIND_ALL: [crate::model::attachment::Kind; 3] = [
    crate::model::attachment::Kind::Voice,
    crate::model::attachment::Kind::Photo,
    crate::model::attachment::Kind::Document,
];
impl Labelled for crate::model::attachment::Kind {
    fn word_id(&self) -> &'static str {
        use crate::model::attachment::Kind;
        match self {
            Kind::Voice => "attachment-kind-voice",
            Kind::Photo => "attachment-kind-photo",
            Kind::Document => "attachment-kind-document",
        }
    }
}

pub const ATTACHMENT_STATE_ALL: [crate::store::AttachmentState; 7] = [
    crate::store::AttachmentState::Pending,
    crate::store::AttachmentState::Uploading,
    crate::store::AttachmentState::Uploaded,
    crate::store::AttachmentState::NotDownloaded,
    crate::store::AttachmentState::Downloading,
    crate::store::AttachmentState::Downloaded,
    crate::store::AttachmentState::Failed,
];
impl Labelled for crate::store::AttachmentState {
    fn word_id(&self) -> &'static str {
        use crate::store::AttachmentState as S;
        match self {
            S::Pending => "attachment-state-pending",
            S::Uploading => "attachment-state-uploading",
            S::Uploaded => "attachment-state-uploaded",
            S::NotDownloaded => "attachment-state-not_downloaded",
            S::Downloading => "attachment-state-downloading",
            S::Downloaded => "attachment-state-downloaded",
            S::Failed => "attachment-state-failed",
        }
    }
}

pub const ENTITY_KIND_ALL: [EntityKind; 9] = EntityKind::ALL;
impl Labelled for EntityKind {
    fn word_id(&self) -> &'static str {
        match self {
            EntityKind::Notice => "entity-notice",
            EntityKind::Request => "entity-request",
            EntityKind::RequestNotes => "entity-request_notes",
            EntityKind::Deliberation => "entity-deliberation",
            EntityKind::Ballot => "entity-ballot",
            EntityKind::Register => "entity-register",
            EntityKind::Proposal => "entity-proposal",
            EntityKind::Matter => "entity-matter",
            EntityKind::PartyActivity => "entity-party_activity",
        }
    }
}

pub const MATTER_STAGE_ALL: [Stage; 6] = Stage::ALL;
impl Labelled for Stage {
    fn word_id(&self) -> &'static str {
        match self {
            Stage::Proposal => "matter-stage-proposal",
            Stage::Consultation => "matter-stage-consultation",
            Stage::PartyReview => "matter-stage-party_review",
            Stage::Decision => "matter-stage-decision",
            Stage::DecisionDisclosure => "matter-stage-decision_disclosure",
            Stage::ResultDisclosure => "matter-stage-result_disclosure",
        }
    }
}

pub const MATTER_OUTCOME_ALL: [Outcome; 2] = Outcome::ALL;
impl Labelled for Outcome {
    fn word_id(&self) -> &'static str {
        match self {
            Outcome::Agreed => "matter-outcome-agreed",
            Outcome::NotAgreed => "matter-outcome-not_agreed",
        }
    }
}

pub const MATTER_STATUS_ALL: [MatterStatus; 3] = MatterStatus::ALL;
impl Labelled for MatterStatus {
    fn word_id(&self) -> &'static str {
        match self {
            MatterStatus::InProgress => "matter-status-in_progress",
            MatterStatus::Stopped => "matter-status-stopped",
            MatterStatus::Completed => "matter-status-completed",
        }
    }
}

pub const ACTIVITY_KIND_ALL: [ActivityKind; 5] = ActivityKind::ALL;
impl Labelled for ActivityKind {
    fn word_id(&self) -> &'static str {
        match self {
            ActivityKind::MembersMeeting => "activity-kind-members_meeting",
            ActivityKind::CommitteeMeeting => "activity-kind-committee_meeting",
            ActivityKind::GroupMeeting => "activity-kind-group_meeting",
            ActivityKind::PartyLecture => "activity-kind-party_lecture",
            ActivityKind::ThemeDay => "activity-kind-theme_day",
        }
    }
}

pub const SIGN_IN_MODE_ALL: [SignInMode; 2] = SignInMode::ALL;
impl Labelled for SignInMode {
    fn word_id(&self) -> &'static str {
        match self {
            SignInMode::InPerson => "sign-in-in_person",
            SignInMode::Online => "sign-in-online",
        }
    }
}

/// The events a device appends, by entity kind and event type (the `type` of each
/// event enum in `model/*.rs`): what an outbox row's summary ("notice ask") names.
pub const EVENT_TYPES: [(EntityKind, &str); 39] = [
    (EntityKind::Notice, "create"),
    (EntityKind::Notice, "edit_draft"),
    (EntityKind::Notice, "publish"),
    (EntityKind::Notice, "correct"),
    (EntityKind::Notice, "withdraw"),
    (EntityKind::Notice, "ask"),
    (EntityKind::Notice, "answer"),
    (EntityKind::Notice, "read"),
    (EntityKind::Request, "file"),
    (EntityKind::Request, "edit_description"),
    (EntityKind::Request, "transition"),
    (EntityKind::Request, "assign"),
    (EntityKind::Request, "expect_by"),
    (EntityKind::Request, "materials"),
    (EntityKind::Request, "comment"),
    (EntityKind::Request, "rate"),
    (EntityKind::RequestNotes, "open"),
    (EntityKind::RequestNotes, "note"),
    (EntityKind::Deliberation, "create"),
    (EntityKind::Deliberation, "open"),
    (EntityKind::Deliberation, "comment"),
    (EntityKind::Deliberation, "close"),
    (EntityKind::Deliberation, "tellers"),
    (EntityKind::Ballot, "cast"),
    (EntityKind::Ballot, "record"),
    (EntityKind::Ballot, "attend"),
    (EntityKind::Register, "add"),
    (EntityKind::Register, "amend"),
    (EntityKind::Register, "leave"),
    (EntityKind::Proposal, "propose"),
    (EntityKind::Proposal, "co_sign"),
    (EntityKind::Proposal, "withdraw"),
    (EntityKind::Proposal, "take_up"),
    (EntityKind::Matter, "create"),
    (EntityKind::Matter, "step"),
    (EntityKind::PartyActivity, "create"),
    (EntityKind::PartyActivity, "sign_in"),
    (EntityKind::PartyActivity, "absent"),
    (EntityKind::PartyActivity, "minutes"),
];

/// A local change in words ("就公告提问", "asked about a notice"), from its outbox
/// summary (`"<kind> <event type>"`, see `store::LocalChange`); a summary the
/// catalogue does not know is returned as it is.
pub fn change_summary(lang: Lang, kind: EntityKind, summary: &str) -> String {
    let ty = summary
        .split_once(' ')
        .map(|(_, t)| t)
        .unwrap_or(summary)
        .trim();
    let id = format!("event-{}-{ty}", kind.as_str());
    if has(lang, &id) {
        text(lang, &id, &[])
    } else {
        summary.to_string()
    }
}

pub const PERSON_STATUS_ALL: [PersonStatus; 3] = PersonStatus::ALL;
impl Labelled for PersonStatus {
    fn word_id(&self) -> &'static str {
        match self {
            PersonStatus::Active => "person-active",
            PersonStatus::MovedAway => "person-moved_away",
            PersonStatus::Deceased => "person-deceased",
        }
    }
}

pub const DEPARTURE_ALL: [Departure; 2] = [Departure::MovedAway, Departure::Deceased];
impl Labelled for Departure {
    fn word_id(&self) -> &'static str {
        match self {
            Departure::MovedAway => "departure-moved_away",
            Departure::Deceased => "departure-deceased",
        }
    }
}

pub const PROPOSAL_STATUS_ALL: [ProposalStatus; 3] = ProposalStatus::ALL;
impl Labelled for ProposalStatus {
    fn word_id(&self) -> &'static str {
        match self {
            ProposalStatus::Open => "proposal-open",
            ProposalStatus::TakenUp => "proposal-taken_up",
            ProposalStatus::Withdrawn => "proposal-withdrawn",
        }
    }
}

/// Every labelled value, as (message-id prefix, the word ids of its ALL list): what
/// the tests walk. The prefix names the family of messages in the .ftl files.
pub fn families() -> Vec<(&'static str, Vec<&'static str>)> {
    fn ids<T: Labelled>(all: &[T]) -> Vec<&'static str> {
        all.iter().map(Labelled::word_id).collect()
    }
    vec![
        ("category-", ids(&CATEGORY_ALL)),
        ("subtype-", ids(&SUBTYPE_ALL)),
        ("period-", ids(&PERIOD_KIND_ALL)),
        ("direction-", ids(&DIRECTION_ALL)),
        ("notice-status-", ids(&NOTICE_STATUS_ALL)),
        ("request-status-", ids(&REQUEST_STATUS_ALL)),
        ("request-kind-", {
            let mut v = ids(&REQUEST_KIND_ALL);
            v.push(RequestKind("a kind this space added").word_id());
            v
        }),
        ("role-", ids(&ROLE_ALL)),
        ("body-", ids(&DECIDING_BODY_ALL)),
        ("phase-", ids(&PHASE_ALL)),
        ("hidden-", ids(&HIDDEN_ALL)),
        (
            "result-",
            ids(&RESULT_VIEW_ALL)
                .into_iter()
                .filter(|i| i.starts_with("result-"))
                .collect(),
        ),
        ("change-", ids(&CHANGE_STATE_ALL)),
        ("entity-", ids(&ENTITY_KIND_ALL)),
        ("attachment-kind-", ids(&ATTACHMENT_KIND_ALL)),
        ("attachment-state-", ids(&ATTACHMENT_STATE_ALL)),
        ("person-", ids(&PERSON_STATUS_ALL)),
        ("departure-", ids(&DEPARTURE_ALL)),
        ("proposal-", ids(&PROPOSAL_STATUS_ALL)),
        ("matter-stage-", ids(&MATTER_STAGE_ALL)),
        ("matter-outcome-", ids(&MATTER_OUTCOME_ALL)),
        ("matter-status-", ids(&MATTER_STATUS_ALL)),
        ("activity-kind-", ids(&ACTIVITY_KIND_ALL)),
        ("sign-in-", ids(&SIGN_IN_MODE_ALL)),
    ]
}

/// The message ids defined in an FTL source (top-level messages, not terms).
pub fn message_ids(src: &str) -> Vec<&str> {
    src.lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
        .filter_map(|l| l.split_once('=').map(|(id, _)| id.trim()))
        .filter(|id| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn all_ids(lang: Lang) -> BTreeSet<&'static str> {
        sources(lang)
            .iter()
            .flat_map(|(_, src)| message_ids(src))
            .collect()
    }

    fn check_words<T: Labelled>(all: &[T], missing: &mut Vec<String>) {
        for x in all {
            for lang in Lang::ALL {
                let id = x.word_id();
                let m = bundle(lang).get_message(id);
                let Some(m) = m else {
                    missing.push(format!("{lang:?}: no message {id}"));
                    continue;
                };
                if m.value().is_none() {
                    missing.push(format!("{lang:?}: {id} has no label"));
                }
                for attr in ["explain", "spoken"] {
                    if m.get_attribute(attr).is_none() {
                        missing.push(format!("{lang:?}: {id} has no .{attr}"));
                    }
                }
                if m.value().is_none()
                    || m.get_attribute("explain").is_none()
                    || m.get_attribute("spoken").is_none()
                {
                    continue;
                }
                let (l, e, s) = (label(lang, x), explain(lang, x), spoken(lang, x));
                for (what, t) in [("label", &l), ("explanation", &e), ("spoken form", &s)] {
                    if t.trim().is_empty() {
                        missing.push(format!("{lang:?}: {id} has an empty {what}"));
                    }
                }
                // the explanation says more than the label
                if e.chars().count() <= l.chars().count() + 2 {
                    missing.push(format!("{lang:?}: {id}: explanation {e:?} says nothing"));
                }
                // spoken: no symbols or abbreviations a voice would spell out
                if s.contains(|c: char| "¥%#/&()（）[]<>@_".contains(c)) {
                    missing.push(format!("{lang:?}: {id}: spoken form {s:?} has a symbol"));
                }
                if lang == Lang::Zh && !l.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
                    missing.push(format!("{lang:?}: {id}: label {l:?} is not Chinese"));
                }
            }
        }
    }

    #[test]
    fn every_enum_value_has_words_in_both_languages() {
        let mut missing = vec![];
        check_words(&CATEGORY_ALL, &mut missing);
        check_words(&SUBTYPE_ALL, &mut missing);
        check_words(&PERIOD_KIND_ALL, &mut missing);
        check_words(&DIRECTION_ALL, &mut missing);
        check_words(&NOTICE_STATUS_ALL, &mut missing);
        check_words(&REQUEST_STATUS_ALL, &mut missing);
        check_words(&REQUEST_KIND_ALL, &mut missing);
        check_words(&[RequestKind("护林员报名")], &mut missing);
        check_words(&ROLE_ALL, &mut missing);
        check_words(&DECIDING_BODY_ALL, &mut missing);
        check_words(&PHASE_ALL, &mut missing);
        check_words(&HIDDEN_ALL, &mut missing);
        check_words(&RESULT_VIEW_ALL, &mut missing);
        check_words(&CHANGE_STATE_ALL, &mut missing);
        check_words(&ENTITY_KIND_ALL, &mut missing);
        check_words(&ATTACHMENT_KIND_ALL, &mut missing);
        check_words(&ATTACHMENT_STATE_ALL, &mut missing);
        check_words(&MATTER_STAGE_ALL, &mut missing);
        check_words(&MATTER_OUTCOME_ALL, &mut missing);
        check_words(&MATTER_STATUS_ALL, &mut missing);
        check_words(&ACTIVITY_KIND_ALL, &mut missing);
        check_words(&SIGN_IN_MODE_ALL, &mut missing);
        assert!(missing.is_empty(), "missing words:\n{}", missing.join("\n"));
    }

    /// Each ALL list holds every value of its enum: the messages of a family in the
    /// catalogue are exactly the ids of its ALL list, with no duplicates. A variant
    /// added to an enum gets an id in its `match` (or the build fails) and messages in
    /// the .ftl files (or the test above fails); left out of ALL, it fails here.
    #[test]
    fn all_lists_cover_the_catalogue() {
        for lang in Lang::ALL {
            let ids = all_ids(lang);
            for (prefix, family) in families() {
                let distinct: BTreeSet<_> = family.iter().copied().collect();
                assert_eq!(
                    distinct.len(),
                    family.len(),
                    "{prefix}: duplicate ids in ALL"
                );
                let defined: BTreeSet<_> = ids
                    .iter()
                    .copied()
                    .filter(|i| i.starts_with(prefix))
                    // notice-status- is inside no other family; request-kind- and
                    // request-status- do not overlap
                    .collect();
                assert_eq!(
                    defined, distinct,
                    "{lang:?}: the {prefix}* messages and the ALL list differ"
                );
            }
        }
        // the request kinds a space offers are all in the catalogue
        for k in crate::model::request::catalogue() {
            assert_ne!(RequestKind(&k).word_id(), "request-kind-unlisted", "{k}");
        }
    }

    #[test]
    fn every_message_id_in_zh_exists_in_en_and_vice_versa() {
        let (zh, en) = (all_ids(Lang::Zh), all_ids(Lang::En));
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(
            only_zh.is_empty() && only_en.is_empty(),
            "only in zh: {only_zh:?}; only in en: {only_en:?}"
        );
        // and every one resolves in its bundle (no file failed to parse)
        for lang in Lang::ALL {
            for id in all_ids(lang) {
                assert!(has(lang, id), "{lang:?}: {id} does not load");
            }
        }
    }

    #[test]
    fn every_local_change_has_words_in_both_languages() {
        for (kind, ty) in EVENT_TYPES {
            let summary = format!("{} {ty}", kind.as_str());
            for lang in Lang::ALL {
                let words = change_summary(lang, kind, &summary);
                assert_ne!(words, summary, "{lang:?}: no words for {summary}");
            }
        }
        assert_eq!(
            change_summary(Lang::Zh, EntityKind::Notice, "notice ask"),
            "就公告提问"
        );
        assert_eq!(
            change_summary(Lang::En, EntityKind::Ballot, "ballot cast"),
            "cast a ballot"
        );
        assert_eq!(
            change_summary(Lang::Zh, EntityKind::Notice, "notice frob"),
            "notice frob"
        );
        // and the catalogue has no event-* message that is not an event
        let listed: BTreeSet<String> = EVENT_TYPES
            .iter()
            .map(|(k, t)| format!("event-{}-{t}", k.as_str()))
            .collect();
        for lang in Lang::ALL {
            let defined: BTreeSet<String> = all_ids(lang)
                .into_iter()
                .filter(|i| i.starts_with("event-"))
                .map(String::from)
                .collect();
            assert_eq!(defined, listed, "{lang:?}");
        }
    }

    #[test]
    fn every_file_parses() {
        for lang in Lang::ALL {
            for (name, src) in sources(lang) {
                if let Err((_, errs)) = FluentResource::try_new(src.to_string()) {
                    panic!("{lang:?}/{name}.ftl: {errs:?}");
                }
            }
        }
    }

    #[test]
    fn labels_read_as_people_say_them() {
        assert_eq!(label(Lang::Zh, &Status::Accepted), "已受理");
        assert_eq!(
            explain(Lang::Zh, &Status::Accepted),
            "已受理：村里已收到您的申请，正在安排办理"
        );
        assert_eq!(label(Lang::En, &Status::Accepted), "Accepted");
        assert_eq!(
            explain(Lang::En, &Status::InProgress),
            "In progress: the village is working on it"
        );
        assert_eq!(label(Lang::Zh, &Category::Finance), "财务公开");
        assert_eq!(label(Lang::Zh, &Role::Cadre), "村干部");
        assert_eq!(
            spoken(Lang::En, &DecidingBody::VillagerReps),
            "Villager representatives' meeting"
        );
        assert_eq!(label(Lang::Zh, &RequestKind("护林员报名")), "护林员报名");
        assert_eq!(
            label(Lang::Zh, &ResultView::Hidden(Hidden::UntilClose)),
            label(Lang::Zh, &Hidden::UntilClose)
        );
        // no isolation marks around placeables
        let t = explain(Lang::Zh, &RequestKind("护林员报名"));
        assert!(!t.contains(['\u{2068}', '\u{2069}']), "{t:?}");
        assert_eq!(t, "护林员报名：本村设的事项“护林员报名”");
    }

    #[test]
    fn lang_parses_tags_and_locale_names() {
        for s in ["zh", "zh-CN", "ZH_cn", "zh-Hans-CN", "zh_CN.UTF-8"] {
            assert_eq!(Lang::parse(s), Some(Lang::Zh), "{s}");
        }
        for s in ["en", "en-US", "EN", "en_GB.UTF-8"] {
            assert_eq!(Lang::parse(s), Some(Lang::En), "{s}");
        }
        for s in ["", "fr", "de-DE", "zhx"] {
            assert_eq!(Lang::parse(s), None, "{s}");
        }
        assert_eq!(Lang::default(), Lang::Zh);
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn a_missing_id_gives_the_id_back() {
        assert_eq!(text(Lang::Zh, "no-such-message", &[]), "no-such-message");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "no message no-such-message")]
    fn a_missing_id_asserts_in_debug_builds() {
        text(Lang::Zh, "no-such-message", &[]);
    }
}
