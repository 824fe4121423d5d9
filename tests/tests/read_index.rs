//! The relay's per-member read index (issue 13), against a real relay process: a
//! resident far behind, in a log that is mostly other villagers' private requests and
//! staff-only notes, syncs in one round trip, and the relay loads the rows that
//! resident may read, not every row after the cursor (`cunwu_log_rows_read_total`).

use cunwu_core::model::notice::{Category, Period, Subtype};
use cunwu_core::store::{NewNotice, NewRequest};
use cunwu_core::Role;
use cunwu_tests::harness::{http_get, Device, RelayProcess};
use std::time::Duration;

/// A counter of the relay's `/metrics`.
fn counter(relay: &RelayProcess, name: &str) -> u64 {
    let (status, body) =
        http_get(relay.addr(), "/metrics", Duration::from_secs(10)).expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics: {body}"))
        .trim()
        .parse()
        .expect("a counter")
}

fn notice(title: &str) -> NewNotice {
    NewNotice {
        category: Category::Village,
        subtype: Subtype::Other,
        period: Period::default(),
        title: title.into(),
        body: "村委会通知，请各位村民周知。".into(),
        opening_balance_fen: None,
        lines: vec![],
        publish: true,
    }
}

fn request(title: &str) -> NewRequest {
    NewRequest {
        kind: "social_assistance".into(),
        title: title.into(),
        description: "家中困难".into(),
        place: None,
        on_behalf_of: None,
        materials: vec![],
        attachments: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_far_behind_reads_only_what_they_may_read() {
    const FILERS: usize = 4;
    const REQUESTS_EACH: usize = 40;
    let relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    let wang = Device::enroll(
        &relay,
        &relay.invite_with(&space, Role::Resident, "H05", "二组"),
        "王秀英",
    )
    .await;
    let mut filers = vec![];
    for i in 0..FILERS {
        let invite = relay.invite_with(&space, Role::Resident, &format!("H1{i}"), "三组");
        filers.push(Device::enroll(&relay, &invite, &format!("村民{i}")).await);
    }
    cadre.store.post_notice(notice("关于修路的通知")).unwrap();
    cadre.sync().await.unwrap();
    let r = wang.sync().await.unwrap();
    assert!(r.received >= 1, "{r:?}");
    let old_cursor = r.cursor;

    // hundreds of rows Wang may not read: each villager's private requests, one log
    // row each, and a staff-only note on each request, one log row each
    for (i, d) in filers.iter().enumerate() {
        d.sync().await.unwrap();
        for j in 0..REQUESTS_EACH {
            d.store
                .file_request(request(&format!("申请{i}-{j}")))
                .unwrap();
            let r = d.sync().await.unwrap();
            assert!(r.acked >= 1, "{r:?}");
        }
    }
    cadre.sync().await.unwrap();
    let ids: Vec<String> = relay
        .entity_rows(&space)
        .into_iter()
        .filter(|(_, kind, _)| kind == "request")
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(
        ids.len(),
        FILERS * REQUESTS_EACH,
        "the relay holds every request"
    );
    for id in ids.iter().take(FILERS * REQUESTS_EACH / 2) {
        cadre
            .store
            .comment_request(id, "已核实，待乡镇审批", true)
            .unwrap();
        let r = cadre.sync().await.unwrap();
        assert!(r.acked >= 1, "{r:?}");
    }
    // and what Wang may read: two notices
    for title in ["关于防汛的通知", "关于医保缴费的通知"] {
        cadre.store.post_notice(notice(title)).unwrap();
        cadre.sync().await.unwrap();
    }
    let unreadable = (FILERS * REQUESTS_EACH * 3 / 2) as u64;
    let readable = 2u64;
    let behind = relay.query_i64(&format!(
        "SELECT count(*) FROM log WHERE space_id = '{space}' AND seq > {old_cursor}"
    )) as u64;
    assert!(
        behind >= unreadable + readable,
        "the log after Wang's cursor holds {behind} rows"
    );

    let before = counter(&relay, "cunwu_log_rows_read_total");
    let r = wang.sync().await.unwrap();
    let loaded = counter(&relay, "cunwu_log_rows_read_total") - before;
    assert_eq!(
        r.round_trips, 1,
        "the answer fits one page, so it says there is no more: {r:?}"
    );
    assert_eq!(r.received, 2, "the two notices and nothing else: {r:?}");
    assert!(
        loaded <= readable + 2,
        "Wang's sync loaded {loaded} log rows of the {behind} after the cursor, though Wang may read {readable}"
    );
    let last = relay.query_i64(&format!(
        "SELECT next_seq - 1 FROM spaces WHERE id = '{space}'"
    ));
    assert_eq!(
        r.cursor, last as u64,
        "the cursor moves to the end of the log"
    );

    // nothing new: nothing is loaded, and the cursor stays at the end
    let before = counter(&relay, "cunwu_log_rows_read_total");
    let r = wang.sync().await.unwrap();
    assert_eq!((r.round_trips, r.received), (1, 0), "{r:?}");
    assert_eq!(counter(&relay, "cunwu_log_rows_read_total"), before);

    // the index hides nothing from those who may read: a new cadre reads every
    // request, note and notice
    let late = Device::enroll(
        &relay,
        &relay.invite_with(&space, Role::Cadre, "H01", "一组"),
        "李会计",
    )
    .await;
    let r = late.sync().await.unwrap();
    assert!(
        r.received as usize >= FILERS * REQUESTS_EACH * 3 / 2 + 3,
        "a cadre reads every request, every note and every notice: {r:?}"
    );
}
