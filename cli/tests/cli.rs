//! End-to-end tests of the `cunwu` binary: the demo, two homes syncing through a relay
//! started in this test process, bundles, rejected changes, error exit codes, and the
//! languages it speaks (Chinese by default, English on request).

use cunwu_core::Role;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cunwu");

fn cunwu(home: &Path, args: &[&str]) -> Output {
    cunwu_env(home, args, None)
}

/// `cunwu` with `CUNWU_LANG` set to `lang` (or unset).
fn cunwu_env(home: &Path, args: &[&str], lang: Option<&str>) -> Output {
    let mut c = Command::new(BIN);
    c.arg("--home")
        .arg(home)
        .args(args)
        .env_remove("CUNWU_HOME")
        .env_remove("CUNWU_LANG");
    if let Some(l) = lang {
        c.env("CUNWU_LANG", l);
    }
    c.output().expect("cunwu runs")
}

/// `cunwu --lang en ...`: the English text the older tests check.
fn cunwu_en(home: &Path, args: &[&str]) -> Output {
    let mut a = vec!["--lang", "en"];
    a.extend_from_slice(args);
    cunwu(home, &a)
}

/// Run, require success, return stdout.
fn say(home: &Path, args: &[&str]) -> String {
    let out = cunwu(home, args);
    assert!(
        out.status.success(),
        "cunwu {args:?} failed ({:?}): {}",
        out.status.code(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// No 32-hex-character id (or longer hex) in text meant for a person.
fn assert_no_full_ids(s: &str) {
    let mut run = 0;
    for c in s.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        assert!(run < 32, "a full id in text output: {s}");
    }
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

mod common;
use common::Village;

impl Village {
    /// Enrol a new home with an admin invite for `role`; returns its path.
    fn enroll(&self, home: &str, name: &str, role: Role) -> std::path::PathBuf {
        let invite = self.invite(role);
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
    let out = Command::new(BIN)
        .arg("demo")
        .env_remove("CUNWU_LANG")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}\n{stdout}",
        text(&out.stderr)
    );
    // the story in Chinese, ending with what to try next (a relay run by hand)
    assert!(stdout.contains("各设备一致：是"), "{stdout}");
    assert!(
        stdout.contains("一、加入") && stdout.contains("七、每台设备看到的内容"),
        "{stdout}"
    );
    assert!(stdout.contains("接下来可以试试"), "{stdout}");
    assert!(
        stdout.contains("cunwu-relay serve") && stdout.contains("enroll --relay"),
        "{stdout}"
    );
    assert!(!stdout.contains("converged"), "{stdout}");
    assert_no_full_ids(&stdout);
    let en = Command::new(BIN)
        .args(["demo", "--lang", "en"])
        .output()
        .unwrap();
    let en = text(&en.stdout);
    assert!(en.contains("converged: yes"), "{en}");
    assert!(
        en.contains("What to try next") && en.contains("cunwu-relay serve"),
        "{en}"
    );
    // every small sync of the story is one round trip: a line counts the syncs of a
    // round (each device syncs twice, the last once) and their round trips
    let synced: Vec<&str> = en.lines().filter(|l| l.contains("sync [")).collect();
    assert!(!synced.is_empty(), "{en}");
    for line in synced {
        let number_before = |word: &str| -> Option<u32> {
            line.split(word)
                .next()?
                .split_whitespace()
                .last()?
                .parse()
                .ok()
        };
        let (syncs, trips) = (number_before(" sync(s)"), number_before(" round trip(s)"));
        assert!(
            syncs.is_some() && syncs == trips,
            "each sync of the demo should take one round trip: {line}"
        );
    }
    let stdout = en;
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

    let out = Command::new(BIN)
        .args(["demo", "--json"])
        .env_remove("CUNWU_LANG")
        .output()
        .unwrap();
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
    // two ballots from phones and two cast in the hall by elders without one
    assert!(devices.iter().all(|d| {
        let t = &d["deliberations"][0]["tally"];
        t["participants"] == 4 && t["in_hall"] == 2 && t["eligible"] == 4
    }));
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
    // in Chinese by default: the catalogue sentence, then the developer detail
    assert_usage_error(&out, "不允许这样操作");
    assert!(
        text(&out.stderr).contains("only cadres"),
        "{}",
        text(&out.stderr)
    );
    let out = cunwu_en(
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
        &cunwu_en(&resident, &["invite", "create", "--role", "resident"]),
        "not allowed",
    );
    assert_usage_error(
        &cunwu(&resident, &["invite", "create", "--role", "村民"]),
        "不允许",
    );
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    assert_usage_error(
        &cunwu_en(
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
        &cunwu_en(
            &cadre,
            &["notice", "post", "--category", "village", "--title", "   "],
        ),
        "title must not be empty",
    );
    assert_usage_error(
        &cunwu_en(
            &cadre,
            &["notice", "post", "--category", "money", "--title", "t"],
        ),
        "unknown category",
    );
    assert_usage_error(
        &cunwu_en(
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
        &cunwu_en(
            &cadre,
            &["request", "file", "--kind", "spaceship", "--title", "t"],
        ),
        "unknown request kind",
    );
    assert_usage_error(
        &cunwu_en(&cadre, &["request", "list", "--status", "lost"]),
        "unknown request status",
    );
    assert_usage_error(&cunwu_en(&cadre, &["notice", "show", "0123"]), "no notice");
    assert_usage_error(
        &cunwu_en(&v.home("nobody"), &["notice", "list"]),
        "no Cunwu device",
    );
    // the same mistakes in Chinese (the default)
    assert_usage_error(
        &cunwu(
            &cadre,
            &["notice", "post", "--category", "钱", "--title", "t"],
        ),
        "不认识的公告类别“钱”",
    );
    assert_usage_error(
        &cunwu(&cadre, &["notice", "show", "0123"]),
        "本机没有编号以 0123 开头的公告",
    );
    assert_usage_error(
        &cunwu(&v.home("nobody"), &["notice", "list"]),
        "里没有 Cunwu 设备",
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
        &cunwu_en(home.path(), &["amount", "100000000000000"]),
        "too large to write in words",
    );
    assert_usage_error(
        &cunwu(home.path(), &["amount", "100000000000000"]),
        "太大，无法写成大写",
    );
}

/// The main flows (enrol, notices, requests, a vote, status) in text: Chinese by
/// default and with `--lang zh`, English with `--lang en` and with `CUNWU_LANG=en`;
/// the flag wins over the environment; no full id in any of it; and `--json` is the
/// same whatever the language.
#[test]
fn main_flows_speak_chinese_by_default_and_english_on_request() {
    let v = Village::new();
    let relay = v.relay.as_ref().unwrap();
    // enrolment, as a person reads it
    let cadre = v.home("cadre");
    let invite = relay
        .relay
        .admin_invite(&v.space, Role::Cadre, "", "")
        .unwrap();
    let out = say(
        &cadre,
        &[
            "enroll",
            "--relay",
            &v.url(),
            "--invite",
            &invite,
            "--name",
            "陈建国",
        ],
    );
    assert!(
        out.contains("已加入 青石村，身份：陈建国（村干部）"),
        "{out}"
    );
    assert!(out.contains("运行 `cunwu sync`"), "{out}");
    assert_no_full_ids(&out);
    let resident = v.home("resident");
    let invite = relay
        .relay
        .admin_invite(&v.space, Role::Resident, "H01", "一组")
        .unwrap();
    let out = cunwu_env(
        &resident,
        &[
            "enroll",
            "--relay",
            &v.url(),
            "--invite",
            &invite,
            "--name",
            "王秀英",
        ],
        Some("en"),
    );
    let out = text(&out.stdout);
    assert!(
        out.contains("enrolled in 青石村 as 王秀英 (Resident)"),
        "{out}"
    );
    assert_no_full_ids(&out);

    // a notice
    let out = say(
        &cadre,
        &[
            "--lang",
            "zh",
            "notice",
            "post",
            "--category",
            "village",
            "--title",
            "停水通知",
            "--body",
            "明天上午停水",
        ],
    );
    assert!(out.contains("已发布：停水通知"), "{out}");
    assert!(out.contains("下次运行 `cunwu sync` 时送到全村"), "{out}");
    assert_no_full_ids(&out);
    let list = say(&cadre, &["notice", "list"]);
    for want in ["编号", "类别", "状态", "标题", "村务公开", "已发布", "今天"] {
        assert!(list.contains(want), "{want:?} not in {list}");
    }
    assert!(
        !list.contains("published") && !list.contains("village"),
        "{list}"
    );
    assert_no_full_ids(&list);
    let list_en = say(&cadre, &["--lang", "en", "notice", "list"]);
    for want in ["CATEGORY", "Village affairs", "Published", "today"] {
        assert!(list_en.contains(want), "{want:?} not in {list_en}");
    }
    // the environment, and the flag over it
    let env_en = text(&cunwu_env(&cadre, &["notice", "list"], Some("en")).stdout);
    assert_eq!(env_en, list_en);
    let flag_wins =
        text(&cunwu_env(&cadre, &["--lang", "zh", "notice", "list"], Some("en")).stdout);
    assert_eq!(flag_wins, list);
    let nid = json(&cadre, &["notice", "list"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let show = say(&cadre, &["notice", "show", &nid]);
    assert!(show.contains(&format!("编号 {}", &nid[..8])), "{show}");
    assert!(show.contains("状态 已发布 · 第 1 版"), "{show}");
    assert!(show.contains("签名已核验"), "{show}");
    // the cadre who published it has read it (issue 14, defect 3)
    assert!(show.contains("已读（1 人）：陈建国"), "{show}");
    assert_no_full_ids(&show);
    let show_en = say(&cadre, &["--lang", "en", "notice", "show", &nid]);
    assert!(
        show_en.contains("status Published · revision 1"),
        "{show_en}"
    );
    assert!(show_en.contains("read by (1): 陈建国"), "{show_en}");

    // a request, filed by the resident and taken up by the cadre
    let out = say(
        &resident,
        &[
            "request",
            "file",
            "--kind",
            "social_assistance",
            "--title",
            "申请低保",
        ],
    );
    assert!(out.contains("已提交：申请低保"), "{out}");
    sync(&resident);
    sync(&cadre);
    let rid = json(&cadre, &["request", "list"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = say(&cadre, &["request", "transition", &rid, "--to", "accepted"]);
    assert!(
        out.contains(&format!("申请 {} 现在已受理", &rid[..8])),
        "{out}"
    );
    let show = say(&cadre, &["request", "show", &rid]);
    assert!(show.contains("低保救助"), "{show}");
    assert!(
        show.contains("已受理：村里已收到您的申请，正在安排办理"),
        "{show}"
    );
    assert!(
        show.contains("办理经过") && show.contains("已提交 → 已受理"),
        "{show}"
    );
    assert_no_full_ids(&show);
    let show_en = say(&cadre, &["--lang", "en", "request", "show", &rid]);
    assert!(show_en.contains("Minimum income support"), "{show_en}");
    assert!(show_en.contains("Submitted → Accepted"), "{show_en}");
    let rows = say(&cadre, &["request", "list"]);
    assert!(
        rows.contains("申请人") && rows.contains("王秀英") && rows.contains("已受理"),
        "{rows}"
    );

    // a vote
    let out = say(
        &cadre,
        &[
            "deliberation",
            "open",
            "--title",
            "修路方案",
            "--body-kind",
            "villagers_meeting",
            "--option",
            "同意",
            "--option",
            "不同意",
        ],
    );
    assert!(out.contains("已开始投票：修路方案"), "{out}");
    assert!(out.contains("有投票权 2 人"), "{out}");
    assert_no_full_ids(&out);
    let did = json(&cadre, &["deliberation", "list"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = say(&cadre, &["deliberation", "vote", &did, "--option", "同意"]);
    assert!(out.contains("已在“修路方案”中投票：[0] 同意"), "{out}");
    let show = say(&cadre, &["deliberation", "show", &did]);
    assert!(
        show.contains("村民会议") && show.contains("投票中"),
        "{show}"
    );
    assert!(show.contains("← 您投的") && show.contains("1 票"), "{show}");
    assert!(show.contains("计票：有投票权 2 人，1 人参加"), "{show}");
    assert_no_full_ids(&show);
    let show_en = say(&cadre, &["--lang", "en", "deliberation", "show", &did]);
    assert!(
        show_en.contains("Villagers' meeting") && show_en.contains("1 vote"),
        "{show_en}"
    );
    assert!(
        show_en.contains("tally: 1 of 2 eligible took part"),
        "{show_en}"
    );

    // status
    let st = say(&cadre, &["status"]);
    for want in [
        "村        青石村",
        "成员      陈建国 — 村干部",
        "未读公告",
        "待投票 0 项",
    ] {
        assert!(st.contains(want), "{want:?} not in {st}");
    }
    assert_no_full_ids(&st);
    let st_en = text(&cunwu_env(&cadre, &["status"], Some("en-US")).stdout);
    assert!(
        st_en.contains("member    陈建国 — Village cadre"),
        "{st_en}"
    );
    assert!(st_en.contains("unread notices"), "{st_en}");
    // sync, in words
    let out = say(&cadre, &["sync"]);
    assert!(out.contains("已与 ") && out.contains("同步：发出"), "{out}");
    // JSON is the same in every language
    let mut zh = json(&cadre, &["notice", "show", &nid]);
    let mut en = json(&cadre, &["--lang", "en", "notice", "show", &nid]);
    zh["provenance"] = Value::Null;
    en["provenance"] = Value::Null;
    assert_eq!(zh, en);
    assert_eq!(
        json(&cadre, &["request", "show", &rid])["status"],
        "accepted"
    );
    // an unknown language is refused, naming where it came from
    assert_usage_error(&cunwu(&cadre, &["--lang", "fr", "status"]), "--lang");
    assert_usage_error(&cunwu_env(&cadre, &["status"], Some("de")), "CUNWU_LANG");
}

/// With `--json`, an error is one JSON object on stderr, `{"error": {"kind",
/// "message"}}`: a stable kind and the catalogue's sentence; the exit codes stay.
#[test]
fn json_errors_are_objects_on_stderr() {
    fn err_json(out: &Output, code: i32) -> Value {
        assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        let v: Value = serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {}", text(&out.stderr)));
        assert!(
            v["error"]["kind"].is_string() && v["error"]["message"].is_string(),
            "{v}"
        );
        v
    }
    let v = Village::new();
    let resident = v.enroll("resident", "王秀英", Role::Resident);
    let post = [
        "notice",
        "post",
        "--category",
        "village",
        "--title",
        "居民发的通知",
        "--json",
    ];
    let e = err_json(&cunwu(&resident, &post), 2);
    assert_eq!(e["error"]["kind"], "not_allowed");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("不允许这样操作（详情：") && m.contains("only cadres"),
        "{m}"
    );
    let mut en = vec!["--lang", "en"];
    en.extend_from_slice(&post);
    let e = err_json(&cunwu(&resident, &en), 2);
    assert_eq!(e["error"]["kind"], "not_allowed");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("not allowed (detail: "),
        "{e}"
    );
    // the CLI's own checks
    let e = err_json(
        &cunwu(
            &resident,
            &["notice", "list", "--category", "money", "--json"],
        ),
        2,
    );
    assert_eq!(e["error"]["kind"], "usage");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("不认识的公告类别“money”"),
        "{e}"
    );
    let e = err_json(&cunwu(&v.home("nobody"), &["notice", "list", "--json"]), 2);
    assert_eq!(e["error"]["kind"], "usage");
    let e = err_json(&cunwu(&resident, &["notice", "show", "ffff", "--json"]), 2);
    assert_eq!(e["error"]["kind"], "usage");
    // an invalid transition from the core
    let e = err_json(
        &cunwu(
            &resident,
            &[
                "request",
                "file",
                "--kind",
                "spaceship",
                "--title",
                "t",
                "--json",
            ],
        ),
        2,
    );
    assert_eq!(e["error"]["kind"], "invalid");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown request kind"),
        "{e}"
    );
    // a failure (exit 1): a damaged bundle
    let bad = v.dir.path().join("bad.bundle");
    std::fs::write(&bad, b"not a bundle").unwrap();
    let e = err_json(
        &cunwu(
            &resident,
            &["bundle", "import", bad.to_str().unwrap(), "--json"],
        ),
        1,
    );
    assert_ne!(e["error"]["kind"], "usage");
    // clap's own usage errors too
    let e = err_json(&cunwu(&resident, &["notice", "frob", "--json"]), 2);
    assert_eq!(e["error"]["kind"], "usage");
    // without --json the error stays a line of text
    assert_usage_error(&cunwu(&resident, &post[..6]), "不允许");
}

/// Categories, kinds, statuses, roles and deciding bodies by their Chinese names as
/// well as their identifiers; what is stored is the identifier.
#[test]
fn chinese_names_are_accepted_as_arguments() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    let resident = v.enroll("resident", "王秀英", Role::Resident);
    let n = json(
        &cadre,
        &[
            "notice",
            "post",
            "--category",
            "财务公开",
            "--subtype",
            "季度账目",
            "--period",
            "季度",
            "--title",
            "第三季度账目",
            "--opening-balance-fen",
            "100",
            "--line",
            "2026-07-05,收入,补助收入,补助,500",
        ],
    );
    let shown = json(&cadre, &["notice", "show", n["id"].as_str().unwrap()]);
    assert_eq!(shown["category"], "finance");
    assert_eq!(shown["subtype"], "quarterly_accounts");
    assert_eq!(shown["period"]["kind"], "quarterly");
    let d = json(
        &cadre,
        &[
            "notice",
            "post",
            "--category",
            "村务公开",
            "--title",
            "草稿一则",
            "--draft",
        ],
    );
    assert_eq!(d["status"], "draft");
    assert_eq!(
        json(&cadre, &["notice", "list", "--category", "财务公开"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&cadre, &["notice", "list", "--status", "草稿"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&cadre, &["notice", "list", "--status", "已发布"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let r = json(
        &resident,
        &[
            "request",
            "file",
            "--kind",
            "低保救助",
            "--title",
            "申请低保",
        ],
    );
    assert_eq!(r["kind"], "social_assistance");
    sync(&resident);
    sync(&cadre);
    let rid = r["id"].as_str().unwrap();
    let t = json(&cadre, &["request", "transition", rid, "--to", "已受理"]);
    assert_eq!(t["status"], "accepted");
    let t = json(&cadre, &["request", "transition", rid, "--to", "办理中"]);
    assert_eq!(t["status"], "in_progress");
    assert_eq!(
        json(&cadre, &["request", "list", "--status", "办理中"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&cadre, &["request", "list", "--kind", "低保救助"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&cadre, &["request", "list", "--kind", "法律调解"])
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let dl = json(
        &cadre,
        &[
            "deliberation",
            "open",
            "--title",
            "修路",
            "--body-kind",
            "村民会议",
            "--option",
            "同意",
            "--option",
            "不同意",
        ],
    );
    assert_eq!(dl["status"], "voting");
    let shown = json(
        &cadre,
        &["deliberation", "show", dl["id"].as_str().unwrap()],
    );
    assert_eq!(shown["deciding_body"], "villagers_meeting");
    let inv = json(&cadre, &["invite", "create", "--role", "村民代表"]);
    assert_eq!(inv["role"], "villager_rep");
    // an unknown name says what is accepted, in both forms
    assert_usage_error(
        &cunwu(&cadre, &["request", "list", "--status", "丢了"]),
        "已受理",
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

/// The register's CLI contract (issue 11): `register add` (key `id`), `register list
/// --json` (`id`, `name`, `household`, `group`), `invite create --person`, and the
/// tellers' `deliberation record-ballot` / `record-attendance`; `deliberation show
/// --json` keeps its `tally` with `eligible`, `participants`, `quorum_met`, `decided`.
#[test]
fn the_register_and_the_hall_on_the_command_line() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    let mut ids = vec![];
    for (name, household, extra) in [
        (
            "王秀英",
            "H05",
            vec!["--born", "1948-03-02", "--household-rep"],
        ),
        (
            "王建国",
            "H05",
            vec!["--adult", "--party", "--villager-rep"],
        ),
        (
            "张伟",
            "H07",
            vec!["--adult", "--migrant", "--lives-in", "东莞"],
        ),
    ] {
        let mut args = vec![
            "register",
            "add",
            "--name",
            name,
            "--household",
            household,
            "--group",
            "二组",
        ];
        args.extend(extra);
        let added = json(&cadre, &args);
        ids.push(added["id"].as_str().unwrap().to_string());
    }
    // a migrant needs a city; a household has one representative
    let out = cunwu(
        &cadre,
        &[
            "register",
            "add",
            "--name",
            "李四",
            "--household",
            "H09",
            "--group",
            "二组",
            "--adult",
            "--migrant",
        ],
    );
    assert!(!out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("lives_in"),
        "{}",
        text(&out.stderr)
    );
    let out = cunwu(&cadre, &["register", "amend", &ids[1], "--household-rep"]);
    assert!(
        text(&out.stderr).contains("already has a representative"),
        "{}",
        text(&out.stderr)
    );
    let list = json(&cadre, &["register", "list"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for k in ["id", "name", "household", "group"] {
        assert!(
            rows.iter().all(|r| r[k].is_string()),
            "register list lacks {k}: {list}"
        );
    }
    assert_eq!(rows[2]["lives_in"], "东莞");
    let text_list = say(&cadre, &["register", "list"]);
    assert!(
        text_list.contains("外出（东莞）") && text_list.contains("户代表"),
        "{text_list}"
    );
    sync(&cadre);

    // an invite for the migrant's phone, linked to his record
    let inv = json(
        &cadre,
        &["invite", "create", "--role", "resident", "--person", "张伟"],
    );
    assert_eq!(inv["person"], ids[2].as_str());
    let phone = v.home("zhangwei");
    json(
        &phone,
        &[
            "enroll",
            "--relay",
            &v.url(),
            "--invite",
            inv["invite"].as_str().unwrap(),
            "--name",
            "张伟",
        ],
    );
    sync(&cadre);

    let d = json(
        &cadre,
        &[
            "deliberation",
            "open",
            "--title",
            "村道硬化方案",
            "--body-kind",
            "villagers_meeting",
            "--option",
            "同意",
            "--option",
            "反对",
        ],
    );
    let did = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["eligible"], 3, "the electorate is the register: {d}");
    assert_eq!(d["over_register"], true);
    sync(&cadre);
    sync(&phone);
    json(&phone, &["deliberation", "vote", &did, "--option", "反对"]);
    sync(&phone);
    let r = json(
        &cadre,
        &[
            "deliberation",
            "record-ballot",
            &did,
            "--person",
            "王秀英",
            "--option",
            "同意",
        ],
    );
    assert_eq!(
        (r["person"].as_str(), r["option"].as_u64()),
        (Some(ids[0].as_str()), Some(0))
    );
    json(
        &cadre,
        &[
            "deliberation",
            "record-attendance",
            &did,
            "--person",
            &ids[1][..8],
        ],
    );
    let again = cunwu(
        &cadre,
        &[
            "deliberation",
            "record-ballot",
            &did,
            "--person",
            "王秀英",
            "--option",
            "反对",
        ],
    );
    assert!(
        !again.status.success(),
        "a second hall ballot for the same person is refused"
    );
    assert!(
        text(&again.stderr).contains("already recorded"),
        "{}",
        text(&again.stderr)
    );
    // before the cadre syncs, the migrant's online ballot is not known here
    let left = json(&cadre, &["deliberation", "not-voted", &did]);
    assert_eq!(left["persons"][0]["name"], "张伟", "{left}");
    assert_eq!(left["persons"][0]["has_phone"], true, "{left}");
    sync(&cadre);
    sync(&phone);
    let left = json(&cadre, &["deliberation", "not-voted", &did]);
    assert_eq!(left["persons"].as_array().unwrap().len(), 0, "{left}");
    for home in [&cadre, &phone] {
        let shown = json(home, &["deliberation", "show", &did]);
        let t = &shown["tally"];
        assert_eq!(
            (
                t["eligible"].as_u64(),
                t["participants"].as_u64(),
                t["quorum_met"].as_bool()
            ),
            (Some(3), Some(3), Some(true)),
            "{shown}"
        );
        assert!(t.get("decided").is_some(), "{t}");
        assert_eq!(t["counts"], serde_json::json!([1, 1]));
    }
    let unread = say(
        &cadre,
        &[
            "notice",
            "unread",
            &post_village_notice(&cadre, "停水通知")["id"]
                .as_str()
                .unwrap()[..8],
        ],
    );
    assert!(
        unread.contains("没有手机，需要上门") && unread.contains("张伟"),
        "{unread}"
    );
}

/// Issue 11 on the command line: `matter create|step|show|list` (a step out of order
/// exits 2 with the step that is due), `party activity create|sign-in|show|list|attendance`
/// (a resident does not see the activity), their `--json` keys.
#[test]
fn matters_and_party_activities_on_the_command_line() {
    let v = Village::new();
    let cadre = v.enroll("cadre", "陈建国", Role::Cadre);
    let member = v.enroll("member", "刘志强", Role::PartyMember);
    let resident = v.enroll("resident", "王秀英", Role::Resident);
    let m = json(&cadre, &["matter", "create", "--title", "修建村道"]);
    let id = m["id"].as_str().unwrap().to_string();
    let s = json(
        &cadre,
        &[
            "matter",
            "step",
            &id,
            "--stage",
            "党支部提议",
            "--present",
            "7",
            "--expected",
            "9",
        ],
    );
    assert_eq!(s["next"], "consultation", "{s}");
    let out = cunwu_en(&cadre, &["matter", "step", &id, "--stage", "party_review"]);
    assert_usage_error(&out, "the next step of this matter is consultation");
    json(
        &cadre,
        &[
            "matter",
            "step",
            &id,
            "--stage",
            "consultation",
            "--outcome",
            "agreed",
        ],
    );
    let a = json(
        &cadre,
        &[
            "party",
            "activity",
            "create",
            "--kind",
            "主题党日",
            "--title",
            "十二月主题党日",
            "--starts",
            "2026-12-01 19:30",
            "--place",
            "村委会",
            "--link",
            "https://meeting.example/1",
        ],
    );
    let aid = a["id"].as_str().unwrap().to_string();
    let person = "0123456789abcdef0123456789abcdef";
    json(
        &cadre,
        &[
            "party", "activity", "sign-in", &aid, "--person", person, "--online",
        ],
    );
    for h in [&cadre, &member, &resident] {
        sync(h);
    }
    let shown = json(&resident, &["matter", "show", &id]);
    assert_eq!(shown["status"], "in_progress");
    assert_eq!(shown["next"], "party_review");
    assert_eq!(shown["steps"].as_array().unwrap().len(), 2);
    assert_eq!(
        json(&resident, &["matter", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let listed = json(&member, &["party", "activity", "list", "--year", "2026"]);
    assert_eq!(listed[0]["id"], aid.as_str());
    assert_eq!(listed[0]["present"], 1);
    assert!(json(&resident, &["party", "activity", "list"])
        .as_array()
        .unwrap()
        .is_empty());
    let y = json(
        &member,
        &[
            "party",
            "activity",
            "attendance",
            "--person",
            person,
            "--year",
            "2026",
        ],
    );
    assert_eq!(
        (
            y["activities"].as_u64(),
            y["present"].as_u64(),
            y["online"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{y}"
    );
    let text = say(&member, &["party", "activity", "show", &aid]);
    assert!(text.contains("线上参加"), "{text}");
}
