//! Parsing what the user typed into core types: enum values by their snake_case
//! identifier or by their name in Chinese or English (`--category 财务公开` or
//! `--category finance`; `--status 已受理`), finance lines, dates. Every failure is a
//! usage error (exit 2) that says what was expected, in the run's language.

use crate::error::{CliError, CliResult};
use crate::lang::lang;
use crate::t;
use cunwu_core::model::deliberation::DecidingBody;
use cunwu_core::model::notice::{
    Category, Direction, FinanceLine, NoticeStatus, PeriodKind, Subtype,
};
use cunwu_core::model::request::{Status, DEFAULT_KINDS};
use cunwu_core::words::{catalogue, label, Labelled, Lang, RequestKind};
use cunwu_core::Role;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// The snake_case identifier of an enum value (its serde name).
fn ident<T: Serialize>(x: &T) -> String {
    serde_json::to_value(x)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Whether `typed` names `x`: its identifier (any case, `-` for `_`) or its label in
/// either language.
fn names<T: Labelled>(x: &T, id: &str, typed: &str) -> bool {
    let norm = typed.trim().to_lowercase().replace('-', "_");
    norm == id
        || Lang::ALL
            .iter()
            .any(|l| label(*l, x).to_lowercase() == typed.trim().to_lowercase())
}

/// "finance（财务公开）, party（党务公开）" (English: "finance (Village accounts)").
fn expected<T: Labelled + Serialize>(all: &[T]) -> String {
    let sep = match lang() {
        Lang::Zh => "，",
        Lang::En => ", ",
    };
    all.iter()
        .map(|x| match lang() {
            Lang::Zh => format!("{}（{}）", ident(x), label(Lang::Zh, x)),
            Lang::En => format!("{} ({})", ident(x), label(Lang::En, x)),
        })
        .collect::<Vec<_>>()
        .join(sep)
}

/// An enum value by identifier or name, from its `ALL` list; `what` is the catalogue
/// id of what is asked for ("cli-what-category").
pub fn enum_value<T: Labelled + Serialize + DeserializeOwned + Copy>(
    what: &str,
    s: &str,
    all: &[T],
) -> CliResult<T> {
    all.iter()
        .copied()
        .find(|x| names(x, &ident(x), s))
        .ok_or_else(|| {
            CliError::usage(t!(
                "cli-unknown-value",
                what = t!(what),
                typed = s.trim(),
                expected = expected(all)
            ))
        })
}

pub fn category(s: &str) -> CliResult<Category> {
    enum_value("cli-what-category", s, &catalogue::CATEGORY_ALL)
}
pub fn subtype(s: &str) -> CliResult<Subtype> {
    enum_value("cli-what-subtype", s, &catalogue::SUBTYPE_ALL)
}
pub fn period(s: &str) -> CliResult<PeriodKind> {
    enum_value("cli-what-period", s, &catalogue::PERIOD_KIND_ALL)
}
pub fn notice_status(s: &str) -> CliResult<NoticeStatus> {
    enum_value("cli-what-notice-status", s, &catalogue::NOTICE_STATUS_ALL)
}
pub fn request_status(s: &str) -> CliResult<Status> {
    enum_value("cli-what-request-status", s, &Status::ALL)
}
pub fn deciding_body(s: &str) -> CliResult<DecidingBody> {
    enum_value("cli-what-deciding-body", s, &catalogue::DECIDING_BODY_ALL)
}
pub fn role(s: &str) -> CliResult<Role> {
    enum_value("cli-what-role", s, &Role::ALL)
}

/// A request kind by identifier or name; anything else is passed on as typed, for the
/// core to judge against the space's catalogue (`unknown request kind ...`).
pub fn request_kind(s: &str) -> String {
    DEFAULT_KINDS
        .iter()
        .find(|k| names(&RequestKind(k), k, s))
        .map(|k| k.to_string())
        .unwrap_or_else(|| s.trim().to_string())
}

/// `--order newest|recent` of a list.
pub fn list_order(s: &str) -> CliResult<cunwu_core::store::ListOrder> {
    cunwu_core::store::ListOrder::parse(s.trim())
        .ok_or_else(|| CliError::usage(t!("cli-unknown-order", typed = s.trim())))
}

/// `YYYY-MM-DD` with a plausible month and day.
pub fn date(what: &str, d: &str) -> CliResult<String> {
    let d = d.trim();
    let b = d.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && d[..4].parse::<u32>().is_ok()
        && d[5..7].parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
        && d[8..].parse::<u32>().is_ok_and(|x| (1..=31).contains(&x));
    if ok {
        Ok(d.to_string())
    } else {
        Err(CliError::usage(t!("cli-bad-date", what = what, typed = d)))
    }
}

/// One `--line 'date,income|expense,account,item,amount_fen[,payee[,voucher]]'`.
pub fn finance_line(n: usize, s: &str) -> CliResult<FinanceLine> {
    let bad = |m: String| CliError::usage(t!("cli-bad-line", n = n, line = s, problem = m));
    let f: Vec<&str> = s.split(',').map(str::trim).collect();
    if !(5..=7).contains(&f.len()) {
        return Err(bad(t!("cli-line-fields", n = f.len())));
    }
    let direction = match f[1] {
        "income" | "收入" => Direction::Income,
        "expense" | "支出" => Direction::Expense,
        other => return Err(bad(t!("cli-line-direction", typed = other))),
    };
    let amount_fen = f[4].parse::<i64>().map_err(|e| {
        bad(match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => t!(
                "cli-line-amount-too-large",
                typed = f[4],
                max = cunwu_core::model::MAX_AMOUNT_FEN
            ),
            _ => t!("cli-line-amount", typed = f[4]),
        })
    })?;
    Ok(FinanceLine {
        date: date("date", f[0]).map_err(|e| bad(e.to_string()))?,
        direction,
        account: f[2].to_string(),
        item: f[3].to_string(),
        amount_fen,
        payee_or_dept: f.get(5).unwrap_or(&"").to_string(),
        voucher_no: f.get(6).unwrap_or(&"").to_string(),
    })
}

