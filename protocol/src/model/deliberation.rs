//! Deliberations (村民议事): proposal, discussion, a vote with eligibility, quorum and
//! deadline, and the tally. The quorum and pass rules of each deciding body live here
//! and nowhere else (Organic Law of Villagers' Committees, arts. 22, 26, 28).

use super::{check_text, check_title, Event};
use crate::error::{Error, Result};
use crate::ids::derived_id;
use crate::roster::{Role, Roster};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A ballot cast offline before the close is still counted when it reaches the relay
/// within this long after the close (its signed cast time must be before the close).
pub const BALLOT_GRACE_MS: i64 = 2 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidingBody {
    VillagersMeeting,
    VillagerReps,
    HouseholdReps,
    PartyMembers,
    GroupMeeting,
    ConsultationOnly,
}

impl DecidingBody {
    /// (quorum numerator, denominator): strictly more than num/den of the eligible must take part.
    /// Two thirds is "at least two thirds" in the law, expressed as `3*p >= 2*e`.
    fn quorum_met(self, participants: usize, eligible: usize) -> bool {
        let (p, e) = (participants as u64, eligible as u64);
        if e == 0 {
            return false;
        }
        match self {
            // more than half of the adult villagers (household-rep meetings are their own body)
            DecidingBody::VillagersMeeting | DecidingBody::PartyMembers => 2 * p > e,
            // at least two thirds take part
            DecidingBody::VillagerReps
            | DecidingBody::HouseholdReps
            | DecidingBody::GroupMeeting => 3 * p >= 2 * e,
            DecidingBody::ConsultationOnly => false,
        }
    }

