//! The village register on this phone (cadres and township officials hold it): adding,
//! correcting and marking persons as moved away or deceased; votes in the hall (tellers
//! recording a person's paper ballot or attendance); and the follow-up lists a cadre
//! takes on a visit — who has not read a notice, who has not voted, by group and
//! household, phone or no phone. The rules are the model's (`model::register`,
//! `model::deliberation`) and the policy's; this file only gathers and writes.

use super::{local_str, Store};
use crate::error::{Error, Result};
use crate::ids::{new_id, now_ms};
use crate::model::deliberation::{hall_ballot_id, BallotEvent, DeliberationEvent};
use crate::model::proposal::{validate_propose, Proposal, ProposalEvent, Support};
use crate::model::register::{
    register_id, Departure, Person, PersonDetails, Register, RegisterEvent,
};
use crate::model::{check_date, EntityKind};
use serde::Serialize;
use std::collections::BTreeSet;

/// One person on a follow-up list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FollowUpPerson {
    pub person: String,
    pub name: String,
    pub group: String,
    pub household: String,
    /// Whether a phone is enrolled for this person (else a visit is the only way).
    pub has_phone: bool,
    pub migrant: bool,
    pub lives_in: Option<String>,
}

/// Who a cadre still needs to reach, in register order (so by group and household when
/// the register was entered that way; `FollowUpList::households` groups it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FollowUpList {
    /// `false` when this phone cannot know everyone's part: a secret vote's ballots
    /// stay with each voter and the relay (only the hall records and phones' own
    /// ballots that reached this phone are known).
    pub complete: bool,
    /// How many persons the list is drawn from (the vote's electorate, or every active
    /// adult on the register for a notice).
    pub of: u32,
    pub persons: Vec<FollowUpPerson>,
}

/// A villagers' proposal with its support against this phone's register (`None` on a
/// phone that holds no register: a resident sees who signed, a cadre also whether the
/// meeting is due).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ProposalView {
    pub proposal: Proposal,
    pub support: Option<Support>,
}

impl Store {
    fn space_id(&self) -> Result<String> {
        local_str(&self.reader.lock(), "space_id")?.ok_or(Error::NotEnrolled)
    }

    /// The id of this space's register document.
    pub fn register_id(&self) -> Result<String> {
        Ok(register_id(&self.space_id()?))
    }

    /// The register as this phone holds it (empty when it has none yet, or when this
    /// member may not read it).
    pub fn register(&self) -> Result<Register> {
        let id = self.register_id()?;
        let c = self.reader.lock();
        Ok(Store::load_doc(&c, &id)?
            .and_then(|d| d.register(None))
            .unwrap_or(Register {
                id,
                ..Register::default()
            }))
    }

    /// The persons on the register, in register order, from the projection rows.
    pub fn persons(&self) -> Result<Vec<Person>> {
        let c = self.reader.lock();
        let mut s = c.prepare_cached("SELECT person_json FROM persons ORDER BY position")?;
        let rows = s.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = vec![];
        for j in rows {
            out.push(
                serde_json::from_str(&j?)
                    .map_err(|e| Error::Database(format!("stored person: {e}")))?,
            );
        }
        Ok(out)
    }

    fn register_event(&self, ev: RegisterEvent) -> Result<()> {
        let id = self.register_id()?;
        self.write_event(EntityKind::Register, &id, &ev, |doc| {
            let r = doc.and_then(|d| d.register(None)).unwrap_or_default();
            Ok(r.check_applicable(&ev)?)
        })
    }

    /// Add a person to the register (cadres); returns the new person's id.
    pub fn register_add(&self, details: PersonDetails) -> Result<String> {
        details.validate()?;
        let person = new_id();
        self.register_event(RegisterEvent::Add {
            person: person.clone(),
            details,
        })?;
        Ok(person)
    }

    /// Correct a person's record: `details` is the whole record as it now stands.
    pub fn register_amend(&self, person: &str, details: PersonDetails) -> Result<()> {
        self.register_event(RegisterEvent::Amend {
            person: person.into(),
            details,
        })
    }

    /// Record that a person moved away or died on `on` (`YYYY-MM-DD`).
    pub fn register_leave(&self, person: &str, reason: Departure, on: &str) -> Result<()> {
        check_date("departure date", on)?;
        self.register_event(RegisterEvent::Leave {
            person: person.into(),
            reason,
            on: on.into(),
        })
    }