/// A JSON file holding an array of finance lines.
pub fn finance_lines_json(path: &Path) -> CliResult<Vec<FinanceLine>> {
    let raw = std::fs::read(path).map_err(|e| {
        CliError::usage(t!(
            "cli-cannot-read",
            path = path.display().to_string(),
            detail = e.to_string()
        ))
    })?;
    serde_json::from_slice(&raw).map_err(|e| {
        CliError::usage(t!(
            "cli-bad-lines-json",
            path = path.display().to_string(),
            detail = e.to_string()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_enums() {
        let l = finance_line(
            1,
            "2026-07-05,income,发包及上交收入,山林承包费,3600000,林丰合作社,记-071",
        )
        .unwrap();
        assert_eq!(l.amount_fen, 3_600_000);
        assert_eq!(l.direction, Direction::Income);
        assert_eq!(l.voucher_no, "记-071");
        assert!(finance_line(1, "2026-07-05,income,x").is_err());
        assert!(finance_line(1, "2026-7-5,income,a,b,1").is_err());
        assert!(finance_line(1, "2026-07-05,gift,a,b,1").is_err());
        assert!(finance_line(1, "2026-07-05,income,a,b,1.5").is_err());
        // an amount too large for the arithmetic says so, not "not a whole number"
        let e = finance_line(1, "2026-07-05,income,a,b,99999999999999999999")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&cunwu_core::model::MAX_AMOUNT_FEN.to_string()),
            "names the largest amount a line holds: {e}"
        );
        assert_eq!(category("Finance").unwrap(), Category::Finance);
        assert!(category("money").is_err());
    }

    #[test]
    fn chinese_and_english_names_are_accepted() {
        assert_eq!(category("财务公开").unwrap(), Category::Finance);
        assert_eq!(category(" village ").unwrap(), Category::Village);
        assert_eq!(category("Village affairs").unwrap(), Category::Village);
        assert_eq!(request_status("已受理").unwrap(), Status::Accepted);
        assert_eq!(request_status("in-progress").unwrap(), Status::InProgress);
        assert_eq!(notice_status("草稿").unwrap(), NoticeStatus::Draft);
        assert_eq!(role("村民代表").unwrap(), Role::VillagerRep);
        assert_eq!(
            deciding_body("村民会议").unwrap(),
            DecidingBody::VillagersMeeting
        );
        assert_eq!(subtype("季度账目").unwrap(), Subtype::QuarterlyAccounts);
        assert_eq!(period("季度").unwrap(), PeriodKind::Quarterly);
        assert_eq!(request_kind("低保救助"), "social_assistance");
        assert_eq!(request_kind("公共设施维修"), "public_facility_repair");
        assert_eq!(request_kind("spaceship"), "spaceship");
        assert!(request_status("丢了").is_err());
    }
}
