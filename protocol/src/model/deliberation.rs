//! Deliberations (村民议事): proposal, discussion, a vote with eligibility, quorum and
//! deadline, and the tally. The quorum and pass rules of each deciding body live here
//! and nowhere else (Organic Law of Villagers' Committees, arts. 22, 26, 28).
//!
//! Where the space keeps a register of villagers (`model::register`), the electorate is
//! the register's persons, not the enrolled phones: the snapshot taken when voting opens
//! names persons, and the members (phones) linked to each. Votes cast in the hall count
//! too: a teller records a person's paper ballot or attendance in a document of its own
//! per (vote, person, teller) (`hall_ballot_id`), so tellers working offline never
//! write the same document. **A person counts once: a ballot recorded in the hall wins
//! over the same person's online ballot, whenever either was cast** (the paper ballot is
//! the person's act in front of the tellers; an online ballot counts only for a person
//! with no hall ballot); of two tellers' records of one person's paper ballot, the one
//! signed earlier counts (then the lower teller id). Attendance counts toward the quorum, as does every
//! counted ballot; a decision needs more than half of those taking part (arts. 22, 28).

use super::register::Register;
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
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

    /// The persons eligible to vote, from the register as it stood at `at` (adulthood on
    /// that village date), in register order:
    /// - a villagers' meeting: every adult villager on the register (migrants included);
    /// - household representatives: each household's flagged representative if adult,
    ///   else its first adult;
    /// - villager representatives: the representatives and the holders of a cadre post
    ///   (the representatives' meeting is the committee members and the representatives,
    ///   art. 25);
    /// - party members: every party member, whatever else they are;
    /// - a group meeting: the group's adults.
    pub fn electorate(self, register: &Register, group: Option<&str>, at: i64) -> Vec<String> {
        let adults = || register.active().filter(move |p| p.adult_at(at));
        match self {
            DecidingBody::VillagersMeeting => adults().map(|p| p.id.clone()).collect(),
            DecidingBody::VillagerReps => register
                .active()
                .filter(|p| p.details.villager_rep || p.details.post.is_some())
                .map(|p| p.id.clone())
                .collect(),
            DecidingBody::PartyMembers => register
                .active()
                .filter(|p| p.details.party)
                .map(|p| p.id.clone())
                .collect(),
            DecidingBody::GroupMeeting => adults()
                .filter(|p| group.is_some_and(|g| p.details.group == g))
                .map(|p| p.id.clone())
                .collect(),
            DecidingBody::HouseholdReps => register
                .households()
                .into_iter()
                .filter_map(|(_, persons)| {
                    persons
                        .iter()
                        .find(|p| p.details.household_rep && p.adult_at(at))
                        .or_else(|| persons.iter().find(|p| p.adult_at(at)))
                        .map(|p| p.id.clone())
                })
                .collect(),
            DecidingBody::ConsultationOnly => vec![],
        }
    }

    /// The members eligible to vote, from the roster, in roster order (a space without
    /// a register).
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
    /// the opening device held — and, where the space keeps a register, from the
    /// register at `register_heads`: `persons` are the eligible persons, `eligible` the
    /// members linked to them and `member_persons[i]` the person of `eligible[i]`.
    Open {
        eligible: Vec<String>,
        #[serde(default)]
        roster_version: u64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        persons: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        member_persons: Vec<String>,
        /// The register's heads (hex change hashes) the snapshot was taken from.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        register_heads: Vec<String>,
    },
    /// The persons (on the register) who may record ballots and attendance in the hall,
    /// besides cadres. Namings add up.
    Tellers {
        persons: Vec<String>,
    },
    Comment {
        text: String,
    },
    Close {},
    /// Documents of the proposal (a cadre), or photos and recordings added to a comment
    /// (`to`: its event id; the member who wrote it).
    Attach {
        attachments: Vec<super::attachment::Attachment>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BallotEvent {
    /// A member's own ballot, from their phone.
    Cast { deliberation: String, option: u32 },
    /// A teller records the paper ballot a person cast in the hall.
    Record {
        deliberation: String,
        person: String,
        option: u32,
    },
    /// A teller records that a person attended the meeting (counts toward the quorum).
    Attend {
        deliberation: String,
        person: String,
    },
}

impl BallotEvent {
    pub fn deliberation(&self) -> &str {
        match self {
            BallotEvent::Cast { deliberation, .. }
            | BallotEvent::Record { deliberation, .. }
            | BallotEvent::Attend { deliberation, .. } => deliberation,
        }
    }
    /// The person a hall record is about (`None` for a member's own ballot).
    pub fn person(&self) -> Option<&str> {
        match self {
            BallotEvent::Cast { .. } => None,
            BallotEvent::Record { person, .. } | BallotEvent::Attend { person, .. } => Some(person),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Phase {
    Discussion,
    Voting,
    Closed,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Discussion, Phase::Voting, Phase::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Discussion => "discussion",
            Phase::Voting => "voting",
            Phase::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The phase at `now` of a deliberation whose events say `self` (its
    /// `recorded_phase`) and whose deadline is `closes_at`: the one rule of when a
    /// deliberation is closed, used by the fold and by the store's list rows.
    pub fn at(self, closes_at: i64, now: i64) -> Phase {
        if self == Phase::Closed || now >= closes_at {
            Phase::Closed
        } else {
            self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
    /// The roster version the eligibility snapshot was taken from (the opening
    /// device's): the relay keeps the snapshot; members who joined later do not vote.
    #[serde(default)]
    pub snapshot_roster_version: Option<u64>,
    /// The eligible persons on the register, when the vote is over the register (empty:
    /// the electorate is `eligible`, the members).
    #[serde(default)]
    pub persons: Vec<String>,
    /// The person each eligible member is (register votes).
    #[serde(default)]
    pub member_persons: BTreeMap<String, String>,
    /// The register heads the snapshot was taken from.
    #[serde(default)]
    pub register_heads: Vec<String>,
    /// Persons named as tellers (cadres are tellers too).
    #[serde(default)]
    pub tellers: Vec<String>,
    pub comments: Vec<DComment>,
    /// Every attachment, in document order (to the proposal or to a comment).
    #[serde(default)]
    pub attachments: Vec<super::attachment::Attached>,
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
            snapshot_roster_version: None,
            persons: vec![],
            member_persons: BTreeMap::new(),
            register_heads: vec![],
            tellers: vec![],
            comments: vec![],
            attachments: vec![],
            updated_at: first.at,
        };
        for e in &events[1..] {
            d.updated_at = d.updated_at.max(e.at);
            match &e.body {
                DeliberationEvent::Create { .. } => {}
                DeliberationEvent::Open {
                    eligible,
                    roster_version,
                    persons,
                    member_persons,
                    register_heads,
                } => {
                    if d.opened_at.is_none()
                        && d.closed_at.is_none()
                        && d.deciding_body != DecidingBody::ConsultationOnly
                    {
                        d.opened_at = Some(e.at);
                        d.eligible = eligible.clone();
                        d.snapshot_roster_version = Some(*roster_version);
                        d.persons = persons.clone();
                        d.member_persons = eligible
                            .iter()
                            .cloned()
                            .zip(member_persons.iter().cloned())
                            .collect();
                        d.register_heads = register_heads.clone();
                    }
                }
                DeliberationEvent::Tellers { persons } => {
                    // every naming adds (two cadres naming tellers offline both stand),
                    // so a record a teller made is judged the same on every replica
                    if d.closed_at.is_none() {
                        for p in persons {
                            if !d.tellers.contains(p) {
                                d.tellers.push(p.clone());
                            }
                        }
                    }
                }
                DeliberationEvent::Attach { attachments, to } => {
                    d.attachments
                        .extend(attachments.iter().map(|a| super::attachment::Attached {
                            attachment: a.clone(),
                            by: e.by.clone(),
                            at: e.at,
                            to: to.clone(),
                            line: None,
                        }))
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
        self.recorded_phase().at(self.closes_at, now)
    }

    /// The phase its events alone say (opened, closed early), without the clock: what
    /// the store keeps in its projection row. `Phase::at` adds the deadline.
    pub fn recorded_phase(&self) -> Phase {
        if self.closed_at.is_some() {
            Phase::Closed
        } else if self.opened_at.is_some() {
            Phase::Voting
        } else {
            Phase::Discussion
        }
    }

    /// Whether `member` is in the eligibility snapshot taken when voting opened: the
    /// electorate of this vote (`policy::check_cast`, the store's badge counts).
    pub fn may_vote(&self, member: &str) -> bool {
        self.eligible.iter().any(|m| m == member)
    }

    /// Whether the electorate is the register's persons (else the enrolled members).
    pub fn over_register(&self) -> bool {
        !self.persons.is_empty()
    }

    /// Whether `person` is in the register snapshot taken when voting opened.
    pub fn person_may_vote(&self, person: &str) -> bool {
        self.persons.iter().any(|p| p == person)
    }

    /// Whether the member `m` (linked to register person `person`, if any) may record
    /// ballots and attendance in the hall: a cadre, or a person named as a teller.
    pub fn is_teller(&self, is_cadre: bool, person: Option<&str>) -> bool {
        is_cadre || person.is_some_and(|p| self.tellers.iter().any(|t| t == p))
    }

    /// Whether a ballot cast at `cast_at` counts (voting had opened and not closed then).
    pub fn accepts_ballot_at(&self, cast_at: i64) -> bool {
        self.opened_at.is_some_and(|o| cast_at >= o) && cast_at < self.effective_close()
    }

    pub fn ballot_id(&self, member: &str) -> String {
        ballot_id(&self.id, member)
    }

    /// Whether the result can no longer change: the close and the grace period after
    /// it (`BALLOT_GRACE_MS`, in which ballots cast before the close may still reach
    /// the relay) are over. The relay's signed tally, a phone's own count and every
    /// screen use this one rule.
    pub fn result_final(&self, now: i64) -> bool {
        now > self.effective_close() + BALLOT_GRACE_MS
    }

    /// What a member may see of this vote's result at `now`, and from where. The one
    /// rule for every screen (store, CLI, FFI) and for the relay's publishing:
    /// - a consultation has no vote, and nothing is shown before voting opens;
    /// - secret ballots and hidden results are counted only by the relay, after the
    ///   close (a phone holds no one's ballot but its member's own): nothing is shown
    ///   before the close, and after it only the relay's signed tally;
    /// - a recorded vote with visible results is counted from the ballots the phone
    ///   holds (every member receives every ballot), or shown from the relay's signed
    ///   tally once that has arrived.
    pub fn result_view(&self, now: i64) -> ResultView {
        if self.deciding_body == DecidingBody::ConsultationOnly {
            ResultView::Hidden(Hidden::Consultation)
        } else if self.opened_at.is_none() {
            ResultView::Hidden(Hidden::NotOpened)
        } else if !self.counted_by_relay() {
            ResultView::Counted
        } else if self.phase(now) != Phase::Closed {
            ResultView::Hidden(Hidden::UntilClose)
        } else {
            ResultView::RelayOnly
        }
    }

    /// When the result becomes final: the close and the grace period after it.
    pub fn final_at(&self) -> i64 {
        self.effective_close() + BALLOT_GRACE_MS
    }

    /// What a shown result is at `now` (`tally` is what `visible_result` shows): the
    /// count so far while voting runs; after the close, provisional until the grace
    /// period for offline ballots is over (`final_at`), and also after it while the
    /// tally held here was signed by the relay before it was final (a newer one is on
    /// its way: sync); else final. The one rule for every screen.
    pub fn standing(&self, now: i64, tally: &Tally) -> Standing {
        if self.phase(now) != Phase::Closed {
            Standing::Running {
                closes_at: self.closes_at,
            }
        } else if !self.result_final(now) {
            Standing::Provisional {
                reason: Provisional::OfflineBallots,
                final_at: self.final_at(),
            }
        } else if !tally.final_result {
            Standing::Provisional {
                reason: Provisional::AwaitingFinalTally,
                final_at: self.final_at(),
            }
        } else {
            Standing::Final {
                closed_at: self.effective_close(),
            }
        }
    }

    /// Whether a cadre closed the vote before its deadline.
    pub fn closed_early(&self) -> bool {
        self.closed_at.is_some_and(|c| c < self.closes_at)
    }

    /// Secret ballots and hidden results: the ballots go to their voter only and the
    /// relay publishes the count (`policy::audience` gives such ballots `Voter`).
    pub fn counted_by_relay(&self) -> bool {
        self.secret || self.hide_results
    }

    /// The result a member sees now, from the relay's signed tally (if this device
    /// holds one) or a count of the ballots held here (`count`, called only when the
    /// rule allows a local count), under `result_view`.
    pub fn visible_result<E>(
        &self,
        now: i64,
        signed: Option<Tally>,
        count: impl FnOnce() -> std::result::Result<Tally, E>,
    ) -> std::result::Result<VisibleResult, E> {
        Ok(match (self.result_view(now), signed) {
            (ResultView::Hidden(why), _) => VisibleResult::Hidden(why),
            (_, Some(t)) => VisibleResult::Shown(t),
            (ResultView::RelayOnly, None) => VisibleResult::Hidden(Hidden::AwaitingRelay),
            (ResultView::Counted, None) => VisibleResult::Shown(count()?),
        })
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
            DeliberationEvent::Tellers { .. } if self.closed_at.is_some() => {
                Err(Error::InvalidTransition(
                    "the deliberation is closed; tellers can no longer be named".into(),
                ))
            }
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

/// The document in which one teller (a member id) records one person's ballot and
/// attendance in the hall: one per (deliberation, person, teller), so two tellers never
/// create the same document offline, and a secret vote's record is read by its teller
/// alone (and counted by the relay).
pub fn hall_ballot_id(deliberation: &str, person: &str, teller: &str) -> String {
    derived_id(&["hall", deliberation, person, teller])
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
        if options.len() > super::MAX_OPTIONS {
            return Err(Error::invalid(format!(
                "at most {} options",
                super::MAX_OPTIONS
            )));
        }
        let mut seen = BTreeSet::new();
        for o in options {
            if !seen.insert(o.trim()) {
                return Err(Error::invalid(format!(
                    "the option {:?} is listed twice; each option must be different",
                    o.trim()
                )));
            }
            check_title(o).map_err(|_| {
                Error::invalid(format!(
                    "each option needs a non-empty label of at most {} characters",
                    super::MAX_TITLE_CHARS
                ))
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
    events.iter().rev().find_map(|e| match &e.body {
        BallotEvent::Cast {
            deliberation,
            option,
        } if deliberation == &d.id
            && (*option as usize) < d.options.len()
            && d.accepts_ballot_at(e.at) =>
        {
            Some(*option)
        }
        _ => None,
    })
}

/// What one ballot document says for the count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voice {
    /// A member's own ballot.
    Online { member: String, option: u32 },
    /// A person's record in the hall by one teller: present, and the paper ballot if one
    /// was recorded (`at`: its signed time).
    Hall {
        person: String,
        option: Option<u32>,
        at: i64,
        teller: String,
    },
}

/// One teller's record of one person (one document, `hall_ballot_id`): its first
/// recorded ballot in document order counts; any record inside the voting window makes
/// the person present.
pub fn hall_voice(d: &Deliberation, events: &[Event<BallotEvent>]) -> Option<Voice> {
    let mut person = None;
    let mut option = None;
    let mut at = i64::MAX;
    let teller = events.first()?.by.clone();
    for e in events {
        let Some(p) = e.body.person() else { continue };
        if e.body.deliberation() != d.id
            || !d.accepts_ballot_at(e.at)
            || person.as_deref().is_some_and(|q| q != p)
        {
            continue;
        }
        person = Some(p.to_string());
        if let BallotEvent::Record { option: o, .. } = &e.body {
            if option.is_none() && (*o as usize) < d.options.len() {
                option = Some(*o);
                at = e.at;
            }
        }
    }
    person.map(|person| Voice::Hall {
        person,
        option,
        at,
        teller,
    })
}

/// Every voice of one deliberation, as the relay or a phone holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Voices {
    /// member → counted option
    pub online: BTreeMap<String, u32>,
    /// person → hall ballot (None: present without a recorded ballot)
    pub hall: BTreeMap<String, Option<u32>>,
    /// person → (signed time, teller) of the hall ballot counted in `hall`
    pub hall_by: BTreeMap<String, (i64, String)>,
}

impl Voices {
    /// Add one document's voice. Of several tellers' hall ballots for one person, the
    /// earliest signed (then the lowest teller id) counts, in whatever order they come.
    pub fn add(&mut self, v: Voice) {
        match v {
            Voice::Online { member, option } => {
                self.online.insert(member, option);
            }
            Voice::Hall {
                person,
                option,
                at,
                teller,
            } => {
                let e = self.hall.entry(person.clone()).or_insert(None);
                let Some(o) = option else { return };
                let key = (at, teller);
                if e.is_none() || self.hall_by.get(&person).is_some_and(|k| key < *k) {
                    *e = Some(o);
                    self.hall_by.insert(person, key);
                }
            }
        }
    }
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
    /// For recorded (non-secret) ballots: member id → option (person id → option in a
    /// vote over the register). Empty for secret ballots.
    pub roll: BTreeMap<String, u32>,
    /// In a vote over the register: persons counted from a hall record (a ballot or
    /// attendance), of `participants`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub in_hall: u32,
    /// The relay's log end when it computed this tally (inside the signature), so a
    /// phone keeps the newest and an old signed tally replayed later never replaces
    /// it. 0 in tallies signed before this field existed and in tallies counted on
    /// the phone.
    #[serde(default)]
    pub as_of: u64,
}

/// Where a vote's result may come from for a member now (`Deliberation::result_view`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultView {
    Hidden(Hidden),
    /// Counted from the ballots this device holds (or the relay's tally, once held).
    Counted,
    /// Only the relay's signed tally.
    RelayOnly,
}

/// Why a vote's result is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hidden {
    Consultation,
    NotOpened,
    /// Secret ballots or hidden results, before the close.
    UntilClose,
    /// Closed, counted by the relay, and its signed tally has not reached this device.
    AwaitingRelay,
}

impl Hidden {
    /// The reason in words, as the CLI prints it and the apps show it.
    pub fn reason(self) -> &'static str {
        match self {
            Hidden::Consultation => "a consultation has no vote",
            Hidden::NotOpened => "voting has not opened",
            Hidden::UntilClose => "results are counted by the relay after the close",
            Hidden::AwaitingRelay => {
                "the vote is closed; the relay's count has not reached this device yet (sync)"
            }
        }
    }
}

/// What a shown result is (`Deliberation::standing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Standing {
    /// Voting runs: the counts so far.
    Running { closes_at: i64 },
    /// Closed, but the count may still change until `final_at`.
    Provisional { reason: Provisional, final_at: i64 },
    /// Closed and final.
    Final { closed_at: i64 },
}

/// Why a closed vote's result is still provisional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provisional {
    /// Ballots cast offline before the close may still reach the relay.
    OfflineBallots,
    /// The grace period is over, but the relay's final tally has not reached this device.
    AwaitingFinalTally,
}

/// What a member sees of a vote's result (`Deliberation::visible_result`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisibleResult {
    Hidden(Hidden),
    Shown(Tally),
}

impl VisibleResult {
    pub fn tally(&self) -> Option<&Tally> {
        match self {
            VisibleResult::Shown(t) => Some(t),
            VisibleResult::Hidden(_) => None,
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Count ballots (`member → counted option`) under the deciding body's rules. Only
/// members in the eligibility snapshot count.
pub fn tally(d: &Deliberation, choices: &BTreeMap<String, u32>, now: i64) -> Tally {
    count(
        d,
        &Voices {
            online: choices.clone(),
            ..Voices::default()
        },
        now,
    )
}

/// Count every voice under the deciding body's rules: the one tally of the relay and of
/// every phone. Over the register, each eligible person counts once — the hall ballot,
/// else the online ballot of the first of their members (snapshot order) who cast one —
/// and a person recorded present in the hall takes part even without a ballot.
pub fn count(d: &Deliberation, voices: &Voices, now: i64) -> Tally {
    let mut counts = vec![0u32; d.options.len()];
    let mut roll = BTreeMap::new();
    let mut participants = 0u32;
    let mut in_hall = 0u32;
    let valid = |o: &u32| (*o as usize) < d.options.len();
    let eligible = if d.over_register() {
        for p in d.persons.iter().collect::<BTreeSet<_>>() {
            let hall = voices.hall.get(p);
            // a person with two phones: the lowest member id's ballot, whatever the
            // snapshot's order
            let online = || {
                d.member_persons
                    .iter()
                    .filter(|(_, q)| *q == p)
                    .find_map(|(m, _)| voices.online.get(m).filter(|o| valid(o)).copied())
            };
            let option = match hall {
                Some(Some(o)) if valid(o) => Some(*o),
                _ => online(),
            };
            if hall.is_some() {
                in_hall += 1;
            }
            if option.is_some() || hall.is_some() {
                participants += 1;
            }
            if let Some(o) = option {
                counts[o as usize] += 1;
                if !d.secret {
                    roll.insert(p.clone(), o);
                }
            }
        }
        d.persons.iter().collect::<BTreeSet<_>>().len()
    } else {
        let eligible: BTreeSet<&String> = d.eligible.iter().collect();
        for (m, o) in &voices.online {
            if eligible.contains(m) && valid(o) {
                counts[*o as usize] += 1;
                participants += 1;
                if !d.secret {
                    roll.insert(m.clone(), *o);
                }
            }
        }
        eligible.len()
    };
    let quorum_met = d.deciding_body.quorum_met(participants as usize, eligible);
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
        eligible: eligible as u32,
        participants,
        counts,
        quorum_met,
        decided,
        final_result: d.result_final(now),
        roll,
        in_hall,
        as_of: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn vote(secret: bool, hide_results: bool, opened: bool) -> Deliberation {
        let ev = |id: &str, at: i64, body: DeliberationEvent| Event {
            id: id.into(),
            by: "m1".into(),
            at,
            body,
        };
        let mut events = vec![ev(
            "e0",
            0,
            DeliberationEvent::Create {
                title: "修路".into(),
                body: String::new(),
                deciding_body: DecidingBody::VillagersMeeting,
                options: vec!["同意".into(), "不同意".into()],
                group: None,
                secret,
                hide_results,
                opens_at: 0,
                closes_at: 10 * HOUR,
            },
        )];
        if opened {
            events.push(ev(
                "e1",
                1,
                DeliberationEvent::Open {
                    eligible: vec!["m1".into(), "m2".into()],
                    roster_version: 1,
                    persons: vec![],
                    member_persons: vec![],
                    register_heads: vec![],
                },
            ));
        }
        Deliberation::fold("d", &events).unwrap()
    }

    fn local(d: &Deliberation, now: i64) -> Result<Tally> {
        Ok(tally(d, &BTreeMap::from([("m1".to_string(), 0)]), now))
    }

    #[test]
    fn a_count_inside_the_grace_period_is_not_final() {
        let d = vote(false, false, true);
        let closes = d.effective_close();
        // before the fix the model called a count final at the close, while the relay
        // waited for the grace period: the CLI printed "(final)" on a count that ballots
        // still arriving could change
        assert!(!tally(&d, &BTreeMap::new(), closes + 1).final_result);
        assert!(!tally(&d, &BTreeMap::new(), closes + BALLOT_GRACE_MS).final_result);
        assert!(tally(&d, &BTreeMap::new(), closes + BALLOT_GRACE_MS + 1).final_result);
    }

    #[test]
    fn secret_and_hidden_votes_show_nothing_before_the_close_and_only_the_relay_count_after() {
        for (secret, hide) in [(true, false), (false, true), (true, true)] {
            let d = vote(secret, hide, true);
            let during = d.visible_result(HOUR, None, || local(&d, HOUR)).unwrap();
            assert_eq!(during, VisibleResult::Hidden(Hidden::UntilClose));
            let after = 11 * HOUR;
            // the phone holds only its member's own ballot: a local count would say
            // "1 took part"
            let held = d.visible_result(after, None, || local(&d, after)).unwrap();
            assert_eq!(held, VisibleResult::Hidden(Hidden::AwaitingRelay));
            let signed = Tally {
                participants: 2,
                ..local(&d, after).unwrap()
            };
            let shown = d
                .visible_result(after, Some(signed.clone()), || local(&d, after))
                .unwrap();
            assert_eq!(shown, VisibleResult::Shown(signed));
        }
    }

    #[test]
    fn a_recorded_public_vote_is_counted_on_the_phone_while_it_runs() {
        let d = vote(false, false, true);
        let r = d.visible_result(HOUR, None, || local(&d, HOUR)).unwrap();
        let t = r.tally().expect("shown");
        assert_eq!((t.participants, t.final_result), (1, false));
        let closed = vote(false, false, false);
        assert_eq!(
            closed
                .visible_result(HOUR, None, || local(&closed, HOUR))
                .unwrap(),
            VisibleResult::Hidden(Hidden::NotOpened)
        );
    }

    #[test]
    fn a_closed_vote_is_provisional_until_the_grace_period_ends_then_final() {
        let mut d = vote(false, false, true);
        assert_eq!(
            d.standing(HOUR, &tally(&d, &BTreeMap::new(), HOUR)),
            Standing::Running {
                closes_at: 10 * HOUR
            }
        );
        d.closed_at = Some(2 * HOUR);
        let t = |now| tally(&d, &BTreeMap::new(), now);
        assert!(d.closed_early());
        let grace = 2 * HOUR + BALLOT_GRACE_MS;
        for now in [2 * HOUR, grace] {
            assert_eq!(
                d.standing(now, &t(now)),
                Standing::Provisional {
                    reason: Provisional::OfflineBallots,
                    final_at: grace
                }
            );
        }
        assert_eq!(
            d.standing(grace + 1, &t(grace + 1)),
            Standing::Final {
                closed_at: 2 * HOUR
            }
        );
        // a relay tally signed inside the grace period, held after it
        assert_eq!(
            d.standing(grace + 1, &t(grace)),
            Standing::Provisional {
                reason: Provisional::AwaitingFinalTally,
                final_at: grace
            }
        );
    }

    #[test]
    fn the_phase_of_a_recorded_phase_follows_the_deadline() {
        let d = vote(false, false, true);
        assert_eq!(d.recorded_phase(), Phase::Voting);
        assert_eq!(
            Phase::Voting.at(d.closes_at, d.closes_at - 1),
            Phase::Voting
        );
        assert_eq!(Phase::Voting.at(d.closes_at, d.closes_at), Phase::Closed);
        assert_eq!(
            Phase::Discussion.at(d.closes_at, d.closes_at),
            Phase::Closed
        );
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
    }
}
