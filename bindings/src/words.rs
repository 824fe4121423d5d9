//! The words people read and hear (issue 14), for the apps: core's catalogue
//! (`cunwu_core::words`), not a copy of it. A label, its plain explanation and its
//! spoken form for every value a person sees ([`words_of`] of a [`Term`]), the forms
//! of an amount ([`amount_words`]: core's `AmountForms`), dates and deadlines in words,
//! and (on `CunwuStore`) a notice, a request or a vote read aloud. Every function takes
//! the language, and the ones about time take `now_ms` (UTC milliseconds; apps pass
//! `System.currentTimeMillis()`, `Date().timeIntervalSince1970 * 1000`), so what they say
//! is testable; village time is China Standard Time wherever the phone is.

use crate::error::{CunwuError, Result};
use crate::records::{
    ActivityKind, Category, ChangeState, DecidingBody, Departure, Direction, EntityKind,
    MatterStatus, NoticeStatus, Outcome, PeriodKind, PersonStatus, Phase, ProposalStatus, Role,
    SignInMode, Stage, Status, Subtype,
};
use cunwu_core::words::catalogue::{self, Arg, Labelled, RequestKind};
use cunwu_core::words::{dates, money, read_aloud, Lang};
use std::borrow::Cow;

pub use money::AmountForms;

/// A value a person sees, to be put into words by [`words_of`]: one variant per
/// labelled enum of core, carrying core's own value. The variant names are not the
/// enums' names (Kotlin would take `Term.NoticeStatus` for the enum inside `Term`);
/// where an enum has an app name (bindings/app-names.txt), the variant has it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Term {
    /// 党务公开 / 村务公开 / 财务公开
    NoticeCategory {
        category: Category,
    },
    NoticeSubtype {
        subtype: Subtype,
    },
    /// A notice's status: draft, published, corrected, withdrawn.
    NoticeState {
        status: NoticeStatus,
    },
    /// A finance notice's period: monthly, quarterly, ad hoc.
    FinancePeriod {
        kind: PeriodKind,
    },
    /// A finance line: income or expense.
    FinanceDirection {
        direction: Direction,
    },
    /// 已受理: "村里已收到您的申请，正在安排办理".
    RequestStatus {
        status: Status,
    },
    /// A request kind by its identifier (`certificate`, `social_assistance`, ... as in
    /// `CunwuStore.requestKinds()`); a kind outside the catalogue reads as its own name.
    RequestKind {
        kind: String,
    },
    MemberRole {
        role: Role,
    },
    /// Who decides a deliberation (the villagers' meeting, the representatives, ...).
    DeliberationBody {
        body: DecidingBody,
    },
    DeliberationPhase {
        phase: Phase,
    },
    /// A local change's state in the outbox: pending, sent, acked, rejected.
    LocalChangeState {
        state: ChangeState,
    },
    /// Notice, request, deliberation, ballot, ...
    Entity {
        kind: EntityKind,
    },
    /// A person on the register: on it, moved away, deceased.
    RegisterStatus {
        status: PersonStatus,
    },
    /// Why a person left the register.
    RegisterDeparture {
        reason: Departure,
    },
    /// A villagers' proposal: collecting support, meeting called, withdrawn.
    ProposalState {
        status: ProposalStatus,
    },
    /// A step of 四议两公开 (the party branch's proposal … the disclosure of the result).
    MatterStage {
        stage: Stage,
    },
    /// A step's outcome: agreed, not agreed.
    MatterOutcome {
        outcome: Outcome,
    },
    /// A major matter: in progress, stopped, done.
    MatterState {
        status: MatterStatus,
    },
    /// A party branch activity: 党员大会, 支委会, 党小组会, 党课, 主题党日.
    PartyActivityKind {
        kind: ActivityKind,
    },
    /// How a party member signed in: in the hall, online.
    PartySignIn {
        mode: SignInMode,
    },
    /// What an attachment is: voice note, photo, document.
    AttachmentType {
        kind: cunwu_core::model::attachment::Kind,
    },
    /// Where an attachment's transfer stands on this phone: waiting to upload, ...
    AttachmentTransfer {
        state: cunwu_core::store::AttachmentState,
    },
}

