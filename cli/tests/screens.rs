//! What people read on the command line (issue 14, defects 7, 9, 10, 11): a closed vote
//! says whether its result is provisional or final, the warning when a vote opens says
//! what the relay will do, the history of a request filed for an elder says who acted
//! for whom, and a finance notice reads as accounts with every revision in full.
//! Text is checked in English (`CUNWU_LANG=en`: the CLI's default language is Chinese
//! once the catalogue lands); `--json` keys are checked as contracts.

use cunwu_core::Role;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cunwu");

fn cunwu(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("CUNWU_HOME")
        .env("CUNWU_LANG", "en")
        .output()
        .expect("cunwu runs")
}

fn text(home: &Path, args: &[&str]) -> String {
    let out = cunwu(home, args);
    assert!(
        out.status.success(),
        "cunwu {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(home: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&text(home, &a)).expect("JSON on stdout")
}

mod common;
use common::Village;

impl Village {
    fn enroll(&self, home: &str, name: &str, role: Role) -> PathBuf {
        let invite = self.invite(role);
        let h = self.home(home);
        json(
            &h,
            &[
                "enroll",
                "--relay",
                &self.url(),
                "--invite",
                &invite,
                "--name",
                name,
            ],
        );
        h
    }
}

fn open_vote(home: &Path) -> Value {
    json(
        home,
        &[
            "deliberation",
            "open",
            "--title",
            "修村道",
            "--body-kind",
            "villagers_meeting",
            "--option",
            "同意",
            "--option",
            "不同意",
            "--closes-in-hours",
            "24",
        ],
    )
}

// ---- 7 ------------------------------------------------------------------------------

#[test]
fn a_vote_closed_early_says_its_result_is_provisional_until_the_grace_period_ends() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    let id = open_vote(&cadre)["id"].as_str().unwrap().to_string();
    text(&cadre, &["deliberation", "vote", &id, "--option", "同意"]);
    text(&cadre, &["deliberation", "close", &id]);
    let shown = text(&cadre, &["deliberation", "show", &id]);
    assert!(
        shown.contains("provisional") && shown.contains("final at"),
        "inside the grace period the result reads as provisional, with when it becomes final:\n{shown}"
    );
    assert!(
        shown.contains("closed early"),
        "a vote closed early shows when it closed:\n{shown}"
    );
    assert!(!shown.contains("(final)"), "{shown}");
    let j = json(&cadre, &["deliberation", "show", &id]);
    let closed_at = j["closed_at"].as_i64().unwrap();
    assert_eq!(j["standing"]["state"], "provisional", "{j}");
    assert_eq!(j["standing"]["reason"], "offline_ballots", "{j}");
    assert_eq!(
        j["standing"]["final_at"].as_i64(),
        Some(closed_at + cunwu_core::model::deliberation::BALLOT_GRACE_MS)
    );
}

// ---- 9 ------------------------------------------------------------------------------

#[test]
fn the_warning_when_a_vote_opens_says_what_the_relay_will_do() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    // a resident joins after the cadre's last sync: the cadre's roster does not list them
    let resident = v.enroll("resident", "王秀英", Role::Resident);
    let roster_version = json(&cadre, &["status"])["roster_version"].clone();
    let out = cunwu(
        &cadre,
        &[
            "deliberation",
            "open",
            "--title",
            "修村道",
            "--body-kind",
            "villagers_meeting",
            "--option",
            "同意",
            "--option",
            "不同意",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("reject"),
        "the relay keeps a snapshot taken from the roster this phone holds; it does not reject it:\n{said}"
    );
    assert!(
        said.contains(&format!("roster version {roster_version}")) && said.contains("joined after"),
        "the warning names the snapshot the relay will use ({roster_version}):\n{said}"
    );
    // and that is what happens: accepted, the later member not eligible
    let s = json(&cadre, &["sync"]);
    assert_eq!(s["rejected"], 0, "{s}");
    let list = json(&cadre, &["deliberation", "list"]);
    let id = list[0]["id"].as_str().unwrap();
    let d = json(&cadre, &["deliberation", "show", id]);
    assert_eq!(d["eligible"].as_array().unwrap().len(), 1, "{d}");
    json(&resident, &["sync"]);
    let out = cunwu(&resident, &["deliberation", "vote", id, "--option", "同意"]);
    assert!(!out.status.success(), "the later member may not vote");
}

