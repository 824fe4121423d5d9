//! The adversarial suite (issue 4): attacks against a REAL relay process over real
//! HTTP, each asserting both the rejection (status code, or the change hash among the
//! response's `rejections` with a reason naming the rule, and never among its `acks`
//! nor in the relay's database) and that no honest device's state changed (every
//! honest device syncs after the attack and shows exactly what it showed before).
//!
//! The honest API refuses most of these on the phone already, so the attacks forge
//! traffic the way a tampered app would: automerge changes built by hand with the
//! attacker's own enrolled device key as actor, batches signed with
//! `SignedBatch::sign`, requests signed and framed by hand and POSTed as raw bytes.
//!
//! Each test starts its own relay (`cunwu_tests::harness::RelayProcess`) with a cadre,
//! an attacker (a resident whose app is tampered with) and an honest bystander
//! resident. docs/SECURITY.md maps every test to the rule that stops it.

use automerge::transaction::Transactable;
use automerge::{ActorId, Change, ObjId, ObjType, ReadDoc, Value as AmValue, ROOT};
use cunwu_core::doc::EntityDoc;
use cunwu_core::identity::DeviceKey;
use cunwu_core::ids::{new_event_id, new_id, now_ms, DAY_MS};
use cunwu_core::model::branch::{ActivityEvent, ActivityKind, SignInMode};
use cunwu_core::model::deliberation::{
    ballot_id, hall_ballot_id, BallotEvent, DecidingBody, DeliberationEvent, Tally,
};
use cunwu_core::model::matter::{Attendance, MatterEvent, Outcome, Stage, StepInput};
use cunwu_core::model::notice::{Category, NoticeContent, NoticeEvent, Period, Subtype};
use cunwu_core::model::proposal::ProposalEvent;
use cunwu_core::model::register::{register_id, PersonDetails, RegisterEvent};
use cunwu_core::model::request::{NotesEvent, RequestEvent, Status};
use cunwu_core::policy::notes_id;
use cunwu_core::roster::{Roster, SignedRoster};
use cunwu_core::store::{
    DeliberationSummary, NewActivity, NewDeliberation, NewNotice, NewRequest, NoticeFilter,
    NoticeSummary, RequestFilter, RequestSummary,
};
use cunwu_core::wire::{
    self, entity_bytes, Bundle, FrameKind, Item, LogEntry, SignedBatch, SyncResponse,
};
use cunwu_core::{EntityKind, Error, Role};
use cunwu_tests::harness::{
    http_get, open_sync_body, post_raw, post_sync, signed_sync_body, Device, HttpReply,
    RelayProcess,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

// ---- the village ---------------------------------------------------------------------------

struct Village {
    relay: RelayProcess,
    space: String,
    /// The first cadre invite (already redeemed by `cadre`).
    cadre_invite: String,
    cadre: Device,
    /// A resident whose app has been tampered with.
    attacker: Device,
    /// An honest resident.
    bystander: Device,
}

/// Everything an honest phone shows: lists, every document it holds, tallies, roster.
#[derive(Debug, PartialEq)]
struct View {
    notices: Vec<NoticeSummary>,
    requests: Vec<RequestSummary>,
    deliberations: Vec<DeliberationSummary>,
    docs: BTreeMap<String, Value>,
    tallies: BTreeMap<String, Tally>,
    roster: Roster,
}

fn view(d: &Device) -> View {
    let s = &d.store;
    let all = NoticeFilter {
        limit: 500,
        ..Default::default()
    };
    let mut docs = BTreeMap::new();
    let mut tallies = BTreeMap::new();
    for (id, kind) in s.entity_ids().unwrap() {
        docs.insert(id.clone(), s.document_json(&id).unwrap());
        if kind == EntityKind::Deliberation {
            tallies.insert(id.clone(), s.tally(&id).unwrap());
        }
    }
    View {
        notices: s.list_notices(&all).unwrap(),
        requests: s
            .list_requests(&RequestFilter {
                limit: 500,
                ..Default::default()
            })
            .unwrap(),
        deliberations: s.list_deliberations(500, 0).unwrap(),
        docs,
        tallies,
        roster: s.roster().unwrap(),
    }
}

impl Village {
    async fn new() -> Village {
        Self::on(RelayProcess::start()).await
    }

    async fn on(relay: RelayProcess) -> Village {
        let (space, cadre_invite) = relay.create_space("青石村");
        let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
        let attacker = Device::enroll(
            &relay,
            &relay.invite_with(&space, Role::Resident, "H07", "三组"),
            "赵四",
        )
        .await;
        let bystander = Device::enroll(
            &relay,
            &relay.invite_with(&space, Role::Resident, "H05", "二组"),
            "王秀英",
        )
        .await;
        let v = Village {
            relay,
            space,
            cadre_invite,
            cadre,
            attacker,
            bystander,
        };
        v.settle().await;
        v
    }

    fn honest(&self) -> [&Device; 2] {
        [&self.cadre, &self.bystander]
    }

    /// Sync everyone (twice round) so every phone holds what it may read.
    async fn settle(&self) {
        for _ in 0..2 {
            for d in [&self.attacker, &self.cadre, &self.bystander] {
                d.sync()
                    .await
                    .unwrap_or_else(|e| panic!("{} sync: {e}", d.name));
            }
        }
    }

    /// Bring every phone up to date and record what the honest ones show.
    async fn snapshot(&self) -> Vec<View> {
        self.settle().await;
        self.honest().iter().map(|d| view(d)).collect()
    }

    /// The same, syncing only the honest phones (when the attacker can no longer sync).
    async fn snapshot_honest(&self) -> Vec<View> {
        for _ in 0..2 {
            for d in self.honest() {
                d.sync()
                    .await
                    .unwrap_or_else(|e| panic!("{} sync: {e}", d.name));
            }
        }
        self.honest().iter().map(|d| view(d)).collect()
    }

    /// After an attack: every honest phone syncs, receives nothing, refuses nothing
    /// and shows exactly what it showed before.
    async fn assert_honest_unchanged(&self, before: &[View]) {
        self.assert_unchanged(&self.honest(), before).await
    }

    async fn assert_unchanged(&self, devices: &[&Device], before: &[View]) {
        for (d, b) in devices.iter().zip(before) {
            let r = d
                .sync()
                .await
                .unwrap_or_else(|e| panic!("{} cannot sync after the attack: {e}", d.name));
            assert_eq!(
                (r.received, r.refused_incoming, r.rejected),
                (0, 0, 0),
                "{}: {r:?}",
                d.name
            );
            assert_eq!(&view(d), b, "{}'s state changed", d.name);
        }
    }

    async fn push(&self, dev: &Device, batches: Vec<SignedBatch>) -> SyncResponse {
        dev.push_raw(&self.relay, batches).await.sync_response()
    }

    fn stored(&self, c: &Change) -> bool {
        self.relay.has_change(&c.hash().0)
    }

    /// The change is rejected with a reason containing `keyword`, not acked, not stored.
    fn assert_rejected(&self, resp: &SyncResponse, c: &Change, keyword: &str) {
        let h = c.hash().0;
        assert!(
            !resp.acks.contains(&h),
            "the relay acked the forged change; rejections: {:?}",
            resp.rejections
        );
        let r = resp
            .rejections
            .iter()
            .find(|r| r.hash == h)
            .unwrap_or_else(|| {
                panic!(
                    "change {} is not among the rejections {:?}",
                    c.hash(),
                    resp.rejections
                )
            });
        assert!(
            r.reason.contains(keyword),
            "rejection reason {:?} does not mention {keyword:?}",
            r.reason
        );
        assert!(!self.stored(c), "the relay stored the forged change");
    }

    async fn published_notice(&self) -> String {
        let id = self
            .cadre
            .store
            .post_notice(notice("关于修路的通知", "下周一开始修路"))
            .unwrap();
        self.settle().await;
        id
    }

    /// A request filed (honestly) by `filer`, synced everywhere.
    async fn request_by(&self, filer: &Device) -> String {
        let id = filer
            .store
            .file_request(NewRequest {
                kind: "social_assistance".into(),
                title: "申请低保".into(),
                description: "家中困难，丈夫因病不能劳动".into(),
                place: None,
                on_behalf_of: None,
                materials: vec![],
                attachments: vec![],
            })
            .unwrap();
        self.settle().await;
        id
    }

    /// A deliberation with voting open for an hour, synced everywhere.
    async fn open_vote(&self, body: DecidingBody) -> String {
        let now = now_ms();
        let id = self
            .cadre
            .store
            .create_deliberation(NewDeliberation {
                title: "村道硬化方案".into(),
                body: "是否同意用一事一议资金硬化村道".into(),
                deciding_body: body,
                options: vec!["同意".into(), "反对".into()],
                group: None,
                secret: false,
                hide_results: false,
                opens_at: now,
                closes_at: now + 3600 * 1000,
            })
            .unwrap();
        self.cadre.store.open_voting(&id).unwrap();
        self.settle().await;
        id
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

// ---- forging -------------------------------------------------------------------------------------

/// An event as the app would write it: the body plus id, author and time.
fn ev<B: Serialize>(body: &B, by: &str, at: i64) -> Value {
    let mut v = serde_json::to_value(body).unwrap();
    let m = v.as_object_mut().unwrap();
    m.insert("id".into(), Value::String(new_event_id()));
    m.insert("by".into(), Value::String(by.into()));
    m.insert("at".into(), Value::from(at));
    v
}

/// A new document whose first change is made by `actor` (any 32 bytes: the attacker
/// can name whatever actor it likes, only the signature ties it to a key).
fn forge_new(actor: &[u8; 32], kind: EntityKind, id: &str, event: Value) -> Change {
    EntityDoc::create(actor, kind, id, &event, now_ms())
        .unwrap()
        .1
}

/// The document of `entity` as `holder`'s phone stores it (snapshot plus incremental
/// changes, read straight from its SQLite file): what a tampered app on that phone
/// has to work with.
fn doc_held_by(holder: &Device, entity: &str) -> EntityDoc {
    let c = holder.sql();
    let snapshot: Option<Vec<u8>> = c
        .query_row(
            "SELECT snapshot FROM entities WHERE id = ?1",
            [entity],
            |r| r.get(0),
        )
        .unwrap_or_else(|e| panic!("{} holds no entity {entity}: {e}", holder.name));
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

/// Append an event at the end of the event list, as `dev`.
fn forge_append(doc: &mut EntityDoc, dev: &Device, event: Value) -> Change {
    doc.append(&dev.key().public(), &event, now_ms()).unwrap()
}

/// Any hand-made edit of the document, as `dev`: `f` gets the transaction and the
/// event list.
fn forge_edit(
    doc: &mut EntityDoc,
    dev: &Device,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &ObjId),
) -> Change {
    doc.automerge_mut()
        .set_actor(ActorId::from(&dev.key().public()[..]));
    let list = match doc.automerge().get(ROOT, "events").unwrap() {
        Some((AmValue::Object(ObjType::List), id)) => id,
        other => panic!("no event list: {other:?}"),
    };
    let mut tx = doc.automerge_mut().transaction();
    f(&mut tx, &list);
    let (h, _) = tx.commit();
    doc.automerge()
        .get_change_by_hash(&h.expect("the edit made a change"))
        .cloned()
        .unwrap()
}

fn batch(key: &DeviceKey, changes: &[(&str, &Change)]) -> SignedBatch {
    let cs: Vec<_> = changes
        .iter()
        .map(|(e, c)| (entity_bytes(e).unwrap(), (*c).clone()))
        .collect();
    SignedBatch::sign(key, now_ms(), &cs)
}

fn content(title: &str, body: &str) -> NoticeContent {
    NoticeContent {
        title: title.into(),
        body: body.into(),
        opening_balance_fen: None,
        lines: vec![],
    }
}

/// A finance notice naming the attacker as a relief recipient.
fn forged_notice_create() -> NoticeEvent {
    NoticeEvent::Create {
        category: Category::Finance,
        subtype: Subtype::ReliefFunds,
        period: Period::default(),
        content: content("低保名单公示", "本季度低保户：赵四"),
        publish: true,
    }
}

// ---- notices ----------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_publish_a_notice() {
    let v = Village::new().await;
    let before = v.snapshot().await;
    let id = new_id();
    let me = v.attacker.member_id();
    let c = forge_new(
        &v.attacker.key().public(),
        EntityKind::Notice,
        &id,
        ev(&forged_notice_create(), &me, now_ms()),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&id, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "only cadres publish notices");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_append_an_edit_or_correction_to_a_notice() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let correct = NoticeEvent::Correct {
        content: content("关于修路的通知", "修路取消，款项另作他用"),
        reason: "更正".into(),
    };
    let c1 = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&correct, &me, now_ms()),
    );
    let draft = NoticeEvent::EditDraft {
        content: content("关于修路的通知", "修路取消"),
    };
    let c2 = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&draft, &me, now_ms()),
    );
    let withdraw = NoticeEvent::Withdraw {
        reason: "撤回".into(),
    };
    let c3 = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&withdraw, &me, now_ms()),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![batch(
                v.attacker.key(),
                &[(&nid, &c1), (&nid, &c2), (&nid, &c3)],
            )],
        )
        .await;
    v.assert_rejected(&resp, &c1, "only cadres edit or correct notices");
    v.assert_rejected(&resp, &c2, "only cadres edit or correct notices");
    v.assert_rejected(&resp, &c3, "only cadres publish or withdraw notices");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_rewrite_a_notice_body_in_place() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    // Overwrite the body inside the cadre's create event.
    let c = forge_edit(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        |tx, list| {
            let (_, first) = tx.get(list, 0).unwrap().unwrap();
            let (_, content) = tx.get(&first, "content").unwrap().unwrap();
            tx.put(&content, "body", "修路取消，款项另作他用").unwrap();
        },
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "may only be appended");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_delete_a_recorded_event() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let qid = v
        .bystander
        .store
        .ask_question(&nid, "哪天开始修？")
        .unwrap();
    v.settle().await;
    v.cadre.store.answer_question(&nid, &qid, "下周一").unwrap();
    let before = v.snapshot().await;
    // Delete the cadre's answer (the last event).
    let c = forge_edit(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        |tx, list| {
            let n = tx.length(list);
            tx.delete(list, n - 1).unwrap();
        },
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "may only be appended");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_time_far_in_the_future_is_rejected() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let ask = NoticeEvent::Ask {
        text: "为什么不修我家门口？".into(),
    };
    let c = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&ask, &me, now_ms() + DAY_MS),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "in the future");
    v.assert_honest_unchanged(&before).await;
}

/// BUG: the policy checks that old events are unchanged and new events allowed, but
/// not WHERE a new event sits in the list. An event inserted before the create event
/// passes the relay, and every honest phone then fails to fold the notice and cannot
/// sync any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_insert_an_event_ahead_of_a_notice_create() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let c = forge_edit(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        |tx, list| {
            let e = tx.insert_object(list, 0, ObjType::Map).unwrap();
            tx.put(&e, "type", "ask").unwrap();
            tx.put(&e, "text", "插在最前面的问题").unwrap();
            tx.put(&e, "id", new_event_id()).unwrap();
            tx.put(&e, "by", me.as_str()).unwrap();
            tx.put(&e, "at", now_ms()).unwrap();
        },
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "");
    v.assert_honest_unchanged(&before).await;
}

