//! Domain rules through the real store: the request lifecycle, notice revisions and
//! finance totals, questions, deliberation quorum and pass rules, bad input.

use cunwu_core::local_space::LocalSpace;
use cunwu_core::model::deliberation::DecidingBody;
use cunwu_core::model::notice::{
    Category, Direction, FinanceLine, NoticeStatus, Period, PeriodKind, Subtype,
};
use cunwu_core::model::request::Status;
use cunwu_core::store::{NewDeliberation, NewNotice, NewRequest, NoticeFilter, RequestFilter};
use cunwu_core::{Error, Role, Store};
use tempfile::TempDir;

struct Village {
    _dir: TempDir,
    space: LocalSpace,
    cadre: Store,
    resident: Store,
    resident_id: String,
}

fn village() -> Village {
    let dir = tempfile::tempdir().unwrap();
    let mut space = LocalSpace::new("青石村");
    let cadre = Store::open(dir.path().join("cadre.db")).unwrap();
    let resident = Store::open(dir.path().join("resident.db")).unwrap();
    space.join(&cadre, "陈建国", Role::Cadre).unwrap();
    let resident_id = space.join(&resident, "王秀英", Role::Resident).unwrap();
    space.publish(&[&cadre, &resident]).unwrap();
    Village {
        _dir: dir,
        space,
        cadre,
        resident,
        resident_id,
    }
}

/// Exchange everything both ways, as two phones with bundles would.
fn exchange(a: &Store, b: &Store) {
    let ab = a.export_bundle(Some(&b.have().unwrap())).unwrap();
    let ba = b.export_bundle(Some(&a.have().unwrap())).unwrap();
    b.import_bundle(&ab).unwrap();
    a.import_bundle(&ba).unwrap();
}

fn line(date: &str, dir: Direction, account: &str, amount: i64) -> FinanceLine {
    FinanceLine {
        date: date.into(),
        direction: dir,
        account: account.into(),
        item: "项目".into(),
        amount_fen: amount,
        payee_or_dept: "村委会".into(),
        voucher_no: "记-1".into(),
    }
}

fn finance_notice(lines: Vec<FinanceLine>) -> NewNotice {
    NewNotice {
        category: Category::Finance,
        subtype: Subtype::QuarterlyAccounts,
        period: Period {
            kind: PeriodKind::Quarterly,
            start: Some("2026-07-01".into()),
            end: Some("2026-09-30".into()),
        },
        title: "第三季度财务公开".into(),
        body: "收支如下".into(),
        opening_balance_fen: Some(18_643_250),
        lines,
        publish: true,
    }
}

fn request(title: &str) -> NewRequest {
    NewRequest {
        kind: "public_facility_repair".into(),
        title: title.into(),
        description: "三组路灯坏了".into(),
        place: None,
        on_behalf_of: None,
        materials: vec![],
        attachments: vec![],
    }
}

#[test]
fn finance_totals_and_corrections_keep_history() {
    let v = village();
    let id = v
        .cadre
        .post_notice(finance_notice(vec![
            line("2026-07-05", Direction::Income, "发包及上交收入", 3_600_000),
            line("2026-07-18", Direction::Expense, "管理费用", 1_240_000),
        ]))
        .unwrap();
    let n = v.cadre.notice(&id).unwrap();
    let t = n.totals.unwrap();
    assert_eq!(
        (t.income_fen, t.expense_fen, t.closing_fen),
        (3_600_000, 1_240_000, 18_643_250 + 3_600_000 - 1_240_000)
    );
    let mut corrected = n.content.clone();
    corrected.lines[1].amount_fen = 1_200_000;
    v.cadre
        .correct_notice(&id, corrected, "误工补贴金额更正")
        .unwrap();
    let n = v.cadre.notice(&id).unwrap();
    assert_eq!(n.status, NoticeStatus::Corrected);
    assert_eq!(n.revisions.len(), 2);
    assert_eq!(
        n.revisions[0].content.lines[1].amount_fen, 1_240_000,
        "the first revision still says what it said"
    );
    assert_eq!(
        n.totals.unwrap().closing_fen,
        18_643_250 + 3_600_000 - 1_200_000
    );
    assert_eq!(
        v.cadre.list_notices(&NoticeFilter::default()).unwrap()[0].revision,
        2
    );
}

