//! End-to-end tests of the `cunwu` binary: the demo, two homes syncing through a relay
//! started in this test process, bundles, rejected changes, and error exit codes.

use cunwu_core::Role;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cunwu");

fn cunwu(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("CUNWU_HOME")
        .output()
        .expect("cunwu runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run, require success, parse stdout as JSON.
fn json(home: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = cunwu(home, &a);
    assert!(
        out.status.success(),
        "cunwu {args:?} failed ({:?}): {}",
        out.status.code(),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "cunwu {args:?} printed no JSON ({e}): {}",
            text(&out.stdout)
        )
    })
}

fn assert_usage_error(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "expected exit 2, stderr: {err}");
    assert!(
        err.starts_with("cunwu: "),
        "stderr should start with `cunwu: `: {err}"
    );
    assert!(
        err.contains(needle),
        "stderr should mention {needle:?}: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "no panic for bad input: {err}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout for an error: {}",
        text(&out.stdout)
    );
}

/// A relay inside the test process, a space, and enrolled homes.
struct Village {
    rt: tokio::runtime::Runtime,
    relay: Option<cunwu_relay::RunningRelay>,
    space: String,
    dir: tempfile::TempDir,
}

impl Village {
    fn new() -> Village {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let relay = rt
            .block_on(cunwu_relay::spawn(&dir.path().join("relay.db")))
            .unwrap();
        let (space, _) = relay.relay.create_space("青石村").unwrap();
        Village {
            rt,
            relay: Some(relay),
            space,
            dir,
        }
    }

    fn url(&self) -> String {
        self.relay.as_ref().unwrap().url()
    }

