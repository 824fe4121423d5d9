//! Notices (党务 / 村务 / 财务公开): what they contain, how a notice's history folds
//! into its current state, and the finance arithmetic (totals and closing balance).

use super::{
    check_date, check_len, check_text, check_title, Event, MAX_AMOUNT_FEN, MAX_FINANCE_LINES,
};
use crate::error::{Error, Result};
use crate::ids::DAY_MS;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An unanswered question shows a reply due date this long after it was asked.
pub const ANSWER_DUE_MS: i64 = 10 * DAY_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Category {
    Party,
    Village,
    Finance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Subtype {
    Resolution,
    #[serde(alias = "implementation_result")]
    Implementation,
    ReliefFunds,
    SubsidyList,
    Homestead,
    LandContract,
    WorkAllowance,
    QuarterlyAccounts,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PeriodKind {
    Monthly,
    Quarterly,
    #[default]
    AdHoc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Period {
    #[serde(default)]
    pub kind: PeriodKind,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

impl Period {
    /// Its dates are dates, and it ends on or after its start.
    pub fn validate(&self) -> Result<()> {
        if let Some(s) = &self.start {
            check_date("period start", s)?;
        }
        if let Some(e) = &self.end {
            check_date("period end", e)?;
        }
        if let (Some(s), Some(e)) = (&self.start, &self.end) {
            // YYYY-MM-DD compares as text in date order
            if e < s {
                return Err(Error::invalid(format!(
                    "the period ends before it starts ({s} to {e})"
                )));
            }
        }
        Ok(())
    }

    /// Whether a `YYYY-MM-DD` date lies in the period (an open end admits any date).
    pub fn contains(&self, date: &str) -> bool {
        self.start.as_deref().is_none_or(|s| date >= s)
            && self.end.as_deref().is_none_or(|e| date <= e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Direction {
    Income,
    Expense,
}

/// The village collective accounting categories, with the direction each belongs to.
pub const ACCOUNTS: [(&str, Direction); 8] = [
    ("经营收入", Direction::Income),
    ("发包及上交收入", Direction::Income),
    ("投资收益", Direction::Income),
    ("补助收入", Direction::Income),
    ("其他收入", Direction::Income),
    ("经营支出", Direction::Expense),
    ("管理费用", Direction::Expense),
    ("其他支出", Direction::Expense),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FinanceLine {
    pub date: String,
    pub direction: Direction,
    pub account: String,
    pub item: String,
    pub amount_fen: i64,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    #[serde(default)]
    pub payee_or_dept: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    #[serde(default)]
    pub voucher_no: String,
}

/// One thing a revision changed from the one before (`NoticeContent::changes_from`).
/// Lines are compared by position (line 1 is the first line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ContentChange {
    Title {
        was: String,
        now: String,
    },
    Body {
        was: String,
        now: String,
    },
    OpeningBalance {
        was: Option<i64>,
        now: Option<i64>,
    },
    /// Only the amount of a line changed.
    LineAmount {
        line: u32,
        item: String,
        was: i64,
        now: i64,
    },
    /// Other fields of a line changed (its amount perhaps too).
    Line {
        line: u32,
        was: FinanceLine,
        now: FinanceLine,
    },
    LineAdded {
        line: u32,
        now: FinanceLine,
    },
    LineRemoved {
        line: u32,
        was: FinanceLine,
    },
}

/// The lines of one account in a finance notice, summed (`NoticeContent::subtotals`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AccountSubtotal {
    pub account: String,
    pub direction: Direction,
    pub lines: u32,
    pub amount_fen: i64,
}

/// What a revision of a notice says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NoticeContent {
    pub title: String,
    pub body: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_balance_fen: Option<i64>,
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<FinanceLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FinanceTotals {
    pub opening_fen: i64,
    pub income_fen: i64,
    pub expense_fen: i64,
    pub closing_fen: i64,
}

impl NoticeContent {
    /// `validate`, and every finance line dated inside the notice's `period` (itself
    /// checked): what the phone checks before it signs and the policy checks on every
    /// create, draft edit and correction.
    pub fn validate_in(&self, category: Category, period: &Period) -> Result<()> {
        period.validate()?;
        self.validate(category)?;
        for (i, l) in self.lines.iter().enumerate() {
            if !period.contains(&l.date) {
                return Err(Error::invalid(format!(
                    "line {}: dated {}, outside the period {} to {}",
                    i + 1,
                    l.date,
                    period.start.as_deref().unwrap_or("…"),
                    period.end.as_deref().unwrap_or("…")
                )));
            }
        }
        Ok(())
    }

    pub fn validate(&self, category: Category) -> Result<()> {
        check_title(&self.title)?;
        check_text("body", &self.body, false)?;
        if category != Category::Finance
            && (!self.lines.is_empty() || self.opening_balance_fen.is_some())
        {
            return Err(Error::invalid(
                "only finance notices carry finance lines and an opening balance",
            ));
        }
        if self.lines.len() > MAX_FINANCE_LINES {
            return Err(Error::invalid(format!(
                "{} finance lines; the limit is {MAX_FINANCE_LINES}",
                self.lines.len()
            )));
        }
        if !self.lines.is_empty() && self.opening_balance_fen.is_none() {
            return Err(Error::invalid(
                "a finance notice with lines needs an opening balance (opening_balance_fen)",
            ));
        }
        if let Some(o) = self.opening_balance_fen {
            // `unsigned_abs`: i64::MIN has no `abs()` (it panicked, or wrapped to itself)
            if o.unsigned_abs() > (MAX_AMOUNT_FEN * 1000) as u64 {
                return Err(Error::invalid(format!(
                    "opening balance {o} fen is out of range"
                )));
            }
        }
        for (i, l) in self.lines.iter().enumerate() {
            let n = i + 1;
            check_date(&format!("line {n} date"), &l.date)?;
            let Some((_, dir)) = ACCOUNTS.iter().find(|(a, _)| *a == l.account) else {
                return Err(Error::invalid(format!(
                    "line {n}: unknown account {:?}; expected one of {}",
                    l.account,
                    ACCOUNTS.iter().map(|a| a.0).collect::<Vec<_>>().join(", ")
                )));
            };
            if *dir != l.direction {
                return Err(Error::invalid(format!(
                    "line {n}: account {} is not an {:?} account",
                    l.account, l.direction
                )));
            }
            if l.amount_fen <= 0 {
                return Err(Error::invalid(format!(
                    "line {n}: amount must be a positive number of fen, got {}",
                    l.amount_fen
                )));
            }
            if l.amount_fen > MAX_AMOUNT_FEN {
                return Err(Error::invalid(format!(
                    "line {n}: amount {} fen is over the limit of {MAX_AMOUNT_FEN}",
                    l.amount_fen
                )));
            }
            if l.item.trim().is_empty() {
                return Err(Error::invalid(format!("line {n}: item must not be empty")));
            }
            check_len(&format!("line {n} item"), &l.item, super::MAX_TITLE_CHARS)?;
            check_len(
                &format!("line {n} payee_or_dept"),
                &l.payee_or_dept,
                super::MAX_TITLE_CHARS,
            )?;
            check_len(&format!("line {n} voucher_no"), &l.voucher_no, 64)?;
        }
        self.checked_totals()?;
        Ok(())
    }

    /// Totals and closing balance, derived; `None` when the notice has no finance data
    /// (or totals that do not fit, which `validate` refuses before anything is signed).
    pub fn totals(&self) -> Option<FinanceTotals> {
        self.checked_totals().ok().flatten()
    }

    /// The totals in checked arithmetic: a sum that does not fit says which one.
    pub fn checked_totals(&self) -> Result<Option<FinanceTotals>> {
        let Some(opening) = self.opening_balance_fen else {
            return Ok(None);
        };
        let overflow = |what: &str, n: usize| {
            Error::invalid(format!(
                "the {what} overflows at line {n}: the amounts are too large to add up"
            ))
        };
        let (mut income, mut expense) = (0i64, 0i64);
        for (i, l) in self.lines.iter().enumerate() {
            let sum = match l.direction {
                Direction::Income => &mut income,
                Direction::Expense => &mut expense,
            };
            *sum = sum.checked_add(l.amount_fen).ok_or_else(|| {
                overflow(
                    match l.direction {
                        Direction::Income => "total income",
                        Direction::Expense => "total expense",
                    },
                    i + 1,
                )
            })?;
        }
        let closing = opening
            .checked_add(income)
            .and_then(|x| x.checked_sub(expense))
            .ok_or_else(|| {
                Error::invalid("the closing balance overflows: the amounts are too large to add up")
            })?;
        Ok(Some(FinanceTotals {
            opening_fen: opening,
            income_fen: income,
            expense_fen: expense,
            closing_fen: closing,
        }))
    }

    /// What changed from `old` to this content: title, body, opening balance, then
    /// line by line.
    pub fn changes_from(&self, old: &NoticeContent) -> Vec<ContentChange> {
        let mut out = vec![];
        if old.title != self.title {
            out.push(ContentChange::Title {
                was: old.title.clone(),
                now: self.title.clone(),
            });
        }
        if old.body != self.body {
            out.push(ContentChange::Body {
                was: old.body.clone(),
                now: self.body.clone(),
            });
        }
        if old.opening_balance_fen != self.opening_balance_fen {
            out.push(ContentChange::OpeningBalance {
                was: old.opening_balance_fen,
                now: self.opening_balance_fen,
            });
        }
        for i in 0..old.lines.len().max(self.lines.len()) {
            let line = i as u32 + 1;
            match (old.lines.get(i), self.lines.get(i)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b))
                    if FinanceLine {
                        amount_fen: b.amount_fen,
                        ..a.clone()
                    } == *b =>
                {
                    out.push(ContentChange::LineAmount {
                        line,
                        item: b.item.clone(),
                        was: a.amount_fen,
                        now: b.amount_fen,
                    })
                }
                (Some(a), Some(b)) => out.push(ContentChange::Line {
                    line,
                    was: a.clone(),
                    now: b.clone(),
                }),
                (None, Some(b)) => out.push(ContentChange::LineAdded {
                    line,
                    now: b.clone(),
                }),
                (Some(a), None) => out.push(ContentChange::LineRemoved {
                    line,
                    was: a.clone(),
                }),
                (None, None) => {}
            }
        }
        out
    }

    /// Income and expense per account, in the order of `ACCOUNTS` (accounts with no
    /// line left out): what a finance notice reads as, account by account.
    pub fn subtotals(&self) -> Vec<AccountSubtotal> {
        ACCOUNTS
            .iter()
            .filter_map(|(account, direction)| {
                let lines: Vec<&FinanceLine> = self
                    .lines
                    .iter()
                    .filter(|l| l.account == *account)
                    .collect();
                (!lines.is_empty()).then(|| AccountSubtotal {
                    account: account.to_string(),
                    direction: *direction,
                    lines: lines.len() as u32,
                    amount_fen: lines
                        .iter()
                        .map(|l| l.amount_fen)
                        .fold(0i64, i64::saturating_add),
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NoticeEvent {
    Create {
        category: Category,
        subtype: Subtype,
        #[serde(default)]
        period: Period,
        content: NoticeContent,
        publish: bool,
    },
    EditDraft {
        content: NoticeContent,
    },
    Publish {},
    Correct {
        content: NoticeContent,
        reason: String,
    },
    Withdraw {
        reason: String,
    },
    Ask {
        text: String,
    },
    Answer {
        question: String,
        text: String,
    },
    Read {
        revision: u32,
    },
    /// A member of the villagers' supervision committee (村务监督委员会) signs off the
    /// draft as it stands (民主理财): a finance disclosure is published only after one
    /// (`policy::check_notice`). An edit of the draft after it voids the sign-off.
    Review {
        #[serde(default)]
        note: String,
    },
    /// Scans, photos or recordings added to the notice (a cadre: the voucher behind a
    /// finance line, `line`), or to a question (`to`: its event id; the member who asked).
    Attach {
        attachments: Vec<super::attachment::Attachment>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum NoticeStatus {
    Draft,
    Published,
    Corrected,
    Withdrawn,
}

impl NoticeStatus {
    /// Whether the notice is out for residents to read (published, or corrected since):
    /// what counts as unread until read. Drafts and withdrawn notices are not.
    pub fn is_live(self) -> bool {
        matches!(self, NoticeStatus::Published | NoticeStatus::Corrected)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Draft => "draft",
            NoticeStatus::Published => "published",
            NoticeStatus::Corrected => "corrected",
            NoticeStatus::Withdrawn => "withdrawn",
        }
    }
}

/// A published revision: what the notice said, who published it, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Revision {
    pub number: u32,
    pub content: NoticeContent,
    pub by: String,
    /// When its author's phone says it was published (the signed time).
    pub at: i64,
    /// Why it was corrected (empty for the first revision).
    pub reason: String,
    /// When it reached the village (the relay's clock; `None` until then). A
    /// publication's date, the start of its 公示 period, is this time.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default)]
    pub arrived_at: Option<i64>,
    /// The id of the event that published it.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

impl Revision {
    /// The time the village saw: arrival at the relay, else the signed time.
    pub fn village_time(&self) -> i64 {
        self.arrived_at.unwrap_or(self.at)
    }
}

/// The notice events whose arrival `Notice::fold_arrived` reads: those that make a
/// revision (create, publish, correct) or a question (ask), by their serde `type`.
pub const ARRIVAL_DATED_EVENTS: &[&str] = &["create", "publish", "correct", "ask"];

/// When events reached the village: event id → the relay's arrival time of the change
/// that carried it (`EntityDoc::event_changes` and the store's arrival records).
pub type Arrivals = BTreeMap<String, i64>;

/// A signed time and an arrival time differ enough to show both (a phone's clock, or a
/// phone offline for a while) when they are more than a day apart.
pub fn arrival_differs(at: i64, arrived_at: Option<i64>) -> bool {
    arrived_at.is_some_and(|a| (a - at).abs() > crate::ids::DAY_MS)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Answer {
    pub by: String,
    pub at: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Question {
    pub id: String,
    pub by: String,
    pub at: i64,
    pub text: String,
    /// The reply is due this long after the question reached the village, and never
    /// counted from before the notice was published there (`Notice::fold_arrived`).
    pub due_at: i64,
    pub answers: Vec<Answer>,
    /// When it reached the village (the relay's clock; `None` until then).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default)]
    pub arrived_at: Option<i64>,
}

/// A supervision committee member's sign-off of a draft (`NoticeEvent::Review`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Review {
    pub by: String,
    pub at: i64,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// member id → highest revision number read.
    pub read_by: BTreeMap<String, u32>,
    /// The supervision committee's sign-offs of the text as it stands (published, or
    /// the draft): those made since the last edit of the draft, one per member.
    #[serde(default)]
    pub reviewed_by: Vec<Review>,
    /// Every attachment, in document order (to the notice, a finance line or a question).
    #[serde(default)]
    pub attachments: Vec<super::attachment::Attached>,
    pub updated_at: i64,
}

impl Notice {
    pub fn current_revision(&self) -> u32 {
        self.revisions.len() as u32
    }
    /// When the notice was first published, as the village saw it: when that
    /// revision reached the relay, else (not yet synced) its signed time.
    pub fn published_at(&self) -> Option<i64> {
        self.revisions.first().map(Revision::village_time)
    }
    pub fn unanswered(&self) -> usize {
        self.questions
            .iter()
            .filter(|q| q.answers.is_empty())
            .count()
    }

    /// Fold the event list into the current state. Events that make no sense in the
    /// state reached so far (a second publish, an answer to no question) are skipped,
    /// the same way on every device.
    pub fn fold(id: &str, events: &[Event<NoticeEvent>]) -> Result<Notice> {
        Self::fold_arrived(id, events, &Arrivals::new())
    }

    /// `fold`, with when each event reached the village (event id → the relay's
    /// clock): revisions and questions carry their arrival, and a question's reply is
    /// due `ANSWER_DUE_MS` after the later of its arrival and the notice's first
    /// publication in the village, so a phone whose clock is slow cannot make a
    /// question overdue the moment it is asked. Events not yet at the relay count
    /// from their signed time.
    pub fn fold_arrived(
        id: &str,
        events: &[Event<NoticeEvent>],
        arrivals: &Arrivals,
    ) -> Result<Notice> {
        let mut n = Self::fold_signed(id, events)?;
        // a revision reaches the village no earlier than the one it follows: a change
        // that arrived early and sat unseen (a correction of a draft, say) dates
        // nothing before the publication it comes after
        let mut floor = i64::MIN;
        for r in &mut n.revisions {
            r.arrived_at = r
                .event
                .as_ref()
                .and_then(|e| arrivals.get(e))
                .map(|a| (*a).max(floor));
            floor = floor.max(r.village_time());
        }
        let published = n.published_at();
        for q in &mut n.questions {
            q.arrived_at = arrivals.get(&q.id).copied();
            let asked = q.arrived_at.unwrap_or(q.at);
            q.due_at = asked.max(published.unwrap_or(asked)) + ANSWER_DUE_MS;
        }
        Ok(n)
    }

    fn fold_signed(id: &str, events: &[Event<NoticeEvent>]) -> Result<Notice> {
        let first = events
            .first()
            .ok_or_else(|| Error::Malformed(format!("notice {id} has no events")))?;
        let NoticeEvent::Create {
            category,
            subtype,
            period,
            content,
            publish,
        } = &first.body
        else {
            return Err(Error::Malformed(format!(
                "notice {id} does not start with a create event"
            )));
        };
        let mut n = Notice {
            id: id.to_string(),
            category: *category,
            subtype: *subtype,
            period: period.clone(),
            status: NoticeStatus::Draft,
            created_by: first.by.clone(),
            created_at: first.at,
            content: content.clone(),
            totals: None,
            revisions: vec![],
            withdrawn_reason: None,
            questions: vec![],
            read_by: BTreeMap::new(),
            reviewed_by: vec![],
            attachments: vec![],
            updated_at: first.at,
        };
        if *publish {
            n.status = NoticeStatus::Published;
            n.publish(first, String::new());
        }
        for e in &events[1..] {
            n.apply(e);
        }
        n.totals = n.content.totals();
        Ok(n)
    }

    /// A new revision. Its author has read it: a cadre's own notice is not unread for
    /// that cadre (badge counts, list marks).
    fn publish(&mut self, e: &Event<NoticeEvent>, reason: String) {
        let number = self.revisions.len() as u32 + 1;
        let r = self.read_by.entry(e.by.clone()).or_insert(0);
        *r = (*r).max(number);
        self.revisions.push(Revision {
            number,
            content: self.content.clone(),
            by: e.by.clone(),
            at: e.at,
            reason,
            arrived_at: None,
            event: Some(e.id.clone()),
        });
    }

    /// A cadre's event may not be dated before the events it follows: a publication or
    /// draft edit before the draft was made, a correction before the publication it
    /// corrects, an answer before its question. Judged on the notice as the event's
    /// author saw it (policy). Residents' questions and reads are not judged by their
    /// signed time (a phone whose clock is slow may still ask; the reply due date is
    /// the relay's business), and the relay bounds how far ahead a clock may run
    /// (`policy::MAX_CLOCK_SKEW_MS`), so a fast clock elsewhere blocks an answer for
    /// minutes at most.
    pub fn check_dated(&self, e: &Event<NoticeEvent>) -> Result<()> {
        let before = |what: &str, t: i64| {
            Err(Error::invalid(format!(
                "the event is dated {}, before {what} ({t}); check this phone's clock, or wait a few minutes if the other phone's runs ahead",
                e.at
            )))
        };
        match &e.body {
            NoticeEvent::Publish {} | NoticeEvent::EditDraft { .. } if e.at < self.created_at => {
                before("the draft was made", self.created_at)
            }
            NoticeEvent::Correct { .. } => match self.revisions.last() {
                Some(r) if e.at < r.at => before("the publication it corrects", r.at),
                _ => Ok(()),
            },
            NoticeEvent::Answer { question, .. } => {
                match self.questions.iter().find(|q| &q.id == question) {
                    Some(q) if e.at < q.at => before("the question it answers", q.at),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether `e` would change anything when applied now (used by the API to refuse
    /// meaningless operations with a clear error).
    pub fn check_applicable(&self, e: &NoticeEvent) -> Result<()> {
        use NoticeStatus::*;
        let st = self.status;
        let bad = |what: &str| {
            Err(Error::InvalidTransition(format!(
                "cannot {what} a notice that is {}",
                st.as_str()
            )))
        };
        match e {
            NoticeEvent::Create { .. } => Err(Error::invalid("notice already exists")),
            NoticeEvent::EditDraft { .. } if st != Draft => bad("edit the draft of"),
            NoticeEvent::Publish {} if st != Draft => bad("publish"),
            NoticeEvent::Correct { .. } if !matches!(st, Published | Corrected) => bad("correct"),
            NoticeEvent::Withdraw { .. } if st == Withdrawn => bad("withdraw"),
            NoticeEvent::Ask { .. } if !matches!(st, Published | Corrected) => bad("ask about"),
            NoticeEvent::Answer { question, .. }
                if !self.questions.iter().any(|q| &q.id == question) =>
            {
                Err(Error::NotFound(format!(
                    "question {question} on notice {}",
                    self.id
                )))
            }
            NoticeEvent::Review { .. } if st != Draft => bad("sign off"),
            NoticeEvent::Attach { to: Some(q), .. }
                if !self.questions.iter().any(|x| &x.id == q) =>
            {
                Err(Error::NotFound(format!(
                    "question {q} on notice {}",
                    self.id
                )))
            }
            NoticeEvent::Attach { line: Some(l), .. }
                if *l as usize >= self.content.lines.len() =>
            {
                Err(Error::invalid(format!(
                    "the notice has no finance line {l} ({} lines)",
                    self.content.lines.len()
                )))
            }
            NoticeEvent::Read { revision }
                if *revision == 0 || *revision > self.current_revision() =>
            {
                Err(Error::invalid(format!(
                    "revision {revision} does not exist (latest is {})",
                    self.current_revision()
                )))
            }
            _ => Ok(()),
        }
    }

    fn apply(&mut self, e: &Event<NoticeEvent>) {
        if self.check_applicable(&e.body).is_err() {
            return;
        }
        self.updated_at = self.updated_at.max(e.at);
        match &e.body {
            NoticeEvent::Create { .. } => {}
            NoticeEvent::EditDraft { content } => {
                self.content = content.clone();
                // the sign-offs were of the text before
                self.reviewed_by.clear();
            }
            NoticeEvent::Review { note } => {
                if !self.reviewed_by.iter().any(|r| r.by == e.by) {
                    self.reviewed_by.push(Review {
                        by: e.by.clone(),
                        at: e.at,
                        note: note.clone(),
                    });
                }
            }
            NoticeEvent::Publish {} => {
                self.status = NoticeStatus::Published;
                self.publish(e, String::new());
            }
            NoticeEvent::Correct { content, reason } => {
                self.status = NoticeStatus::Corrected;
                self.content = content.clone();
                self.publish(e, reason.clone());
            }
            NoticeEvent::Withdraw { reason } => {
                self.status = NoticeStatus::Withdrawn;
                self.withdrawn_reason = Some(reason.clone());
            }
            NoticeEvent::Ask { text } => self.questions.push(Question {
                id: e.id.clone(),
                by: e.by.clone(),
                at: e.at,
                text: text.clone(),
                due_at: e.at + ANSWER_DUE_MS,
                answers: vec![],
                arrived_at: None,
            }),
            NoticeEvent::Answer { question, text } => {
                if let Some(q) = self.questions.iter_mut().find(|q| &q.id == question) {
                    q.answers.push(Answer {
                        by: e.by.clone(),
                        at: e.at,
                        text: text.clone(),
                    });
                }
            }
            NoticeEvent::Read { revision } => {
                let r = self.read_by.entry(e.by.clone()).or_insert(0);
                *r = (*r).max(*revision);
            }
            NoticeEvent::Attach {
                attachments,
                to,
                line,
            } => self
                .attachments
                .extend(attachments.iter().map(|a| super::attachment::Attached {
                    attachment: a.clone(),
                    by: e.by.clone(),
                    at: e.at,
                    to: to.clone(),
                    line: *line,
                })),
        }
    }
}
