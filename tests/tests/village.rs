//! The village as the law knows it (issue 11), against a real relay process: a register
//! of villagers kept by cadres, phones linked to persons, votes whose electorate and
//! quorum are over the register, ballots and attendance recorded in the hall by a
//! teller, and one tally on every device and at the relay.

use cunwu_core::ids::now_ms;
use cunwu_core::model::deliberation::{DecidingBody, Tally};
use cunwu_core::model::register::PersonDetails;
use cunwu_core::store::NewDeliberation;
use cunwu_core::Role;
use cunwu_tests::harness::{Device, RelayProcess};

struct Hall {
    /// Kept running for the test; dropped (stopped) with the hall.
    _relay: RelayProcess,
    /// The cadre who keeps the register and tells ballots in the hall (no person link).
    clerk: Device,
    /// Phones linked to persons 0..4: a cadre who is a party member, three residents.
    phones: Vec<Device>,
    persons: Vec<String>,
}

fn villager(i: usize) -> PersonDetails {
    PersonDetails {
        name: format!("村民{i:02}"),
        household: format!("H{:02}", i / 3),
        group: if i < 15 { "一组" } else { "二组" }.into(),
        adult: true,
        party: i.is_multiple_of(4),
        post: (i == 0).then(|| "村党支部书记".to_string()),
        ..PersonDetails::default()
    }
}

impl Hall {
    /// 30 adult villagers on the register; only 4 of them have phones.
    async fn new() -> Hall {
        let relay = RelayProcess::start();
        let (space, invite) = relay.create_space("青石村");
        let clerk = Device::enroll(&relay, &invite, "文书李梅").await;
        let persons: Vec<String> = (0..30)
            .map(|i| clerk.store.register_add(villager(i)).unwrap())
            .collect();
        clerk.sync().await.unwrap();
        let mut phones = vec![];
        for (i, role) in [Role::Cadre, Role::Resident, Role::Resident, Role::Resident]
            .into_iter()
            .enumerate()
        {
            let inv = relay.invite_for_person(&space, role, &persons[i]);
            phones.push(Device::enroll(&relay, &inv, &format!("村民{i:02}")).await);
        }
        let h = Hall {
            _relay: relay,
            clerk,
            phones,
            persons,
        };
        h.settle().await;
        h
    }

    fn all(&self) -> Vec<&Device> {
        std::iter::once(&self.clerk).chain(&self.phones).collect()
    }

    async fn settle(&self) {
        for _ in 0..2 {
            for d in self.all() {
                let r = d.sync().await.unwrap_or_else(|e| panic!("{}: {e}", d.name));
                assert_eq!(r.rejected, 0, "{}: {r:?}", d.name);
            }
        }
    }

    async fn vote(&self, body: DecidingBody) -> String {
        let now = now_ms();
        let id = self
            .clerk
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
        self.clerk.store.open_voting(&id).unwrap();
        self.settle().await;
        id
    }

    /// Every device's count, which must be one and the same.
    fn tally_everywhere(&self, d: &str) -> Tally {
        let tallies: Vec<Tally> = self
            .all()
            .iter()
            .map(|dev| dev.store.tally(d).unwrap())
            .collect();
        for (dev, t) in self.all().iter().zip(&tallies) {
            assert_eq!(t, &tallies[0], "{} counts differently", dev.name);
        }
        tallies[0].clone()
    }
}

