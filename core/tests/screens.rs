//! What a villager sees (issue 14, defects 2–5, 8, 10): the answers screens get from the
//! store — badge counts, list order, search ranking — and the rules a phone applies
//! before it signs (finance data, assignment, acting on an elder's behalf), through
//! real stores that exchange bundles as phones do.

use cunwu_core::local_space::LocalSpace;
use cunwu_core::model::deliberation::DecidingBody;
use cunwu_core::model::notice::{Category, Direction, FinanceLine, Period, PeriodKind, Subtype};
use cunwu_core::model::request::Status;
use cunwu_core::store::{
    ListOrder, NewDeliberation, NewNotice, NewRequest, NoticeFilter, RequestFilter,
};
use cunwu_core::{Error, Role, Store};
use tempfile::TempDir;

struct Village {
    _dir: TempDir,
    space: LocalSpace,
    cadre: Store,
    resident: Store,
    township: Store,
    township_id: String,
    resident_id: String,
}

fn village() -> Village {
    let dir = tempfile::tempdir().unwrap();
    let mut space = LocalSpace::new("青石村");
    let cadre = Store::open(dir.path().join("cadre.db")).unwrap();
    let resident = Store::open(dir.path().join("resident.db")).unwrap();
    let township = Store::open(dir.path().join("township.db")).unwrap();
    space.join(&cadre, "陈建国", Role::Cadre).unwrap();
    let resident_id = space.join(&resident, "王秀英", Role::Resident).unwrap();
    let township_id = space.join(&township, "李镇长", Role::Township).unwrap();
    space.publish(&[&cadre, &resident, &township]).unwrap();
    Village {
        _dir: dir,
        space,
        cadre,
        resident,
        township,
        township_id,
        resident_id,
    }
}

fn exchange(a: &Store, b: &Store) {
    let ab = a.export_bundle(Some(&b.have().unwrap())).unwrap();
    let ba = b.export_bundle(Some(&a.have().unwrap())).unwrap();
    b.import_bundle(&ab).unwrap();
    a.import_bundle(&ba).unwrap();
}

/// Distinct signed times (milliseconds) between steps whose order a test checks.
fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(5));
}

fn notice(title: &str, body: &str) -> NewNotice {
    NewNotice {
        category: Category::Village,
        subtype: Subtype::Other,
        period: Period::default(),
        title: title.into(),
        body: body.into(),
        opening_balance_fen: None,
        lines: vec![],
        publish: true,
    }
}

fn request(title: &str, on_behalf_of: Option<String>) -> NewRequest {
    NewRequest {
        kind: "public_facility_repair".into(),
        title: title.into(),
        description: "三组路口".into(),
        place: None,
        on_behalf_of,
        materials: vec![],
        attachments: vec![],
    }
}

fn vote(body: DecidingBody) -> NewDeliberation {
    let now = cunwu_core::ids::now_ms();
    NewDeliberation {
        title: "修路".into(),
        body: String::new(),
        deciding_body: body,
        options: vec!["同意".into(), "不同意".into()],
        group: None,
        secret: false,
        hide_results: false,
        opens_at: now,
        closes_at: now + 3_600_000,
    }
}

// ---- 3. badge counts ------------------------------------------------------------------

#[test]
fn badge_counts_are_true_for_the_member() {
    let v = village();
    let n = v.cadre.post_notice(notice("停水通知", "周三停水")).unwrap();
    assert_eq!(
        v.cadre.counts().unwrap().unread_notices,
        0,
        "a cadre's own notice is not unread for that cadre"
    );
    assert!(v.cadre.list_notices(&NoticeFilter::default()).unwrap()[0].read);
    // representatives decide this one: the resident is not in its electorate
    let reps = v
        .cadre
        .create_deliberation(vote(DecidingBody::VillagerReps))
        .unwrap();
    v.cadre.open_voting(&reps).unwrap();
    let all = v
        .cadre
        .create_deliberation(vote(DecidingBody::VillagersMeeting))
        .unwrap();
    v.cadre.open_voting(&all).unwrap();
    exchange(&v.cadre, &v.resident);
    let c = v.resident.counts().unwrap();
    assert_eq!(c.unread_notices, 1, "the resident has not read it");
    assert_eq!(
        c.open_votes_not_cast, 1,
        "only the villagers' meeting is the resident's to vote in"
    );
    v.resident.cast_ballot(&all, 0).unwrap();
    v.resident.mark_read(&n).unwrap();
    let c = v.resident.counts().unwrap();
    assert_eq!((c.unread_notices, c.open_votes_not_cast), (0, 0));
    assert_eq!(v.cadre.counts().unwrap().open_votes_not_cast, 2);
}

