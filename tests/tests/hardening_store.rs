//! Issue 9, the phone's store: signed results only move forward (principle 5),
//! parking is bounded (principle 6), a phone heals (principle 10).
//!
//! Every test runs a REAL relay process (`cunwu_tests::harness::RelayProcess`) and real
//! device stores (SQLite files, real signatures). Damage is done the way it happens on
//! a phone: bytes overwritten or rows deleted in the device's SQLite file. Each healing
//! test checks that the next sync finishes, that the rest of the village is unaffected,
//! and that the damaged phone ends with exactly what an undamaged peer shows.

use automerge::Change;
use cunwu_core::doc::EntityDoc;
use cunwu_core::identity::DeviceKey;
use cunwu_core::ids::{new_event_id, new_id, now_ms};
use cunwu_core::model::deliberation::{DecidingBody, DeliberationEvent, Tally};
use cunwu_core::model::notice::{Category, NoticeContent, NoticeEvent, Period, Subtype};
use cunwu_core::store::{
    DeliberationSummary, NewDeliberation, NewNotice, NoticeFilter, NoticeSummary,
    MAX_PARKED_PER_SIGNER,
};
use cunwu_core::sync::SyncClient;
use cunwu_core::wire::{entity_bytes, Bundle, SignedBatch, SignedTally};
use cunwu_core::{EntityKind, Role, Store};
use cunwu_tests::harness::{Device, RelayProcess};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

// ---- the village ---------------------------------------------------------------------------

/// A cadre, the phone that gets damaged (`phone`), and an undamaged resident (`peer`)
/// with the same read rights as `phone`.
struct Village {
    relay: RelayProcess,
    space: String,
    cadre: Device,
    phone: Device,
    peer: Device,
}

/// What a resident's phone shows of the village: lists, documents, tallies.
#[derive(Debug, PartialEq)]
struct View {
    notices: Vec<NoticeSummary>,
    deliberations: Vec<DeliberationSummary>,
    docs: BTreeMap<String, Value>,
    tallies: BTreeMap<String, Tally>,
}

fn view(d: &Device) -> View {
    let s = &d.store;
    let mut docs = BTreeMap::new();
    let mut tallies = BTreeMap::new();
    for (id, kind) in s.entity_ids().unwrap() {
        docs.insert(
            id.clone(),
            s.document_json(&id)
                .unwrap_or_else(|e| panic!("{}: document {id}: {e}", d.name)),
        );
        if kind == EntityKind::Deliberation {
            tallies.insert(id.clone(), s.tally(&id).unwrap());
        }
    }
    View {
        notices: s
            .list_notices(&NoticeFilter {
                limit: 500,
                ..Default::default()
            })
            .unwrap(),
        deliberations: s.list_deliberations(500, 0).unwrap(),
        docs,
        tallies,
    }
}

impl Village {
    async fn new() -> Village {
        let relay = RelayProcess::start();
        let (space, cadre_invite) = relay.create_space("青石村");
        let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
        let phone = Device::enroll(
            &relay,
            &relay.invite_with(&space, Role::Resident, "H05", "二组"),
            "王秀英",
        )
        .await;
        let peer = Device::enroll(
            &relay,
            &relay.invite_with(&space, Role::Resident, "H06", "二组"),
            "李桂兰",
        )
        .await;
        let v = Village {
            relay,
            space,
            cadre,
            phone,
            peer,
        };
        v.settle().await;
        v
    }

    async fn settle(&self) {
        for _ in 0..2 {
            for d in [&self.cadre, &self.phone, &self.peer] {
                d.sync()
                    .await
                    .unwrap_or_else(|e| panic!("{} sync: {e}", d.name));
            }
        }
    }

    /// Two published notices, one corrected twice: several stored changes per entity.
    async fn some_notices(&self) -> (String, String) {
        let a = self
            .cadre
            .store
            .post_notice(notice("村道硬化通知", "下周一开始施工"))
            .unwrap();
        for (i, body) in ["施工推迟到下周三", "施工推迟到下周五"].iter().enumerate()
        {
            self.cadre
                .store
                .correct_notice(
                    &a,
                    content("村道硬化通知", body),
                    &format!("第{}次更正", i + 1),
                )
                .unwrap();
        }
        let b = self
            .cadre
            .store
            .post_notice(notice("医保缴费提醒", "请于月底前缴纳"))
            .unwrap();
        self.settle().await;
        (a, b)
    }