    /// The eligibility snapshot of a vote over the register, as `open_voting` signs it:
    /// the deciding body's persons from the register now, the members linked to them in
    /// the roster and the register's heads. `None` when this phone holds no register
    /// with anyone on it (the vote is then over the enrolled members).
    pub(crate) fn register_snapshot(
        &self,
        d: &crate::model::deliberation::Deliberation,
        roster: &crate::roster::Roster,
    ) -> Result<Option<DeliberationEvent>> {
        let id = self.register_id()?;
        let doc = {
            let c = self.reader.lock();
            Store::load_doc(&c, &id)?
        };
        let Some(doc) = doc else { return Ok(None) };
        let Some(register) = doc.register(None) else {
            return Ok(None);
        };
        if register.active().next().is_none() {
            return Ok(None);
        }
        let persons = d
            .deciding_body
            .electorate(&register, d.group.as_deref(), now_ms());
        let (mut eligible, mut member_persons) = (vec![], vec![]);
        for p in &persons {
            for m in roster.members_of_person(p) {
                eligible.push(m.id.clone());
                member_persons.push(p.clone());
            }
        }
        Ok(Some(DeliberationEvent::Open {
            eligible,
            roster_version: roster.version,
            persons,
            member_persons,
            register_heads: doc.heads().iter().map(|h| h.to_string()).collect(),
        }))
    }

    /// Name the persons (on the register) who record ballots in the hall besides cadres.
    pub fn name_tellers(&self, deliberation: &str, persons: Vec<String>) -> Result<()> {
        let r = self.register()?;
        if let Some(p) = persons.iter().find(|p| r.person(p).is_none()) {
            return Err(Error::NotFound(format!("person {p} on the register")));
        }
        self.deliberation_event(deliberation, DeliberationEvent::Tellers { persons })
    }

    fn hall_record(&self, deliberation: &str, ev: BallotEvent) -> Result<()> {
        let d = self.deliberation(deliberation)?;
        let person = ev
            .person()
            .expect("a hall record names its person")
            .to_string();
        // the relay's rule, said here before anything is signed
        crate::policy::check_hall_cast(&d, &person, now_ms())?;
        let id = hall_ballot_id(deliberation, &person, &self.me()?.id);
        self.write_event(EntityKind::Ballot, &id, &ev, |_| Ok(()))
    }

    /// A teller records the paper ballot `person` cast in the hall. It wins over the
    /// person's online ballot (`model::deliberation`, the one rule of which counts).
    pub fn record_ballot(&self, deliberation: &str, person: &str, option: u32) -> Result<()> {
        self.hall_record(
            deliberation,
            BallotEvent::Record {
                deliberation: deliberation.into(),
                person: person.into(),
                option,
            },
        )
    }

    /// A teller records that `person` attended the meeting (counts toward the quorum).
    pub fn record_attendance(&self, deliberation: &str, person: &str) -> Result<()> {
        self.hall_record(
            deliberation,
            BallotEvent::Attend {
                deliberation: deliberation.into(),
                person: person.into(),
            },
        )
    }

    // ---- villagers' proposals ------------------------------------------------------

    /// Put a matter forward for a villagers' meeting (`VillagersMeeting`) or a
    /// representatives' meeting (`VillagerReps`); this member must be linked to a
    /// person on the register (their invite named one). Returns the proposal's id.
    pub fn propose(
        &self,
        title: &str,
        body: &str,
        meeting: crate::model::deliberation::DecidingBody,
    ) -> Result<String> {
        let person = self.my_person()?;
        let ev = ProposalEvent::Propose {
            title: title.trim().into(),
            body: body.into(),
            meeting,
            person,
        };
        validate_propose(&ev)?;
        let id = new_id();
        self.write_event(EntityKind::Proposal, &id, &ev, |_| Ok(()))?;
        Ok(id)
    }

    /// The register person this phone is linked to in the signed roster.
    fn my_person(&self) -> Result<String> {
        self.me()?.person.ok_or_else(|| {
            Error::NotAllowed(
                "this phone is not linked to a person on the register (ask a cadre for an invite that names you)".into(),
            )
        })
    }

    fn proposal_event(&self, id: &str, ev: ProposalEvent) -> Result<()> {
        let me = self.me()?;
        self.write_event(EntityKind::Proposal, id, &ev, |doc| {
            let doc = doc.ok_or_else(|| Error::NotFound(format!("proposal {id}")))?;
            let p = Proposal::fold(id, &doc.events()?)?;
            Ok(p.check_applicable(&ev, &me.id, me.person.as_deref())?)
        })
    }

    /// Support a proposal, as the person this phone is linked to.
    pub fn co_sign(&self, id: &str) -> Result<()> {
        let person = self.my_person()?;
        self.proposal_event(id, ProposalEvent::CoSign { person })
    }