    /// The members eligible to vote, from the roster, in roster order.
    pub fn eligible(self, roster: &Roster, group: Option<&str>) -> Vec<String> {
        let live = roster
            .members
            .iter()
            .filter(|m| !m.revoked && m.role != Role::Township);
        match self {
            DecidingBody::VillagersMeeting => live.map(|m| m.id.clone()).collect(),
            DecidingBody::VillagerReps => live
                .filter(|m| matches!(m.role, Role::VillagerRep | Role::Cadre))
                .map(|m| m.id.clone())
                .collect(),
            DecidingBody::PartyMembers => live
                .filter(|m| m.party || m.role == Role::PartyMember)
                .map(|m| m.id.clone())
                .collect(),
            DecidingBody::GroupMeeting => live
                .filter(|m| group.is_some_and(|g| m.group == g))
                .map(|m| m.id.clone())
                .collect(),
            DecidingBody::HouseholdReps => {
                let mut seen = BTreeSet::new();
                let members: Vec<_> = live.collect();
                let mut out = vec![];
                // the flagged representative of each household, else its first member
                for m in members
                    .iter()
                    .filter(|m| m.household_rep)
                    .chain(members.iter())
                {
                    let h = if m.household.is_empty() {
                        &m.id
                    } else {
                        &m.household
                    };
                    if seen.insert(h.clone()) {
                        out.push(m.id.clone());
                    }
                }
                out
            }
            DecidingBody::ConsultationOnly => vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeliberationEvent {
    Create {
        title: String,
        body: String,
        deciding_body: DecidingBody,
        options: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        secret: bool,
        hide_results: bool,
        opens_at: i64,
        closes_at: i64,
    },
    /// Voting opens with the eligibility snapshot taken now, from the roster version
    /// the opening device held.
    Open {
        eligible: Vec<String>,
        #[serde(default)]
        roster_version: u64,
    },
    Comment {
        text: String,
    },
    Close {},
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BallotEvent {
    Cast { deliberation: String, option: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Discussion,
    Voting,
    Closed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Discussion => "discussion",
            Phase::Voting => "voting",
            Phase::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DComment {
    pub id: String,
    pub by: String,
    pub at: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deliberation {
    pub id: String,
    pub title: String,
    pub body: String,
    pub deciding_body: DecidingBody,
    pub options: Vec<String>,
    pub group: Option<String>,
    pub secret: bool,
    pub hide_results: bool,
    pub opens_at: i64,
    pub closes_at: i64,
    pub created_by: String,
    pub created_at: i64,
    pub opened_at: Option<i64>,
    /// When a cadre closed it early (else it closes at `closes_at`).
    pub closed_at: Option<i64>,
    pub eligible: Vec<String>,
    pub comments: Vec<DComment>,
    pub updated_at: i64,
}

impl Deliberation {
    pub fn fold(id: &str, events: &[Event<DeliberationEvent>]) -> Result<Deliberation> {
        let first = events
            .first()
            .ok_or_else(|| Error::Malformed(format!("deliberation {id} has no events")))?;
        let DeliberationEvent::Create {
            title,
            body,
            deciding_body,
            options,
            group,
            secret,
            hide_results,
            opens_at,
            closes_at,
        } = &first.body
        else {
            return Err(Error::Malformed(format!(
                "deliberation {id} does not start with a create event"
            )));
        };
        let mut d = Deliberation {
            id: id.into(),
            title: title.clone(),
            body: body.clone(),
            deciding_body: *deciding_body,
            options: options.clone(),
            group: group.clone(),
            secret: *secret,
            hide_results: *hide_results,
            opens_at: *opens_at,
            closes_at: *closes_at,
            created_by: first.by.clone(),
            created_at: first.at,
            opened_at: None,
            closed_at: None,
            eligible: vec![],
            comments: vec![],
            updated_at: first.at,
        };
        for e in &events[1..] {
            d.updated_at = d.updated_at.max(e.at);
            match &e.body {
                DeliberationEvent::Create { .. } => {}
                DeliberationEvent::Open { eligible, .. } => {
                    if d.opened_at.is_none()
                        && d.closed_at.is_none()
                        && d.deciding_body != DecidingBody::ConsultationOnly
                    {
                        d.opened_at = Some(e.at);
                        d.eligible = eligible.clone();
                    }
                }
                DeliberationEvent::Comment { text } => d.comments.push(DComment {
                    id: e.id.clone(),
                    by: e.by.clone(),
                    at: e.at,
                    text: text.clone(),
                }),
                DeliberationEvent::Close {} => {
                    if d.closed_at.is_none() {
                        d.closed_at = Some(e.at.min(d.closes_at));
                    }
                }
            }
        }
        Ok(d)
    }

    /// The moment voting ends: an early close, else the deadline.
    pub fn effective_close(&self) -> i64 {
        self.closed_at.unwrap_or(self.closes_at)
    }

    pub fn phase(&self, now: i64) -> Phase {
        if self.closed_at.is_some() || now >= self.closes_at {
            Phase::Closed
        } else if self.opened_at.is_some() {
            Phase::Voting
        } else {
            Phase::Discussion
        }
    }

    /// Whether a ballot cast at `cast_at` counts (voting had opened and not closed then).
    pub fn accepts_ballot_at(&self, cast_at: i64) -> bool {
        self.opened_at.is_some_and(|o| cast_at >= o) && cast_at < self.effective_close()
    }

    pub fn ballot_id(&self, member: &str) -> String {
        ballot_id(&self.id, member)
    }

    /// Whether a member may see individual results now.
    pub fn results_visible(&self, now: i64) -> bool {
        !self.hide_results || self.phase(now) == Phase::Closed
    }

    pub fn check_applicable(&self, e: &DeliberationEvent, now: i64) -> Result<()> {
        match e {
            DeliberationEvent::Create { .. } => Err(Error::invalid("deliberation already exists")),
            DeliberationEvent::Open { .. }
                if self.deciding_body == DecidingBody::ConsultationOnly =>
            {
                Err(Error::InvalidTransition(
                    "a consultation collects comments only; it has no vote to open".into(),
                ))
            }
            DeliberationEvent::Open { .. }
                if self.opened_at.is_some() || self.phase(now) == Phase::Closed =>
            {
                Err(Error::InvalidTransition(format!(
                    "voting cannot open: the deliberation is {}",
                    self.phase(now).as_str()
                )))
            }
            DeliberationEvent::Close {} if self.closed_at.is_some() => Err(
                Error::InvalidTransition("the deliberation is already closed".into()),
            ),
            DeliberationEvent::Comment { .. } if self.phase(now) == Phase::Closed => Err(
                Error::InvalidTransition("the deliberation is closed to comments".into()),
            ),
            _ => Ok(()),
        }
    }
}

pub fn ballot_id(deliberation: &str, member: &str) -> String {
    derived_id(&["ballot", deliberation, member])
}

pub fn validate_create(e: &DeliberationEvent) -> Result<()> {
    if let DeliberationEvent::Create {
        title,
        body,
        deciding_body,
        options,
        group,
        opens_at,
        closes_at,
        ..
    } = e
    {
        check_title(title)?;
        check_text("body", body, false)?;
        if *deciding_body != DecidingBody::ConsultationOnly && options.len() < 2 {
            return Err(Error::invalid("a vote needs at least two options"));
        }
        if options.len() > 50 {
            return Err(Error::invalid("at most 50 options"));
        }
        for o in options {
            check_title(o).map_err(|_| {
                Error::invalid("each option needs a non-empty label of at most 200 characters")
            })?;
        }
        if closes_at <= opens_at {
            return Err(Error::invalid("closes_at must be after opens_at"));
        }
        if *deciding_body == DecidingBody::GroupMeeting
            && group.as_deref().is_none_or(str::is_empty)
        {
            return Err(Error::invalid("a group meeting names its group"));
        }
    }
    Ok(())
}

/// The counted ballot of each member: the last cast (in document order) before the close.
pub fn counted_choice(d: &Deliberation, events: &[Event<BallotEvent>]) -> Option<u32> {
    events
        .iter()
        .rev()
        .find(|e| {
            let BallotEvent::Cast {
                deliberation,
                option,
            } = &e.body;
            deliberation == &d.id
                && (*option as usize) < d.options.len()
                && d.accepts_ballot_at(e.at)
        })
        .map(|e| match &e.body {
            BallotEvent::Cast { option, .. } => *option,
        })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub deliberation: String,
    pub eligible: u32,
    pub participants: u32,
    /// Count per option, in option order.
    pub counts: Vec<u32>,
    pub quorum_met: bool,
    /// The option chosen by more than half of those taking part, if quorum was met.
    pub decided: Option<u32>,
    /// Whether the vote is over (counts may still change while it is not).
    pub final_result: bool,
    /// For recorded (non-secret) ballots: member id → option. Empty for secret ballots.
    pub roll: BTreeMap<String, u32>,
    /// The relay's log end when it computed this tally (inside the signature), so a
    /// phone keeps the newest and an old signed tally replayed later never replaces
    /// it. 0 in tallies signed before this field existed and in tallies counted on
    /// the phone.
    #[serde(default)]
    pub as_of: u64,
}

/// Count ballots (`member → counted option`) under the deciding body's rules. Only
/// members in the eligibility snapshot count.
pub fn tally(d: &Deliberation, choices: &BTreeMap<String, u32>, now: i64) -> Tally {
    let eligible: BTreeSet<&String> = d.eligible.iter().collect();
    let mut counts = vec![0u32; d.options.len()];
    let mut roll = BTreeMap::new();
    let mut participants = 0u32;
    for (m, o) in choices {
        if eligible.contains(m) && (*o as usize) < counts.len() {
            counts[*o as usize] += 1;
            participants += 1;
            if !d.secret {
                roll.insert(m.clone(), *o);
            }
        }
    }
    let quorum_met = d
        .deciding_body
        .quorum_met(participants as usize, eligible.len());
    let decided = if quorum_met {
        counts
            .iter()
            .position(|c| 2 * (*c as u64) > participants as u64)
            .map(|i| i as u32)
    } else {
        None
    };
    Tally {
        deliberation: d.id.clone(),
        eligible: eligible.len() as u32,
        participants,
        counts,
        quorum_met,
        decided,
        final_result: d.phase(now) == Phase::Closed,
        roll,
        as_of: 0,
    }
}
