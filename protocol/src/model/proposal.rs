//! Villagers putting a matter forward (提议召开村民会议): a resident or representative
//! proposes an agenda item and others co-sign it; when enough villagers on the register
//! have signed, the village committee must call the meeting (Organic Law of Villagers'
//! Committees, art. 21: a tenth of the adult villagers, or a third of the household
//! representatives, for a villagers' meeting; art. 26: a fifth of the villager
//! representatives for a representatives' meeting). Cadres see such a proposal as due
//! and take it up (with the deliberation they open for it).
//!
//! Co-signs are by persons on the register, not by phones: each event names the person
//! the signing member is in the signed roster (`Member::person`), and a person counts
//! once. The threshold is counted against the register where it is held (cadres'
//! phones, the relay); `Proposal::support` is the one rule.

use super::deliberation::DecidingBody;
use super::register::Register;
use super::{check_text, check_title, Event};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProposalEvent {
    /// The proposer (`person`: who they are on the register) puts the matter forward
    /// for a villagers' meeting or a representatives' meeting.
    Propose {
        title: String,
        body: String,
        meeting: DecidingBody,
        person: String,
    },
    /// Another person on the register supports it.
    CoSign { person: String },
    /// The proposer withdraws it.
    Withdraw {},
    /// A cadre takes it up: the meeting is called (the deliberation opened for it).
    TakeUp {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deliberation: Option<String>,
        #[serde(default)]
        note: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ProposalStatus {
    /// Collecting co-signs.
    Open,
    /// A cadre called the meeting.
    TakenUp,
    Withdrawn,
}

impl ProposalStatus {
    pub const ALL: [ProposalStatus; 3] = [
        ProposalStatus::Open,
        ProposalStatus::TakenUp,
        ProposalStatus::Withdrawn,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Proposal {
    pub id: String,
    pub title: String,
    pub body: String,
    pub meeting: DecidingBody,
    pub proposed_by: String,
    pub proposer_person: String,
    pub proposed_at: i64,
    /// Persons who support it (the proposer first), each once, in document order.
    pub signers: Vec<String>,
    pub status: ProposalStatus,
    pub deliberation: Option<String>,
    pub updated_at: i64,
}

/// How much support a proposal has against the register, and what the law asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Support {
    /// Signers who are adult villagers on the register (villagers' meeting) or villager
    /// representatives (representatives' meeting).
    pub signers: u32,
    /// How many of those the law asks for.
    pub needed: u32,
    /// Of the same register: household representatives who signed, and how many are needed
    /// (a villagers' meeting only; zero otherwise).
    pub household_signers: u32,
    pub households_needed: u32,
    /// The meeting must be called.
    pub due: bool,
}

/// `ceil(n * num / den)`, at least 1 when there is anyone to count.
fn share(n: usize, num: usize, den: usize) -> u32 {
    if n == 0 {
        return 0;
    }
    (n * num).div_ceil(den).max(1) as u32
}

impl Proposal {
    pub fn fold(id: &str, events: &[Event<ProposalEvent>]) -> Result<Proposal> {
        let first = events
            .first()
            .ok_or_else(|| Error::Malformed(format!("proposal {id} has no events")))?;
        let ProposalEvent::Propose {
            title,
            body,
            meeting,
            person,
        } = &first.body
        else {
            return Err(Error::Malformed(format!(
                "proposal {id} does not start with a propose event"
            )));
        };
        let mut p = Proposal {
            id: id.into(),
            title: title.clone(),
            body: body.clone(),
            meeting: *meeting,
            proposed_by: first.by.clone(),
            proposer_person: person.clone(),
            proposed_at: first.at,
            signers: vec![person.clone()],
            status: ProposalStatus::Open,
            deliberation: None,
            updated_at: first.at,
        };
        let mut seen: BTreeSet<String> = BTreeSet::from([person.clone()]);
        for e in &events[1..] {
            p.updated_at = p.updated_at.max(e.at);
            match &e.body {
                ProposalEvent::Propose { .. } => {}
                ProposalEvent::CoSign { person } => {
                    if p.status == ProposalStatus::Open && seen.insert(person.clone()) {
                        p.signers.push(person.clone());
                    }
                }
                ProposalEvent::Withdraw {} => {
                    if p.status == ProposalStatus::Open && e.by == p.proposed_by {
                        p.status = ProposalStatus::Withdrawn;
                    }
                }
                ProposalEvent::TakeUp { deliberation, .. } => {
                    if p.status == ProposalStatus::Open {
                        p.status = ProposalStatus::TakenUp;
                        p.deliberation = deliberation.clone();
                    }
                }
            }
        }
        Ok(p)
    }

    /// The support the register gives it at `at` (adulthood on that date): the law's
    /// threshold for its meeting, counted over active persons only.
    pub fn support(&self, register: &Register, at: i64) -> Support {
        let signed: BTreeSet<&String> = self.signers.iter().collect();
        match self.meeting {
            DecidingBody::VillagerReps => {
                let reps: Vec<String> = DecidingBody::VillagerReps.electorate(register, None, at);
                let signers = reps.iter().filter(|p| signed.contains(p)).count() as u32;
                let needed = share(reps.len(), 1, 5);
                Support {
                    signers,
                    needed,
                    household_signers: 0,
                    households_needed: 0,
                    due: needed > 0 && signers >= needed,
                }
            }
            _ => {
                let adults = DecidingBody::VillagersMeeting.electorate(register, None, at);
                let reps = DecidingBody::HouseholdReps.electorate(register, None, at);
                let signers = adults.iter().filter(|p| signed.contains(p)).count() as u32;
                let household_signers = reps.iter().filter(|p| signed.contains(p)).count() as u32;
                let (needed, households_needed) =
                    (share(adults.len(), 1, 10), share(reps.len(), 1, 3));
                Support {
                    signers,
                    needed,
                    household_signers,
                    households_needed,
                    due: (needed > 0 && signers >= needed)
                        || (households_needed > 0 && household_signers >= households_needed),
                }
            }
        }
    }

    /// Whether `e` by `member` (linked to register person `person`) applies to the
    /// proposal as its author saw it. The policy calls this (`policy::check_proposal`).
    pub fn check_applicable(
        &self,
        e: &ProposalEvent,
        member: &str,
        person: Option<&str>,
    ) -> Result<()> {
        match e {
            ProposalEvent::Propose { .. } => Err(Error::invalid("the proposal already exists")),
            _ if self.status != ProposalStatus::Open => Err(Error::InvalidTransition(
                "the proposal is no longer collecting support".into(),
            )),
            ProposalEvent::CoSign { person: p } => {
                if person != Some(p.as_str()) {
                    return Err(Error::NotAllowed(
                        "a co-sign names the person the signing member is on the register".into(),
                    ));
                }
                if self.signers.iter().any(|s| s == p) {
                    return Err(Error::invalid("this person already supports the proposal"));
                }
                Ok(())
            }
            ProposalEvent::Withdraw {} if member != self.proposed_by => Err(Error::NotAllowed(
                "only the proposer withdraws a proposal".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Shape and limits of a new proposal.
pub fn validate_propose(e: &ProposalEvent) -> Result<()> {
    let ProposalEvent::Propose {
        title,
        body,
        meeting,
        ..
    } = e
    else {
        return Err(Error::invalid("a proposal starts with a propose event"));
    };
    check_title(title)?;
    check_text("body", body, false)?;
    if !matches!(
        meeting,
        DecidingBody::VillagersMeeting | DecidingBody::VillagerReps
    ) {
        return Err(Error::invalid(
            "villagers may call a villagers' meeting or a representatives' meeting",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::register::{PersonDetails, RegisterEvent};

    fn register(n: usize) -> (Register, Vec<String>) {
        let ids: Vec<String> = (0..n).map(|i| format!("{:032x}", i + 1)).collect();
        let events: Vec<Event<RegisterEvent>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Event {
                id: format!("e{i}"),
                by: "cadre".into(),
                at: 1,
                body: RegisterEvent::Add {
                    person: id.clone(),
                    details: PersonDetails {
                        name: format!("村民{i}"),
                        household: format!("H{}", i / 2),
                        group: "一组".into(),
                        adult: true,
                        household_rep: i % 2 == 0,
                        ..PersonDetails::default()
                    },
                },
            })
            .collect();
        (Register::fold("r", &events), ids)
    }

    fn proposal(signers: &[String]) -> Proposal {
        let mut events = vec![Event {
            id: "p".into(),
            by: "m0".into(),
            at: 1,
            body: ProposalEvent::Propose {
                title: "修村道".into(),
                body: String::new(),
                meeting: DecidingBody::VillagersMeeting,
                person: signers[0].clone(),
            },
        }];
        for (i, s) in signers.iter().enumerate().skip(1) {
            events.push(Event {
                id: format!("c{i}"),
                by: format!("m{i}"),
                at: 2,
                body: ProposalEvent::CoSign { person: s.clone() },
            });
        }
        // a person co-signing again counts once
        events.push(Event {
            id: "again".into(),
            by: "m1".into(),
            at: 3,
            body: ProposalEvent::CoSign {
                person: signers[signers.len() - 1].clone(),
            },
        });
        Proposal::fold("p", &events).unwrap()
    }

    #[test]
    fn a_tenth_of_the_villagers_or_a_third_of_the_households_call_a_meeting() {
        // 40 adults in 20 households: 4 villagers, or 7 household representatives
        let (r, ids) = register(40);
        let odd: Vec<String> = ids.iter().skip(1).step_by(2).cloned().collect();
        let s = proposal(&odd[..3]).support(&r, 10);
        assert_eq!((s.signers, s.needed, s.due), (3, 4, false), "{s:?}");
        let s = proposal(&odd[..4]).support(&r, 10);
        assert!(s.due, "{s:?}");
        assert_eq!(
            proposal(&odd[..4]).signers.len(),
            4,
            "one person, one signature"
        );
        // representatives of households: 7 of 20 (a third, rounded up)
        let reps: Vec<String> = ids.iter().step_by(2).cloned().collect();
        let s = proposal(&reps[..3]).support(&r, 10);
        assert_eq!((s.household_signers, s.households_needed), (3, 7), "{s:?}");
    }
}