    /// The proposer withdraws a proposal.
    pub fn withdraw_proposal(&self, id: &str) -> Result<()> {
        self.proposal_event(id, ProposalEvent::Withdraw {})
    }

    /// A cadre takes a proposal up: the meeting is called (with its deliberation).
    pub fn take_up_proposal(
        &self,
        id: &str,
        deliberation: Option<String>,
        note: &str,
    ) -> Result<()> {
        self.proposal_event(
            id,
            ProposalEvent::TakeUp {
                deliberation,
                note: note.into(),
            },
        )
    }

    pub fn proposal(&self, id: &str) -> Result<ProposalView> {
        let p = self.load_typed(id, EntityKind::Proposal, |d| {
            Ok(Proposal::fold(id, &d.events()?)?)
        })?;
        let register = self.register()?;
        let support = (register.active().next().is_some()).then(|| p.support(&register, now_ms()));
        Ok(ProposalView {
            proposal: p,
            support,
        })
    }

    /// Every proposal, newest first, with its support (cadres: due ones are the
    /// meetings the committee must call).
    pub fn proposals(&self) -> Result<Vec<ProposalView>> {
        let mut out = vec![];
        for (id, kind) in self.entity_ids()? {
            if kind == EntityKind::Proposal {
                out.push(self.proposal(&id)?);
            }
        }
        out.sort_by_key(|v| std::cmp::Reverse(v.proposal.proposed_at));
        Ok(out)
    }

    fn follow_up_person(&self, p: &Person, linked: &BTreeSet<String>) -> FollowUpPerson {
        FollowUpPerson {
            person: p.id.clone(),
            name: p.details.name.clone(),
            group: p.details.group.clone(),
            household: p.details.household.clone(),
            has_phone: linked.contains(&p.id),
            migrant: p.details.migrant,
            lives_in: p.details.lives_in.clone(),
        }
    }

    /// Adults on the register none of whose phones has read the notice (and everyone
    /// without a phone), in register order.
    pub fn not_read(&self, notice: &str) -> Result<FollowUpList> {
        self.notice(notice)?;
        let roster = super::roster_of(&self.reader.lock())?;
        let register = self.register()?;
        let readers: BTreeSet<String> = {
            let c = self.reader.lock();
            let mut s = c.prepare_cached("SELECT member_id FROM receipts WHERE notice_id = ?1")?;
            let v = s
                .query_map([notice], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        let linked = linked_persons(&roster);
        let now = now_ms();
        let adults: Vec<&Person> = register.active().filter(|p| p.adult_at(now)).collect();
        let persons = adults
            .iter()
            .filter(|p| {
                !roster
                    .members_of_person(&p.id)
                    .any(|m| readers.contains(&m.id))
            })
            .map(|p| self.follow_up_person(p, &linked))
            .collect();
        Ok(FollowUpList {
            complete: true,
            of: adults.len() as u32,
            persons,
        })
    }

    /// The persons of a vote's electorate this phone knows have not voted (online or in
    /// the hall) nor been recorded present, in register order.
    pub fn not_voted(&self, deliberation: &str) -> Result<FollowUpList> {
        let d = self.deliberation(deliberation)?;
        if !d.over_register() {
            return Err(Error::InvalidTransition(
                "this vote is over the enrolled phones, not the register; open it with a register to follow up by person".into(),
            ));
        }
        let roster = super::roster_of(&self.reader.lock())?;
        let register = self.register()?;
        let voters: BTreeSet<String> = {
            let c = self.reader.lock();
            let mut s = c.prepare_cached("SELECT voter FROM ballots WHERE deliberation_id = ?1")?;
            let v = s
                .query_map([deliberation], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        let linked = linked_persons(&roster);
        let electorate: BTreeSet<&String> = d.persons.iter().collect();
        let persons = register
            .persons
            .iter()
            .filter(|p| electorate.contains(&p.id))
            .filter(|p| {
                !voters.contains(&format!("hall:{}", p.id))
                    && !d
                        .member_persons
                        .iter()
                        .any(|(m, q)| q == &p.id && voters.contains(m))
            })
            .map(|p| self.follow_up_person(p, &linked))
            .collect();
        Ok(FollowUpList {
            complete: !d.counted_by_relay(),
            of: electorate.len() as u32,
            persons,
        })
    }
}

fn linked_persons(roster: &crate::roster::Roster) -> BTreeSet<String> {
    roster
        .members
        .iter()
        .filter(|m| !m.revoked)
        .filter_map(|m| m.person.clone())
        .collect()
}