    fn home(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Enrol a new home with an admin invite for `role`; returns its path.
    fn enroll(&self, home: &str, name: &str, role: Role) -> std::path::PathBuf {
        let invite = self
            .relay
            .as_ref()
            .unwrap()
            .relay
            .admin_invite(&self.space, role, "H01", "一组")
            .unwrap();
        let h = self.home(home);
        let v = json(
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
        assert_eq!(v["name"], name);
        assert_eq!(v["role"], role.as_str());
        h
    }
}

impl Drop for Village {
    fn drop(&mut self) {
        if let Some(r) = self.relay.take() {
            self.rt.block_on(r.stop());
        }
    }
}

fn sync(home: &Path) -> Value {
    let v = json(home, &["sync"]);
    for k in [
        "sent",
        "received",
        "rejected",
        "round_trips",
        "bytes_sent",
        "bytes_received",
    ] {
        assert!(v[k].is_u64(), "sync --json lacks a numeric {k:?}: {v}");
    }
    v
}

fn post_village_notice(home: &Path, title: &str) -> Value {
    json(
        home,
        &[
            "notice",
            "post",
            "--category",
            "village",
            "--title",
            title,
            "--body",
            "下周一开始修路，请沿线村民配合。",
        ],
    )
}

#[test]
fn demo_converges() {
    let out = Command::new(BIN).arg("demo").output().unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{stdout}",
        text(&out.stderr)
    );
    assert!(stdout.contains("converged: yes"), "{stdout}");
    for who in ["陈建国", "王秀英", "李明"] {
        assert!(
            stdout.contains(who),
            "demo output should show {who}: {stdout}"
        );
    }
    assert!(
        stdout.contains("低保") || stdout.contains("最低生活保障"),
        "{stdout}"
    );

    let out = Command::new(BIN).args(["demo", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "demo --json failed: {}",
        text(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("demo --json prints one JSON object");
    assert_eq!(v["converged"], true);
    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3);
    let notices: Vec<&Value> = devices.iter().map(|d| &d["notices"]).collect();
    assert!(
        notices.iter().all(|n| *n == notices[0]),
        "every device shows the same notices"
    );
    assert_eq!(notices[0].as_array().unwrap().len(), 2);
    assert!(devices
        .iter()
        .all(|d| d["deliberations"][0]["tally"]["participants"] == 2));
    assert_eq!(
        devices[0]["requests"].as_array().unwrap().len(),
        2,
        "the cadre sees both requests"
    );
    assert_eq!(
        devices[1]["requests"].as_array().unwrap().len(),
        1,
        "a resident sees only their own"
    );
}

#[test]
fn two_homes_sync_through_a_relay() {
    let v = Village::new();
    let cadre_invite = v
        .relay
        .as_ref()
        .unwrap()
        .relay
        .admin_invite(&v.space, Role::Cadre, "", "")
        .unwrap();
    let cadre = v.home("cadre");
    let e = json(
        &cadre,
        &[
            "enroll",
            "--relay",
            &v.url(),
            "--invite",
            &cadre_invite,
            "--name",
            "陈建国",
        ],
    );
    assert_eq!(e["space_name"], "青石村");
    let resident = v.enroll("resident", "王秀英", Role::Resident);

    let posted = post_village_notice(&cadre, "关于修路的通知");
    let id = posted["id"].as_str().unwrap().to_string();
    assert_eq!(posted["status"], "published");
    let fin = json(
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
            "--title",
            "第三季度财务公开",
            "--opening-balance-fen",
            "18643250",
            "--line",
            "2026-07-05,income,发包及上交收入,山林承包费,3600000,林丰合作社,记-071",
            "--line",
            "2026-07-18,expense,管理费用,误工补贴,1240000",
        ],
    );
    let rid = json(
        &resident,
        &[
            "request",
            "file",
            "--kind",
            "social_assistance",
            "--title",
            "申请低保",
            "--description",
            "家中困难",
        ],
    )["id"]
        .as_str()
        .unwrap()
        .to_string();

    let s1 = sync(&cadre);
    assert_eq!(s1["sent"], 2);
    assert_eq!(s1["rejected"], 0);
    assert_eq!(s1["round_trips"], 1);
    assert!(s1["bytes_sent"].as_u64().unwrap() > 0 && s1["bytes_received"].as_u64().unwrap() > 0);
    let s2 = sync(&resident);
    assert_eq!(s2["sent"], 1);
    assert_eq!(s2["received"], 2);
    let s3 = sync(&cadre);
    assert_eq!(s3["received"], 1);

    let list = json(&resident, &["notice", "list"]);
    let list = list.as_array().expect("notice list --json is an array");
    assert_eq!(list.len(), 2);
    for n in list {
        for k in ["id", "title", "status"] {
            assert!(n[k].is_string(), "notice list entry lacks {k:?}: {n}");
        }
    }
    let road = list
        .iter()
        .find(|n| n["id"] == id.as_str())
        .expect("the cadre's notice reached the resident");
    assert_eq!(road["title"], "关于修路的通知");
    assert_eq!(road["status"], "published");

    let shown = json(
        &resident,
        &["notice", "show", &fin["id"].as_str().unwrap()[..8]],
    );
    assert_eq!(shown["totals"]["closing_fen"], 18643250 + 3600000 - 1240000);
    assert_eq!(shown["totals_yuan"]["closing"], "¥210,032.50");

    let reqs = json(&cadre, &["request", "list"]);
    let reqs = reqs.as_array().unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["id"], rid.as_str());
    assert_eq!(reqs[0]["status"], "submitted");
    assert!(reqs[0]["title"].is_string());
    let hits = json(&cadre, &["search", "低保"]);
    assert_eq!(hits[0]["id"], rid.as_str());

    // The request's life, seen by both.
    json(
        &cadre,
        &[
            "request",
            "transition",
            &rid,
            "--to",
            "accepted",
            "--note",
            "已受理",
        ],
    );
    json(
        &cadre,
        &["request", "comment", &rid, "核实收入", "--internal"],
    );
    sync(&cadre);
    sync(&resident);
    let r = json(&resident, &["request", "show", &rid]);
    assert_eq!(r["status"], "accepted");
    assert!(
        r["comments"].as_array().unwrap().is_empty(),
        "internal notes never reach the filer"
    );
    let dl = json(&resident, &["deliberation", "list"]);
    assert!(dl.as_array().unwrap().is_empty());
}

#[test]
fn a_resident_may_not_post_a_notice() {
    let v = Village::new();
    let resident = v.enroll("resident", "王秀英", Role::Resident);
    let out = cunwu(
        &resident,
        &[
            "notice",
            "post",
            "--category",
            "village",
            "--title",
            "居民发的通知",
            "--body",
            "x",
        ],
    );
    assert_usage_error(&out, "not allowed");
    assert!(
        text(&out.stderr).contains("only cadres"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        json(&resident, &["notice", "list"])
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was stored"
    );
    assert_usage_error(
        &cunwu(&resident, &["invite", "create", "--role", "resident"]),
        "not allowed",
    );
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    assert_usage_error(
        &cunwu(
            &cadre,
            &[
                "notice",
                "post",
                "--category",
                "village",
                "--title",
                "",
                "--body",
                "x",
            ],
        ),
        "title must not be empty",
    );
    assert_usage_error(
        &cunwu(
            &cadre,
            &["notice", "post", "--category", "village", "--title", "   "],
        ),
        "title must not be empty",
    );
    assert_usage_error(
        &cunwu(
            &cadre,
            &["notice", "post", "--category", "money", "--title", "t"],
        ),
        "unknown category",
    );
    assert_usage_error(
        &cunwu(
            &cadre,
            &[
                "notice",
                "post",
                "--category",
                "finance",
                "--title",
                "t",
                "--opening-balance-fen",
                "1",
                "--line",
                "2026-07-05,income,x",
            ],
        ),
        "--line 1",
    );
    assert_usage_error(
        &cunwu(
            &cadre,
            &["request", "file", "--kind", "spaceship", "--title", "t"],
        ),
        "unknown request kind",
    );
    assert_usage_error(
        &cunwu(&cadre, &["request", "list", "--status", "lost"]),
        "unknown request status",
    );
    assert_usage_error(&cunwu(&cadre, &["notice", "show", "0123"]), "no notice");
    assert_usage_error(
        &cunwu(&v.home("nobody"), &["notice", "list"]),
        "no Cunwu device",
    );
    // A mistyped command line is a usage error too (clap).
    assert_eq!(cunwu(&cadre, &["notice", "frob"]).status.code(), Some(2));
    // Nothing above left a change behind.
    assert_eq!(json(&cadre, &["status"])["counts"]["pending_changes"], 0);
}

#[test]
fn rejected_changes_are_shown_with_their_reason() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    let resident = v.enroll("resident", "王秀英", Role::Resident);
    sync(&resident);
    sync(&cadre);
    let d = json(
        &cadre,
        &[
            "deliberation",
            "open",
            "--title",
            "修订村规民约",
            "--body-kind",
            "villagers_meeting",
            "--option",
            "同意",
            "--option",
            "不同意",
        ],
    );
    let did = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["status"], "voting");
    sync(&cadre);
    sync(&resident);
    // The cadre closes the vote offline; meanwhile the resident votes and syncs. The
    // relay then refuses a close dated before a ballot it has already accepted.
    json(&cadre, &["deliberation", "close", &did]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    json(
        &resident,
        &["deliberation", "vote", &did, "--option", "同意"],
    );
    assert_eq!(sync(&resident)["rejected"], 0);
    let s = sync(&cadre);
    assert_eq!(s["rejected"], 1, "{s}");
    let st = json(&cadre, &["status"]);
    let rejected = st["rejected_changes"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["entity_id"], did.as_str());
    assert!(
        rejected[0]["reason"].as_str().unwrap().contains("close"),
        "{st}"
    );
    // The device went back to what the space sees, and the cadre can close it again.
    assert_eq!(
        json(&cadre, &["deliberation", "show", &did])["status"],
        "voting"
    );
    json(&cadre, &["deliberation", "close", &did]);
    assert_eq!(sync(&cadre)["rejected"], 0);
    assert_eq!(
        json(&cadre, &["deliberation", "show", &did])["status"],
        "closed"
    );
}

#[test]
fn bundles_carry_changes_between_homes_without_the_relay() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    let resident = v.enroll("resident", "王秀英", Role::Resident);
    sync(&cadre);
    let id = post_village_notice(&cadre, "防汛紧急通知")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let have = v.dir.path().join("resident.have");
    let bundle = v.dir.path().join("to-resident.bundle");
    json(&resident, &["bundle", "have", have.to_str().unwrap()]);
    let e = json(
        &cadre,
        &[
            "bundle",
            "export",
            bundle.to_str().unwrap(),
            "--for",
            have.to_str().unwrap(),
        ],
    );
    assert!(e["bytes"].as_u64().unwrap() > 0);
    let i = json(&resident, &["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(i["applied"], 1, "{i}");
    let list = json(&resident, &["notice", "list"]);
    assert_eq!(list[0]["id"], id.as_str());
    // A damaged bundle is refused whole, without a panic.
    std::fs::write(&bundle, b"not a bundle").unwrap();
    let out = cunwu(&resident, &["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("cunwu: "),
        "{}",
        text(&out.stderr)
    );
}

/// `cunwu amount FEN`: the three forms as text, the `--json` keys `figures`, `upper`,
/// `spoken` (and `compact`), and an amount too large for words refused with exit 2.
#[test]
fn amount_prints_figures_uppercase_and_spoken() {
    let home = tempfile::tempdir().unwrap();
    let out = cunwu(home.path(), &["amount", "1240050"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "12,400.50元\n人民币壹万贰仟肆佰元伍角\n一万两千四百元五角\n"
    );
    let v = json(home.path(), &["amount", "1000"]);
    assert_eq!(v["figures"], "10.00元");
    assert_eq!(v["upper"], "人民币壹拾元整");
    assert_eq!(v["spoken"], "十元");
    assert_eq!(v["compact"], "10.00元");
    let v = json(home.path(), &["amount", "-25000"]);
    assert_eq!(v["upper"], "人民币负贰佰伍拾元整");
    assert_usage_error(
        &cunwu(home.path(), &["amount", "100000000000000"]),
        "too large to write in words",
    );
}

#[test]
fn a_draft_is_edited_and_reaches_residents_only_once_published() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    let resident = v.enroll("resident", "王秀英", Role::Resident);
    let d = json(
        &cadre,
        &[
            "notice",
            "post",
            "--category",
            "village",
            "--title",
            "征地补偿方案（草稿）",
            "--draft",
        ],
    );
    assert_eq!(d["status"], "draft");
    let id = d["id"].as_str().unwrap().to_string();
    let e = json(
        &cadre,
        &[
            "notice",
            "edit",
            &id[..8],
            "--title",
            "征地补偿方案",
            "--body",
            "每亩三万元",
        ],
    );
    assert_eq!(
        (e["status"].as_str(), e["title"].as_str()),
        (Some("draft"), Some("征地补偿方案"))
    );
    sync(&cadre);
    sync(&resident);
    assert_eq!(json(&resident, &["notice", "list"]), serde_json::json!([]));
    assert_eq!(json(&resident, &["search", "补偿"]), serde_json::json!([]));
    assert_eq!(json(&resident, &["status"])["counts"]["unread_notices"], 0);
    // a published notice is not a draft any more: `edit` says so
    json(&cadre, &["notice", "publish", &id]);
    let out = cunwu(&cadre, &["notice", "edit", &id, "--title", "改"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    sync(&cadre);
    sync(&resident);
    let list = json(&resident, &["notice", "list"]);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["title"], "征地补偿方案");
    assert_eq!(
        json(&resident, &["notice", "show", &id])["content"]["body"],
        "每亩三万元"
    );
}
