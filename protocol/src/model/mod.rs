//! The domain: notices, service requests, deliberations and ballots.
//!
//! Every entity is an append-only list of events inside its own automerge document.
//! What a screen shows (a notice's current revision, a request's status, a tally) is
//! *derived* by folding the events in document order. Two people acting offline both
//! append; automerge orders concurrent appends the same way on every replica, so every
//! device derives the same state, and nothing anyone did is lost from the history.

pub mod attachment;
pub mod branch;
pub mod deliberation;
pub mod matter;
pub mod notice;
pub mod proposal;
pub mod register;
pub mod request;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

// Every limit on what people type lives here, and every participant (the phone's
// action layer, the sync client, the relay, the policy) checks against these.

/// Longest title, option label, finance line item or payee, material name, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest member name (given at enrolment) and space name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most options in one vote.
pub const MAX_OPTIONS: usize = 50;
/// Most required materials listed on one request.
pub const MAX_MATERIALS: usize = 100;
/// Longest body, description, comment or answer, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Most finance lines in one notice revision.
pub const MAX_FINANCE_LINES: usize = 2_000;
/// Largest amount of one finance line: 10^12 fen (ten billion yuan).
pub const MAX_AMOUNT_FEN: i64 = 1_000_000_000_000;

// Budgets of one change, checked on its operations before it is applied (policy,
// `doc::inspect_change`). They admit the largest legitimate event — a finance notice
// revision of `MAX_FINANCE_LINES` lines with every text at its limit — and no more.

/// Most automerge operations in one change.
pub const MAX_OPS_PER_CHANGE: usize = 20_000;
/// Most bytes of one change (automerge's uncompressed change form).
pub const MAX_CHANGE_BYTES: usize = 4 * 1024 * 1024;
/// Most events one change may append (the app makes exactly one).
pub const MAX_EVENTS_PER_CHANGE: usize = 1;
/// Deepest nesting of a document: root 0, event list 1, event 2, content 3, finance
/// lines 4, a line 5 (a few levels to spare).
pub const MAX_DEPTH: usize = 8;
/// Longest string value in bytes (the longest text, 4 bytes a character).
pub const MAX_STRING_BYTES: usize = 4 * MAX_TEXT_CHARS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum EntityKind {
    Notice,
    Request,
    /// Cadre-only notes on a request (kept apart so the filer never receives them).
    RequestNotes,
    Deliberation,
    /// One member's ballot in one deliberation (kept apart so secret ballots stay with the
    /// voter), or one person's ballot and attendance recorded by a teller in the hall.
    Ballot,
    /// The register of villagers and households (one per space, kept by cadres).
    Register,
    /// Villagers putting a matter forward for a meeting, with co-signs.
    Proposal,
    /// A major matter decided by 四议两公开 (`model::matter`).
    Matter,
    /// An activity of the party branch (`model::branch`), read by party members and staff.
    PartyActivity,
}

impl EntityKind {
    // new kinds go at the end: a kind's code is its place in this list
    pub const ALL: [EntityKind; 9] = [
        EntityKind::Notice,
        EntityKind::Request,
        EntityKind::RequestNotes,
        EntityKind::Deliberation,
        EntityKind::Ballot,
        EntityKind::Register,
        EntityKind::Proposal,
        EntityKind::Matter,
        EntityKind::PartyActivity,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Notice => "notice",
            EntityKind::Request => "request",
            EntityKind::RequestNotes => "request_notes",
            EntityKind::Deliberation => "deliberation",
            EntityKind::Ballot => "ballot",
            EntityKind::Register => "register",
            EntityKind::Proposal => "proposal",
            EntityKind::Matter => "matter",
            EntityKind::PartyActivity => "party_activity",
        }
    }
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::Malformed(format!("unknown entity kind {s:?}")))
    }
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn from_code(c: u8) -> Result<Self> {
        Self::ALL
            .get(c as usize)
            .copied()
            .ok_or_else(|| Error::Malformed(format!("unknown entity kind code {c}")))
    }
}

/// One event in an entity's history: who (member id), when (device time, UTC ms), what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<B> {
    pub id: String,
    pub by: String,
    pub at: i64,
    #[serde(flatten)]
    pub body: B,
}

pub fn check_title(t: &str) -> Result<()> {
    if t.trim().is_empty() {
        return Err(Error::invalid("title must not be empty"));
    }
    check_len("title", t, MAX_TITLE_CHARS)
}

/// A member's or a space's name: 1 to `MAX_NAME_CHARS` characters after trimming.
/// Returns the trimmed name (what is stored).
pub fn check_name<'a>(field: &str, name: &'a str) -> Result<&'a str> {
    let t = name.trim();
    if t.is_empty() || t.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(format!(
            "{field} must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(t)
}

pub fn check_text(field: &str, t: &str, required: bool) -> Result<()> {
    if required && t.trim().is_empty() {
        return Err(Error::invalid(format!("{field} must not be empty")));
    }
    check_len(field, t, MAX_TEXT_CHARS)
}

pub fn check_len(field: &str, t: &str, max: usize) -> Result<()> {
    let n = t.chars().count();
    if n > max {
        return Err(Error::invalid(format!(
            "{field} is {n} characters; the limit is {max}"
        )));
    }
    Ok(())
}

/// `YYYY-MM-DD`, checked for shape and plausible month/day.
pub fn check_date(field: &str, d: &str) -> Result<()> {
    let b = d.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && d[..4].parse::<u32>().is_ok()
        && d[5..7].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
        && d[8..].parse::<u32>().is_ok_and(|x| (1..=31).contains(&x));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{field} {d:?} is not a date of the form YYYY-MM-DD"
        )))
    }
}

/// The date in the village (UTC+8, all of China; no daylight saving) at `ms`, as
/// `YYYY-MM-DD`: adulthood on a birthday and dates people read follow it, never a
/// device's time zone.
pub fn village_date(ms: i64) -> String {
    let days = (ms + 8 * 3600 * 1000).div_euclid(86_400_000);
    // civil from days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}