#[test]
fn bad_finance_input_is_refused_and_nothing_is_written() {
    let v = village();
    for (lines, needle) in [
        (
            vec![line("2026-07-05", Direction::Income, "发包及上交收入", -5)],
            "positive",
        ),
        (
            vec![line(
                "2026-07-05",
                Direction::Income,
                "发包及上交收入",
                i64::MAX,
            )],
            "over the limit",
        ),
        (
            vec![line("2026-07-05", Direction::Income, "不存在的科目", 5)],
            "unknown account",
        ),
        (
            vec![line("2026-07-05", Direction::Expense, "经营收入", 5)],
            "not an",
        ),
        (
            vec![line("2026-13-05", Direction::Income, "经营收入", 5)],
            "YYYY-MM-DD",
        ),
    ] {
        let e = v.cadre.post_notice(finance_notice(lines)).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        assert!(
            e.to_string().contains(needle),
            "{e} should mention {needle}"
        );
    }
    let mut empty = finance_notice(vec![]);
    empty.title = "  ".into();
    assert!(v
        .cadre
        .post_notice(empty)
        .unwrap_err()
        .to_string()
        .contains("title must not be empty"));
    let mut long = finance_notice(vec![]);
    long.body = "字".repeat(20_001);
    assert!(v
        .cadre
        .post_notice(long)
        .unwrap_err()
        .to_string()
        .contains("limit is 20000"));
    assert!(v
        .cadre
        .list_notices(&NoticeFilter::default())
        .unwrap()
        .is_empty());
    assert_eq!(v.cadre.local_changes(None, 100).unwrap().len(), 0);
}

#[test]
fn residents_cannot_publish_and_questions_show_a_due_date() {
    let v = village();
    let e = v.resident.post_notice(finance_notice(vec![])).unwrap_err();
    assert!(matches!(e, Error::NotAllowed(_)), "{e}");
    let id = v.cadre.post_notice(finance_notice(vec![])).unwrap();
    exchange(&v.cadre, &v.resident);
    let q = v
        .resident
        .ask_question(&id, "光伏收益为什么没有公开？")
        .unwrap();
    assert_eq!(v.resident.counts().unwrap().unread_notices, 1);
    assert_eq!(v.resident.mark_read(&id).unwrap(), 1);
    assert_eq!(v.resident.counts().unwrap().unread_notices, 0);
    exchange(&v.cadre, &v.resident);
    let n = v.cadre.notice(&id).unwrap();
    assert_eq!(n.questions.len(), 1);
    assert_eq!(
        n.questions[0].due_at - n.questions[0].at,
        10 * 24 * 3600 * 1000
    );
    assert_eq!(n.read_by.get(&v.resident_id), Some(&1));
    assert!(matches!(
        v.resident.answer_question(&id, &q, "我来回答").unwrap_err(),
        Error::NotAllowed(_)
    ));
    v.cadre
        .answer_question(&id, &q, "将在第四季度公开")
        .unwrap();
    assert_eq!(v.cadre.notice(&id).unwrap().unanswered(), 0);
}

