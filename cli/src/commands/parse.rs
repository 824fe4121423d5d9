//! Parsing what the user typed into core types: snake_case enum names, finance lines,
//! dates. Every failure is a usage error (exit 2) that says what was expected.

use crate::error::{CliError, CliResult};
use cunwu_core::model::notice::{Direction, FinanceLine};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parse a snake_case enum name through its serde representation.
pub fn enum_value<T: DeserializeOwned>(what: &str, s: &str, allowed: &[&str]) -> CliResult<T> {
    let norm = s.trim().to_ascii_lowercase().replace('-', "_");
    serde_json::from_value(serde_json::Value::String(norm)).map_err(|_| {
        CliError::usage(format!(
            "unknown {what} {s:?}; expected one of {}",
            allowed.join(", ")
        ))
    })
}

pub const CATEGORIES: &[&str] = &["party", "village", "finance"];
pub const SUBTYPES: &[&str] = &[
    "resolution",
    "implementation",
    "relief_funds",
    "subsidy_list",
    "homestead",
    "land_contract",
    "work_allowance",
    "quarterly_accounts",
    "other",
];
pub const PERIODS: &[&str] = &["monthly", "quarterly", "ad_hoc"];
pub const NOTICE_STATUSES: &[&str] = &["draft", "published", "corrected", "withdrawn"];
pub const BODIES: &[&str] = &[
    "villagers_meeting",
    "villager_reps",
    "household_reps",
    "party_members",
    "group_meeting",
    "consultation_only",
];

/// `--order newest|recent` of a list.
pub fn list_order(s: &str) -> CliResult<cunwu_core::store::ListOrder> {
    cunwu_core::store::ListOrder::parse(s.trim())
        .ok_or_else(|| CliError::usage(format!("unknown order {s:?}; expected newest or recent")))
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
        Err(CliError::usage(format!(
            "{what} {d:?} is not a date of the form YYYY-MM-DD"
        )))
    }
}

/// One `--line 'date,income|expense,account,item,amount_fen[,payee[,voucher]]'`.
pub fn finance_line(n: usize, s: &str) -> CliResult<FinanceLine> {
    let bad = |m: String| CliError::usage(format!("--line {n} ({s:?}): {m}"));
    let f: Vec<&str> = s.split(',').map(str::trim).collect();
    if !(5..=7).contains(&f.len()) {
        return Err(bad(format!(
            "expected 5 to 7 comma-separated fields (date,income|expense,account,item,amount_fen[,payee[,voucher]]), got {}",
            f.len()
        )));
    }
    let direction = match f[1] {
        "income" | "收入" => Direction::Income,
        "expense" | "支出" => Direction::Expense,
        other => {
            return Err(bad(format!(
                "direction {other:?} must be income or expense"
            )))
        }
    };
    let amount_fen = f[4].parse::<i64>().map_err(|e| {
        bad(match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                amount_too_large(f[4])
            }
            _ => format!("amount {:?} must be a whole number of fen", f[4]),
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

/// An amount of fen that no finance line can hold (words for people, issue 14).
fn amount_too_large(typed: &str) -> String {
    format!(
        "amount {typed} fen is too large: a line holds at most {} fen",
        cunwu_core::model::MAX_AMOUNT_FEN
    )
}

/// A JSON file holding an array of finance lines.
pub fn finance_lines_json(path: &Path) -> CliResult<Vec<FinanceLine>> {
    let raw = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_slice(&raw).map_err(|e| {
        CliError::usage(format!(
            "{} is not a JSON array of finance lines ({{date, direction, account, item, amount_fen, payee_or_dept, voucher_no}}): {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cunwu_core::model::notice::Category;

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
        assert!(e.contains("too large"), "{e}");
        let c: Category = enum_value("category", "Finance", CATEGORIES).unwrap();
        assert_eq!(c, Category::Finance);
        assert!(enum_value::<Category>("category", "money", CATEGORIES).is_err());
    }
}