// ---- 8. list order --------------------------------------------------------------------

#[test]
fn lists_keep_their_order_and_recent_activity_is_a_choice() {
    let v = village();
    let old = v.cadre.post_notice(notice("旧通知", "上月")).unwrap();
    tick();
    let new = v.cadre.post_notice(notice("新通知", "本月")).unwrap();
    exchange(&v.cadre, &v.resident);
    tick();
    // a resident reads and asks about the old one
    v.resident.mark_read(&old).unwrap();
    v.resident.ask_question(&old, "钱发了吗?").unwrap();
    exchange(&v.cadre, &v.resident);
    let ids = |f: NoticeFilter| -> Vec<String> {
        v.cadre
            .list_notices(&f)
            .unwrap()
            .into_iter()
            .map(|n| n.id)
            .collect()
    };
    assert_eq!(
        ids(NoticeFilter::default()),
        vec![new.clone(), old.clone()],
        "newest published first: a read and a question do not move the old notice up"
    );
    assert_eq!(
        ids(NoticeFilter {
            order: ListOrder::Recent,
            ..Default::default()
        }),
        vec![old, new]
    );
    let first = v.cadre.file_request(request("路灯坏了", None)).unwrap();
    tick();
    let second = v.cadre.file_request(request("井盖丢了", None)).unwrap();
    tick();
    v.cadre
        .transition_request(&first, Status::Accepted, "已受理")
        .unwrap();
    let rids = |order| -> Vec<String> {
        v.cadre
            .list_requests(&RequestFilter {
                order,
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(rids(ListOrder::Newest), vec![second.clone(), first.clone()]);
    assert_eq!(rids(ListOrder::Recent), vec![first, second]);
}

// ---- 2. search ------------------------------------------------------------------------

#[test]
fn search_ranks_title_above_body_and_finds_notes_and_answers() {
    let v = village();
    // the body hit comes first in the store, and says the word more often
    let body_hit = v
        .cadre
        .post_notice(notice(
            "村委会通知",
            "停水期间请储水。停水时间另行通知。停水",
        ))
        .unwrap();
    let title_hit = v
        .cadre
        .post_notice(notice("停水通知", "周三全天，请各户做好准备"))
        .unwrap();
    let hits = v.cadre.search("停水", 10).unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, vec![title_hit.as_str(), body_hit.as_str()]);
    assert!(
        hits[0].score > hits[1].score && hits[1].score > 0.0,
        "a real relevance score, higher is better: {hits:?}"
    );
    let r = v.cadre.file_request(request("路灯坏了", None)).unwrap();
    v.cadre
        .transition_request(&r, Status::Accepted, "已联系电工老周")
        .unwrap();
    let found: Vec<String> = v
        .cadre
        .search("电工", 10)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(found, vec![r], "a transition note is searchable");
    exchange(&v.cadre, &v.resident);
    let q = v.resident.ask_question(&title_hit, "几点恢复?").unwrap();
    exchange(&v.cadre, &v.resident);
    v.cadre
        .answer_question(&title_hit, &q, "预计傍晚六点恢复供应")
        .unwrap();
    let found: Vec<String> = v
        .cadre
        .search("傍晚", 10)
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(found, vec![title_hit], "an answer is searchable");
    // Latin words (prefix terms) rank through the same column filters
    let wifi = v.cadre.post_notice(notice("WiFi覆盖通知", "")).unwrap();
    let hits = v.cadre.search("wifi 覆盖", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, wifi);
    assert!(hits[0].score >= 10.0, "a title match: {hits:?}");
}

// ---- 4. finance data, on the phone before anything is signed ---------------------------

#[test]
fn finance_data_is_checked_before_it_is_signed() {
    let v = village();
    let line = |date: &str, amount: i64| FinanceLine {
        date: date.into(),
        direction: Direction::Income,
        account: "补助收入".into(),
        item: "上级补助".into(),
        amount_fen: amount,
        payee_or_dept: String::new(),
        voucher_no: String::new(),
    };
    let finance = |start: &str, end: &str, lines: Vec<FinanceLine>, opening: i64| NewNotice {
        category: Category::Finance,
        subtype: Subtype::QuarterlyAccounts,
        period: Period {
            kind: PeriodKind::Quarterly,
            start: Some(start.into()),
            end: Some(end.into()),
        },
        title: "第三季度财务公开".into(),
        body: String::new(),
        opening_balance_fen: Some(opening),
        lines,
        publish: true,
    };
    for (n, needle) in [
        (
            finance("2026-09-30", "2026-07-01", vec![], 0),
            "ends before it starts",
        ),
        (
            finance("2026-07-01", "2026-09-30", vec![line("2026-06-30", 100)], 0),
            "line 1: dated 2026-06-30, outside the period",
        ),
        (
            finance(
                "2026-07-01",
                "2026-09-30",
                vec![line("2026-07-01", 100)],
                i64::MIN,
            ),
            "opening balance",
        ),
    ] {
        match v.cadre.post_notice(n) {
            Err(Error::Invalid(m)) => assert!(m.contains(needle), "{m} does not say {needle}"),
            other => panic!("expected a refusal saying {needle:?}, got {other:?}"),
        }
    }
    assert_eq!(
        v.cadre.counts().unwrap().pending_changes,
        0,
        "nothing was signed"
    );
    let ok = v
        .cadre
        .post_notice(finance(
            "2026-07-01",
            "2026-09-30",
            vec![line("2026-09-30", 100)],
            0,
        ))
        .unwrap();
    let mut c = v.cadre.notice(&ok).unwrap().content;
    c.lines.push(line("2026-10-01", 5));
    assert!(
        v.cadre.correct_notice(&ok, c, "补录").is_err(),
        "a correction too"
    );
    let options = NewDeliberation {
        options: vec!["同意".into(), "同意".into()],
        ..vote(DecidingBody::VillagersMeeting)
    };
    assert!(matches!(
        v.cadre.create_deliberation(options),
        Err(Error::Invalid(m)) if m.contains("twice")
    ));
}

// ---- 5. assignment --------------------------------------------------------------------

#[test]
fn a_request_is_assigned_only_to_someone_who_may_read_it() {
    let v = village();
    let r = v.cadre.file_request(request("路灯坏了", None)).unwrap();
    assert!(matches!(
        v.cadre.assign_request(&r, &v.resident_id),
        Err(Error::NotAllowed(m)) if m.contains("may not read")
    ));
    v.cadre.assign_request(&r, &v.township_id).unwrap();
    exchange(&v.cadre, &v.township);
    let seen = v.township.request(&r).unwrap();
    assert_eq!(seen.assignee.as_deref(), Some(v.township_id.as_str()));
    // 10: the assignment is in the request's history
    assert_eq!(seen.assignments.len(), 1);
    assert_eq!(seen.assignments[0].assignee, v.township_id);
}

// ---- 10. filing on an elder's behalf --------------------------------------------------

#[test]
fn the_cadre_who_filed_for_an_elder_acts_for_the_elder_everywhere() {
    let mut v = village();
    // an elder with no phone
    let elder = v.space.add_member("张奶奶", Role::Resident, "", "");
    v.space
        .publish(&[&v.cadre, &v.resident, &v.township])
        .unwrap();
    let r = v
        .cadre
        .file_request(request("代张奶奶申请修路灯", Some(elder.clone())))
        .unwrap();
    exchange(&v.cadre, &v.township);
    v.township
        .transition_request(&r, Status::Accepted, "")
        .unwrap();
    v.township
        .transition_request(&r, Status::Resolved, "已修好")
        .unwrap();
    exchange(&v.cadre, &v.township);
    v.cadre.rate_request(&r, 5, "张奶奶说很满意").unwrap();
    v.cadre
        .transition_request(&r, Status::Reopened, "又坏了")
        .unwrap();
    v.cadre
        .transition_request(&r, Status::Withdrawn, "已自行修好")
        .unwrap();
    exchange(&v.cadre, &v.township);
    let seen = v.township.request(&r).unwrap();
    assert_eq!(
        seen.status,
        Status::Withdrawn,
        "every step was accepted elsewhere"
    );
    let mine: Vec<_> = seen
        .transitions
        .iter()
        .filter(|t| matches!(t.to, Status::Reopened | Status::Withdrawn))
        .map(|t| (t.by.clone(), t.on_behalf_of.clone(), t.applied))
        .collect();
    let cadre = v.cadre.me().unwrap().id;
    assert_eq!(
        mine,
        vec![
            (cadre.clone(), Some(elder.clone()), true),
            (cadre.clone(), Some(elder.clone()), true)
        ]
    );
    let rating = seen.rating.expect("rated while resolved");
    assert_eq!((rating.by, rating.on_behalf_of), (cadre, Some(elder)));
}