/// The words the catalogue has for one value.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Words {
    /// The short label for a list or a chip: "已受理".
    pub label: String,
    /// One plain sentence saying what it means: "村里已收到您的申请，正在安排办理".
    pub explanation: String,
    /// The label and the explanation in one line, as the language joins them:
    /// "已受理：村里已收到您的申请，正在安排办理".
    pub explained: String,
    /// What text-to-speech says: no symbols, no abbreviations.
    pub spoken: String,
}

/// A borrowed argument made owned (the name of a request kind outside the catalogue).
fn owned(arg: Arg<'_>) -> Arg<'static> {
    match arg {
        Arg::Text(s) => Arg::Text(Cow::Owned(s.into_owned())),
        Arg::Int(n) => Arg::Int(n),
    }
}

impl Labelled for Term {
    fn word_id(&self) -> &'static str {
        match self {
            Term::NoticeCategory { category } => category.word_id(),
            Term::NoticeSubtype { subtype } => subtype.word_id(),
            Term::NoticeState { status } => status.word_id(),
            Term::FinancePeriod { kind } => kind.word_id(),
            Term::FinanceDirection { direction } => direction.word_id(),
            Term::RequestStatus { status } => status.word_id(),
            Term::RequestKind { kind } => RequestKind(kind).word_id(),
            Term::MemberRole { role } => role.word_id(),
            Term::DeliberationBody { body } => body.word_id(),
            Term::DeliberationPhase { phase } => phase.word_id(),
            Term::LocalChangeState { state } => state.word_id(),
            Term::Entity { kind } => kind.word_id(),
            Term::RegisterStatus { status } => status.word_id(),
            Term::RegisterDeparture { reason } => reason.word_id(),
            Term::ProposalState { status } => status.word_id(),
            Term::MatterStage { stage } => stage.word_id(),
            Term::MatterOutcome { outcome } => outcome.word_id(),
            Term::MatterState { status } => status.word_id(),
            Term::PartyActivityKind { kind } => kind.word_id(),
            Term::PartySignIn { mode } => mode.word_id(),
            Term::AttachmentType { kind } => kind.word_id(),
            Term::AttachmentTransfer { state } => state.word_id(),
        }
    }

    fn word_args(&self) -> Vec<(&'static str, Arg<'_>)> {
        match self {
            Term::RequestKind { kind } => RequestKind(kind)
                .word_args()
                .into_iter()
                .map(|(k, v)| (k, owned(v)))
                .collect(),
            // the other values' messages take no arguments
            _ => vec![],
        }
    }
}

/// The label, explanation and spoken form of `term` in `lang`:
/// `wordsOf(Lang.ZH, Term.RequestStatus(RequestStatus.ACCEPTED)).label == "已受理"`.
#[uniffi::export]
pub fn words_of(lang: Lang, term: Term) -> Words {
    Words {
        label: catalogue::label(lang, &term),
        explanation: catalogue::explanation(lang, &term),
        explained: catalogue::explain(lang, &term),
        spoken: catalogue::spoken(lang, &term),
    }
}

/// The language of a locale tag or name ("zh-CN", "zh_Hans", "en-US", "en_GB.UTF-8"),
/// or null for a language Cunwu has no words in (show Chinese then).
#[uniffi::export]
pub fn lang_of_tag(tag: String) -> Option<Lang> {
    Lang::parse(&tag)
}