    /// The village moves on while `phone` is damaged: a new change to each of
    /// `entities` (so the phone's next merge meets the damage) and a new notice.
    async fn village_moves_on(&self, entities: &[&str]) -> String {
        for (i, e) in entities.iter().enumerate() {
            self.cadre
                .store
                .correct_notice(e, content("更正", &format!("第{i}处更正")), "又一次更正")
                .unwrap();
        }
        let fresh = self
            .cadre
            .store
            .post_notice(notice("防汛通知", "注意防汛"))
            .unwrap();
        self.cadre.sync().await.unwrap();
        self.peer.sync().await.unwrap();
        fresh
    }

    /// The damaged phone ends with exactly what the undamaged peer shows.
    async fn assert_phone_matches_peer(&self) {
        self.settle().await;
        let (mine, theirs) = (view(&self.phone), view(&self.peer));
        assert_eq!(
            mine.docs.keys().collect::<Vec<_>>(),
            theirs.docs.keys().collect::<Vec<_>>(),
            "same entities"
        );
        assert_eq!(
            mine, theirs,
            "the healed phone shows what an undamaged peer shows"
        );
        let report = self.phone.store.check_integrity().unwrap();
        assert!(report.is_ok(), "no damage left: {:?}", report.problems());
    }
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

fn content(title: &str, body: &str) -> NoticeContent {
    NoticeContent {
        title: title.into(),
        body: body.into(),
        opening_balance_fen: None,
        lines: vec![],
    }
}

fn ev<B: Serialize>(body: &B, by: &str, at: i64) -> Value {
    let mut v = serde_json::to_value(body).unwrap();
    let m = v.as_object_mut().unwrap();
    m.insert("id".into(), Value::String(new_event_id()));
    m.insert("by".into(), Value::String(by.into()));
    m.insert("at".into(), Value::from(at));
    v
}

fn batch(key: &DeviceKey, changes: &[(&str, &Change)]) -> SignedBatch {
    let cs: Vec<_> = changes
        .iter()
        .map(|(e, c)| (entity_bytes(e).unwrap(), (*c).clone()))
        .collect();
    SignedBatch::sign(key, now_ms(), &cs)
}

fn bundle(space: &str, batches: Vec<SignedBatch>, tallies: Vec<SignedTally>) -> Bundle {
    Bundle {
        space: entity_bytes(space).unwrap(),
        created_at: now_ms(),
        roster: None,
        batches,
        tallies,
    }
}

/// The document of `entity` as `holder`'s phone stores it (read from its SQLite file).
fn doc_held_by(holder: &Device, entity: &str) -> EntityDoc {
    let c = holder.sql();
    let snapshot: Option<Vec<u8>> = c
        .query_row(
            "SELECT snapshot FROM entities WHERE id = ?1",
            [entity],
            |r| r.get(0),
        )
        .unwrap();
    let mut st = c
        .prepare("SELECT bytes FROM changes WHERE entity_id = ?1 ORDER BY rowid")
        .unwrap();
    let changes: Vec<Vec<u8>> = st
        .query_map([entity], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    EntityDoc::load(snapshot.as_deref(), changes.iter().map(|b| b.as_slice())).unwrap()
}

fn count(d: &Device, sql: &str) -> i64 {
    d.sql().query_row(sql, [], |r| r.get(0)).unwrap()
}

// ---- principle 5: signed results only move forward ---------------------------------------------

/// The relay's key for a space, read from its SQLite database (the test plays a
/// replaying attacker who kept an old signed tally; the relay's key signs it here).
fn relay_key(relay: &RelayProcess, space: &str) -> Option<DeviceKey> {
    if relay.backend() != "sqlite" {
        return None;
    }
    let c = rusqlite::Connection::open(relay.db_path()).unwrap();
    let secret: Vec<u8> = c
        .query_row(
            "SELECT relay_secret FROM spaces WHERE id = ?1",
            [space],
            |r| r.get(0),
        )
        .unwrap();
    Some(DeviceKey::from_secret(&secret).unwrap())
}

/// A tally signed with the relay's key, from JSON (so it can carry any `as_of`).
fn sign_tally(json: &Value, relay: &DeviceKey) -> SignedTally {
    let tally_json = serde_json::to_vec(json).unwrap();
    let mut msg = b"cunwu-tally-v1\0".to_vec();
    msg.extend_from_slice(&tally_json);
    SignedTally {
        tally_json,
        signature: relay.sign(&msg).to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_signed_tally_replayed_later_never_replaces_the_final_one() {
    let v = Village::new().await;
    let Some(relay_key) = relay_key(&v.relay, &v.space) else {
        return;
    };
    let now = now_ms();
    // a vote that opened 4 h ago and closed 3 h ago, past the grace period: the relay
    // publishes its final tally (the open event is signed by hand, "4 hours ago")
    let d = v
        .cadre
        .store
        .create_deliberation(NewDeliberation {
            title: "村道硬化方案".into(),
            body: String::new(),
            deciding_body: DecidingBody::VillagersMeeting,
            options: vec!["同意".into(), "反对".into()],
            group: None,
            secret: false,
            hide_results: true,
            opens_at: now - 4 * 3600 * 1000,
            closes_at: now - 3 * 3600 * 1000,
        })
        .unwrap();
    v.settle().await;
    let roster = v.cadre.store.roster().unwrap();
    let open = DeliberationEvent::Open {
        eligible: DecidingBody::VillagersMeeting.eligible(&roster, None),
        roster_version: roster.version,
        persons: vec![],
        member_persons: vec![],
        register_heads: vec![],
    };
    let mut doc = doc_held_by(&v.cadre, &d);
    let c = doc
        .append(
            &v.cadre.key().public(),
            &ev(&open, &v.cadre.member_id(), now - 4 * 3600 * 1000 + 1000),
            now_ms(),
        )
        .unwrap();
    let reply = v
        .cadre
        .push_raw(&v.relay, vec![batch(v.cadre.key(), &[(&d, &c)])])
        .await;
    assert!(
        reply.sync_response().acks.contains(&c.hash().0),
        "the open event is accepted"
    );
    // the relay publishes within its 10 s tally interval
    let mut final_tally = None;
    for _ in 0..30 {
        v.cadre.sync().await.unwrap();
        v.phone.sync().await.unwrap();
        let t = v.phone.store.tally(&d).unwrap();
        if t.final_result {
            final_tally = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let final_tally = final_tally.expect("the relay published a final tally");
    assert!(
        final_tally.as_of > 0,
        "the relay signs the log position it computed the tally at"
    );
    // an older, non-final tally of the same vote (what a phone saw during the grace
    // period), replayed in a bundle after the final one
    let mut old = serde_json::to_value(&final_tally).unwrap();
    old["final_result"] = Value::Bool(false);
    old["participants"] = Value::from(1);
    old["counts"] = serde_json::json!([0, 1]);
    old["as_of"] = Value::from(final_tally.as_of.saturating_sub(1));
    let replay = bundle(&v.space, vec![], vec![sign_tally(&old, &relay_key)]);
    v.phone.store.import_bundle(&replay).unwrap();
    assert_eq!(
        v.phone.store.tally(&d).unwrap(),
        final_tally,
        "the final tally stays"
    );
    // a non-final one claiming a later position cannot replace a final one either
    old["as_of"] = Value::from(final_tally.as_of + 1000);
    v.phone
        .store
        .import_bundle(&bundle(
            &v.space,
            vec![],
            vec![sign_tally(&old, &relay_key)],
        ))
        .unwrap();
    assert_eq!(
        v.phone.store.tally(&d).unwrap(),
        final_tally,
        "a final tally is never replaced by a non-final one"
    );
    // and the village is unaffected
    v.settle().await;
    assert_eq!(v.peer.store.tally(&d).unwrap(), final_tally);
}

// ---- principle 6: parking is bounded ------------------------------------------------------------

/// A notice document made by `key` (for member `by`) that nobody else holds, and `n`
/// questions on it: each of those depends on something the receiver lacks.
fn orphans(key: &DeviceKey, by: &str, n: usize) -> (String, Change, Vec<Change>) {
    let id = new_id();
    let create = NoticeEvent::Create {
        category: Category::Village,
        subtype: Subtype::Other,
        period: Period::default(),
        content: content("孤儿通知", "正文"),
        publish: true,
    };
    let (mut doc, first) = EntityDoc::create(
        &key.public(),
        EntityKind::Notice,
        &id,
        &ev(&create, by, now_ms()),
        now_ms(),
    )
    .unwrap();
    let mut later = vec![];
    for i in 0..n {
        let q = NoticeEvent::Ask {
            text: format!("问题{i}"),
        };
        later.push(
            doc.append(&key.public(), &ev(&q, by, now_ms()), now_ms())
                .unwrap(),
        );
    }
    (id, first, later)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_from_an_unknown_signer_is_refused_not_parked() {
    let v = Village::new().await;
    // a key the roster does not know, whose change waits for a dependency
    let stranger = Device::new("陌生人");
    let (id, _first, later) = orphans(stranger.key(), "0123456789abcdef0123456789abcdef", 1);
    let r = v
        .phone
        .store
        .import_bundle(&bundle(
            &v.space,
            vec![batch(stranger.key(), &[(&id, &later[0])])],
            vec![],
        ))
        .unwrap();
    assert_eq!(
        count(&v.phone, "SELECT count(*) FROM parked"),
        0,
        "nothing parked for an unknown signer"
    );
    assert_eq!(r.merge.parked, 0);
    assert_eq!(r.merge.rejected.len(), 1, "{:?}", r.merge);
    assert!(
        r.merge.rejected[0].2.contains("not enrolled"),
        "{}",
        r.merge.rejected[0].2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_refuses_what_was_parked_waiting_for_it() {
    let v = Village::new().await;
    // a resident (a tampered app) publishes a notice, which residents may not, and
    // asks a question on it; the question arrives first and is parked
    let (id, first, later) = orphans(v.peer.key(), &v.peer.member_id(), 1);
    let r = v
        .phone
        .store
        .import_bundle(&bundle(
            &v.space,
            vec![batch(v.peer.key(), &[(&id, &later[0])])],
            vec![],
        ))
        .unwrap();
    assert_eq!(r.merge.parked, 1, "{:?}", r.merge);
    let r = v
        .phone
        .store
        .import_bundle(&bundle(
            &v.space,
            vec![batch(v.peer.key(), &[(&id, &first)])],
            vec![],
        ))
        .unwrap();
    assert_eq!(
        r.merge.rejected.len(),
        2,
        "the notice and the question waiting for it are refused: {:?}",
        r.merge
    );
    let q = r
        .merge
        .rejected
        .iter()
        .find(|x| x.1 == later[0].hash().to_string())
        .expect("the question is refused");
    assert!(
        q.2.contains(&first.hash().to_string()),
        "the reason names the refused dependency: {}",
        q.2
    );
    assert_eq!(
        count(&v.phone, "SELECT count(*) FROM parked"),
        0,
        "nothing left parked for ever"
    );
    assert_eq!(count(&v.phone, "SELECT count(*) FROM parked_waits"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parking_is_capped_per_signer_and_expires() {
    let v = Village::new().await;
    let n = MAX_PARKED_PER_SIGNER as usize + 5;
    let (id, _first, later) = orphans(v.peer.key(), &v.peer.member_id(), n);
    let items: Vec<(&str, &Change)> = later.iter().map(|c| (id.as_str(), c)).collect();
    let batches: Vec<SignedBatch> = items
        .chunks(500)
        .map(|ch| batch(v.peer.key(), ch))
        .collect();
    let r = v
        .phone
        .store
        .import_bundle(&bundle(&v.space, batches, vec![]))
        .unwrap();
    assert_eq!(
        count(&v.phone, "SELECT count(*) FROM parked"),
        MAX_PARKED_PER_SIGNER,
        "capped per signer"
    );
    assert_eq!(r.merge.parked, MAX_PARKED_PER_SIGNER as usize);
    assert_eq!(
        r.merge.rejected.len(),
        5,
        "the rest is refused with a reason"
    );
    assert!(
        r.merge.rejected[0].2.contains("limit"),
        "{}",
        r.merge.rejected[0].2
    );
    // the rest of the village is unaffected
    let before = view(&v.peer);
    v.settle().await;
    assert_eq!(view(&v.peer), before);
    // parked rows expire after 30 days
    v.phone
        .sql()
        .execute(
            "UPDATE parked SET parked_at = parked_at - 31 * 86400000",
            [],
        )
        .unwrap();
    let r = v
        .phone
        .store
        .import_bundle(&bundle(&v.space, vec![], vec![]))
        .unwrap();
    assert_eq!(r.merge.dropped_parked.len(), MAX_PARKED_PER_SIGNER as usize);
    assert_eq!(count(&v.phone, "SELECT count(*) FROM parked"), 0, "expired");
    assert_eq!(count(&v.phone, "SELECT count(*) FROM parked_waits"), 0);
}

// ---- principle 10: a phone heals ----------------------------------------------------------------

/// Overwrite a BLOB in the phone's SQLite file with bytes of the same length.
fn garble(d: &Device, sql: &str, id: &str) {
    let c = d.sql();
    let len: i64 = c
        .query_row(&format!("SELECT length(b) FROM ({sql}) "), [id], |r| {
            r.get(0)
        })
        .unwrap();
    let junk: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(7))
        .collect();
    let n = c
        .execute(
            &format!(
                "UPDATE {} = ?2 WHERE rowid = (SELECT r FROM ({sql}))",
                update_target(sql)
            ),
            rusqlite::params![id, junk],
        )
        .unwrap();
    assert_eq!(n, 1, "garbled one row");
}

/// "SELECT <col> AS b, rowid AS r FROM <table> WHERE ..." → "<table> SET <col>".
fn update_target(sql: &str) -> String {
    let col = sql.trim_start_matches("SELECT ").split(' ').next().unwrap();
    let table = sql
        .split(" FROM ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    format!("{table} SET {col}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_stored_change_or_snapshot_is_quarantined_and_fetched_again() {
    let v = Village::new().await;
    let (a, b) = v.some_notices().await;
    // both are compacted into snapshots; a gets an incremental change row after that
    v.phone.store.compact().unwrap();
    v.cadre
        .store
        .correct_notice(&a, content("村道硬化通知", "施工改到下月"), "再次更正")
        .unwrap();
    v.settle().await;
    assert!(
        count(
            &v.phone,
            &format!("SELECT count(*) FROM changes WHERE entity_id = '{a}'")
        ) >= 1
    );
    // damage: a change row of a, the snapshot of b
    garble(
        &v.phone,
        "SELECT bytes AS b, rowid AS r FROM changes WHERE entity_id = ?1 ORDER BY rowid LIMIT 1",
        &a,
    );
    garble(
        &v.phone,
        "SELECT snapshot AS b, rowid AS r FROM entities WHERE id = ?1",
        &b,
    );
    let fresh = v.village_moves_on(&[&a, &b]).await;
    // the next sync finishes; the damage is quarantined and reported
    let r = v
        .phone
        .sync()
        .await
        .expect("a damaged entity never stops the sync");
    assert!(r.received >= 1, "{r:?}");
    assert!(
        v.phone.store.document_json(&fresh).is_ok(),
        "the rest of the village still arrives"
    );
    let q = v.phone.store.quarantined().unwrap();
    for e in [&a, &b] {
        assert!(
            q.iter()
                .any(|x| &x.entity_id == e && x.reason.contains("does not load")),
            "{e} quarantined: {q:?}"
        );
    }
    // the sync after that pulls everything again and re-creates them
    v.assert_phone_matches_peer().await;
    assert_eq!(v.relay.query_i64("SELECT count(*) FROM spaces"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phones_own_changes_in_a_damaged_entity_are_kept_and_put_back() {
    let v = Village::new().await;
    let (a, _b) = v.some_notices().await;
    // one question acknowledged by the relay (which never sends a device its own
    // changes back), one still waiting to be sent
    v.phone
        .store
        .ask_question(&a, "施工期间怎么出行？")
        .unwrap();
    v.phone.sync().await.unwrap();
    v.phone.store.ask_question(&a, "晚上施工吗？").unwrap();
    // the cadre's first stored change of the notice is damaged on the phone
    garble(
        &v.phone,
        "SELECT bytes AS b, rowid AS r FROM changes WHERE entity_id = ?1 ORDER BY rowid LIMIT 1",
        &a,
    );
    v.village_moves_on(&[&a]).await;
    v.phone
        .sync()
        .await
        .expect("a damaged entity with unsent changes never stops the sync");
    assert!(v
        .phone
        .store
        .quarantined()
        .unwrap()
        .iter()
        .any(|x| x.entity_id == a));
    v.assert_phone_matches_peer().await;
    let doc = v.peer.store.document_json(&a).unwrap().to_string();
    assert!(
        doc.contains("施工期间怎么出行") && doc.contains("晚上施工吗"),
        "both questions reached the village: {doc}"
    );
    let unsent = v.phone.store.local_changes(None, 100).unwrap();
    assert!(
        unsent
            .iter()
            .all(|c| c.state == cunwu_core::store::ChangeState::Acked),
        "{unsent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbled_parked_row_is_dropped_and_reported_never_fatal() {
    let v = Village::new().await;
    // the cadre writes a notice and corrects it while offline; a bundle carries only
    // the correction to the phone, where it is parked
    let a = v
        .cadre
        .store
        .post_notice(notice("低保公示", "名单如下"))
        .unwrap();
    v.cadre
        .store
        .correct_notice(&a, content("低保公示", "名单更正如下"), "更正")
        .unwrap();
    let correction = {
        let doc: Value = v.cadre.store.document_json(&a).unwrap();
        assert_eq!(doc["events"].as_array().unwrap().len(), 2);
        doc_held_by(&v.cadre, &a).all_changes()[1].clone()
    };
    let r = v
        .phone
        .store
        .import_bundle(&bundle(
            &v.space,
            vec![batch(v.cadre.key(), &[(&a, &correction)])],
            vec![],
        ))
        .unwrap();
    assert_eq!(r.merge.parked, 1);
    garble(
        &v.phone,
        "SELECT bytes AS b, rowid AS r FROM parked WHERE entity_id = ?1",
        &a,
    );
    v.cadre.sync().await.unwrap();
    v.peer.sync().await.unwrap();
    v.phone
        .sync()
        .await
        .expect("a garbled parked row never stops the sync");
    let q = v.phone.store.quarantined().unwrap();
    assert!(
        q.iter()
            .any(|x| x.entity_id == a && x.reason.contains("could not be read")),
        "{q:?}"
    );
    assert_eq!(count(&v.phone, "SELECT count(*) FROM parked"), 0);
    v.assert_phone_matches_peer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_change_row_is_detected_and_fetched_again() {
    let v = Village::new().await;
    let (a, _b) = v.some_notices().await;
    // the first change (the notice's creation) vanishes from the phone's file
    let n = v
        .phone
        .sql()
        .execute("DELETE FROM changes WHERE rowid = (SELECT min(rowid) FROM changes WHERE entity_id = ?1)", [&a])
        .unwrap();
    assert_eq!(n, 1);
    v.village_moves_on(&[&a]).await;
    v.phone.sync().await.expect("the sync finishes");
    let q = v.phone.store.quarantined().unwrap();
    assert!(
        q.iter().any(|x| x.entity_id == a),
        "the damaged notice is quarantined: {q:?}"
    );
    v.assert_phone_matches_peer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_projection_row_is_found_and_rebuilt_by_repair() {
    let v = Village::new().await;
    let (a, _b) = v.some_notices().await;
    v.phone
        .sql()
        .execute("DELETE FROM notices WHERE id = ?1", [&a])
        .unwrap();
    v.village_moves_on(&[]).await;
    v.phone.sync().await.expect("the sync finishes");
    let found = v.phone.store.check_integrity().unwrap();
    assert!(
        found
            .projections
            .iter()
            .any(|(e, p)| *e == a && p.contains("missing")),
        "{:?}",
        found.problems()
    );
    let r = v.phone.store.repair().unwrap();
    assert!(r.projections_rebuilt && r.full_pull_requested, "{r:?}");
    assert!(r.after.is_ok(), "{:?}", r.after.problems());
    v.assert_phone_matches_peer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_outbox_row_is_re_derived_by_repair_and_the_change_is_sent() {
    let v = Village::new().await;
    let (a, _b) = v.some_notices().await;
    // the phone asks a question; its outbox row vanishes before the sync
    v.phone
        .store
        .ask_question(&a, "施工期间怎么出行？")
        .unwrap();
    let n = v
        .phone
        .sql()
        .execute("DELETE FROM outbox WHERE state = 'pending'", [])
        .unwrap();
    assert_eq!(n, 1);
    v.phone.sync().await.expect("the sync finishes");
    let found = v.phone.store.check_integrity().unwrap();
    assert_eq!(
        found.changes_without_outbox.len(),
        1,
        "{:?}",
        found.problems()
    );
    let r = v.phone.store.repair().unwrap();
    assert_eq!(r.outbox_restored, 1);
    assert!(r.after.is_ok(), "{:?}", r.after.problems());
    v.assert_phone_matches_peer().await;
    let doc = v.peer.store.document_json(&a).unwrap();
    assert!(
        doc.to_string().contains("施工期间怎么出行"),
        "the question reached the village"
    );
}

// ---- the CLI ------------------------------------------------------------------------------------

/// The `cunwu` binary of this workspace, built once per test process.
fn cunwu_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let root = cunwu_tests::harness::workspace_root();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let target = if target.is_absolute() {
            target
        } else {
            root.join(target)
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "cunwu-cli", "--bin", "cunwu"])
            .current_dir(&root);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_")
                || k.starts_with("CARGO_MANIFEST_")
                || matches!(
                    k.as_str(),
                    "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                        | "OUT_DIR"
                )
            {
                cmd.env_remove(&k);
            }
        }
        assert!(
            cmd.status().expect("cargo build -p cunwu-cli").success(),
            "building cunwu failed"
        );
        target
            .join("debug")
            .join(format!("cunwu{}", std::env::consts::EXE_SUFFIX))
    })
    .clone()
}

fn cunwu(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(cunwu_binary())
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("CUNWU_HOME")
        .env_remove("CUNWU_LANG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cunwu_repair_reports_and_fixes_a_damaged_home() {
    let v = Village::new().await;
    let (a, b) = v.some_notices().await;
    // a CLI home enrolled in the same village
    let home = tempfile::tempdir().unwrap();
    {
        let store = Store::open(home.path().join("cunwu.db")).unwrap();
        let client = SyncClient::new(Duration::from_secs(30));
        client
            .enroll(
                &store,
                &v.relay.url(),
                &v.relay.invite_with(&v.space, Role::Resident, "H09", "二组"),
                "张三",
            )
            .await
            .unwrap();
        client.sync_once(&store, None).await.unwrap();
    }
    let db = home.path().join("cunwu.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute("DELETE FROM notices WHERE id = ?1", [&b])
            .unwrap();
        c.execute(
            "UPDATE changes SET bytes = zeroblob(length(bytes)) WHERE rowid = (SELECT min(rowid) FROM changes WHERE entity_id = ?1)",
            [&a],
        )
        .unwrap();
    }
    // the CLI speaks Chinese by default and shows ids in their short form
    let (code, out, err) = cunwu(home.path(), &["--lang", "en", "repair"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("integrity check found"), "{out}");
    assert!(
        out.contains(&format!("quarantined entity {}", &a[..8])),
        "{out}"
    );
    assert!(
        out.contains(&format!("entity {}: its list row is missing", &b[..8])),
        "{out}"
    );
    let (code, out, err) = cunwu(home.path(), &["repair"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("完整性检查"), "{out}");
    let (code, out, err) = cunwu(home.path(), &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cunwu(home.path(), &["repair", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j["before"]["damaged_entities"],
        serde_json::json!([]),
        "healed after the sync: {j}"
    );
    assert_eq!(j["before"]["projections"], serde_json::json!([]), "{j}");
    // the healed home holds what an undamaged peer holds
    let store = Store::open(&db).unwrap();
    v.settle().await;
    for e in [&a, &b] {
        assert_eq!(
            store.document_json(e).unwrap(),
            v.peer.store.document_json(e).unwrap()
        );
    }
    assert_eq!(
        store
            .list_notices(&NoticeFilter {
                limit: 500,
                ..Default::default()
            })
            .unwrap()
            .len(),
        v.peer
            .store
            .list_notices(&NoticeFilter {
                limit: 500,
                ..Default::default()
            })
            .unwrap()
            .len()
    );
}

// ---- bundles: each change judged once, operations bounded before parsing ----------------------

/// A notice the resident `by` may not publish.
fn refused_notice(by: &Device) -> (String, Change) {
    let id = new_id();
    let me = by.member_id();
    let create = NoticeEvent::Create {
        category: Category::Village,
        subtype: Subtype::Other,
        period: Period::default(),
        content: content("假通知", "赵四说了算"),
        publish: true,
    };
    let e = ev(&create, &me, now_ms());
    let c = EntityDoc::create(&by.key().public(), EntityKind::Notice, &id, &e, now_ms())
        .unwrap()
        .1;
    (id, c)
}

/// A new document by `key` whose one event carries `pad` distinct strings (one
/// operation each), built in one splice.
fn padded_change(key: &DeviceKey, pad: usize) -> (String, Change) {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ObjType, ReadDoc, ScalarValue, ROOT};
    let id = new_id();
    let mut doc = Automerge::new().with_actor(ActorId::from(&key.public()[..]));
    let mut tx = doc.transaction();
    tx.put(ROOT, "kind", "notice").unwrap();
    tx.put(ROOT, "id", id.as_str()).unwrap();
    let events = tx.put_object(ROOT, "events", ObjType::List).unwrap();
    let e = tx.insert_object(&events, 0, ObjType::Map).unwrap();
    let list = tx.put_object(&e, "pad", ObjType::List).unwrap();
    tx.splice(
        &list,
        0,
        0,
        (0..pad).map(|i| ScalarValue::Str(format!("第{i}项").into())),
    )
    .unwrap();
    let (h, _) = tx.commit();
    let c = doc.get_change_by_hash(&h.unwrap()).cloned().unwrap();
    (id, c)
}

/// 170 copies of one refused change, each in its own signed batch: the change is
/// parsed and judged once, refused once. Before: judged 170 times, refused 170 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_of_a_refused_change_in_a_bundle_are_judged_once() {
    let v = Village::new().await;
    let (id, c) = refused_notice(&v.peer);
    let batches = (0..170)
        .map(|_| batch(v.peer.key(), &[(&id, &c)]))
        .collect();
    let rep = v
        .phone
        .store
        .import_bundle(&bundle(&v.space, batches, vec![]))
        .unwrap();
    assert_eq!(rep.merge.applied, 0, "{rep:?}");
    assert_eq!(
        rep.merge.rejected.len(),
        1,
        "one refusal for one change, however many copies: {:?}",
        rep.merge.rejected.iter().take(3).collect::<Vec<_>>()
    );
    assert!(rep.merge.rejected[0].2.contains("only cadres"), "{rep:?}");
}

/// A bundle whose distinct changes hold more operations than a phone takes from one
/// bundle is refused whole, as too large, before any change is parsed: nothing is
/// stored, not even its batch signatures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_over_the_operation_budget_is_refused_whole() {
    use cunwu_core::store::MAX_BUNDLE_OPS;
    let v = Village::new().await;
    let before = view(&v.phone);
    let per_change = 19_900;
    let n = (MAX_BUNDLE_OPS as usize) / per_change + 1;
    let batches: Vec<SignedBatch> = (0..n)
        .map(|_| {
            let (id, c) = padded_change(v.peer.key(), per_change);
            batch(v.peer.key(), &[(&id, &c)])
        })
        .collect();
    let batches_before = count(&v.phone, "SELECT count(*) FROM batches");
    let e = v
        .phone
        .store
        .import_bundle(&bundle(&v.space, batches, vec![]))
        .unwrap_err();
    assert!(
        matches!(&e, cunwu_core::Error::TooLarge(m) if m.contains("operations")),
        "{e}"
    );
    assert_eq!(
        count(&v.phone, "SELECT count(*) FROM batches"),
        batches_before
    );
    assert_eq!(view(&v.phone), before);
}