/// BUG (same root cause): a filer replaces the event list of their request by a copy
/// with the cadre's transitions reordered, so the derived status changes without any
/// event being edited or deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filer_cannot_reorder_recorded_transitions() {
    let v = Village::new().await;
    let rid = v.request_by(&v.attacker).await;
    v.cadre
        .store
        .transition_request(&rid, Status::Accepted, "受理")
        .unwrap();
    v.cadre
        .store
        .transition_request(&rid, Status::Rejected, "不符合条件")
        .unwrap();
    v.settle().await;
    assert_eq!(
        v.cadre.store.request(&rid).unwrap().status,
        Status::Rejected
    );
    let before = v.snapshot().await;
    // Put a fresh list at the root: file, (my own) comment, then the cadre's two
    // transitions in the opposite order. Every old event is present and unchanged.
    let mut doc = doc_held_by(&v.attacker, &rid);
    let mut events = doc.events_json();
    let me = v.attacker.member_id();
    let (accepted, rejected) = (events[1].clone(), events[2].clone());
    events.truncate(1);
    events.push(ev(
        &RequestEvent::Comment {
            text: "请再考虑".into(),
        },
        &me,
        now_ms(),
    ));
    events.push(rejected);
    events.push(accepted);
    let c = forge_edit(&mut doc, &v.attacker, |tx, _| {
        let list = tx.put_object(ROOT, "events", ObjType::List).unwrap();
        for (i, e) in events.iter().enumerate() {
            let m = tx.insert_object(&list, i, ObjType::Map).unwrap();
            for (k, val) in e.as_object().unwrap() {
                match val {
                    Value::String(s) => tx.put(&m, k.as_str(), s.as_str()).unwrap(),
                    Value::Number(n) => tx.put(&m, k.as_str(), n.as_i64().unwrap()).unwrap(),
                    other => panic!("unexpected field {k}: {other}"),
                }
            }
        }
    });
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&rid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "");
    v.assert_honest_unchanged(&before).await;
}

// ---- service requests ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_change_another_members_request() {
    let v = Village::new().await;
    let rid = v.request_by(&v.bystander).await;
    let before = v.snapshot().await;
    // The attacker got hold of the request's changes (say, from a lost cadre phone).
    let me = v.attacker.member_id();
    let withdraw = RequestEvent::Transition {
        to: Status::Withdrawn,
        note: "不办了".into(),
    };
    let c1 = forge_append(
        &mut doc_held_by(&v.bystander, &rid),
        &v.attacker,
        ev(&withdraw, &me, now_ms()),
    );
    let edit = RequestEvent::EditDescription {
        description: "我没有困难".into(),
    };
    let c2 = forge_append(
        &mut doc_held_by(&v.bystander, &rid),
        &v.attacker,
        ev(&edit, &me, now_ms()),
    );
    let comment = RequestEvent::Comment {
        text: "她家不困难".into(),
    };
    let c3 = forge_append(
        &mut doc_held_by(&v.bystander, &rid),
        &v.attacker,
        ev(&comment, &me, now_ms()),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![batch(
                v.attacker.key(),
                &[(&rid, &c1), (&rid, &c2), (&rid, &c3)],
            )],
        )
        .await;
    v.assert_rejected(
        &resp,
        &c1,
        "who is not the filer may not move a request to withdrawn",
    );
    v.assert_rejected(&resp, &c2, "may not do that to this request");
    v.assert_rejected(&resp, &c3, "may not do that to this request");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filer_cannot_move_own_request_to_resolved() {
    let v = Village::new().await;
    let rid = v.request_by(&v.attacker).await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let resolve = RequestEvent::Transition {
        to: Status::Resolved,
        note: "已解决".into(),
    };
    let c1 = forge_append(
        &mut doc_held_by(&v.attacker, &rid),
        &v.attacker,
        ev(&resolve, &me, now_ms()),
    );
    let accept = RequestEvent::Transition {
        to: Status::Accepted,
        note: String::new(),
    };
    let c2 = forge_append(
        &mut doc_held_by(&v.attacker, &rid),
        &v.attacker,
        ev(&accept, &me, now_ms()),
    );
    let assign = RequestEvent::Assign {
        assignee: me.clone(),
    };
    let c3 = forge_append(
        &mut doc_held_by(&v.attacker, &rid),
        &v.attacker,
        ev(&assign, &me, now_ms()),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![batch(
                v.attacker.key(),
                &[(&rid, &c1), (&rid, &c2), (&rid, &c3)],
            )],
        )
        .await;
    v.assert_rejected(&resp, &c1, "(the filer) may not move a request to resolved");
    v.assert_rejected(&resp, &c2, "(the filer) may not move a request to accepted");
    v.assert_rejected(&resp, &c3, "may not do that to this request");
    v.assert_honest_unchanged(&before).await;
    assert_eq!(
        v.cadre.store.request(&rid).unwrap().status,
        Status::Submitted
    );
}