#[test]
fn request_lifecycle_and_invalid_transitions() {
    let v = village();
    let id = v.resident.file_request(request("路灯坏了")).unwrap();
    // the filer may not resolve; the API says so before anything is written
    let e = v
        .resident
        .transition_request(&id, Status::Resolved, "")
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidTransition(_) | Error::NotAllowed(_)),
        "{e}"
    );
    exchange(&v.cadre, &v.resident);
    let e = v
        .cadre
        .transition_request(&id, Status::Resolved, "")
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidTransition(_)),
        "submitted → resolved skips acceptance: {e}"
    );
    v.cadre
        .transition_request(&id, Status::Accepted, "已受理")
        .unwrap();
    v.cadre
        .transition_request(&id, Status::InProgress, "")
        .unwrap();
    v.cadre
        .transition_request(&id, Status::Resolved, "已更换灯泡")
        .unwrap();
    exchange(&v.cadre, &v.resident);
    assert!(matches!(
        v.resident
            .transition_request(&id, Status::Withdrawn, "")
            .unwrap_err(),
        Error::InvalidTransition(_)
    ));
    v.resident.rate_request(&id, 5, "很快").unwrap();
    v.resident
        .transition_request(&id, Status::Reopened, "又坏了")
        .unwrap();
    let r = v.resident.request(&id).unwrap();
    assert_eq!(r.status, Status::Reopened);
    assert_eq!(
        r.transitions.iter().map(|t| t.to).collect::<Vec<_>>(),
        [
            Status::Accepted,
            Status::InProgress,
            Status::Resolved,
            Status::Reopened
        ]
    );
    assert!(matches!(
        v.resident.rate_request(&id, 9, "").unwrap_err(),
        Error::Invalid(_)
    ));
    assert!(matches!(
        v.resident
            .file_request(NewRequest {
                kind: "ufo".into(),
                ..request("x")
            })
            .unwrap_err(),
        Error::Invalid(_)
    ));
}