// ---- 10 -----------------------------------------------------------------------------

#[test]
fn the_history_of_a_request_filed_for_an_elder_says_who_acted_for_whom() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    let elder = v.enroll("elder", "张奶奶", Role::Resident);
    json(&cadre, &["sync"]);
    let r = json(
        &cadre,
        &[
            "request",
            "file",
            "--kind",
            "public_facility_repair",
            "--title",
            "门前路灯坏了",
            "--for",
            "张奶奶",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    for to in ["accepted", "resolved"] {
        json(&cadre, &["request", "transition", &r, "--to", to]);
    }
    json(&cadre, &["request", "assign", &r, "--to", "陈建国"]);
    json(
        &cadre,
        &["request", "rate", &r, "--stars", "5", "--text", "满意"],
    );
    json(
        &cadre,
        &[
            "request",
            "transition",
            &r,
            "--to",
            "reopened",
            "--note",
            "又坏了",
        ],
    );
    json(&cadre, &["sync"]);
    json(&elder, &["sync"]);
    // the elder's own phone shows the same history
    let shown = text(&elder, &["request", "show", &r]);
    assert!(
        shown.contains("Resolved → Reopened") && shown.contains("for 张奶奶"),
        "the reopening was made by the cadre for the elder:\n{shown}"
    );
    assert!(
        shown.contains("assigned to 陈建国"),
        "the assignment is in the history:\n{shown}"
    );
    assert!(shown.contains("rated by 陈建国 for 张奶奶"), "{shown}");
    let j = json(&elder, &["request", "show", &r]);
    assert_eq!(j["status"], "reopened");
    assert_eq!(j["assignments"].as_array().unwrap().len(), 1);
}

// ---- 11 -----------------------------------------------------------------------------

#[test]
fn a_finance_notice_reads_as_accounts_with_every_revision_in_full() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    let posted = json(
        &cadre,
        &[
            "notice",
            "post",
            "--category",
            "finance",
            "--subtype",
            "quarterly_accounts",
            "--period",
            "quarterly",
            "--period-start",
            "2026-07-01",
            "--period-end",
            "2026-09-30",
            "--title",
            "第三季度财务公开",
            "--opening-balance-fen",
            "1000000",
            "--line",
            "2026-07-05,income,发包及上交收入,山林承包费,3600000,林丰合作社,记-071",
            "--line",
            "2026-07-18,expense,管理费用,误工补贴,124000,村委会,记-072",
            "--line",
            "2026-08-02,expense,管理费用,办公用品,6000,村委会,记-073",
        ],
    );
    let id = posted["id"].as_str().unwrap().to_string();
    json(
        &cadre,
        &[
            "notice",
            "correct",
            &id,
            "--reason",
            "误工补贴金额更正",
            "--line",
            "2026-07-05,income,发包及上交收入,山林承包费,3600000,林丰合作社,记-071",
            "--line",
            "2026-07-18,expense,管理费用,误工补贴,120000,村委会,记-072",
            "--line",
            "2026-08-02,expense,管理费用,办公用品,6000,村委会,记-073",
        ],
    );
    let shown = text(&cadre, &["notice", "show", &id]);
    let after = |needle: &str| {
        shown
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{shown}"))
    };
    // subtotals per account, in the current revision
    let sub = after("By account");
    assert!(
        shown[sub..].contains("管理费用") && shown[sub..].contains("¥1,260.00"),
        "{shown}"
    );
    assert!(shown[sub..].contains("发包及上交收入") && shown[sub..].contains("¥36,000.00"));
    // revision 1 in full, its lines too, and what the correction changed
    let rev1 = after("Revision 1");
    assert!(
        shown[rev1..].contains("¥1,240.00"),
        "revision 1's own line:\n{shown}"
    );
    assert!(
        shown.contains("line 2 (误工补贴) amount ¥1,240.00 → ¥1,200.00"),
        "what changed:\n{shown}"
    );
    let j = json(&cadre, &["notice", "show", &id]);
    let subs = j["subtotals"].as_array().expect("subtotals in --json");
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1]["account"], "管理费用");
    assert_eq!(subs[1]["amount_fen"], 126_000);
}