/// BUG (lower severity): the policy lets the filer edit the description whatever the
/// request's state; the API refuses it once resolved, and the fold applies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filer_cannot_rewrite_a_resolved_request() {
    let v = Village::new().await;
    let rid = v.request_by(&v.attacker).await;
    v.cadre
        .store
        .transition_request(&rid, Status::Accepted, "")
        .unwrap();
    v.cadre
        .store
        .transition_request(&rid, Status::Resolved, "已发放")
        .unwrap();
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let edit = RequestEvent::EditDescription {
        description: "从未收到任何款项".into(),
    };
    let c = forge_append(
        &mut doc_held_by(&v.attacker, &rid),
        &v.attacker,
        ev(&edit, &me, now_ms()),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&rid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_write_internal_notes() {
    let v = Village::new().await;
    let rid = v.request_by(&v.attacker).await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let nid = notes_id(&rid);
    let c = forge_new(
        &v.attacker.key().public(),
        EntityKind::RequestNotes,
        &nid,
        ev(
            &NotesEvent::Open {
                request: rid.clone(),
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "internal notes are for cadres");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_read_another_residents_private_request() {
    let v = Village::new().await;
    let notice = v.published_notice().await;
    let rid = v.request_by(&v.bystander).await;
    v.cadre
        .store
        .comment_request(&rid, "核实过，情况属实", true)
        .unwrap();
    v.settle().await;
    let nid = notes_id(&rid);
    assert!(v.cadre.store.request(&rid).is_ok());
    let before = v.snapshot().await;
    // The tampered app asks for the whole log from the start.
    let body = v.attacker.sync_body(vec![], 0);
    let resp = post_sync(&v.relay.url(), body).await.sync_response();
    let mut got = vec![];
    for e in &resp.entries {
        if let LogEntry::Batch { batch, .. } = e {
            for it in &batch.items {
                if let Item::Change { entity, .. } = it {
                    got.push(wire::entity_hex(entity));
                }
            }
        }
    }
    assert!(
        got.contains(&notice),
        "the attacker should still receive the public log: {got:?}"
    );
    assert!(
        !got.contains(&rid) && !got.contains(&nid),
        "the relay sent a private document to another resident: {got:?}"
    );
    // nor did it reach the attacker's phone by honest sync, and the filer never gets
    // the cadres' internal notes
    assert!(matches!(
        v.attacker.store.request(&rid),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        v.attacker.store.document_json(&nid),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        v.bystander.store.document_json(&nid),
        Err(Error::NotFound(_))
    ));
    assert_eq!(v.bystander.store.request(&rid).unwrap().comments.len(), 0);
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_draw_private_requests_out_of_a_cadre_phone() {
    let v = Village::new().await;
    let notice = v.published_notice().await;
    let rid = v.request_by(&v.bystander).await;
    let before = v.snapshot().await;
    let carried = |b: &Bundle| -> Vec<String> {
        b.batches
            .iter()
            .flat_map(|b| b.items.iter())
            .filter_map(|it| match it {
                Item::Change { entity, .. } => Some(wire::entity_hex(entity)),
                _ => None,
            })
            .collect()
    };
    // 1. the attacker hands the cadre its (honestly signed) summary and asks for a
    // bundle: the cadre's phone exports only what a resident may read
    let have = wire::Have::sign(entity_bytes(&v.space).unwrap(), v.attacker.key(), vec![]);
    let b = v.cadre.store.export_bundle(Some(&have)).unwrap();
    assert!(carried(&b).contains(&notice));
    assert!(
        !carried(&b).contains(&rid),
        "a cadre phone exported another resident's request"
    );
    // 2. a summary that names the cadre's own device, signed by the attacker
    let mut forged = have.clone();
    forged.device = v.cadre.key().public();
    assert!(matches!(
        v.cadre.store.export_bundle(Some(&forged)),
        Err(Error::BadSignature(_))
    ));
    // 3. no summary at all: only what the whole space may read
    let b = v.cadre.store.export_bundle(None).unwrap();
    assert!(!carried(&b).contains(&rid));
    v.assert_honest_unchanged(&before).await;
}

// ---- ballots --------------------------------------------------------------------------------------------

fn cast(deliberation: &str, option: u32) -> BallotEvent {
    BallotEvent::Cast {
        deliberation: deliberation.into(),
        option,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_cannot_vote_twice() {
    let v = Village::new().await;
    let d = v.open_vote(DecidingBody::VillagersMeeting).await;
    v.attacker.store.cast_ballot(&d, 0).unwrap();
    let before = v.snapshot().await;
    assert_eq!(v.cadre.store.tally(&d).unwrap().counts, vec![1, 0]);
    let me = v.attacker.member_id();
    let key = v.attacker.key().public();
    // a second ballot document under a fresh id
    let other = new_id();
    let c1 = forge_new(
        &key,
        EntityKind::Ballot,
        &other,
        ev(&cast(&d, 0), &me, now_ms()),
    );
    // a second document under the attacker's own ballot id (a concurrent "create")
    let own = ballot_id(&d, &me);
    let c2 = forge_new(
        &key,
        EntityKind::Ballot,
        &own,
        ev(&cast(&d, 0), &me, now_ms()),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![
                batch(v.attacker.key(), &[(&other, &c1)]),
                batch(v.attacker.key(), &[(&own, &c2)]),
            ],
        )
        .await;
    v.assert_rejected(&resp, &c1, "ballot id does not belong to the signer");
    v.assert_rejected(&resp, &c2, "may not rewrite the root");
    v.assert_honest_unchanged(&before).await;
    let t = v.cadre.store.tally(&d).unwrap();
    assert_eq!((t.participants, t.counts.clone()), (1, vec![1, 0]), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_cannot_vote_for_another_member() {
    let v = Village::new().await;
    let d = v.open_vote(DecidingBody::VillagersMeeting).await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let victim = v.bystander.member_id();
    let key = v.attacker.key().public();
    let theirs = ballot_id(&d, &victim);
    // the victim's ballot id, authored by the attacker
    let c1 = forge_new(
        &key,
        EntityKind::Ballot,
        &theirs,
        ev(&cast(&d, 1), &me, now_ms()),
    );
    // the victim's ballot id, claiming the victim authored it
    let c2 = forge_new(
        &key,
        EntityKind::Ballot,
        &theirs,
        ev(&cast(&d, 1), &victim, now_ms() + 1),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![
                batch(v.attacker.key(), &[(&theirs, &c1)]),
                batch(v.attacker.key(), &[(&theirs, &c2)]),
            ],
        )
        .await;
    v.assert_rejected(&resp, &c1, "ballot id does not belong to the signer");
    v.assert_rejected(&resp, &c2, "must be authored by the member who signed it");
    v.assert_honest_unchanged(&before).await;
    assert_eq!(v.cadre.store.tally(&d).unwrap().participants, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ballot_cast_after_the_close_is_rejected() {
    let v = Village::new().await;
    let d = v.open_vote(DecidingBody::VillagersMeeting).await;
    v.cadre.store.close_deliberation(&d).unwrap();
    let before = v.snapshot().await;
    let closed = v.cadre.store.deliberation(&d).unwrap().effective_close();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let me = v.attacker.member_id();
    let at = now_ms().max(closed + 1);
    let own = ballot_id(&d, &me);
    // the signed cast time is after the close (still well inside the grace period)
    let c = forge_new(
        &v.attacker.key().public(),
        EntityKind::Ballot,
        &own,
        ev(&cast(&d, 0), &me, at),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&own, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "voting was not open");
    v.assert_honest_unchanged(&before).await;
    assert_eq!(v.cadre.store.tally(&d).unwrap().participants, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ineligible_member_cannot_vote() {
    let v = Village::new().await;
    // villager representatives decide: residents are not eligible
    let d = v.open_vote(DecidingBody::VillagerReps).await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    assert!(!v
        .cadre
        .store
        .deliberation(&d)
        .unwrap()
        .eligible
        .contains(&me));
    let own = ballot_id(&d, &me);
    let c = forge_new(
        &v.attacker.key().public(),
        EntityKind::Ballot,
        &own,
        ev(&cast(&d, 0), &me, now_ms()),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&own, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "not eligible");
    v.assert_honest_unchanged(&before).await;
    assert_eq!(v.cadre.store.tally(&d).unwrap().participants, 0);
}

/// BUG: phones accept ballots from bundles by their signed time alone. A ballot the
/// relay refuses (it arrives after the close and the grace period) still changes the
/// tally an honest phone shows when a tampered phone hands it over in a bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_backdated_ballot_in_a_bundle_does_not_change_an_honest_tally() {
    let v = Village::new().await;
    let now = now_ms();
    // A vote made and opened 4 h ago, closed 3 h ago (past the 2 h grace period). The
    // cadre's phone cannot make and open a vote in the past through its API, so this
    // setup step signs the cadre's events by hand ("three hours have passed"; an event
    // may not be dated before the one it follows, so the creation is dated back too).
    use cunwu_core::model::deliberation::DeliberationEvent;
    let d = new_id();
    let create = DeliberationEvent::Create {
        title: "旧的表决".into(),
        body: String::new(),
        deciding_body: DecidingBody::VillagersMeeting,
        options: vec!["同意".into(), "反对".into()],
        group: None,
        secret: false,
        hide_results: false,
        opens_at: now - 4 * 3600 * 1000,
        closes_at: now - 3 * 3600 * 1000,
    };
    let cadre = v.cadre.member_id();
    let (mut doc, created) = EntityDoc::create(
        &v.cadre.key().public(),
        EntityKind::Deliberation,
        &d,
        &ev(&create, &cadre, now - 4 * 3600 * 1000 - 60_000),
        now_ms(),
    )
    .unwrap();
    let roster = v.cadre.store.roster().unwrap();
    let eligible = DecidingBody::VillagersMeeting.eligible(&roster, None);
    let open = DeliberationEvent::Open {
        eligible,
        roster_version: roster.version,
        persons: vec![],
        member_persons: vec![],
        register_heads: vec![],
    };
    let c = forge_append(
        &mut doc,
        &v.cadre,
        ev(&open, &cadre, now - 4 * 3600 * 1000 + 1000),
    );
    let resp = v
        .push(
            &v.cadre,
            vec![batch(v.cadre.key(), &[(&d, &created), (&d, &c)])],
        )
        .await;
    assert!(resp.acks.contains(&c.hash().0), "{:?}", resp.rejections);
    let before = v.snapshot().await;
    assert_eq!(v.bystander.store.tally(&d).unwrap().participants, 0);
    // the attacker's ballot, signed as if cast inside the window
    let me = v.attacker.member_id();
    let own = ballot_id(&d, &me);
    let b = forge_new(
        &v.attacker.key().public(),
        EntityKind::Ballot,
        &own,
        ev(&cast(&d, 1), &me, now - 3 * 3600 * 1000 - 60_000),
    );
    // the relay refuses it
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&own, &b)])])
        .await;
    v.assert_rejected(&resp, &b, "grace period");
    // a bundle must not count it either
    let bundle = Bundle {
        space: entity_bytes(&v.space).unwrap(),
        created_at: now_ms(),
        roster: None,
        batches: vec![batch(v.attacker.key(), &[(&own, &b)])],
        tallies: vec![],
    };
    let relay_count = v.bystander.store.tally(&d).unwrap();
    let _ = v.bystander.store.import_bundle(&bundle);
    assert_eq!(
        v.bystander.store.tally(&d).unwrap(),
        relay_count,
        "the bundle changed the result this phone shows"
    );
    v.assert_honest_unchanged(&before).await;
}

/// BUG: the policy bounds a close event's signed time only from above (clock skew), so
/// a tampered cadre app can backdate the close and void ballots already cast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cadre_cannot_backdate_the_close_to_discard_cast_ballots() {
    let v = Village::new().await;
    let d = v.open_vote(DecidingBody::VillagersMeeting).await;
    let opened = v.cadre.store.deliberation(&d).unwrap().opened_at.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    v.bystander.store.cast_ballot(&d, 1).unwrap();
    v.attacker.store.cast_ballot(&d, 1).unwrap();
    // here the residents are honest and the cadre's app is the tampered one
    let residents = [&v.bystander, &v.attacker];
    v.settle().await;
    let before: Vec<View> = residents.iter().map(|d| view(d)).collect();
    assert_eq!(v.bystander.store.tally(&d).unwrap().counts, vec![0, 2]);
    let close = cunwu_core::model::deliberation::DeliberationEvent::Close {};
    let c = forge_append(
        &mut doc_held_by(&v.cadre, &d),
        &v.cadre,
        ev(&close, &v.cadre.member_id(), opened + 1),
    );
    let resp = v
        .push(&v.cadre, vec![batch(v.cadre.key(), &[(&d, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "");
    v.assert_unchanged(&residents, &before).await;
}

/// BUG: the roster version an eligibility snapshot claims to come from is taken on
/// trust, so a tampered cadre app claims version 0 and leaves out whoever it likes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cadre_cannot_leave_eligible_members_out_of_a_vote() {
    let v = Village::new().await;
    let now = now_ms();
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
            hide_results: false,
            opens_at: now,
            closes_at: now + 3600 * 1000,
        })
        .unwrap();
    v.settle().await;
    let residents = [&v.bystander, &v.attacker];
    let before: Vec<View> = residents.iter().map(|d| view(d)).collect();
    // only the cadre may vote, "according to roster version 0"
    let open = cunwu_core::model::deliberation::DeliberationEvent::Open {
        eligible: vec![v.cadre.member_id()],
        roster_version: 0,
        persons: vec![],
        member_persons: vec![],
        register_heads: vec![],
    };
    let c = forge_append(
        &mut doc_held_by(&v.cadre, &d),
        &v.cadre,
        ev(&open, &v.cadre.member_id(), now_ms()),
    );
    let resp = v
        .push(&v.cadre, vec![batch(v.cadre.key(), &[(&d, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "older roster");
    v.assert_unchanged(&residents, &before).await;
}

// ---- identity and signatures ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unenrolled_key_is_refused() {
    let v = Village::new().await;
    let before = v.snapshot().await;
    let stranger = Device::new("外人");
    let id = new_id();
    // claims to be the cadre in the event; signs with its own, unknown key
    let c = forge_new(
        &stranger.key().public(),
        EntityKind::Notice,
        &id,
        ev(&forged_notice_create(), &v.cadre.member_id(), now_ms()),
    );
    let body = signed_sync_body(
        stranger.key(),
        &v.space,
        now_ms() as u64,
        0,
        0,
        vec![batch(stranger.key(), &[(&id, &c)])],
    );
    let r = post_sync(&v.relay.url(), body).await;
    assert_eq!(r.status, 401, "{}", r.error());
    assert!(r.error().contains("not enrolled"), "{}", r.error());
    assert!(!v.stored(&c));
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_device_is_refused() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    v.relay.revoke(&v.space, &v.attacker.device_id());
    let before = v.snapshot_honest().await;
    assert!(v
        .bystander
        .store
        .roster()
        .unwrap()
        .device(&v.attacker.device_id())
        .unwrap()
        .revoked_at_seq
        .is_some());
    let me = v.attacker.member_id();
    // 1. straight to the relay
    let ask = NoticeEvent::Ask {
        text: "我还能提问吗？".into(),
    };
    let c = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&ask, &me, now_ms()),
    );
    let r = v
        .attacker
        .push_raw(&v.relay, vec![batch(v.attacker.key(), &[(&nid, &c)])])
        .await;
    assert_eq!(r.status, 403, "{}", r.error());
    assert!(r.error().contains("revoked"), "{}", r.error());
    assert!(!v.stored(&c));
    // the honest client on the lost phone is refused too
    match v.attacker.sync().await {
        Err(Error::Relay {
            status: 403,
            reason,
        }) => assert!(reason.contains("revoked"), "{reason}"),
        other => panic!("a revoked device synced: {other:?}"),
    }
    // 2. phone to phone: the lost phone (which never learnt of its revocation) makes a
    // change and hands a bundle to an honest phone that has the new roster
    v.attacker
        .store
        .ask_question(&nid, "蓝牙传过来的问题")
        .unwrap();
    let b = v.attacker.store.export_bundle(None).unwrap();
    let rep = v
        .bystander
        .store
        .import_bundle(&Bundle { roster: None, ..b })
        .unwrap();
    assert_eq!(rep.merge.applied, 0, "{rep:?}");
    assert!(
        rep.merge
            .rejected
            .iter()
            .any(|(_, _, why)| why.contains("revoked")),
        "{rep:?}"
    );
    v.assert_honest_unchanged(&before).await;
}

/// BUG: revoking a member must keep what the relay accepted from them before (the
/// roster says so: `revoked_at_seq`), but `policy::check_write` refuses every change
/// by a member flagged `revoked`, so a phone that syncs after the revocation drops
/// that member's earlier, accepted changes and disagrees with older phones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_member_keeps_what_was_accepted_before() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    v.attacker
        .store
        .ask_question(&nid, "撤销之前提的问题")
        .unwrap();
    v.settle().await;
    v.relay.revoke(&v.space, &v.attacker.member_id());
    // a phone that joins now
    let newcomer = Device::enroll(
        &v.relay,
        &v.relay.invite(&v.space, Role::Resident),
        "新来的",
    )
    .await;
    let before = v.snapshot_honest().await;
    assert_eq!(v.bystander.store.notice(&nid).unwrap().questions.len(), 1);
    let r = newcomer.sync().await.unwrap();
    assert_eq!(r.refused_incoming, 0, "{r:?}");
    assert_eq!(
        newcomer.store.document_json(&nid).unwrap(),
        v.bystander.store.document_json(&nid).unwrap()
    );
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signatures_are_rejected() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let ask = NoticeEvent::Ask {
        text: "这个问题本身是允许的".into(),
    };
    let c = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&ask, &me, now_ms()),
    );
    // a batch whose signature has one bit flipped
    let mut b = batch(v.attacker.key(), &[(&nid, &c)]);
    b.signature[10] ^= 0x01;
    let resp = v.push(&v.attacker, vec![b]).await;
    v.assert_rejected(&resp, &c, "does not verify");
    // a request whose own signature is broken
    let mut body = v.attacker.sync_body(vec![], 0);
    body[5 + 16 + 32] ^= 0x80; // the first byte of the sealed request's signature
    let r = post_sync(&v.relay.url(), body).await;
    assert_eq!(r.status, 401, "{}", r.error());
    assert!(
        r.error().contains("not signed by the device it names"),
        "{}",
        r.error()
    );
    // a signature of the wrong length
    let mut b2 = batch(v.attacker.key(), &[(&nid, &c)]);
    b2.signature.truncate(63);
    let resp = v.push(&v.attacker, vec![b2]).await;
    v.assert_rejected(&resp, &c, "does not verify");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_cannot_speak_for_another_device() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    let cadre_member = v.cadre.member_id();
    let corr = NoticeEvent::Correct {
        content: content("关于修路的通知", "修路取消"),
        reason: "更正".into(),
    };
    // 1. a request naming the cadre's device, signed by the attacker
    let c = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&corr, &cadre_member, now_ms()),
    );
    let mut req = open_sync_body(&v.attacker.sync_body(vec![], 0));
    req.device = v.cadre.key().public();
    req.batches = vec![batch(v.attacker.key(), &[(&nid, &c)])];
    // sealed by the attacker, with the cadre's device key written into the header
    let mut body = wire::SealedRequest::seal(&req, v.attacker.key());
    body[5 + 16..5 + 16 + 32].copy_from_slice(&v.cadre.key().public());
    let r = post_sync(&v.relay.url(), body).await;
    assert_eq!(r.status, 401, "{}", r.error());
    assert!(
        r.error().contains("not signed by the device it names"),
        "{}",
        r.error()
    );
    // 2. a change whose automerge actor is the cadre's key, in a batch the attacker signs
    let mut doc = doc_held_by(&v.attacker, &nid);
    let c2 = doc
        .append(
            &v.cadre.key().public(),
            &ev(&corr, &cadre_member, now_ms()),
            now_ms(),
        )
        .unwrap();
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &c2)])])
        .await;
    v.assert_rejected(&resp, &c2, "not by the signing device");
    // 3. a batch whose author field names the cadre (signature by the attacker)
    let mut b3 = batch(v.attacker.key(), &[(&nid, &c2)]);
    b3.author = v.cadre.key().public();
    let resp = v.push(&v.attacker, vec![b3]).await;
    v.assert_rejected(&resp, &c2, "only send changes it signed itself");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_signature_over_another_change_is_rejected() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    // the attacker signs a harmless question...
    let ask = NoticeEvent::Ask {
        text: "无害的问题".into(),
    };
    let harmless = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&ask, &me, now_ms()),
    );
    // ...and ships a withdrawal of the notice under that signature
    let withdraw = NoticeEvent::Withdraw {
        reason: "撤回".into(),
    };
    let evil = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&withdraw, &me, now_ms()),
    );
    let mut b = batch(v.attacker.key(), &[(&nid, &harmless)]);
    b.items[0] = Item::Change {
        entity: entity_bytes(&nid).unwrap(),
        bytes: evil.raw_bytes().to_vec(),
    };
    let resp = v.push(&v.attacker, vec![b]).await;
    v.assert_rejected(&resp, &evil, "does not verify");
    assert!(!v.stored(&harmless));
    // and the cadre's genuine signed batch (which the attacker holds) carrying the
    // attacker's change instead of the cadre's
    let bundle = v.attacker.store.export_bundle(None).unwrap();
    let mut cadre_batch = bundle
        .batches
        .iter()
        .find(|b| b.author == v.cadre.key().public())
        .unwrap()
        .clone();
    cadre_batch.items[0] = Item::Change {
        entity: entity_bytes(&nid).unwrap(),
        bytes: evil.raw_bytes().to_vec(),
    };
    let resp = v.push(&v.attacker, vec![cadre_batch]).await;
    v.assert_rejected(&resp, &evil, "signed itself");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_sync_request_is_refused() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    // an honest request from the bystander, captured on the wire
    v.bystander
        .store
        .ask_question(&nid, "修路期间怎么出行？")
        .unwrap();
    let batches = v.bystander.store.outgoing_batches().unwrap();
    let captured = v.bystander.sync_body(batches, 0);
    let first = post_sync(&v.relay.url(), captured.clone())
        .await
        .sync_response();
    assert_eq!(first.acks.len(), 1);
    let before = v.snapshot().await;
    let log_len = v.relay.query_i64("SELECT count(*) FROM log");
    // the same bytes again
    let r = post_sync(&v.relay.url(), captured.clone()).await;
    assert_eq!(r.status, 409, "{}", r.error());
    assert!(r.error().contains("replayed"), "{}", r.error());
    // an older counter, freshly signed (as a rolled-back phone would send)
    let old = open_sync_body(&captured);
    let body = signed_sync_body(v.bystander.key(), &v.space, old.counter - 1, 0, 0, vec![]);
    let r = post_sync(&v.relay.url(), body).await;
    assert_eq!(r.status, 409, "{}", r.error());
    let log_after = v.relay.query_i64("SELECT count(*) FROM log");
    assert_eq!(log_len, log_after);
    v.assert_honest_unchanged(&before).await;
}

// ---- invites ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_invite_is_refused() {
    let v = Village::new().await;
    let invite = v.relay.invite(&v.space, Role::Resident);
    let first = Device::enroll(&v.relay, &invite, "李梅").await;
    let before = v.snapshot().await;
    assert!(before[0].roster.device(&first.device_id()).is_some());
    let thief = Device::new("小偷");
    for code in [&invite, &v.cadre_invite] {
        match thief.try_enroll(&v.relay, code).await {
            Err(Error::Relay {
                status: 403,
                reason,
            }) => assert!(reason.contains("already been used"), "{reason}"),
            other => panic!("a used invite was accepted again: {other:?}"),
        }
    }
    assert!(thief.store.membership().unwrap().is_none());
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_invite_is_refused() {
    let v = Village::new().await;
    let invite = v.relay.invite(&v.space, Role::Cadre);
    let before = v.snapshot().await;
    // Seven days pass: move this invite's expiry into the past in the relay's database.
    let n = v.relay.execute(&format!(
        "UPDATE invites SET expires_at = {} WHERE used_at IS NULL AND space_id = '{}'",
        now_ms() - 1,
        v.space
    ));
    assert_eq!(n, 1);
    let late = Device::new("迟到的人");
    match late.try_enroll(&v.relay, &invite).await {
        Err(Error::Relay {
            status: 403,
            reason,
        }) => assert!(reason.contains("expired"), "{reason}"),
        other => panic!("an expired invite was accepted: {other:?}"),
    }
    assert!(late.store.membership().unwrap().is_none());
    v.assert_honest_unchanged(&before).await;
}

// ---- bundles and tampered phones ---------------------------------------------------------------------------

