//! Property: replicas that make random domain operations offline and exchange their
//! changes in random order, split and duplicated, end with identical documents and
//! identical projections, statuses and tallies — for everything each may read.

use cunwu_core::local_space::LocalSpace;
use cunwu_core::model::deliberation::DecidingBody;
use cunwu_core::model::notice::{Category, Period, Subtype};
use cunwu_core::model::request::Status;
use cunwu_core::store::{NewDeliberation, NewNotice, NewRequest, NoticeFilter, RequestFilter};
use cunwu_core::wire::Bundle;
use cunwu_core::{Role, Store};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone)]
enum Op {
    Notice(usize),
    Ask(usize, usize),
    Read(usize, usize),
    Correct(usize, usize),
    File(usize),
    Transition(usize, usize, usize),
    Comment(usize, usize, bool),
    Deliberate(usize),
    Vote(usize, usize, u32),
    Exchange(usize, usize, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize).prop_map(Op::Notice),
        (0..4usize, 0..8usize).prop_map(|(a, n)| Op::Ask(a, n)),
        (0..4usize, 0..8usize).prop_map(|(a, n)| Op::Read(a, n)),
        (0..4usize, 0..8usize).prop_map(|(a, n)| Op::Correct(a, n)),
        (0..4usize).prop_map(Op::File),
        (0..4usize, 0..8usize, 0..8usize).prop_map(|(a, r, s)| Op::Transition(a, r, s)),
        (0..4usize, 0..8usize, any::<bool>()).prop_map(|(a, r, i)| Op::Comment(a, r, i)),
        (0..4usize).prop_map(Op::Deliberate),
        (0..4usize, 0..4usize, 0..3u32).prop_map(|(a, d, o)| Op::Vote(a, d, o)),
        (0..4usize, 0..4usize, any::<u64>()).prop_map(|(a, b, s)| Op::Exchange(a, b, s)),
    ]
}

/// Send what `b` may read from `a`, shuffled into several bundles, some batches twice.
fn exchange(a: &Store, b: &Store, seed: u64) {
    let bundle = a.export_bundle(Some(&b.have().unwrap())).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut batches = bundle.batches.clone();
    let dups: Vec<_> = batches
        .iter()
        .filter(|_| rng.gen_bool(0.3))
        .cloned()
        .collect();
    batches.extend(dups);
    batches.shuffle(&mut rng);
    let parts = rng.gen_range(1..=3);
    let per = batches.len().div_ceil(parts).max(1);
    for chunk in batches.chunks(per) {
        let part = Bundle {
            batches: chunk.to_vec(),
            ..bundle.clone()
        };
        b.import_bundle(&part).unwrap();
    }
}

fn statuses() -> [Status; 8] {
    Status::ALL
}

struct Replicas {
    _dir: tempfile::TempDir,
    stores: Vec<Store>,
    notices: Vec<String>,
    requests: Vec<String>,
    deliberations: Vec<String>,
}

fn setup() -> Replicas {
    let dir = tempfile::tempdir().unwrap();
    let mut space = LocalSpace::new("青石村");
    let roles = [Role::Cadre, Role::Cadre, Role::Resident, Role::VillagerRep];
    let stores: Vec<Store> = (0..roles.len())
        .map(|i| Store::open(dir.path().join(format!("r{i}.db"))).unwrap())
        .collect();
    for (i, (s, r)) in stores.iter().zip(roles).enumerate() {
        space.join(s, &format!("成员{i}"), r).unwrap();
    }
    space.publish(&stores.iter().collect::<Vec<_>>()).unwrap();
    Replicas {
        _dir: dir,
        stores,
        notices: vec![],
        requests: vec![],
        deliberations: vec![],
    }
}