#[test]
fn concurrent_offline_transitions_resolve_the_same_everywhere() {
    let mut v = village();
    let dir = tempfile::tempdir().unwrap();
    let cadre2 = Store::open(dir.path().join("cadre2.db")).unwrap();
    v.space.join(&cadre2, "刘芳", Role::Cadre).unwrap();
    v.space.publish(&[&v.cadre, &v.resident, &cadre2]).unwrap();
    let id = v.resident.file_request(request("申请低保")).unwrap();
    exchange(&v.resident, &v.cadre);
    exchange(&v.resident, &cadre2);
    // a cadre rejects while, offline at the same time, the filer withdraws
    cadre2
        .transition_request(&id, Status::Rejected, "材料不全")
        .unwrap();
    v.resident
        .transition_request(&id, Status::Withdrawn, "不需要了")
        .unwrap();
    exchange(&v.cadre, &cadre2);
    exchange(&v.cadre, &v.resident);
    exchange(&v.cadre, &cadre2);
    let a = v.cadre.request(&id).unwrap();
    let b = cadre2.request(&id).unwrap();
    let c = v.resident.request(&id).unwrap();
    assert_eq!(a.status, b.status);
    assert_eq!(a.status, c.status);
    assert_eq!(a.transitions, b.transitions);
    assert_eq!(a.transitions.len(), 2, "both left a trace");
    assert_eq!(
        a.transitions.iter().filter(|t| t.applied).count(),
        1,
        "one applied, the other superseded"
    );
    let listed = v
        .resident
        .list_requests(&RequestFilter {
            mine: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(listed[0].status, a.status);
}

#[test]
fn internal_comments_stay_with_cadres() {
    let v = village();
    let id = v.resident.file_request(request("低保")).unwrap();
    exchange(&v.resident, &v.cadre);
    v.cadre.comment_request(&id, "家访已完成", true).unwrap();
    v.cadre.comment_request(&id, "请补充材料", false).unwrap();
    assert!(matches!(
        v.resident.comment_request(&id, "内部", true).unwrap_err(),
        Error::NotAllowed(_)
    ));
    let cadre_view = v.cadre.request(&id).unwrap();
    assert_eq!(cadre_view.comments.len(), 2);
    assert!(cadre_view
        .comments
        .iter()
        .any(|c| c.internal && c.text == "家访已完成"));
    exchange(&v.resident, &v.cadre);
    let filer_view = v.resident.request(&id).unwrap();
    assert_eq!(
        filer_view.comments.len(),
        1,
        "the filer never receives internal notes"
    );
    assert!(!filer_view.comments[0].internal);
    // a bundle made without knowing the peer carries only what every member may read
    let third = tempfile::tempdir().unwrap();
    let outsider = Store::open(third.path().join("o.db")).unwrap();
    let mut space = v.space;
    space.join(&outsider, "外人", Role::Resident).unwrap();
    space.publish(&[&v.cadre, &v.resident, &outsider]).unwrap();
    outsider
        .import_bundle(&v.cadre.export_bundle(None).unwrap())
        .unwrap();
    assert!(
        outsider
            .list_requests(&RequestFilter::default())
            .unwrap()
            .is_empty(),
        "no one else's request leaks"
    );
    outsider
        .import_bundle(
            &v.cadre
                .export_bundle(Some(&outsider.have().unwrap()))
                .unwrap(),
        )
        .unwrap();
    assert!(
        outsider
            .list_requests(&RequestFilter::default())
            .unwrap()
            .is_empty(),
        "nor with the outsider's own summary"
    );
}

fn deliberation(body: DecidingBody, secret: bool) -> NewDeliberation {
    let now = cunwu_core::ids::now_ms();
    NewDeliberation {
        title: "光伏收益分配方案".into(),
        body: "请表决".into(),
        deciding_body: body,
        options: vec!["同意".into(), "不同意".into(), "弃权".into()],
        group: None,
        secret,
        hide_results: false,
        opens_at: now - 1000,
        closes_at: now + 3_600_000,
    }
}

#[test]
fn villagers_meeting_quorum_and_majority() {
    let mut v = village();
    let dir = tempfile::tempdir().unwrap();
    let mut others = vec![];
    for i in 0..3 {
        let s = Store::open(dir.path().join(format!("m{i}.db"))).unwrap();
        v.space
            .join(&s, &format!("村民{i}"), Role::Resident)
            .unwrap();
        others.push(s);
    }
    let all: Vec<&Store> = [&v.cadre, &v.resident]
        .into_iter()
        .chain(others.iter())
        .collect();
    v.space.publish(&all).unwrap();
    let id = v
        .cadre
        .create_deliberation(deliberation(DecidingBody::VillagersMeeting, false))
        .unwrap();
    v.cadre.open_voting(&id).unwrap();
    for s in &all[1..] {
        exchange(&v.cadre, s);
    }
    // 5 eligible; 2 votes is not more than half
    v.cadre.cast_ballot(&id, 0).unwrap();
    v.resident.cast_ballot(&id, 0).unwrap();
    v.resident.cast_ballot(&id, 1).unwrap(); // changed mind: the last one counts
    for s in &all[1..] {
        exchange(&v.cadre, s);
    }
    let t = v.cadre.tally(&id).unwrap();
    assert_eq!(
        (t.eligible, t.participants, t.quorum_met, t.decided),
        (5, 2, false, None)
    );
    assert_eq!(t.counts, vec![1, 1, 0]);
    others[0].cast_ballot(&id, 1).unwrap();
    for s in &all[1..] {
        exchange(&v.cadre, s);
    }
    let t = v.cadre.tally(&id).unwrap();
    assert_eq!(
        (t.participants, t.quorum_met, t.decided),
        (3, true, Some(1)),
        "3 of 5 took part; 2 of 3 chose 不同意"
    );
    exchange(&v.cadre, &v.resident);
    assert_eq!(
        v.resident.tally(&id).unwrap().counts,
        t.counts,
        "every device counts the same"
    );
    assert_eq!(v.resident.my_ballot(&id).unwrap(), Some(1));
}

#[test]
fn representatives_need_two_thirds_present() {
    use cunwu_core::model::deliberation::{tally, Deliberation};
    use std::collections::BTreeMap;
    let d = Deliberation {
        id: "d".into(),
        title: "t".into(),
        body: String::new(),
        deciding_body: DecidingBody::VillagerReps,
        options: vec!["同意".into(), "不同意".into()],
        group: None,
        secret: true,
        hide_results: false,
        opens_at: 0,
        closes_at: 10,
        created_by: "c".into(),
        created_at: 0,
        opened_at: Some(0),
        closed_at: None,
        snapshot_roster_version: None,
        persons: vec![],
        member_persons: Default::default(),
        register_heads: vec![],
        tellers: vec![],
        eligible: (0..9).map(|i| format!("r{i}")).collect(),
        comments: vec![],
        attachments: vec![],
        updated_at: 0,
    };
    let votes = |n: usize, yes: usize| -> BTreeMap<String, u32> {
        (0..n)
            .map(|i| (format!("r{i}"), if i < yes { 0 } else { 1 }))
            .collect()
    };
    let t = tally(&d, &votes(5, 5), 20);
    assert!(!t.quorum_met, "5 of 9 is less than two thirds");
    let t = tally(&d, &votes(6, 4), 20);
    assert!(
        t.quorum_met && t.decided == Some(0),
        "6 of 9 present, 4 of 6 agree"
    );
    let t = tally(&d, &votes(6, 3), 20);
    assert_eq!(t.decided, None, "3 of 6 is not more than half");
    assert!(t.roll.is_empty(), "secret ballots publish no roll");
    let mut ballots = votes(6, 4);
    ballots.insert("outsider".into(), 0);
    assert_eq!(
        tally(&d, &ballots, 20).participants,
        6,
        "only eligible members count"
    );
}

#[test]
fn consultation_has_no_vote() {
    let v = village();
    let mut d = deliberation(DecidingBody::ConsultationOnly, false);
    d.options.clear();
    let id = v.cadre.create_deliberation(d).unwrap();
    assert!(matches!(
        v.cadre.open_voting(&id).unwrap_err(),
        Error::InvalidTransition(_)
    ));
    v.cadre.comment_deliberation(&id, "欢迎大家提意见").unwrap();
    assert_eq!(v.cadre.deliberation(&id).unwrap().comments.len(), 1);
}

#[test]
fn search_finds_two_character_words_and_mixed_text() {
    let v = village();
    v.resident
        .file_request(NewRequest {
            kind: "social_assistance".into(),
            ..request("申请低保")
        })
        .unwrap();
    v.resident.file_request(request("村口修路坑洼")).unwrap();
    v.resident.file_request(request("WiFi信号差")).unwrap();
    let hits = v.resident.search("低保", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].title, "申请低保");
    assert_eq!(
        v.resident.search("修路", 10).unwrap()[0].title,
        "村口修路坑洼"
    );
    assert_eq!(
        v.resident.search("wifi", 10).unwrap()[0].title,
        "WiFi信号差"
    );
    assert!(v.resident.search("医保", 10).unwrap().is_empty());
}

#[test]
fn observers_learn_of_local_edits_and_merges() {
    use cunwu_core::store::{EntityChange, Origin};
    use std::sync::{Arc, Mutex};
    let v = village();
    let seen: Arc<Mutex<Vec<EntityChange>>> = Arc::default();
    let s2 = seen.clone();
    let sub = v.resident.subscribe(Arc::new(move |c: &[EntityChange]| {
        s2.lock().unwrap().extend_from_slice(c)
    }));
    let rid = v.resident.file_request(request("路灯")).unwrap();
    let nid = v.cadre.post_notice(finance_notice(vec![])).unwrap();
    exchange(&v.cadre, &v.resident);
    let got = seen.lock().unwrap().clone();
    assert!(
        got.iter().any(|c| c.id == rid
            && c.origin == Origin::Local
            && c.kind == cunwu_core::EntityKind::Request),
        "{got:?}"
    );
    assert!(
        got.iter().any(|c| c.id == nid
            && c.origin == Origin::Remote
            && c.kind == cunwu_core::EntityKind::Notice),
        "{got:?}"
    );
    v.resident.unsubscribe(sub);
    let n = seen.lock().unwrap().len();
    v.resident.file_request(request("又一个")).unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        n,
        "no callbacks after unsubscribe"
    );
}