/// A tampered phone gives one place in its chain of changes to a document (its change
/// number n there) to two different changes: one handed to a phone in a bundle, the
/// other sent to the relay. The relay's log decides: the phone that took the bundle's
/// version drops it (with what depends on it) for the relay's, and ends up showing what
/// every other phone shows. Before: that phone refused the relay's version for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equivocating_device_cannot_split_a_phone_from_the_village() {
    let v = Village::new().await;
    let d = v.open_vote(DecidingBody::VillagersMeeting).await;
    let me = v.attacker.member_id();
    let comment = |text: &str| {
        forge_append(
            &mut doc_held_by(&v.attacker, &d),
            &v.attacker,
            ev(
                &DeliberationEvent::Comment { text: text.into() },
                &me,
                now_ms(),
            ),
        )
    };
    let (x, y) = (comment("同意，赵四说了算"), comment("反对"));
    assert_eq!((x.actor_id(), x.seq()), (y.actor_id(), y.seq()));
    assert_ne!(x.hash(), y.hash());
    // x to the bystander's phone in a bundle: a valid comment, applied there
    let rep = v
        .bystander
        .store
        .import_bundle(&Bundle {
            space: entity_bytes(&v.space).unwrap(),
            created_at: now_ms(),
            roster: None,
            batches: vec![batch(v.attacker.key(), &[(&d, &x)])],
            tallies: vec![],
        })
        .unwrap();
    assert_eq!(rep.merge.applied, 1, "{rep:?}");
    // y to the relay, which accepts it (it never saw x)
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&d, &y)])])
        .await;
    assert!(resp.acks.contains(&y.hash().0), "{:?}", resp.rejections);
    let views = v.snapshot_honest().await;
    assert_eq!(
        views[1].docs.get(&d),
        views[0].docs.get(&d),
        "the bystander's phone shows another deliberation than the cadre's"
    );
    let text = views[1].docs[&d].to_string();
    assert!(
        text.contains("反对") && !text.contains("赵四说了算"),
        "{text}"
    );
    // and it stays in step: nothing is refused on later syncs
    let r = v.bystander.sync().await.unwrap();
    assert_eq!((r.refused_incoming, r.rejected), (0, 0), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_carrying_a_forged_change_is_refused() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    let cadre_member = v.cadre.member_id();
    let space = entity_bytes(&v.space).unwrap();
    let corr = NoticeEvent::Correct {
        content: content("关于修路的通知", "修路取消，钱已分给赵四"),
        reason: "更正".into(),
    };
    // a "cadre" correction: actor = the cadre's key, batch signed by the attacker
    let forged = doc_held_by(&v.attacker, &nid)
        .append(
            &v.cadre.key().public(),
            &ev(&corr, &cadre_member, now_ms()),
            now_ms(),
        )
        .unwrap();
    let import = |b: Bundle| {
        let path = v.bystander.dir().join(format!("{}.cwb", new_id()));
        std::fs::write(&path, wire::encode(FrameKind::Bundle, &b)).unwrap();
        cunwu_core::bundle::import(&v.bystander.store, &path)
    };
    let bundle = |batches| Bundle {
        space,
        created_at: now_ms(),
        roster: None,
        batches,
        tallies: vec![],
    };
    // 1. forged authorship
    let e = import(bundle(vec![batch(v.attacker.key(), &[(&nid, &forged)])])).unwrap_err();
    assert!(
        matches!(&e, Error::BadSignature(m) if m.contains("not by the signing device")),
        "{e}"
    );
    // 2. the cadre's genuine batch, its change swapped for the forged one
    let mut genuine = v
        .attacker
        .store
        .export_bundle(None)
        .unwrap()
        .batches
        .into_iter()
        .find(|b| b.author == v.cadre.key().public())
        .unwrap();
    genuine.items[0] = Item::Change {
        entity: entity_bytes(&nid).unwrap(),
        bytes: forged.raw_bytes().to_vec(),
    };
    let e = import(bundle(vec![genuine])).unwrap_err();
    assert!(
        matches!(&e, Error::BadSignature(m) if m.contains("does not verify")),
        "{e}"
    );
    // 3. correctly signed by the attacker, but a resident may not publish
    let id = new_id();
    let me = v.attacker.member_id();
    let c = forge_new(
        &v.attacker.key().public(),
        EntityKind::Notice,
        &id,
        ev(&forged_notice_create(), &me, now_ms()),
    );
    let rep = import(bundle(vec![batch(v.attacker.key(), &[(&id, &c)])])).unwrap();
    assert_eq!(rep.merge.applied, 0, "{rep:?}");
    assert!(
        rep.merge
            .rejected
            .iter()
            .any(|(e, _, why)| *e == id && why.contains("only cadres publish notices")),
        "{rep:?}"
    );
    // 4. a bundle file cut short
    let path = v.bystander.dir().join("cut.cwb");
    let bytes = wire::encode(
        FrameKind::Bundle,
        &bundle(vec![batch(v.attacker.key(), &[(&id, &c)])]),
    );
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        cunwu_core::bundle::import(&v.bystander.store, &path),
        Err(Error::Malformed(_))
    ));
    v.assert_honest_unchanged(&before).await;
}

fn local_roster(d: &Device) -> SignedRoster {
    let raw: Vec<u8> = d
        .sql()
        .query_row("SELECT value FROM local WHERE key = 'roster'", [], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

fn set_local(d: &Device, key: &str, value: &[u8]) {
    d.sql()
        .execute(
            "UPDATE local SET value = ?2 WHERE key = ?1",
            rusqlite::params![key, value],
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_roster_in_the_local_database_cannot_raise_a_role() {
    let v = Village::new().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    // Rewrite the attacker's own role to cadre inside the relay-signed roster.
    let mut signed = local_roster(&v.attacker);
    let mut roster: Roster = serde_json::from_slice(&signed.roster_json).unwrap();
    roster.members.iter_mut().find(|m| m.id == me).unwrap().role = Role::Cadre;
    signed.roster_json = serde_json::to_vec(&roster).unwrap();
    set_local(&v.attacker, "roster", &serde_json::to_vec(&signed).unwrap());
    // the phone itself no longer trusts its roster
    assert!(matches!(
        v.attacker.store.roster(),
        Err(Error::BadSignature(_))
    ));
    assert!(matches!(v.attacker.store.me(), Err(Error::BadSignature(_))));
    assert!(v
        .attacker
        .store
        .post_notice(notice("假通知", "假的"))
        .is_err());
    // what the tampered app forges anyway is refused by the relay...
    let id = new_id();
    let c = forge_new(
        &v.attacker.key().public(),
        EntityKind::Notice,
        &id,
        ev(&forged_notice_create(), &me, now_ms()),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&id, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "only cadres publish notices");
    // ...and a bundle carrying the edited roster (the app cannot even export one any
    // more: it is built by hand) is refused whole by an honest phone
    assert!(v.attacker.store.export_bundle(None).is_err());
    let b = Bundle {
        space: entity_bytes(&v.space).unwrap(),
        created_at: now_ms(),
        roster: Some(signed),
        batches: vec![batch(v.attacker.key(), &[(&id, &c)])],
        tallies: vec![],
    };
    let e = v.bystander.store.import_bundle(&b).unwrap_err();
    assert!(
        e.to_string().contains("not signed by this space's relay"),
        "{e}"
    );
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_claiming_a_higher_role_in_its_database_cannot_put_anything_on_an_honest_phone() {
    let v = Village::new().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    // The attacker becomes its own "relay": a roster naming it cadre, signed with a key
    // it made, and that key pinned in place of the relay's.
    let fake_relay = DeviceKey::generate();
    let mut roster = v.attacker.store.roster().unwrap();
    roster.members.iter_mut().find(|m| m.id == me).unwrap().role = Role::Cadre;
    set_local(&v.attacker, "relay_key", &fake_relay.public());
    set_local(
        &v.attacker,
        "roster",
        &serde_json::to_vec(&SignedRoster::sign(&roster, &fake_relay)).unwrap(),
    );
    assert_eq!(v.attacker.store.me().unwrap().role, Role::Cadre);
    // the tampered phone happily publishes locally
    let nid = v
        .attacker
        .store
        .post_notice(notice("低保名单公示", "本季度低保户：赵四"))
        .unwrap();
    let hash = v
        .attacker
        .store
        .local_changes(None, 10)
        .unwrap()
        .into_iter()
        .find(|c| c.entity_id == nid)
        .unwrap()
        .hash;
    // 1. its bundle as exported: refused whole (roster not signed by the relay)
    let path = v.attacker.dir().join("out.cwb");
    cunwu_core::bundle::export(&v.attacker.store, &path, None).unwrap();
    let e = cunwu_core::bundle::import(&v.bystander.store, &path).unwrap_err();
    assert!(
        matches!(&e, Error::BadSignature(m) if m.contains("not signed by this space's relay")),
        "{e}"
    );
    // 2. the same bundle without its roster: the notice is refused by the policy
    let b = cunwu_core::bundle::decode(&std::fs::read(&path).unwrap()).unwrap();
    let rep = v
        .bystander
        .store
        .import_bundle(&Bundle { roster: None, ..b })
        .unwrap();
    assert!(
        rep.merge.rejected.iter().any(|(e, h, why)| *e == nid
            && *h == hash
            && why.contains("only cadres publish notices")),
        "{rep:?}"
    );
    assert_eq!(rep.merge.applied, 0, "{rep:?}");
    // 3. the relay
    let batches = v.attacker.store.outgoing_batches().unwrap();
    let resp = v.push(&v.attacker, batches).await;
    let rej = resp
        .rejections
        .iter()
        .find(|r| hex::encode(r.hash) == hash)
        .expect("rejected");
    assert!(
        rej.reason.contains("only cadres publish notices"),
        "{}",
        rej.reason
    );
    assert!(resp.acks.is_empty());
    // and the tampered phone's own sync takes the notice back off it
    let rep = v.attacker.sync().await.unwrap();
    assert!(rep.rejected >= 1, "{rep:?}");
    assert!(v.attacker.store.notice(&nid).is_err());
    v.assert_honest_unchanged(&before).await;
}

// ---- protocol ------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_with_missing_dependencies_is_rejected() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let mut doc = doc_held_by(&v.attacker, &nid);
    let a = forge_append(
        &mut doc,
        &v.attacker,
        ev(
            &NoticeEvent::Ask {
                text: "第一问".into(),
            },
            &me,
            now_ms(),
        ),
    );
    let b = forge_append(
        &mut doc,
        &v.attacker,
        ev(
            &NoticeEvent::Ask {
                text: "第二问".into(),
            },
            &me,
            now_ms(),
        ),
    );
    assert_eq!(b.deps(), &[a.hash()]);
    // send only the second
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &b)])])
        .await;
    v.assert_rejected(&resp, &b, "does not have");
    // a change naming a dependency that exists nowhere, on a brand-new entity
    let id = new_id();
    let mut fresh = EntityDoc::empty();
    let ghost = forge_new(
        &v.attacker.key().public(),
        EntityKind::Notice,
        &id,
        ev(&forged_notice_create(), &me, now_ms()),
    );
    fresh.apply(vec![ghost.clone()]).unwrap();
    let c = forge_append(
        &mut fresh,
        &v.attacker,
        ev(&NoticeEvent::Ask { text: "?".into() }, &me, now_ms()),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&id, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "does not have");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_input_is_refused() {
    let v = Village::on(RelayProcess::start_with(&["--max-body-bytes", "1000000"])).await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    // a body over the relay's limit: a frame header and 1.2 MB of incompressible bytes
    let mut body = b"CWU\x01\x01".to_vec();
    body.extend((0..1_200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let r = post_sync(&v.relay.url(), body).await;
    assert_eq!(r.status, 413, "{}", r.error());
    // a well-formed change with a question over the text limit
    let me = v.attacker.member_id();
    let long = "问".repeat(cunwu_core::model::MAX_TEXT_CHARS + 1);
    let c = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&NoticeEvent::Ask { text: long }, &me, now_ms()),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "the limit is");
    // the relay is still up and serving
    assert_eq!(
        http_get(v.relay.addr(), "/healthz", Duration::from_secs(5))
            .unwrap()
            .0,
        200
    );
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_refused() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    let url = v.relay.url();
    let valid = v.attacker.sync_body(vec![], 0);
    let expect_400 = |r: HttpReply, keyword: &str, what: &str| {
        assert_eq!(r.status, 400, "{what}: {} {}", r.status, r.error());
        assert!(
            r.error().contains(keyword),
            "{what}: {:?} does not mention {keyword:?}",
            r.error()
        );
    };
    // random bytes
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 7) as u8)
        .collect();
    expect_400(
        post_sync(&url, noise).await,
        "not a Cunwu message",
        "random bytes",
    );
    // empty body
    expect_400(
        post_sync(&url, vec![]).await,
        "not a Cunwu message",
        "empty body",
    );
    // a valid frame cut short: inside the header, and inside the body (which the
    // signature no longer covers, so nothing is inflated)
    expect_400(
        post_sync(&url, valid[..60].to_vec()).await,
        "at least",
        "frame cut inside its header",
    );
    let cut = post_sync(&url, valid[..valid.len() - 3].to_vec()).await;
    assert_eq!(cut.status, 401, "truncated body: {}", cut.error());
    assert!(
        cut.error().contains("not signed by the device it names"),
        "{}",
        cut.error()
    );
    // a future wire version
    let mut wrong_version = valid.clone();
    wrong_version[3] = 99;
    expect_400(
        post_sync(&url, wrong_version).await,
        "version",
        "wrong version byte",
    );
    // a frame of another kind (a bundle)
    let mut wrong_kind = valid.clone();
    wrong_kind[4] = FrameKind::Bundle as u8;
    expect_400(
        post_sync(&url, wrong_kind).await,
        "kind",
        "wrong frame kind",
    );
    // a correct frame around bytes that are not a request
    let garbage = wire::SealedRequest::seal_body(
        &entity_bytes(&v.space).unwrap(),
        v.attacker.key(),
        &[7u8; 50],
    );
    expect_400(
        post_sync(&url, garbage).await,
        "does not decode",
        "garbage body",
    );
    // control plane: JSON that is not an enrolment
    let r = post_raw(
        &url,
        "/v1/enroll",
        "application/json",
        b"{\"invite\": 5".to_vec(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.error());
    // a signed batch carrying bytes that are not an automerge change: nothing is acked
    // or stored
    let me = v.attacker.member_id();
    let c = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&NoticeEvent::Ask { text: "问".into() }, &me, now_ms()),
    );
    let mut b = batch(v.attacker.key(), &[(&nid, &c)]);
    b.items[0] = Item::Change {
        entity: entity_bytes(&nid).unwrap(),
        bytes: vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
    };
    let resp = v.push(&v.attacker, vec![b]).await;
    assert!(resp.acks.is_empty(), "{resp:?}");
    assert!(!v.stored(&c));
    // the relay is still up, and the attacker's honest client still works
    assert_eq!(
        http_get(v.relay.addr(), "/healthz", Duration::from_secs(5))
            .unwrap()
            .0,
        200
    );
    v.attacker.sync().await.unwrap();
    v.assert_honest_unchanged(&before).await;
}

// ---- hardening (issue 9): what decoding, merging and judging cost, and in what order -------------

/// A request filed by `filer` under `id`, as a tampered app would create it.
fn forged_request(filer: &Device, id: &str) -> Change {
    let file = RequestEvent::File {
        kind: "social_assistance".into(),
        title: "占位".into(),
        description: "占位".into(),
        place: None,
        filer: filer.member_id(),
        materials: vec![],
        attachments: vec![],
    };
    forge_new(
        &filer.key().public(),
        EntityKind::Request,
        id,
        ev(&file, &filer.member_id(), now_ms()),
    )
}

fn assert_relay_up(v: &Village) {
    assert_eq!(
        http_get(v.relay.addr(), "/healthz", Duration::from_secs(5))
            .unwrap()
            .0,
        200,
        "the relay is down"
    );
}