fn counted(t: &Tally) -> (u32, u32, Vec<u32>, bool, Option<u32>, u32) {
    (
        t.eligible,
        t.participants,
        t.counts.clone(),
        t.quorum_met,
        t.decided,
        t.in_hall,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_villagers_meeting_reaches_quorum_through_ballots_in_the_hall() {
    let h = Hall::new().await;
    let with_hall = h.vote(DecidingBody::VillagersMeeting).await;
    let without = h.vote(DecidingBody::VillagersMeeting).await;
    let d = h.clerk.store.deliberation(&with_hall).unwrap();
    assert_eq!(d.persons.len(), 30, "the electorate is the register");
    assert_eq!(d.eligible.len(), 4, "four of them have phones");
    // online: persons 0 and 1 for, 2 and 3 against (in both votes)
    for vote in [&with_hall, &without] {
        for (i, phone) in h.phones.iter().enumerate() {
            let option = if i < 2 { 0 } else { 1 };
            if i == 3 && vote == &with_hall {
                // person 3's paper ballot was recorded in the hall before they voted on
                // the phone: the hall ballot still wins
                h.clerk.store.record_ballot(vote, &h.persons[3], 0).unwrap();
            }
            phone.store.cast_ballot(vote, option).unwrap();
        }
    }
    // in the hall: persons 4..15 vote for, person 1 (who voted for online) now against,
    // person 16 attends without a ballot
    for p in &h.persons[4..16] {
        h.clerk.store.record_ballot(&with_hall, p, 0).unwrap();
    }
    h.clerk
        .store
        .record_ballot(&with_hall, &h.persons[1], 1)
        .unwrap();
    h.clerk
        .store
        .record_attendance(&with_hall, &h.persons[16])
        .unwrap();
    h.settle().await;

    let t = h.tally_everywhere(&with_hall);
    // for: 0, 3 (hall), 4..15 = 14; against: 1 (hall), 2 = 2; present: 16
    assert_eq!(
        counted(&t),
        (30, 17, vec![14, 2], true, Some(0), 15),
        "{t:?}"
    );
    assert_eq!(
        t.roll.get(&h.persons[1]),
        Some(&1),
        "the hall ballot counts"
    );
    assert_eq!(
        t.roll.get(&h.persons[3]),
        Some(&0),
        "the hall ballot counts"
    );
    let t = h.tally_everywhere(&without);
    assert_eq!(counted(&t), (30, 4, vec![2, 2], false, None, 0), "{t:?}");

    // a villager whose paper ballot was recorded has voted, on their own phone too
    let third = h.vote(DecidingBody::VillagersMeeting).await;
    let phone = &h.phones[2];
    assert_eq!(phone.store.counts().unwrap().open_votes_not_cast, 1);
    h.clerk
        .store
        .record_ballot(&third, &h.persons[2], 0)
        .unwrap();
    h.settle().await;
    assert_eq!(phone.store.counts().unwrap().open_votes_not_cast, 0);
    let listed = phone.store.list_deliberations(10, 0).unwrap();
    assert!(listed.iter().all(|d| d.voted), "{listed:?}");

    // the relay counts the same: close, and its signed tallies reach every phone
    h.clerk.store.close_deliberation(&with_hall).unwrap();
    h.clerk.store.close_deliberation(&without).unwrap();
    h.settle().await;
    for (vote, expected) in [
        (&with_hall, (30, 17, vec![14, 2], true, Some(0), 15)),
        (&without, (30, 4, vec![2, 2], false, None, 0)),
    ] {
        let t = h.tally_everywhere(vote);
        assert!(
            t.as_of > 0,
            "the relay's signed tally reached the phones: {t:?}"
        );
        assert_eq!(counted(&t), expected, "{t:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cadre_who_is_a_party_member_votes_in_a_party_members_meeting() {
    let h = Hall::new().await;
    let id = h.vote(DecidingBody::PartyMembers).await;
    let d = h.phones[0].store.deliberation(&id).unwrap();
    let party: Vec<String> = h.persons.iter().step_by(4).cloned().collect();
    assert_eq!(d.persons, party, "every party member on the register");
    assert!(
        d.may_vote(&h.phones[0].member_id()),
        "the cadre is a party member"
    );
    assert!(
        !d.may_vote(&h.phones[1].member_id()),
        "a resident who is not"
    );
    let err = h.phones[1].store.cast_ballot(&id, 0).unwrap_err();
    assert!(err.to_string().contains("not eligible"), "{err}");
    h.phones[0].store.cast_ballot(&id, 0).unwrap();
    let r = h.phones[0].sync().await.unwrap();
    assert_eq!((r.acked, r.rejected), (1, 0), "{r:?}");
    let roster = h.phones[1].store.roster().unwrap();
    let cadre = roster.member(&h.phones[0].member_id()).unwrap();
    assert!(cadre.party && cadre.role == Role::Cadre, "{cadre:?}");
    assert_eq!(cadre.person.as_deref(), Some(h.persons[0].as_str()));
    h.settle().await;
    let t = h.tally_everywhere(&id);
    assert_eq!((t.eligible, t.participants), (8, 1), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_cannot_write_the_register_and_does_not_receive_it() {
    let h = Hall::new().await;
    let resident = &h.phones[1];
    let err = resident.store.register_add(villager(40)).unwrap_err();
    assert!(
        err.to_string().contains("only cadres keep the register"),
        "{err}"
    );
    assert!(
        resident.store.persons().unwrap().is_empty(),
        "the register stays with staff"
    );
    assert_eq!(
        h.phones[0].store.persons().unwrap().len(),
        30,
        "a cadre holds it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenth_of_the_villagers_put_a_matter_forward() {
    let h = Hall::new().await;
    // 30 adults: 3 signatures (a tenth) make the meeting due
    let id = h.phones[1]
        .store
        .propose(
            "修缮村小学围墙",
            "围墙开裂，孩子上学危险",
            DecidingBody::VillagersMeeting,
        )
        .unwrap();
    h.settle().await;
    h.phones[2].store.co_sign(&id).unwrap();
    // the same person cannot sign twice
    let again = h.phones[2].store.co_sign(&id).unwrap_err();
    assert!(again.to_string().contains("already supports"), "{again}");
    h.settle().await;
    let v = h.clerk.store.proposal(&id).unwrap();
    let s = v.support.expect("the clerk holds the register");
    assert_eq!((s.signers, s.needed, s.due), (2, 3, false), "{s:?}");
    assert!(
        h.phones[1].store.proposal(&id).unwrap().support.is_none(),
        "residents hold no register"
    );
    h.phones[3].store.co_sign(&id).unwrap();
    h.settle().await;
    let s = h.clerk.store.proposal(&id).unwrap().support.unwrap();
    assert!(s.due && s.signers == 3, "{s:?}");
    // a member with no person on the register cannot sign at all
    let err = h.clerk.store.co_sign(&id).unwrap_err();
    assert!(err.to_string().contains("not linked to a person"), "{err}");
    let d = h.vote(DecidingBody::VillagersMeeting).await;
    h.clerk
        .store
        .take_up_proposal(&id, Some(d.clone()), "下周日村民会议")
        .unwrap();
    h.settle().await;
    for dev in h.all() {
        let p = dev.store.proposal(&id).unwrap().proposal;
        assert_eq!(p.deliberation.as_deref(), Some(d.as_str()), "{}", dev.name);
        assert_eq!(p.signers.len(), 3);
    }
}