/// Every form of an amount in fen: figures "12,400.00元", compact "1.24万元", the
/// uppercase form "人民币壹万贰仟肆佰元整" and the spoken "一万两千四百元".
/// `InvalidInput` beyond 9,999亿9,999万9,999.99元, which has no words.
#[uniffi::export]
pub fn amount_words(fen: i64) -> Result<AmountForms> {
    money::forms(fen).map_err(|e| CunwuError::InvalidInput(e.to_string()))
}

/// An amount for a voice in `lang`: "一万两千四百元五角"; "12400 yuan and 50 fen".
#[uniffi::export]
pub fn spoken_amount(lang: Lang, fen: i64) -> String {
    read_aloud::spoken_amount(lang, fen)
}

/// When something happened (or will), as the village's clock says it: "今天 09:05",
/// "昨天 14:30", "3月2日 14:30", "2025年3月2日"; "yesterday 14:30".
#[uniffi::export]
pub fn when_words(lang: Lang, at_ms: i64, now_ms: i64) -> String {
    dates::when(lang, at_ms, now_ms)
}

/// A question's reply due date: "12月11日前答复"; "reply by 11 Dec".
#[uniffi::export]
pub fn reply_by_words(lang: Lang, due_ms: i64, now_ms: i64) -> String {
    dates::reply_by(lang, due_ms, now_ms)
}