/// A question by `dev` on `notice` whose event map holds a field nested `levels` + 1
/// maps deep (what a tampered app can send; the app never nests).
fn forge_nested_question(dev: &Device, notice: &str, levels: usize) -> Change {
    let me = dev.member_id();
    forge_edit(&mut doc_held_by(dev, notice), dev, |tx, list| {
        let n = tx.length(list);
        let e = tx.insert_object(list, n, ObjType::Map).unwrap();
        for (k, val) in ev(&NoticeEvent::Ask { text: "问".into() }, &me, now_ms())
            .as_object()
            .unwrap()
        {
            match val {
                Value::String(s) => tx.put(&e, k.as_str(), s.as_str()).unwrap(),
                Value::Number(n) => tx.put(&e, k.as_str(), n.as_i64().unwrap()).unwrap(),
                _ => {}
            }
        }
        let mut obj = tx.put_object(&e, "x", ObjType::Map).unwrap();
        for _ in 0..levels {
            obj = tx.put_object(&obj, "x", ObjType::Map).unwrap();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_change_does_not_crash_the_relay() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let before = v.snapshot().await;
    // a question event that nests 3,000 maps deep: about 6 KB, enough to overflow the
    // stack of any recursive reader of the document
    let c = forge_nested_question(&v.attacker, &nid, 3000);
    assert!(
        c.raw_bytes().len() < 16 * 1024,
        "{} bytes",
        c.raw_bytes().len()
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "deeper than");
    assert_relay_up(&v);
    // the same event, two of them in one change, or 50,000 operations: refused by budget
    let two = forge_edit(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        |tx, list| {
            let n = tx.length(list);
            tx.insert_object(list, n, ObjType::Map).unwrap();
            tx.insert_object(list, n + 1, ObjType::Map).unwrap();
        },
    );
    let many = forge_edit(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        |tx, list| {
            let n = tx.length(list);
            let e = tx.insert_object(list, n, ObjType::Map).unwrap();
            let l = tx.put_object(&e, "l", ObjType::List).unwrap();
            for i in 0..50_000 {
                tx.insert(&l, i, 1i64).unwrap();
            }
        },
    );
    let resp = v
        .push(
            &v.attacker,
            vec![
                batch(v.attacker.key(), &[(&nid, &two)]),
                batch(v.attacker.key(), &[(&nid, &many)]),
            ],
        )
        .await;
    v.assert_rejected(&resp, &two, "one event per change");
    v.assert_rejected(&resp, &many, "operations");
    assert_relay_up(&v);
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_can_take_a_ballot_or_notes_id_first() {
    let v = Village::new().await;
    let d = v.open_vote(DecidingBody::VillagersMeeting).await;
    let rid = v.request_by(&v.bystander).await;
    let before = v.snapshot().await;
    // the attacker computes the bystander's ballot id and the notes id of their request
    // and files requests of its own under them, before their owners use them
    let ballot = ballot_id(&d, &v.bystander.member_id());
    let notes = notes_id(&rid);
    let c1 = forged_request(&v.attacker, &ballot);
    let c2 = forged_request(&v.attacker, &notes);
    let resp = v
        .push(
            &v.attacker,
            vec![
                batch(v.attacker.key(), &[(&ballot, &c1)]),
                batch(v.attacker.key(), &[(&notes, &c2)]),
            ],
        )
        .await;
    v.assert_rejected(&resp, &c1, "reserved for a document others can derive");
    v.assert_rejected(&resp, &c2, "reserved for a document others can derive");
    v.assert_honest_unchanged(&before).await;
    // the rightful owners still can: the bystander's ballot counts, the cadre's notes arrive
    v.bystander.store.cast_ballot(&d, 1).unwrap();
    v.cadre
        .store
        .comment_request(&rid, "已核实家庭情况", true)
        .unwrap();
    for dev in [&v.bystander, &v.cadre] {
        let r = dev.sync().await.unwrap();
        assert_eq!(r.rejected, 0, "{}: {r:?}", dev.name);
    }
    v.settle().await;
    let t = v.cadre.store.tally(&d).unwrap();
    assert_eq!((t.participants, t.counts.clone()), (1, vec![0, 1]), "{t:?}");
    assert!(v.cadre.store.document_json(&notes).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_racing_a_resolution_leaves_every_phone_the_same() {
    let v = Village::new().await;
    let rid = v.request_by(&v.bystander).await;
    v.cadre
        .store
        .transition_request(&rid, Status::Accepted, "已受理")
        .unwrap();
    v.settle().await;
    // offline, at the same time: the cadre resolves, the filer edits the description
    v.cadre
        .store
        .transition_request(&rid, Status::Resolved, "已办结")
        .unwrap();
    v.bystander
        .store
        .edit_request_description(&rid, "补充：孩子在读小学")
        .unwrap();
    // the filer's edit reaches the relay first (judged where the filer made it: open)
    let r = v.bystander.sync().await.unwrap();
    assert_eq!(r.rejected, 0, "{r:?}");
    // the cadre's phone receives the edit on top of its own resolution, and must not
    // refuse what the relay accepted
    let r = v.cadre.sync().await.unwrap();
    assert_eq!((r.rejected, r.refused_incoming), (0, 0), "cadre: {r:?}");
    v.settle().await;
    let docs: Vec<Value> = [&v.cadre, &v.bystander]
        .iter()
        .map(|d| d.store.document_json(&rid).unwrap())
        .collect();
    assert_eq!(
        docs[0], docs[1],
        "the cadre's and the filer's documents differ"
    );
    let fresh = Device::enroll(&v.relay, &v.relay.invite(&v.space, Role::Cadre), "新村干部").await;
    fresh.sync().await.unwrap();
    assert_eq!(
        fresh.store.document_json(&rid).unwrap(),
        docs[0],
        "a new phone differs"
    );
    let summaries: Vec<_> = [&v.cadre, &v.bystander, &fresh]
        .iter()
        .map(|d| {
            d.store
                .list_requests(&RequestFilter {
                    limit: 10,
                    ..Default::default()
                })
                .unwrap()
        })
        .collect();
    assert_eq!(summaries[0], summaries[2]);
    assert_eq!(summaries[0][0].status, summaries[1][0].status);
    assert_eq!(summaries[0][0].status, Status::Resolved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_learn_nothing_of_documents_they_may_not_read() {
    let v = Village::new().await;
    let rid = v.request_by(&v.attacker).await;
    // one sync of the cadre carries a public notice, a reply to the attacker's request
    // and an internal note on it: three audiences
    let nid = v
        .cadre
        .store
        .post_notice(notice("秋收通知", "请各户做好准备"))
        .unwrap();
    v.cadre
        .store
        .comment_request(&rid, "请补充材料", false)
        .unwrap();
    v.cadre
        .store
        .comment_request(&rid, "注意核实", true)
        .unwrap();
    v.cadre.sync().await.unwrap();
    let resp = v.bystander.push_raw(&v.relay, vec![]).await.sync_response();
    assert_eq!(
        resp.entries.len(),
        1,
        "only the notice's batch reaches the bystander: {:?}",
        resp.entries.len()
    );
    let hidden = [
        entity_bytes(&rid).unwrap(),
        entity_bytes(&notes_id(&rid)).unwrap(),
    ];
    for e in &resp.entries {
        if let LogEntry::Batch { batch, .. } = e {
            for it in &batch.items {
                assert!(
                    matches!(it, Item::Change { .. }),
                    "a withheld item reached a reader: {it:?}"
                );
                assert!(
                    !hidden.contains(it.entity()),
                    "a private entity id reached a reader"
                );
            }
        }
    }
    // a tampered app that mixes audiences in one batch is refused as a whole
    v.attacker.sync().await.unwrap();
    let me = v.attacker.member_id();
    let q = forge_append(
        &mut doc_held_by(&v.attacker, &nid),
        &v.attacker,
        ev(&NoticeEvent::Ask { text: "问".into() }, &me, now_ms()),
    );
    let c = forge_append(
        &mut doc_held_by(&v.attacker, &rid),
        &v.attacker,
        ev(
            &RequestEvent::Comment {
                text: "补充".into(),
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![batch(v.attacker.key(), &[(&nid, &q), (&rid, &c)])],
        )
        .await;
    v.assert_rejected(&resp, &c, "same readers");
    v.assert_rejected(&resp, &q, "same readers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_are_refused_before_anything_is_inflated() {
    let v = Village::new().await;
    let before = v.snapshot().await;
    let space = entity_bytes(&v.space).unwrap();
    // a zstd bomb of 2 GiB of zeros in about 60 KB
    let bomb = {
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
        enc.include_checksum(true).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..2048 {
            std::io::Write::write_all(&mut enc, &zeros).unwrap();
        }
        enc.finish().unwrap()
    };
    assert!(bomb.len() < 256 * 1024, "{}", bomb.len());
    let frame = |device: &DeviceKey, sign_with: &DeviceKey| {
        let mut f = wire::SealedRequest::seal_body(&space, sign_with, b"x");
        f.truncate(5 + 16);
        f.extend_from_slice(&device.public());
        // a signature by `sign_with` over another payload: valid-looking, never valid here
        f.extend_from_slice(&sign_with.sign(b"something else"));
        f.extend_from_slice(&bomb);
        f
    };
    // someone who is not enrolled
    let stranger = DeviceKey::generate();
    let r = post_sync(&v.relay.url(), frame(&stranger, &stranger)).await;
    assert!(matches!(r.status, 401 | 403), "{} {}", r.status, r.error());
    // someone naming an enrolled device (device keys are no secret) without its key
    let r = post_sync(&v.relay.url(), frame(v.bystander.key(), &stranger)).await;
    assert_eq!(r.status, 401, "{}", r.error());
    assert!(
        r.error().contains("not signed by the device it names"),
        "{}",
        r.error()
    );
    // an enrolled device that signs its bomb: inflated only to the absolute bound
    let signed = wire::SealedRequest::seal_body(&space, v.attacker.key(), b"");
    let mut f = signed[..5 + 16 + 32].to_vec();
    let mut msg = b"cunwu-sync-v3\0".to_vec();
    msg.extend_from_slice(&space);
    msg.extend_from_slice(&v.attacker.key().public());
    msg.extend_from_slice(&bomb);
    f.extend_from_slice(&v.attacker.key().sign(&msg));
    f.extend_from_slice(&bomb);
    let r = post_sync(&v.relay.url(), f).await;
    assert_eq!(r.status, 413, "{}", r.error());
    assert!(r.error().contains("inflates beyond"), "{}", r.error());
    assert_relay_up(&v);
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repetitive_honest_text_is_never_taken_for_a_compression_bomb() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    // one resident asks the same long question again and again (honest, if tiresome):
    // the page that carries them compresses far beyond 64:1
    let q = "请问村道什么时候修好？家里老人出行不便。".repeat(600);
    for _ in 0..60 {
        v.bystander.store.ask_question(&nid, &q).unwrap();
    }
    let r = v.bystander.sync().await.unwrap();
    assert_eq!(r.rejected, 0, "{r:?}");
    // a new phone pulls the village, and the cadre's phone the questions
    let fresh = Device::enroll(
        &v.relay,
        &v.relay.invite(&v.space, Role::Resident),
        "新村民",
    )
    .await;
    let r = fresh.sync().await.unwrap();
    let ratio = 60.0 * q.len() as f64 / r.bytes_received as f64;
    assert!(
        ratio > 64.0,
        "the page compresses only {ratio:.0}:1; the test needs more repetition"
    );
    v.cadre.sync().await.unwrap();
    assert_eq!(fresh.store.notice(&nid).unwrap().questions.len(), 60);
    assert_eq!(v.cadre.store.notice(&nid).unwrap().questions.len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_outbox_is_sent_in_requests_the_relay_accepts() {
    let v = Village::new().await;
    // about 10 MB of long notices made offline: more than one request may carry
    let body = "本村二〇二六年度村级财务收支明细及说明。".repeat(950);
    let mut ids = vec![];
    for i in 0..170 {
        ids.push(
            v.cadre
                .store
                .post_notice(notice(&format!("公示第{i}号"), &body))
                .unwrap(),
        );
    }
    let r = v.cadre.sync().await.unwrap();
    assert_eq!((r.rejected, r.acked as usize), (0, ids.len()), "{r:?}");
    assert!(r.round_trips >= 3, "{r:?}");
    v.bystander.sync().await.unwrap();
    for id in &ids {
        assert!(v.bystander.store.notice(id).is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_syncs_on_a_512_kib_stack_whatever_the_relay_accepted() {
    use cunwu_core::model::notice::{Direction, FinanceLine};
    let v = Village::new().await;
    // the largest finance notice the policy admits
    let lines = (0..cunwu_core::model::MAX_FINANCE_LINES)
        .map(|i| FinanceLine {
            date: "2026-11-30".into(),
            direction: if i & 1 == 0 {
                Direction::Income
            } else {
                Direction::Expense
            },
            account: if i & 1 == 0 {
                "其他收入"
            } else {
                "其他支出"
            }
            .into(),
            item: format!("第{i}笔 村道硬化工程款"),
            amount_fen: 1_000 + i as i64,
            payee_or_dept: "青石村建筑队".into(),
            voucher_no: format!("记-{i}"),
        })
        .collect();
    let big = NewNotice {
        category: Category::Finance,
        subtype: Subtype::Other,
        period: Period::default(),
        title: "2026年11月财务公开".into(),
        body: "明细如下".into(),
        opening_balance_fen: Some(0),
        lines,
        publish: true,
    };
    let nid = v.cadre.store.post_notice(big).unwrap();
    v.settle().await;
    // and the deepest question a tampered app can get accepted: nested to the limit
    let deep = forge_nested_question(&v.attacker, &nid, cunwu_core::model::MAX_DEPTH - 4);
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&nid, &deep)])])
        .await;
    assert_eq!(resp.acks, vec![deep.hash().0], "{:?}", resp.rejections);
    // a new phone, all of whose work runs on a thread with a 512 KiB stack (what the
    // mobile bindings may be called on)
    let fresh = Device::enroll(
        &v.relay,
        &v.relay.invite(&v.space, Role::Resident),
        "新村民",
    )
    .await;
    let nid2 = nid.clone();
    let worker = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let r = rt.block_on(fresh.sync()).unwrap();
            let n = fresh.store.notice(&nid2).unwrap();
            let json = fresh.store.document_json(&nid2).unwrap();
            let listed = fresh
                .store
                .list_notices(&NoticeFilter {
                    limit: 50,
                    ..Default::default()
                })
                .unwrap();
            (
                r.refused_incoming,
                n.content.lines.len(),
                n.questions.len(),
                json.to_string().len() > 100_000,
                listed.len(),
            )
        })
        .unwrap();
    let (refused, lines, questions, big_json, listed) =
        worker.join().expect("the phone crashed on a 512 KiB stack");
    assert_eq!(
        (refused, lines, questions, big_json),
        (0, cunwu_core::model::MAX_FINANCE_LINES, 1, true)
    );
    assert!(listed >= 1);
}

// ---- found by the red-team reading of the hardening (issue 9) ---------------------------------------
//
// Byte-level rewriting of change chunks, as a tampered app can do it.

fn rt_leb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
}
fn rt_sleb(mut v: i64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0);
        out.push(if done { b } else { b | 0x80 });
        if done {
            break;
        }
    }
}
fn rt_uleb(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut s = 0;
    loop {
        let x = b[*at];
        *at += 1;
        v |= u64::from(x & 0x7f) << s;
        s += 7;
        if x & 0x80 == 0 {
            return v;
        }
    }
}

/// `change` re-encoded with its columns rewritten by `f` (sorted by spec), with a valid
/// chunk length and checksum: exactly what a tampered app can send.
fn rt_rewrite_columns(change: &[u8], f: impl FnOnce(&mut Vec<(u64, Vec<u8>)>)) -> Vec<u8> {
    let b = change;
    let mut at = 9;
    rt_uleb(b, &mut at);
    let body_start = at;
    let deps = rt_uleb(b, &mut at);
    at += 32 * deps as usize;
    let n = rt_uleb(b, &mut at);
    at += n as usize;
    rt_uleb(b, &mut at);
    rt_uleb(b, &mut at);
    rt_uleb(b, &mut at);
    let n = rt_uleb(b, &mut at);
    at += n as usize;
    let others = rt_uleb(b, &mut at);
    for _ in 0..others {
        let n = rt_uleb(b, &mut at);
        at += n as usize;
    }
    let meta_start = at;
    let ncols = rt_uleb(b, &mut at);
    let specs: Vec<(u64, u64)> = (0..ncols)
        .map(|_| (rt_uleb(b, &mut at), rt_uleb(b, &mut at)))
        .collect();
    let mut data = at;
    let mut cols = vec![];
    for (spec, len) in specs {
        cols.push((spec, b[data..data + len as usize].to_vec()));
        data += len as usize;
    }
    f(&mut cols);
    cols.sort_by_key(|c| c.0);
    let mut body = b[body_start..meta_start].to_vec();
    rt_leb(cols.len() as u64, &mut body);
    for (spec, bytes) in &cols {
        rt_leb(*spec, &mut body);
        rt_leb(bytes.len() as u64, &mut body);
    }
    for (_, bytes) in &cols {
        body.extend_from_slice(bytes);
    }
    body.extend_from_slice(&b[data..]);
    let mut out = b[..9].to_vec();
    rt_leb(body.len() as u64, &mut out);
    out.extend(body);
    let h = wire::change_hash_of(&out).unwrap();
    out[4..8].copy_from_slice(&h[..4]);
    out
}

/// A one-operation change whose single op claims `n` predecessors: three RLE runs of a
/// few bytes each (pred count n, n x actor 0, n x counter delta +1).
fn rt_pred_bomb(change: &[u8], n: u64) -> Vec<u8> {
    rt_rewrite_columns(change, |cols| {
        cols.retain(|c| !matches!(c.0, 0x70 | 0x71 | 0x73));
        // every op has 0 preds except the last one, which has n
        let ops = cunwu_core::doc::change_ops(change).unwrap();
        let mut num = vec![];
        if ops > 1 {
            rt_sleb(ops as i64 - 1, &mut num);
            rt_leb(0, &mut num);
        }
        rt_sleb(1, &mut num);
        rt_leb(n, &mut num);
        let mut actor = vec![];
        rt_sleb(n as i64, &mut actor);
        rt_leb(0, &mut actor);
        let mut ctr = vec![];
        rt_sleb(n as i64, &mut ctr);
        rt_sleb(1, &mut ctr);
        cols.push((0x70, num));
        cols.push((0x71, actor));
        cols.push((0x73, ctr));
    })
}

/// A signed batch over raw change bytes (no parse needed to sign).
fn rt_batch_raw(key: &DeviceKey, items: &[(&str, Vec<u8>)]) -> SignedBatch {
    let author = key.public();
    let signed_at = now_ms();
    let mut m = b"cunwu-batch-v1\0".to_vec();
    m.extend_from_slice(&author);
    m.extend_from_slice(&signed_at.to_le_bytes());
    let mut out = vec![];
    for (e, bytes) in items {
        let eb = entity_bytes(e).unwrap();
        m.extend_from_slice(&eb);
        m.extend_from_slice(&wire::change_hash_of(bytes).unwrap());
        out.push(wire::Item::Change {
            entity: eb,
            bytes: bytes.clone(),
        });
    }
    SignedBatch {
        author,
        signed_at,
        items: out,
        signature: key.sign(&m).to_vec(),
    }
}

/// `change` with its dependencies replaced by `deps` (hash and checksum recomputed).
fn rt_with_deps(change: &[u8], deps: &[automerge::ChangeHash]) -> Vec<u8> {
    let b = change;
    let mut at = 9;
    rt_uleb(b, &mut at);
    let body_start = at;
    let n = rt_uleb(b, &mut at);
    at += 32 * n as usize;
    let mut body = vec![];
    rt_leb(deps.len() as u64, &mut body);
    for d in deps {
        body.extend_from_slice(&d.0);
    }
    let _ = body_start;
    body.extend_from_slice(&b[at..]);
    let mut out = b[..9].to_vec();
    rt_leb(body.len() as u64, &mut out);
    out.extend(body);
    let h = wire::change_hash_of(&out).unwrap();
    out[4..8].copy_from_slice(&h[..4]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_predecessor_list_bomb_is_refused_before_automerge_expands_it() {
    let v = Village::new().await;
    let before = v.snapshot().await;
    let id = new_id();
    let me = v.attacker.member_id();
    let c = forge_new(
        &v.attacker.key().public(),
        EntityKind::Notice,
        &id,
        ev(&NoticeEvent::Read { revision: 0 }, &me, now_ms()),
    );
    // 8 changes of about 200 bytes, each claiming millions of predecessors (three
    // run-length encoded runs): automerge's parser would build each list in full
    let items: Vec<(&str, Vec<u8>)> = (0..8)
        .map(|i| (id.as_str(), rt_pred_bomb(c.raw_bytes(), 3_000_000 + i)))
        .collect();
    assert!(items.iter().all(|i| i.1.len() < 1024));
    let e = cunwu_core::doc::change_from_bytes(&items[0].1).unwrap_err();
    assert!(e.to_string().contains("may not overwrite"), "{e}");
    let body = v.attacker.sync_body(
        vec![rt_batch_raw(v.attacker.key(), &items)],
        v.attacker.store.cursor().unwrap(),
    );
    let r = post_sync(&v.relay.url(), body).await.sync_response();
    assert!(r.acks.is_empty(), "{r:?}");
    assert_eq!(r.rejections.len(), 8);
    assert!(
        r.rejections
            .iter()
            .all(|x| x.reason.contains("may not overwrite")),
        "{:?}",
        r.rejections
    );
    assert_relay_up(&v);
    v.assert_honest_unchanged(&before).await;
    // and a stranger's bundle of the same is refused while it is decoded, before any
    // signature is looked at
    let stranger = DeviceKey::generate();
    let mut b = rt_batch_raw(&stranger, &items);
    b.signature = vec![0; 64];
    let file = wire::encode(
        FrameKind::Bundle,
        &Bundle {
            space: entity_bytes(&new_id()).unwrap(),
            created_at: 1,
            roster: None,
            batches: vec![b],
            tallies: vec![],
        },
    );
    // (decoding parses no change; the signature is checked before any is parsed)
    let decoded = cunwu_core::bundle::decode(&file).unwrap();
    assert!(matches!(
        decoded.batches[0].verify(None),
        Err(cunwu_core::ProtocolError::BadSignature(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_events_with_one_id_do_not_freeze_a_notice() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let me = v.attacker.member_id();
    let mut d = doc_held_by(&v.attacker, &nid);
    let creation_heads = d.heads();
    // 1. an honest-looking question, id X
    let q1 = ev(
        &NoticeEvent::Ask {
            text: "什么时候修？".into(),
        },
        &me,
        now_ms(),
    );
    let c1 = forge_append(&mut d, &v.attacker, q1.clone());
    // 2. a second question with the same id X but other text, claiming to have seen only
    //    the creation (so in "the author's view" it is a plain append of a new id)
    let mut q2 = q1.clone();
    q2["text"] = Value::from("谁负责？");
    let c2 = forge_edit(&mut d, &v.attacker, |tx, list| {
        let m = tx.insert_object(list, 1, ObjType::Map).unwrap();
        for (k, val) in q2.as_object().unwrap() {
            match val {
                Value::String(s) => tx.put(&m, k.as_str(), s.as_str()).unwrap(),
                Value::Number(n) => tx.put(&m, k.as_str(), n.as_i64().unwrap()).unwrap(),
                _ => unreachable!(),
            }
        }
    });
    let c2 =
        cunwu_core::doc::change_from_bytes(&rt_with_deps(c2.raw_bytes(), &creation_heads)).unwrap();
    let resp = v
        .push(
            &v.attacker,
            vec![batch(v.attacker.key(), &[(&nid, &c1), (&nid, &c2)])],
        )
        .await;
    eprintln!("acks {} rejections {:?}", resp.acks.len(), resp.rejections);
    v.settle().await;
    // now the cadre tries to withdraw (or correct, or answer) the notice
    let r = v.cadre.store.withdraw_notice(&nid, "信息有误");
    eprintln!("cadre withdraw: {r:?}");
    let r2 = v.bystander.store.ask_question(&nid, "请问具体时间？");
    eprintln!("bystander ask: {r2:?}");
    for d in [&v.cadre, &v.bystander] {
        let rep = d.sync().await;
        eprintln!("{} sync: {rep:?}", d.name);
    }
    assert!(
        r.is_ok() && r2.is_ok(),
        "honest members can no longer act on the notice: {r:?} {r2:?}"
    );
    v.settle().await;
    // every honest phone holds the same document (the attacker's own phone never stored
    // what it pushed by hand)
    assert_eq!(
        v.cadre.store.document_json(&nid).unwrap(),
        v.bystander.store.document_json(&nid).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_relay_holds_cannot_ride_in_a_batch_of_another_audience() {
    let v = Village::new().await;
    let nid = v.published_notice().await;
    let rid = v.request_by(&v.attacker).await; // private: attacker + staff
    let held = doc_held_by(&v.attacker, &rid).changes_since(&[])[0].clone();
    let mut nd = doc_held_by(&v.attacker, &nid);
    let read = forge_append(
        &mut nd,
        &v.attacker,
        ev(
            &NoticeEvent::Read { revision: 1 },
            &v.attacker.member_id(),
            now_ms(),
        ),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![batch(v.attacker.key(), &[(&rid, &held), (&nid, &read)])],
        )
        .await;
    eprintln!("acks {} rejections {:?}", resp.acks.len(), resp.rejections);
    let reply = post_sync(
        &v.relay.url(),
        v.bystander
            .sync_body(vec![], v.bystander.store.cursor().unwrap()),
    )
    .await;
    let leaked: Vec<String> = reply
        .sync_response()
        .entries
        .iter()
        .filter_map(|e| match e {
            LogEntry::Batch { batch, .. } => Some(batch.items.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|it| match it {
            wire::Item::Withheld { entity, .. } => Some(hex::encode(entity)),
            _ => None,
        })
        .collect();
    eprintln!("bystander sees withheld entities {leaked:?}; private request {rid}");
    assert!(
        !leaked.contains(&rid),
        "a resident learned the id of a private request"
    );
    assert!(
        resp.rejections
            .iter()
            .any(|r| r.reason.contains("same readers")),
        "{:?}",
        resp.rejections
    );
}

// ---- drafts (issue 14, defect 1) -----------------------------------------------------------

/// Whether a phone holds, lists, counts or finds a notice, and whether any entry the
/// relay serves it names the notice.
async fn sees_notice(d: &Device, relay: &RelayProcess, id: &str, word: &str) -> Vec<&'static str> {
    let s = &d.store;
    let mut seen = vec![];
    if s.entity_ids().unwrap().iter().any(|(e, _)| e == id) {
        seen.push("store");
    }
    let all = NoticeFilter {
        limit: 500,
        ..Default::default()
    };
    if s.list_notices(&all).unwrap().iter().any(|n| n.id == id) {
        seen.push("list");
    }
    if s.search(word, 50).unwrap().iter().any(|h| h.id == id) {
        seen.push("search");
    }
    let e = entity_bytes(id).unwrap();
    // everything the relay serves this phone from the start of the log
    let resp = post_sync(&relay.url(), d.sync_body(vec![], 0))
        .await
        .sync_response();
    if resp.entries.iter().any(|en| match en {
        LogEntry::Batch { batch, .. } => batch.items.iter().any(|it| *it.entity() == e),
        _ => false,
    }) {
        seen.push("relay");
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_reaches_only_cadres_until_published_then_every_phone_without_a_full_pull() {
    let v = Village::new().await;
    let unread_before = v.bystander.store.counts().unwrap().unread_notices;
    let mut draft = notice("征地补偿方案（草稿）", "补偿标准待村民代表会议讨论");
    draft.publish = false;
    let did = v.cadre.store.post_notice(draft).unwrap();
    v.cadre.sync().await.unwrap();
    // a second cadre edits it and saves it again: still a draft
    let cadre2 = Device::enroll(&v.relay, &v.relay.invite(&v.space, Role::Cadre), "李国华").await;
    cadre2.sync().await.unwrap();
    assert!(
        cadre2
            .store
            .entity_ids()
            .unwrap()
            .iter()
            .any(|(e, _)| *e == did),
        "another cadre receives the draft"
    );
    cadre2
        .store
        .edit_notice_draft(&did, content("征地补偿方案", "补偿标准：每亩三万元"))
        .unwrap();
    cadre2.sync().await.unwrap();
    v.settle().await;

    // a resident's phone: not held, not listed, not counted, not found; the relay names
    // it in no entry; a cadre's bundle leaves it out
    for d in [&v.bystander, &v.attacker] {
        assert_eq!(
            sees_notice(d, &v.relay, &did, "补偿").await,
            Vec::<&str>::new(),
            "{} must not see the draft",
            d.name
        );
    }
    assert_eq!(
        v.bystander.store.counts().unwrap().unread_notices,
        unread_before
    );
    let have = v.bystander.store.have().unwrap();
    let bundle = v.cadre.store.export_bundle(Some(&have)).unwrap();
    v.bystander.store.import_bundle(&bundle).unwrap();
    let open = v.cadre.store.export_bundle(None).unwrap();
    v.bystander.store.import_bundle(&open).unwrap();
    assert!(
        !v.bystander
            .store
            .entity_ids()
            .unwrap()
            .iter()
            .any(|(e, _)| *e == did),
        "a bundle carried the draft to a resident"
    );

    // a tampered cadre app cannot slip a draft into a batch with a public document
    let public = v.published_notice().await;
    v.cadre.sync().await.unwrap();
    let me = v.cadre.member_id();
    let edit = forge_append(
        &mut doc_held_by(&v.cadre, &did),
        &v.cadre,
        ev(
            &NoticeEvent::EditDraft {
                content: content("征地补偿方案", "补偿标准：每亩三万五千元"),
            },
            &me,
            now_ms(),
        ),
    );
    let ask = forge_append(
        &mut doc_held_by(&v.cadre, &public),
        &v.cadre,
        ev(
            &NoticeEvent::Ask {
                text: "何时开会".into(),
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(
            &v.cadre,
            vec![batch(v.cadre.key(), &[(&public, &ask), (&did, &edit)])],
        )
        .await;
    v.assert_rejected(&resp, &edit, "same readers");

    // published: every phone gets the whole notice from its cursor, in one sync
    cadre2.store.publish_notice(&did).unwrap();
    cadre2.sync().await.unwrap();
    let report = v.bystander.sync().await.unwrap();
    let n = v.bystander.store.notice(&did).unwrap_or_else(|e| {
        panic!("the published notice reached the resident in one sync: {e}; {report:?}")
    });
    assert_eq!(n.content.title, "征地补偿方案");
    assert!(n.status.is_live(), "{:?}", n.status);
    let full_pull: i64 = v
        .bystander
        .sql()
        .query_row(
            "SELECT count(*) FROM local WHERE key = 'full_pull'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(full_pull, 0, "the resident had to pull everything again");
    assert_eq!(report.refused_incoming, 0, "{report:?}");
    assert_eq!(
        sees_notice(&v.bystander, &v.relay, &did, "补偿").await,
        vec!["store", "list", "search", "relay"]
    );
    assert_eq!(
        v.bystander.store.counts().unwrap().unread_notices,
        unread_before + 2
    );
    // and every phone shows the same notice
    v.settle().await;
    cadre2.sync().await.unwrap();
    let docs: Vec<Value> = [&v.cadre, &cadre2, &v.bystander, &v.attacker]
        .iter()
        .map(|d| d.store.document_json(&did).unwrap())
        .collect();
    assert!(
        docs.windows(2).all(|w| w[0] == w[1]),
        "phones disagree on the notice"
    );
}

// ---- the times the village saw (issue 14, defect 6) ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clocks_cannot_backdate_a_publication_or_make_a_question_overdue_at_once() {
    let v = Village::new().await;
    let month = 30 * DAY_MS;
    // the cadre's phone is 40 days slow: it signs a notice "published" 40 days ago
    let t0 = now_ms();
    let id = new_id();
    let cadre = v.cadre.member_id();
    let create = NoticeEvent::Create {
        category: Category::Village,
        subtype: Subtype::Other,
        period: Period::default(),
        content: content("宅基地申请公示", "公示期七天"),
        publish: true,
    };
    let c = forge_new(
        &v.cadre.key().public(),
        EntityKind::Notice,
        &id,
        ev(&create, &cadre, t0 - 40 * DAY_MS),
    );
    let resp = v
        .push(&v.cadre, vec![batch(v.cadre.key(), &[(&id, &c)])])
        .await;
    assert!(resp.rejections.is_empty(), "{:?}", resp.rejections);
    // a resident's phone 30 days slow asks a question "30 days ago"
    v.attacker.sync().await.unwrap();
    let me = v.attacker.member_id();
    let ask = ev(
        &NoticeEvent::Ask {
            text: "四至怎么定的？".into(),
        },
        &me,
        t0 - month,
    );
    let qid = ask["id"].as_str().unwrap().to_string();
    let q = forge_append(&mut doc_held_by(&v.attacker, &id), &v.attacker, ask);
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&id, &q)])])
        .await;
    assert!(resp.rejections.is_empty(), "{:?}", resp.rejections);
    v.settle().await;
    let t1 = now_ms();
    // (the cadre's and the attacker's phones never take back what they pushed by hand)
    let cadre2 = Device::enroll(&v.relay, &v.relay.invite(&v.space, Role::Cadre), "李国华").await;
    cadre2.sync().await.unwrap();
    for d in [&v.bystander, &cadre2] {
        let n = d.store.notice(&id).unwrap();
        let published = n.published_at().unwrap();
        assert!(
            (t0..=t1).contains(&published),
            "{}: the 公示 period starts when the notice reached the village, not {} days earlier",
            d.name,
            (t0 - published) / DAY_MS
        );
        let r = &n.revisions[0];
        assert_eq!(r.at, t0 - 40 * DAY_MS, "the signed time is kept");
        assert!(cunwu_core::model::notice::arrival_differs(
            r.at,
            r.arrived_at
        ));
        let question = n.questions.iter().find(|x| x.id == qid).unwrap();
        assert!(
            question.due_at >= t0 + cunwu_core::model::notice::ANSWER_DUE_MS,
            "{}: the reply is due {} days after the question reached the village, not overdue at once",
            d.name,
            (question.due_at - t0) / DAY_MS
        );
    }
    // the list is ordered and dated by the village's time too
    let listed = v
        .bystander
        .store
        .list_notices(&NoticeFilter {
            limit: 50,
            ..Default::default()
        })
        .unwrap();
    let row = listed.iter().find(|n| n.id == id).unwrap();
    assert!(
        row.published_at.is_some_and(|p| (t0..=t1).contains(&p)),
        "{row:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_from_before_wire_version_4_still_reads_the_relays_answers() {
    let v = Village::new().await;
    let id = v.published_notice().await;
    let old =
        cunwu_tests::harness::post_sync_as(&v.relay.url(), v.bystander.sync_body(vec![], 0), None)
            .await;
    assert_eq!(old.status, 200, "{}", old.error());
    assert_eq!(old.body[3], 3, "an app that did not ask gets version 3");
    let new = post_sync(&v.relay.url(), v.bystander.sync_body(vec![], 0)).await;
    assert_eq!(new.body[3], wire::WIRE_VERSION);
    let (old, new) = (old.sync_response(), new.sync_response());
    assert_eq!(old.entries.len(), new.entries.len());
    let e = entity_bytes(&id).unwrap();
    let arrived = new
        .entries
        .iter()
        .find_map(|en| match en {
            LogEntry::Batch {
                batch, arrived_at, ..
            } if batch.items.iter().any(|it| *it.entity() == e) => Some(*arrived_at),
            _ => None,
        })
        .expect("the notice's batch");
    assert!(arrived.is_some(), "version 4 says when the batch arrived");
    assert!(old.entries.iter().all(|en| en.arrived_at().is_none()));
}

/// Found in review: a draft written on a device that is revoked before the draft is
/// published. The relay appends copies of the draft's batches when it is published;
/// served at their own (later) positions they named a revoked author and every
/// resident's phone refused them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_by_a_since_revoked_device_reaches_residents_when_published() {
    let v = Village::new().await;
    let old_phone = Device::enroll(
        &v.relay,
        &v.relay.invite(&v.space, Role::Cadre),
        "李国华（旧手机）",
    )
    .await;
    let mut draft = notice("征地补偿方案", "每亩三万元");
    draft.publish = false;
    let did = old_phone.store.post_notice(draft).unwrap();
    old_phone.sync().await.unwrap();
    v.settle().await; // the resident's cursor passes the (private) draft batch
    v.relay.revoke(&v.space, &old_phone.device_id());
    v.settle().await;
    v.cadre.store.publish_notice(&did).unwrap();
    v.cadre.sync().await.unwrap();
    let report = v.bystander.sync().await.unwrap();
    let n = v.bystander.store.notice(&did);
    assert!(
        n.is_ok(),
        "the published notice did not reach the resident: {:?}; {report:?}",
        n.err()
    );
    assert_eq!(report.refused_incoming, 0, "{report:?}");
}

/// Found in review: a cadre's phone learns from a bundle that another cadre published
/// a draft the relay still holds as a draft. Its pending edit of the notice and an
/// unrelated public notice must not be signed into one batch the relay refuses as
/// mixed (which would reject the unrelated notice for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_learnt_from_a_bundle_loses_no_unrelated_change() {
    let v = Village::new().await;
    let cadre2 = Device::enroll(&v.relay, &v.relay.invite(&v.space, Role::Cadre), "李国华").await;
    let mut draft = notice("征地补偿方案（草稿）", "待定");
    draft.publish = false;
    let did = v.cadre.store.post_notice(draft).unwrap();
    v.cadre.sync().await.unwrap();
    cadre2.sync().await.unwrap();
    // offline: the cadre edits the draft and posts an unrelated public notice
    v.cadre
        .store
        .edit_notice_draft(&did, content("征地补偿方案", "每亩三万元"))
        .unwrap();
    let other = v
        .cadre
        .store
        .post_notice(notice("停水通知", "周三停水"))
        .unwrap();
    // the other cadre publishes (offline) and hands over a bundle
    cadre2.store.publish_notice(&did).unwrap();
    let have = v.cadre.store.have().unwrap();
    let bundle = cadre2.store.export_bundle(Some(&have)).unwrap();
    v.cadre.store.import_bundle(&bundle).unwrap();
    let report = v.cadre.sync().await.unwrap();
    let rejected: Vec<String> = v
        .cadre
        .sql()
        .prepare(
            "SELECT entity_id || ': ' || coalesce(reason, '') FROM outbox WHERE state = 'rejected'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        rejected.is_empty(),
        "honest changes rejected ({other} is the unrelated notice): {rejected:?}; {report:?}"
    );
    cadre2.sync().await.unwrap();
    v.settle().await;
    assert!(v.bystander.store.notice(&other).is_ok());
    // the edit and the publication were concurrent: which text was published is the
    // document's to say, the same on every phone
    let seen: Vec<String> = [&v.cadre, &cadre2, &v.bystander]
        .iter()
        .map(|d| d.store.notice(&did).unwrap().content.body)
        .collect();
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

/// Found in review: a withdrawn (discarded) draft published afterwards by a tampered
/// cadre app widened to every member while the notice read as withdrawn: residents
/// received text that was never published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discarded_draft_cannot_be_published_afterwards() {
    let v = Village::new().await;
    let mut draft = notice("征地补偿方案（草稿）", "内部讨论稿");
    draft.publish = false;
    let did = v.cadre.store.post_notice(draft).unwrap();
    v.cadre.store.withdraw_notice(&did, "作废").unwrap();
    v.cadre.sync().await.unwrap();
    let me = v.cadre.member_id();
    let publish = forge_append(
        &mut doc_held_by(&v.cadre, &did),
        &v.cadre,
        ev(&NoticeEvent::Publish {}, &me, now_ms()),
    );
    let resp = v
        .push(&v.cadre, vec![batch(v.cadre.key(), &[(&did, &publish)])])
        .await;
    v.assert_rejected(&resp, &publish, "withdrawn");
    v.settle().await;
    assert_eq!(
        sees_notice(&v.bystander, &v.relay, &did, "讨论稿").await,
        Vec::<&str>::new()
    );
}

// ---- the register and the hall (issue 11) ------------------------------------------------

impl Village {
    /// Three adults on the register (no phones linked) and a villagers' meeting over it.
    async fn register_vote(&self) -> (String, Vec<String>) {
        let persons: Vec<String> = ["张大爷", "李奶奶", "王叔"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                self.cadre
                    .store
                    .register_add(PersonDetails {
                        name: (*name).into(),
                        household: format!("H{i:02}"),
                        group: "一组".into(),
                        adult: true,
                        ..PersonDetails::default()
                    })
                    .unwrap()
            })
            .collect();
        self.settle().await;
        let d = self.open_vote(DecidingBody::VillagersMeeting).await;
        let snapshot = self.cadre.store.deliberation(&d).unwrap();
        assert!(
            snapshot.persons.ends_with(&persons),
            "the vote is over the register: {:?}",
            snapshot.persons
        );
        (d, persons)
    }
}

fn hall_ballot(deliberation: &str, person: &str, option: u32) -> BallotEvent {
    BallotEvent::Record {
        deliberation: deliberation.into(),
        person: person.into(),
        option,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_write_the_register() {
    let v = Village::new().await;
    let before = v.snapshot().await;
    let rid = register_id(&v.space);
    let me = v.attacker.member_id();
    let add = RegisterEvent::Add {
        person: new_id(),
        details: PersonDetails {
            name: "赵四".into(),
            household: "H07".into(),
            group: "三组".into(),
            adult: true,
            party: true,
            supervisor: true,
            ..PersonDetails::default()
        },
    };
    let c = forge_new(
        &v.attacker.key().public(),
        EntityKind::Register,
        &rid,
        ev(&add, &me, now_ms()),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&rid, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "only cadres keep the register");
    // nor a second register under another id
    let other = new_id();
    let c2 = forge_new(
        &v.attacker.key().public(),
        EntityKind::Register,
        &other,
        ev(&add, &me, now_ms()),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&other, &c2)])])
        .await;
    v.assert_rejected(&resp, &c2, "one register");
    v.assert_honest_unchanged(&before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_teller_cannot_record_ballots_in_the_hall() {
    let v = Village::new().await;
    let (d, persons) = v.register_vote().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let mut forged = vec![];
    for p in &persons {
        let id = hall_ballot_id(&d, p, &me);
        let c = forge_new(
            &v.attacker.key().public(),
            EntityKind::Ballot,
            &id,
            ev(&hall_ballot(&d, p, 1), &me, now_ms()),
        );
        forged.push((id, c));
    }
    let pairs: Vec<(&str, &Change)> = forged.iter().map(|(i, c)| (i.as_str(), c)).collect();
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &pairs)])
        .await;
    for (_, c) in &forged {
        v.assert_rejected(&resp, c, "is not a teller");
    }
    v.assert_honest_unchanged(&before).await;
    let t = v.cadre.store.tally(&d).unwrap();
    assert_eq!((t.participants, t.in_hall), (0, 0), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ballot_recorded_for_a_person_twice_counts_once() {
    let v = Village::new().await;
    let (d, persons) = v.register_vote().await;
    v.cadre.store.record_ballot(&d, &persons[0], 0).unwrap();
    // the honest app says no to a second one
    let err = v.cadre.store.record_ballot(&d, &persons[0], 1).unwrap_err();
    assert!(err.to_string().contains("already recorded"), "{err}");
    let before = v.snapshot().await;
    assert_eq!(v.bystander.store.tally(&d).unwrap().counts, vec![1, 0]);
    // a tampered cadre phone: a second ballot in the person's document, and another
    // document for the same person under a fresh id
    let me = v.cadre.member_id();
    let hid = hall_ballot_id(&d, &persons[0], &me);
    let mut doc = doc_held_by(&v.cadre, &hid);
    let again = forge_append(
        &mut doc,
        &v.cadre,
        ev(&hall_ballot(&d, &persons[0], 1), &me, now_ms()),
    );
    let other = new_id();
    let elsewhere = forge_new(
        &v.cadre.key().public(),
        EntityKind::Ballot,
        &other,
        ev(&hall_ballot(&d, &persons[0], 1), &me, now_ms()),
    );
    let resp = v
        .push(
            &v.cadre,
            vec![
                batch(v.cadre.key(), &[(&hid, &again)]),
                batch(v.cadre.key(), &[(&other, &elsewhere)]),
            ],
        )
        .await;
    v.assert_rejected(&resp, &again, "already recorded");
    v.assert_rejected(&resp, &elsewhere, "does not match");
    v.assert_honest_unchanged(&before).await;
    let t = v.bystander.store.tally(&d).unwrap();
    assert_eq!((t.participants, t.counts.clone()), (1, vec![1, 0]), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_cannot_leave_the_register_for_the_phones() {
    let v = Village::new().await;
    let (_, persons) = v.register_vote().await;
    assert_eq!(persons.len(), 3);
    // a tampered cadre phone opens a vote over the enrolled phones, not the register
    let now = now_ms();
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
            hide_results: false,
            opens_at: now,
            closes_at: now + 3600 * 1000,
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
    let c = forge_append(
        &mut doc,
        &v.cadre,
        ev(&open, &v.cadre.member_id(), now_ms()),
    );
    let resp = v
        .push(&v.cadre, vec![batch(v.cadre.key(), &[(&d, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "keeps a register of villagers");
    // and a register snapshot that leaves a villager out
    let heads: Vec<String> = doc_held_by(&v.cadre, &register_id(&v.space))
        .heads()
        .iter()
        .map(|h| h.to_string())
        .collect();
    let short = DeliberationEvent::Open {
        eligible: vec![],
        roster_version: roster.version,
        persons: persons[..2].to_vec(),
        member_persons: vec![],
        register_heads: heads,
    };
    let mut doc = doc_held_by(&v.cadre, &d);
    let c = forge_append(
        &mut doc,
        &v.cadre,
        ev(&short, &v.cadre.member_id(), now_ms()),
    );
    let resp = v
        .push(&v.cadre, vec![batch(v.cadre.key(), &[(&d, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "leaves out the eligible person");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_cannot_sign_a_proposal_for_someone_else() {
    let v = Village::new().await;
    let (_, persons) = v.register_vote().await;
    // the bystander is linked to nobody; a proposal by a linked phone needs an invite
    let inv = v
        .relay
        .invite_for_person(&v.space, Role::Resident, &persons[0]);
    let proposer = Device::enroll(&v.relay, &inv, "张大爷").await;
    let id = proposer
        .store
        .propose("修缮村小学围墙", "", DecidingBody::VillagersMeeting)
        .unwrap();
    proposer.sync().await.unwrap();
    v.settle().await;
    let before = v.snapshot().await;
    // the attacker (linked to no one) signs as two other villagers
    let me = v.attacker.member_id();
    let mut doc = doc_held_by(&v.attacker, &id);
    let c = forge_append(
        &mut doc,
        &v.attacker,
        ev(
            &ProposalEvent::CoSign {
                person: persons[1].clone(),
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(&v.attacker, vec![batch(v.attacker.key(), &[(&id, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "names the person the signing member is");
    v.assert_honest_unchanged(&before).await;
    let s = v.cadre.store.proposal(&id).unwrap().support.unwrap();
    assert_eq!(s.signers, 1, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_vote_cannot_be_reopened_or_emptied_of_phones() {
    let v = Village::new().await;
    let inv = v.relay.invite_for_person(&v.space, Role::Resident, &{
        let p = v
            .cadre
            .store
            .register_add(PersonDetails {
                name: "张大爷".into(),
                household: "H00".into(),
                group: "一组".into(),
                adult: true,
                ..PersonDetails::default()
            })
            .unwrap();
        v.settle().await;
        p
    });
    let villager = Device::enroll(&v.relay, &inv, "张大爷").await;
    v.settle().await;
    let (d, persons) = v.register_vote().await;
    let held = v.cadre.store.deliberation(&d).unwrap();
    assert!(
        held.may_vote(&villager.member_id()),
        "the linked phone may vote"
    );
    let heads = held.register_heads.clone();
    let me = v.cadre.member_id();
    // a second opening beside the first, naming the same persons and no phones, from
    // roster version 0
    let mut doc = doc_held_by(&v.cadre, &d);
    let open = DeliberationEvent::Open {
        eligible: vec![],
        roster_version: 0,
        persons: held.persons.clone(),
        member_persons: vec![],
        register_heads: heads,
    };
    let c = forge_append(&mut doc, &v.cadre, ev(&open, &me, now_ms()));
    let resp = v
        .push(&v.cadre, vec![batch(v.cadre.key(), &[(&d, &c)])])
        .await;
    v.assert_rejected(&resp, &c, "already open");
    assert!(persons.len() >= 3);
}

// ---- issue 11: 四议两公开 and the party branch ------------------------------------------

fn proposal_step(stage: Stage, notice: Option<String>) -> MatterEvent {
    MatterEvent::Step {
        step: StepInput {
            stage,
            held_at: now_ms(),
            attendance: Some(Attendance {
                present: 7,
                expected: 9,
            }),
            outcome: Outcome::Agreed,
            note: String::new(),
            deliberation: None,
            notice,
        },
    }
}

fn import_bundle(
    to: &Device,
    batches: Vec<SignedBatch>,
    space: &str,
) -> cunwu_core::store::ReceiveReport {
    let b = Bundle {
        space: entity_bytes(space).unwrap(),
        created_at: now_ms(),
        roster: None,
        batches,
        tallies: vec![],
    };
    let path = to.dir().join(format!("{}.cwb", new_id()));
    std::fs::write(&path, wire::encode(FrameKind::Bundle, &b)).unwrap();
    cunwu_core::bundle::import(&to.store, &path).unwrap()
}

/// A cadre's tampered app skips the two committees' consultation and records the party
/// members' review straight after the proposal: the relay refuses it, and so does a
/// phone that receives it in a bundle (the order is judged on the matter as the step's
/// author saw it, so every replica says the same).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matter_step_out_of_order_is_refused_by_the_relay_and_in_a_bundle() {
    let v = Village::new().await;
    let mid = v.cadre.store.create_matter("修建村道", "一事一议").unwrap();
    v.cadre
        .store
        .record_matter_step(
            &mid,
            match proposal_step(Stage::Proposal, None) {
                MatterEvent::Step { step } => step,
                _ => unreachable!(),
            },
        )
        .unwrap();
    v.settle().await;
    // the honest app refuses it before signing
    let skip = match proposal_step(Stage::PartyReview, None) {
        MatterEvent::Step { step } => step,
        _ => unreachable!(),
    };
    let e = v.cadre.store.record_matter_step(&mid, skip).unwrap_err();
    assert!(e.to_string().contains("out of order"), "{e}");
    let before = v.snapshot().await;
    let cadre = v.cadre.member_id();
    let mut doc = doc_held_by(&v.cadre, &mid);
    let c = forge_append(
        &mut doc,
        &v.cadre,
        ev(&proposal_step(Stage::PartyReview, None), &cadre, now_ms()),
    );
    let signed = batch(v.cadre.key(), &[(&mid, &c)]);
    // a phone that gets it in a bundle first
    let rep = import_bundle(&v.bystander, vec![signed.clone()], &v.space);
    assert_eq!(rep.merge.applied, 0, "{rep:?}");
    assert!(
        rep.merge
            .rejected
            .iter()
            .any(|(e, _, why)| *e == mid
                && why.contains("the next step of this matter is consultation")),
        "{rep:?}"
    );
    let resp = v.push(&v.cadre, vec![signed]).await;
    v.assert_rejected(&resp, &c, "the next step of this matter is consultation");
    // the cadre's own phone did not store the forged change: it is as before
    assert_eq!(
        v.bystander.store.matter(&mid).unwrap().next,
        Some(Stage::Consultation)
    );
    v.assert_honest_unchanged(&before).await;
}

/// Only cadres record matters and their steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_cannot_record_a_matter_or_its_steps() {
    let v = Village::new().await;
    let mid = v.cadre.store.create_matter("修建村道", "").unwrap();
    v.settle().await;
    let before = v.snapshot().await;
    let me = v.attacker.member_id();
    let mut doc = doc_held_by(&v.attacker, &mid);
    let step = forge_append(
        &mut doc,
        &v.attacker,
        ev(&proposal_step(Stage::Proposal, None), &me, now_ms()),
    );
    let id = new_id();
    let create = forge_new(
        &v.attacker.key().public(),
        EntityKind::Matter,
        &id,
        ev(
            &MatterEvent::Create {
                title: "把集体林地承包给赵四".into(),
                body: String::new(),
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![
                batch(v.attacker.key(), &[(&mid, &step)]),
                batch(v.attacker.key(), &[(&id, &create)]),
            ],
        )
        .await;
    v.assert_rejected(&resp, &step, "only cadres record major matters");
    v.assert_rejected(&resp, &create, "only cadres record major matters");
    v.assert_honest_unchanged(&before).await;
}

/// A party activity is read by cadres and party members only: a resident does not get
/// it from the relay (asking for the whole log) nor in a bundle from a cadre's phone,
/// and cannot write to it (sign in, or record an absence).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_does_not_receive_a_party_activity_and_cannot_write_to_it() {
    let v = Village::new().await;
    let member = Device::enroll(
        &v.relay,
        &v.relay
            .invite_with(&v.space, Role::PartyMember, "H09", "一组"),
        "李党员",
    )
    .await;
    let notice = v.published_notice().await;
    let aid = v
        .cadre
        .store
        .create_party_activity(NewActivity {
            kind: ActivityKind::ThemeDay,
            title: "十二月主题党日".into(),
            agenda: "学习村规民约".into(),
            starts_at: now_ms(),
            place: "村委会会议室".into(),
            online_link: Some("https://meeting.example/123".into()),
        })
        .unwrap();
    v.settle().await;
    member.sync().await.unwrap();
    assert_eq!(
        member.store.party_activity(&aid).unwrap().title,
        "十二月主题党日"
    );
    let before = v.snapshot().await;
    // 1. the relay: the whole log from the start holds the notice, not the activity
    let body = v.attacker.sync_body(vec![], 0);
    let resp = post_sync(&v.relay.url(), body).await.sync_response();
    let mut got = vec![];
    for e in &resp.entries {
        if let LogEntry::Batch { batch, .. } = e {
            for it in &batch.items {
                if let Item::Change { entity, .. } = it {
                    got.push(wire::entity_hex(entity));
                }
            }
        }
    }
    assert!(got.contains(&notice), "{got:?}");
    assert!(
        !got.contains(&aid),
        "the relay sent a party activity to a resident"
    );
    assert!(matches!(
        v.attacker.store.party_activity(&aid),
        Err(Error::NotFound(_))
    ));
    // 2. a bundle from the cadre's phone for the resident's signed summary
    let have = wire::Have::sign(entity_bytes(&v.space).unwrap(), v.attacker.key(), vec![]);
    let b = v.cadre.store.export_bundle(Some(&have)).unwrap();
    let carried: Vec<String> = b
        .batches
        .iter()
        .flat_map(|b| b.items.iter())
        .filter_map(|it| match it {
            Item::Change { entity, .. } => Some(wire::entity_hex(entity)),
            _ => None,
        })
        .collect();
    assert!(carried.contains(&notice));
    assert!(
        !carried.contains(&aid),
        "a cadre phone exported a party activity to a resident"
    );
    // ... and for the party member's summary it does carry it
    let have = wire::Have::sign(entity_bytes(&v.space).unwrap(), member.key(), vec![]);
    let b = v.cadre.store.export_bundle(Some(&have)).unwrap();
    assert!(b
        .batches
        .iter()
        .flat_map(|b| b.items.iter())
        .any(|it| matches!(it, Item::Change { entity, .. } if wire::entity_hex(entity) == aid)));
    // 3. writing: the resident forges a sign-in and an absence on the activity (its
    // document taken from the cadre's phone, as a tampered app that got hold of it)
    let me = v.attacker.member_id();
    let mut doc = doc_held_by(&v.cadre, &aid);
    let sign_in = forge_append(
        &mut doc,
        &v.attacker,
        ev(
            &ActivityEvent::SignIn {
                person: me.clone(),
                mode: SignInMode::Online,
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![batch(v.attacker.key(), &[(&aid, &sign_in)])],
        )
        .await;
    v.assert_rejected(&resp, &sign_in, "only party members sign in");
    let mut doc = doc_held_by(&v.cadre, &aid);
    let absent = forge_append(
        &mut doc,
        &v.attacker,
        ev(
            &ActivityEvent::Absent {
                person: me.clone(),
                reason: "不想去".into(),
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![batch(v.attacker.key(), &[(&aid, &absent)])],
        )
        .await;
    v.assert_rejected(&resp, &absent, "only cadres create activities");
    v.assert_honest_unchanged(&before).await;
}

fn person(name: &str, f: impl FnOnce(&mut PersonDetails)) -> PersonDetails {
    let mut d = PersonDetails {
        name: name.into(),
        household: format!("{name}家"),
        group: "一组".into(),
        adult: true,
        ..Default::default()
    };
    f(&mut d);
    d
}

/// A migrant party member in Dongguan signs in online on their own phone and counts as
/// present in the year's attendance; they cannot sign in for another party member, nor
/// claim to be in the hall (the secretary records that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_member_signs_in_online_for_themselves_only() {
    let v = Village::new().await;
    let migrant = v
        .cadre
        .store
        .register_add(person("刘志强", |d| {
            d.party = true;
            d.migrant = true;
            d.lives_in = Some("东莞".into());
        }))
        .unwrap();
    let other = v
        .cadre
        .store
        .register_add(person("孙桂兰", |d| d.party = true))
        .unwrap();
    v.settle().await;
    let member = Device::enroll(
        &v.relay,
        &v.relay
            .invite_for_person(&v.space, Role::PartyMember, &migrant),
        "刘志强",
    )
    .await;
    let starts_at = now_ms();
    let aid = v
        .cadre
        .store
        .create_party_activity(NewActivity {
            kind: ActivityKind::MembersMeeting,
            title: "党员大会".into(),
            agenda: "发展党员".into(),
            starts_at,
            place: "村委会".into(),
            online_link: Some("https://meeting.example/42".into()),
        })
        .unwrap();
    v.cadre
        .store
        .sign_in_party_activity(&aid, &other, SignInMode::InPerson)
        .unwrap();
    v.settle().await;
    member.sync().await.unwrap();
    member
        .store
        .sign_in_party_activity(&aid, &migrant, SignInMode::Online)
        .unwrap();
    let r = member.sync().await.unwrap();
    assert_eq!(r.rejected, 0, "{r:?}");
    v.settle().await;
    let year = cunwu_core::model::branch::year_of(starts_at);
    let y = v.cadre.store.party_attendance(&migrant, year).unwrap();
    assert_eq!(
        (y.activities, y.present, y.online, y.absent),
        (1, 1, 1, 0),
        "{y:?}"
    );
    assert_eq!(
        v.cadre
            .store
            .party_attendance(&other, year)
            .unwrap()
            .present,
        1
    );
    let before = v.snapshot().await;
    // forged: for another party member, and "in the hall" from Dongguan
    let me = member.member_id();
    let mut doc = doc_held_by(&member, &aid);
    let for_other = forge_append(
        &mut doc,
        &member,
        ev(
            &ActivityEvent::SignIn {
                person: other.clone(),
                mode: SignInMode::Online,
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(&member, vec![batch(member.key(), &[(&aid, &for_other)])])
        .await;
    v.assert_rejected(&resp, &for_other, "may sign in only for themselves");
    let mut doc = doc_held_by(&member, &aid);
    let in_hall = forge_append(
        &mut doc,
        &member,
        ev(
            &ActivityEvent::SignIn {
                person: migrant.clone(),
                mode: SignInMode::InPerson,
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(&member, vec![batch(member.key(), &[(&aid, &in_hall)])])
        .await;
    v.assert_rejected(&resp, &in_hall, "attends online");
    v.assert_honest_unchanged(&before).await;
}

/// 民主理财: a draft finance disclosure goes to the supervision committee, waits for a
/// committee member's sign-off before it is published, and shows who signed it off; a
/// sign-off by someone not on the committee is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_off_by_someone_not_on_the_committee_is_refused() {
    let v = Village::new().await;
    let supervisor_person = v
        .cadre
        .store
        .register_add(person("周明", |d| d.supervisor = true))
        .unwrap();
    v.settle().await;
    let supervisor = Device::enroll(
        &v.relay,
        &v.relay
            .invite_for_person(&v.space, Role::Resident, &supervisor_person),
        "周明",
    )
    .await;
    v.settle().await;
    let mut draft = notice("第三季度财务公开", "收支明细");
    draft.category = Category::Finance;
    draft.subtype = Subtype::QuarterlyAccounts;
    // published in one step: refused, the committee has not seen it
    let e = v.cadre.store.post_notice(draft.clone()).unwrap_err();
    assert!(e.to_string().contains("signs it off"), "{e}");
    draft.publish = false;
    let nid = v.cadre.store.post_notice(draft).unwrap();
    v.settle().await;
    supervisor.sync().await.unwrap();
    // the committee member reads the draft; a resident does not
    assert_eq!(
        supervisor.store.notice(&nid).unwrap().content.title,
        "第三季度财务公开"
    );
    assert!(matches!(
        v.attacker.store.notice(&nid),
        Err(Error::NotFound(_))
    ));
    let e = v.cadre.store.publish_notice(&nid).unwrap_err();
    assert!(e.to_string().contains("signs off the draft"), "{e}");
    let before = v.snapshot().await;
    // the resident (not on the committee) forges a sign-off on the draft
    let me = v.attacker.member_id();
    let mut doc = doc_held_by(&v.cadre, &nid);
    let forged = forge_append(
        &mut doc,
        &v.attacker,
        ev(
            &NoticeEvent::Review {
                note: "我看过了".into(),
            },
            &me,
            now_ms(),
        ),
    );
    let resp = v
        .push(
            &v.attacker,
            vec![batch(v.attacker.key(), &[(&nid, &forged)])],
        )
        .await;
    v.assert_rejected(&resp, &forged, "only a member of the supervision committee");
    // the cadre's tampered app publishes without a sign-off
    let cadre = v.cadre.member_id();
    let mut doc = doc_held_by(&v.cadre, &nid);
    let publish = forge_append(
        &mut doc,
        &v.cadre,
        ev(&NoticeEvent::Publish {}, &cadre, now_ms()),
    );
    let resp = v
        .push(&v.cadre, vec![batch(v.cadre.key(), &[(&nid, &publish)])])
        .await;
    v.assert_rejected(&resp, &publish, "signs off the draft");
    v.assert_honest_unchanged(&before).await;
    // the committee member signs off; then the cadre publishes
    supervisor
        .store
        .review_notice(&nid, "账目核对无误")
        .unwrap();
    let r = supervisor.sync().await.unwrap();
    assert_eq!(r.rejected, 0, "{r:?}");
    v.settle().await;
    v.cadre.store.publish_notice(&nid).unwrap();
    v.settle().await;
    let n = v.bystander.store.notice(&nid).unwrap();
    assert_eq!(n.status, cunwu_core::model::notice::NoticeStatus::Published);
    assert_eq!(
        n.reviewed_by
            .iter()
            .map(|r| r.by.as_str())
            .collect::<Vec<_>>(),
        vec![supervisor.member_id().as_str()]
    );
}