fn run(r: &mut Replicas, ops: &[Op]) {
    let now = cunwu_core::ids::now_ms();
    for op in ops {
        // Errors are expected (a resident may not publish, a transition may be invalid
        // here): the operation is then simply refused, which is part of what we test.
        match op.clone() {
            Op::Notice(a) => {
                if let Ok(id) = r.stores[a].post_notice(NewNotice {
                    category: Category::Village,
                    subtype: Subtype::Other,
                    period: Period::default(),
                    title: format!("通知{}", r.notices.len()),
                    body: "修路 低保".into(),
                    opening_balance_fen: None,
                    lines: vec![],
                    publish: true,
                }) {
                    r.notices.push(id);
                }
            }
            Op::Ask(a, n) => {
                if let Some(id) = r.notices.get(n % r.notices.len().max(1)) {
                    let _ = r.stores[a].ask_question(id, "什么时候修？");
                }
            }
            Op::Read(a, n) => {
                if let Some(id) = r.notices.get(n % r.notices.len().max(1)) {
                    let _ = r.stores[a].mark_read(id);
                }
            }
            Op::Correct(a, n) => {
                if let Some(id) = r.notices.get(n % r.notices.len().max(1)) {
                    if let Ok(n) = r.stores[a].notice(id) {
                        let mut c = n.content.clone();
                        c.body.push_str("（更正）");
                        let _ = r.stores[a].correct_notice(id, c, "更正");
                    }
                }
            }
            Op::File(a) => {
                if let Ok(id) = r.stores[a].file_request(NewRequest {
                    kind: "public_facility_repair".into(),
                    title: format!("报修{}", r.requests.len()),
                    description: "路灯坏了".into(),
                    place: None,
                    on_behalf_of: None,
                    materials: vec![],
                    attachments: vec![],
                }) {
                    r.requests.push(id);
                }
            }
            Op::Transition(a, q, s) => {
                if let Some(id) = r.requests.get(q % r.requests.len().max(1)) {
                    let _ = r.stores[a].transition_request(id, statuses()[s % 8], "");
                }
            }
            Op::Comment(a, q, internal) => {
                if let Some(id) = r.requests.get(q % r.requests.len().max(1)) {
                    let _ = r.stores[a].comment_request(id, "跟进中", internal);
                }
            }
            Op::Deliberate(a) => {
                if let Ok(id) = r.stores[a].create_deliberation(NewDeliberation {
                    title: "议事".into(),
                    body: "表决".into(),
                    deciding_body: DecidingBody::VillagersMeeting,
                    options: vec!["同意".into(), "不同意".into(), "弃权".into()],
                    group: None,
                    secret: false,
                    hide_results: false,
                    opens_at: now - 1000,
                    closes_at: now + 3_600_000,
                }) {
                    let _ = r.stores[a].open_voting(&id);
                    r.deliberations.push(id);
                }
            }
            Op::Vote(a, d, o) => {
                if let Some(id) = r.deliberations.get(d % r.deliberations.len().max(1)) {
                    let _ = r.stores[a].cast_ballot(id, o);
                }
            }
            Op::Exchange(a, b, seed) => {
                if a != b {
                    exchange(&r.stores[a], &r.stores[b], seed);
                }
            }
        }
    }
}

fn settle(r: &Replicas, seed: u64) {
    for round in 0..2 {
        for a in 0..r.stores.len() {
            for b in 0..r.stores.len() {
                if a != b {
                    exchange(
                        &r.stores[a],
                        &r.stores[b],
                        seed ^ (round * 97 + a as u64 * 13 + b as u64),
                    );
                }
            }
        }
    }
}

fn check(r: &Replicas) {
    let ids: Vec<Vec<String>> = r
        .stores
        .iter()
        .map(|s| {
            s.entity_ids()
                .unwrap()
                .into_iter()
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    // identical documents wherever two replicas hold the same entity
    for (i, a) in r.stores.iter().enumerate() {
        for (j, b) in r.stores.iter().enumerate().skip(i + 1) {
            for id in ids[i].iter().filter(|x| ids[j].contains(x)) {
                assert_eq!(
                    a.document_json(id).unwrap(),
                    b.document_json(id).unwrap(),
                    "entity {id} differs between {i} and {j}"
                );
            }
        }
    }
    // the two cadres may read everything: identical sets and projections
    assert_eq!(ids[0], ids[1]);
    let strip = |v: Vec<cunwu_core::store::NoticeSummary>| {
        v.into_iter()
            .map(|mut n| {
                n.read = false;
                n
            })
            .collect::<Vec<_>>()
    };
    let all = |s: &Store| {
        strip(
            s.list_notices(&NoticeFilter {
                limit: 500,
                ..Default::default()
            })
            .unwrap(),
        )
    };
    for s in &r.stores[1..] {
        assert_eq!(all(&r.stores[0]), all(s), "notice projections differ");
    }
    let reqs = |s: &Store| {
        s.list_requests(&RequestFilter {
            limit: 500,
            ..Default::default()
        })
        .unwrap()
    };
    assert_eq!(reqs(&r.stores[0]), reqs(&r.stores[1]));
    for s in &r.stores[2..] {
        // members see exactly their own requests, with the same rows the cadres see
        let mine = reqs(s);
        let me = s.me().unwrap().id;
        let expected: Vec<_> = reqs(&r.stores[0])
            .into_iter()
            .filter(|x| x.filer == me)
            .collect();
        assert_eq!(mine, expected);
        for q in &mine {
            assert_eq!(
                s.request(&q.id).unwrap().status,
                r.stores[0].request(&q.id).unwrap().status
            );
        }
    }
    for d in &r.deliberations {
        let t0 = r.stores[0].tally(d).unwrap();
        for s in &r.stores[1..] {
            assert_eq!(s.tally(d).unwrap(), t0, "tally of {d} differs");
        }
    }
    for s in &r.stores {
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 64, .. ProptestConfig::default() })]
    #[test]
    fn replicas_converge(ops in proptest::collection::vec(op(), 5..40), seed in any::<u64>()) {
        let mut r = setup();
        run(&mut r, &ops);
        settle(&r, seed);
        check(&r);
    }
}