/// How long is left before a deadline, in village calendar days: "还有3天", "今天到期",
/// "已超期2天"; "3 days left", "due today", "2 days overdue".
#[uniffi::export]
pub fn days_left_words(lang: Lang, due_ms: i64, now_ms: i64) -> String {
    dates::days_left(lang, due_ms, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cunwu_core::words::catalogue::{families, label, spoken};
    use std::collections::BTreeSet;

    /// One term of every variant (a new variant fails to build in `word_id` first).
    fn one_of_each() -> Vec<Term> {
        vec![
            Term::RegisterStatus {
                status: PersonStatus::MovedAway,
            },
            Term::RegisterDeparture {
                reason: Departure::Deceased,
            },
            Term::ProposalState {
                status: ProposalStatus::TakenUp,
            },
            Term::MatterStage {
                stage: Stage::ALL[2],
            },
            Term::MatterOutcome {
                outcome: Outcome::ALL[1],
            },
            Term::MatterState {
                status: MatterStatus::ALL[0],
            },
            Term::PartyActivityKind {
                kind: ActivityKind::ALL[4],
            },
            Term::PartySignIn {
                mode: SignInMode::ALL[1],
            },
            Term::AttachmentType {
                kind: cunwu_core::model::attachment::Kind::Voice,
            },
            Term::AttachmentTransfer {
                state: cunwu_core::store::AttachmentState::Uploading,
            },
            Term::NoticeCategory {
                category: Category::Finance,
            },
            Term::NoticeSubtype {
                subtype: Subtype::ReliefFunds,
            },
            Term::NoticeState {
                status: NoticeStatus::Corrected,
            },
            Term::FinancePeriod {
                kind: PeriodKind::Quarterly,
            },
            Term::FinanceDirection {
                direction: Direction::Expense,
            },
            Term::RequestStatus {
                status: Status::Accepted,
            },
            Term::RequestKind {
                kind: "certificate".into(),
            },
            Term::MemberRole { role: Role::Cadre },
            Term::DeliberationBody {
                body: DecidingBody::VillagerReps,
            },
            Term::DeliberationPhase {
                phase: Phase::Voting,
            },
            Term::LocalChangeState {
                state: ChangeState::Pending,
            },
            Term::Entity {
                kind: EntityKind::Deliberation,
            },
        ]
    }

    #[test]
    fn a_term_has_the_words_of_the_core_value_it_carries() {
        let w = words_of(
            Lang::Zh,
            Term::RequestStatus {
                status: Status::Accepted,
            },
        );
        assert_eq!(w.label, "已受理");
        assert_eq!(w.explanation, "村里已收到您的申请，正在安排办理");
        assert_eq!(w.explained, "已受理：村里已收到您的申请，正在安排办理");
        assert_eq!(w.spoken, "已受理");
        let w = words_of(
            Lang::En,
            Term::DeliberationPhase {
                phase: Phase::Voting,
            },
        );
        assert_eq!(
            (w.label.as_str(), w.spoken.as_str()),
            ("Voting", "Voting open")
        );
        assert_eq!(
            words_of(
                Lang::Zh,
                Term::LocalChangeState {
                    state: ChangeState::Pending
                }
            )
            .spoken,
            spoken(Lang::Zh, &ChangeState::Pending)
        );
        assert_eq!(
            words_of(
                Lang::Zh,
                Term::MemberRole {
                    role: Role::VillagerRep
                }
            )
            .label,
            label(Lang::Zh, &Role::VillagerRep)
        );
        // a kind this space added reads as its own name
        let w = words_of(
            Lang::Zh,
            Term::RequestKind {
                kind: "护林员报名".into(),
            },
        );
        assert_eq!(w.label, "护林员报名");
        assert_eq!(w.explained, "护林员报名：本村设的事项“护林员报名”");
    }

    /// Every family of labelled values in core's catalogue has a variant, except where a
    /// result is hidden and why (`Hidden`, `ResultView`: apps get the reason with
    /// `tally`'s `NotAllowed`, and the read-aloud vote says it).
    #[test]
    fn every_family_of_the_catalogue_has_a_term() {
        let covered: BTreeSet<&str> = one_of_each()
            .iter()
            .map(|t| {
                let id = t.word_id();
                families()
                    .into_iter()
                    .find(|(_, ids)| ids.contains(&id))
                    .map(|(prefix, _)| prefix)
                    .unwrap_or_else(|| panic!("{t:?}: {id} is in no family"))
            })
            .collect();
        let expected: BTreeSet<&str> = families()
            .into_iter()
            .map(|(prefix, _)| prefix)
            .filter(|p| !matches!(*p, "hidden-" | "result-"))
            .collect();
        assert_eq!(covered, expected);
        for t in one_of_each() {
            for lang in Lang::ALL {
                let w = words_of(lang, t.clone());
                assert!(
                    !w.label.is_empty()
                        && w.explanation.len() > w.label.len()
                        && !w.spoken.is_empty(),
                    "{lang:?} {t:?}: {w:?}"
                );
            }
        }
    }

    #[test]
    fn amounts_and_dates_are_core_words() {
        let a = amount_words(1_240_000).unwrap();
        assert_eq!(a.upper, "人民币壹万贰仟肆佰元整");
        assert_eq!(a.spoken, "一万两千四百元");
        assert_eq!(a.figures, "12,400.00元");
        assert_eq!(a.compact, "1.24万元");
        assert!(matches!(
            amount_words(i64::MAX),
            Err(CunwuError::InvalidInput(m)) if m.contains("too large")
        ));
        assert_eq!(spoken_amount(Lang::En, 1_240_050), "12400 yuan and 50 fen");
        // now: 2 Dec 2026 09:00 village time; at: 1 Dec 14:30
        let now = dates::date_start_ms("2026-12-02").unwrap() + 9 * 3_600_000;
        let at = dates::date_start_ms("2026-12-01").unwrap() + 14 * 3_600_000 + 30 * 60_000;
        assert_eq!(when_words(Lang::Zh, at, now), "昨天 14:30");
        let due = dates::date_start_ms("2026-12-11").unwrap() + 3_600_000;
        assert_eq!(reply_by_words(Lang::Zh, due, now), "12月11日前答复");
        assert_eq!(days_left_words(Lang::Zh, due, now), "还有9天");
        assert_eq!(
            days_left_words(Lang::En, now - 2 * 86_400_000, now),
            "2 days overdue"
        );
        assert_eq!(lang_of_tag("en_GB.UTF-8".into()), Some(Lang::En));
        assert_eq!(lang_of_tag("fr-FR".into()), None);
    }
}
