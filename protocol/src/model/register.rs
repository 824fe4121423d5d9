//! The register of villagers and households (村民名册): the village as the law knows it,
//! not as its phones do. Many elderly villagers have no smartphone and migrant workers
//! live far away, yet the Organic Law counts them all: the quorum of a villagers' meeting
//! is over the adult villagers (or the households), a representatives' meeting over the
//! villager representatives, a party members' meeting over the party members.
//!
//! The register is one signed document per space (`register_id`), kept by cadres as an
//! append-only list of events like every other entity: a person is added, corrected, and
//! marked as moved away or deceased, and nothing is ever erased, so the history of who
//! was on the register when is complete. Each person carries attributes that combine (a
//! cadre is usually also a party member; a household representative may be a migrant).
//! A member (a phone) names the person it is in the signed roster (`Member::person`); a
//! person may have no phone at all.
//!
//! Who counts in each deciding body is `DecidingBody::electorate` in
//! `model/deliberation.rs`; who may write the register is `policy::check_register`.

use super::{check_date, check_len, check_name, village_date, Event, MAX_NAME_CHARS};
use crate::error::{Error, Result};
use crate::ids::derived_id;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most persons one register holds (a large administrative village has a few thousand).
pub const MAX_PERSONS: usize = 20_000;

/// The id of a space's register: derived from the space, so every device names the same
/// document and a space has exactly one.
pub fn register_id(space: &str) -> String {
    derived_id(&["register", space])
}

/// What a cadre records about a person. Every field is given again in a correction,
/// so one event says the whole of what the register holds after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PersonDetails {
    pub name: String,
    /// The household (户) the person belongs to, e.g. its head's name or number.
    pub household: String,
    /// The villagers' group (村民小组).
    pub group: String,
    /// Birth date, `YYYY-MM-DD`; adulthood follows from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub born: Option<String>,
    /// Adult (18 or over) when no birth date is recorded.
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub adult: bool,
    /// A member of the village party branch.
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub party: bool,
    /// Represents the household (one per household).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub household_rep: bool,
    /// A villager representative (村民代表).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub villager_rep: bool,
    /// A member of the villagers' supervision committee (村务监督委员会).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub supervisor: bool,
    /// Lives or works away from the village (外出务工).
    #[serde(default)]
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub migrant: bool,
    /// Where a migrant lives or works (a city).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub lives_in: Option<String>,
    /// A cadre post (村党支部书记, 村委会主任, 会计...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub post: Option<String>,
}

impl PersonDetails {
    /// Shape and limits: a name, household and group; a real birth date; a city for a migrant.
    pub fn validate(&self) -> Result<()> {
        check_name("name", &self.name)?;
        check_name("household", &self.household)?;
        check_name("group", &self.group)?;
        if let Some(b) = &self.born {
            check_date("birth date", b)?;
        }
        if self.migrant && self.lives_in.as_deref().is_none_or(|c| c.trim().is_empty()) {
            return Err(Error::invalid(
                "a migrant villager needs the city they live or work in (lives_in)",
            ));
        }
        for (field, v) in [("lives_in", &self.lives_in), ("post", &self.post)] {
            if let Some(v) = v {
                check_len(field, v, MAX_NAME_CHARS)?;
            }
        }
        Ok(())
    }
}

/// Why a person left the register's active list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Departure {
    /// Moved their household registration away (迁出).
    MovedAway,
    Deceased,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum PersonStatus {
    Active,
    MovedAway,
    Deceased,
}

impl PersonStatus {
    pub const ALL: [PersonStatus; 3] = [
        PersonStatus::Active,
        PersonStatus::MovedAway,
        PersonStatus::Deceased,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RegisterEvent {
    /// A person enters the register under a new random id.
    Add {
        person: String,
        details: PersonDetails,
    },
    /// A correction: the person's whole record as it now stands.
    Amend {
        person: String,
        details: PersonDetails,
    },
    /// Moved away or deceased, on a date; the person stays in the history.
    Leave {
        person: String,
        reason: Departure,
        on: String,
    },
}

impl RegisterEvent {
    pub fn person(&self) -> &str {
        match self {
            RegisterEvent::Add { person, .. }
            | RegisterEvent::Amend { person, .. }
            | RegisterEvent::Leave { person, .. } => person,
        }
    }
}

/// One step of a person's history on the register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PersonRevision {
    pub by: String,
    pub at: i64,
    /// `add`, `amend` or `leave`.
    pub what: String,
    pub details: PersonDetails,
    pub status: PersonStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Person {
    pub id: String,
    #[serde(flatten)]
    pub details: PersonDetails,
    pub status: PersonStatus,
    /// When the person left (`YYYY-MM-DD`), if they did.
    pub left_on: Option<String>,
    /// Every recorded version, oldest first.
    pub history: Vec<PersonRevision>,
}

impl Person {
    pub fn active(&self) -> bool {
        self.status == PersonStatus::Active
    }

    /// 18 or over on the village date of `at` (UTC+8): from the birth date when it is
    /// recorded, else the recorded flag.
    pub fn adult_at(&self, at: i64) -> bool {
        match &self.details.born {
            Some(born) => {
                let year: i64 = born[..4].parse().unwrap_or(i64::MAX / 2);
                let eighteenth = format!("{:04}{}", year + 18, &born[4..]);
                village_date(at) >= eighteenth
            }
            None => self.details.adult,
        }
    }
}

/// The register as its events say: persons in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Register {
    pub id: String,
    pub persons: Vec<Person>,
    pub updated_at: i64,
}

impl Register {
    /// Fold the register's events in document order. An event naming a person it cannot
    /// apply to (amending someone never added, adding an id twice) is kept in the document
    /// and skipped here, the same way on every device; the policy refuses such events from
    /// the author's own view.
    pub fn fold(id: &str, events: &[Event<RegisterEvent>]) -> Register {
        let mut r = Register {
            id: id.into(),
            ..Register::default()
        };
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for e in events {
            r.updated_at = r.updated_at.max(e.at);
            match &e.body {
                RegisterEvent::Add { person, details } => {
                    if index.contains_key(person) {
                        continue;
                    }
                    index.insert(person.clone(), r.persons.len());
                    r.persons.push(Person {
                        id: person.clone(),
                        details: details.clone(),
                        status: PersonStatus::Active,
                        left_on: None,
                        history: vec![PersonRevision {
                            by: e.by.clone(),
                            at: e.at,
                            what: "add".into(),
                            details: details.clone(),
                            status: PersonStatus::Active,
                        }],
                    });
                }
                RegisterEvent::Amend { person, details } => {
                    let Some(p) = index.get(person).map(|i| &mut r.persons[*i]) else {
                        continue;
                    };
                    if !p.active() {
                        continue;
                    }
                    p.details = details.clone();
                    p.history.push(PersonRevision {
                        by: e.by.clone(),
                        at: e.at,
                        what: "amend".into(),
                        details: details.clone(),
                        status: p.status,
                    });
                }
                RegisterEvent::Leave { person, reason, on } => {
                    let Some(p) = index.get(person).map(|i| &mut r.persons[*i]) else {
                        continue;
                    };
                    if !p.active() {
                        continue;
                    }
                    p.status = match reason {
                        Departure::MovedAway => PersonStatus::MovedAway,
                        Departure::Deceased => PersonStatus::Deceased,
                    };
                    p.left_on = Some(on.clone());
                    p.history.push(PersonRevision {
                        by: e.by.clone(),
                        at: e.at,
                        what: "leave".into(),
                        details: p.details.clone(),
                        status: p.status,
                    });
                }
            }
        }
        r
    }

    pub fn person(&self, id: &str) -> Option<&Person> {
        self.persons.iter().find(|p| p.id == id)
    }

    /// Persons still on the register (not moved away, not deceased), in register order.
    pub fn active(&self) -> impl Iterator<Item = &Person> {
        self.persons.iter().filter(|p| p.active())
    }

    /// The household's representative: the first active person of the household flagged
    /// as its representative (two cadres flagging two people offline leaves the first in
    /// document order), else none.
    pub fn household_rep(&self, household: &str) -> Option<&Person> {
        self.active()
            .find(|p| p.details.household == household && p.details.household_rep)
    }

    /// The households in register order, each with its active persons.
    pub fn households(&self) -> Vec<(String, Vec<&Person>)> {
        let mut order: Vec<String> = vec![];
        let mut by: BTreeMap<String, Vec<&Person>> = BTreeMap::new();
        for p in self.active() {
            let h = &p.details.household;
            if !by.contains_key(h) {
                order.push(h.clone());
            }
            by.entry(h.clone()).or_default().push(p);
        }
        order
            .into_iter()
            .map(|h| {
                let ps = by.remove(&h).unwrap_or_default();
                (h, ps)
            })
            .collect()
    }

    /// Whether `e`, by its author, applies to the register as the author saw it: an
    /// added id is new, an amended or departed person is on the register and active, the
    /// details are well formed, and a household keeps one representative. The policy
    /// calls this on the author's view (`policy::check_register`).
    pub fn check_applicable(&self, e: &RegisterEvent) -> Result<()> {
        let person = e.person();
        if !crate::ids::is_id(person) || crate::ids::is_derived(person) {
            return Err(Error::invalid(format!(
                "a person id is 32 hex characters chosen at random; {person:?} is not"
            )));
        }
        let existing = self.person(person);
        let details = match e {
            RegisterEvent::Add { details, .. } => {
                if existing.is_some() {
                    return Err(Error::invalid(format!(
                        "person {person} is already on the register"
                    )));
                }
                if self.persons.len() >= MAX_PERSONS {
                    return Err(Error::TooLarge(format!(
                        "the register holds {MAX_PERSONS} persons, its limit"
                    )));
                }
                details
            }
            RegisterEvent::Amend { details, .. } => {
                let Some(p) = existing else {
                    return Err(Error::NotFound(format!("person {person} on the register")));
                };
                if !p.active() {
                    return Err(Error::invalid(format!(
                        "{} has left the register and cannot be corrected",
                        p.details.name
                    )));
                }
                details
            }
            RegisterEvent::Leave { on, .. } => {
                let Some(p) = existing else {
                    return Err(Error::NotFound(format!("person {person} on the register")));
                };
                if !p.active() {
                    return Err(Error::invalid(format!(
                        "{} has already left the register",
                        p.details.name
                    )));
                }
                return check_date("departure date", on);
            }
        };
        details.validate()?;
        if details.household_rep {
            if let Some(rep) = self.household_rep(&details.household) {
                if rep.id != person {
                    return Err(Error::invalid(format!(
                        "household {} already has a representative, {}; correct that record first",
                        details.household, rep.details.name
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: usize, body: RegisterEvent) -> Event<RegisterEvent> {
        Event {
            id: format!("e{n}"),
            by: "cadre".into(),
            at: n as i64,
            body,
        }
    }

    fn details(name: &str, household: &str) -> PersonDetails {
        PersonDetails {
            name: name.into(),
            household: household.into(),
            group: "一组".into(),
            adult: true,
            ..PersonDetails::default()
        }
    }

    const A: &str = "0a000000000000000000000000000001";
    const B: &str = "0a000000000000000000000000000002";

    #[test]
    fn a_correction_and_a_departure_keep_the_history() {
        let mut d = details("王秀英", "王家");
        let mut evs = vec![ev(
            1,
            RegisterEvent::Add {
                person: A.into(),
                details: d.clone(),
            },
        )];
        d.party = true;
        evs.push(ev(
            2,
            RegisterEvent::Amend {
                person: A.into(),
                details: d.clone(),
            },
        ));
        evs.push(ev(
            3,
            RegisterEvent::Leave {
                person: A.into(),
                reason: Departure::Deceased,
                on: "2026-11-30".into(),
            },
        ));
        let r = Register::fold("r", &evs);
        let p = r.person(A).unwrap();
        assert_eq!(p.status, PersonStatus::Deceased);
        assert!(p.details.party);
        assert_eq!(
            p.history
                .iter()
                .map(|h| h.what.as_str())
                .collect::<Vec<_>>(),
            ["add", "amend", "leave"]
        );
        assert!(!p.history[0].details.party);
        assert_eq!(r.active().count(), 0);
        // nothing applies to a person who left
        assert!(r
            .check_applicable(&RegisterEvent::Amend {
                person: A.into(),
                details: d
            })
            .is_err());
    }

    #[test]
    fn a_household_has_one_representative() {
        let mut a = details("王秀英", "王家");
        a.household_rep = true;
        let r = Register::fold(
            "r",
            &[ev(
                1,
                RegisterEvent::Add {
                    person: A.into(),
                    details: a.clone(),
                },
            )],
        );
        let mut b = details("王建国", "王家");
        b.household_rep = true;
        let err = r
            .check_applicable(&RegisterEvent::Add {
                person: B.into(),
                details: b.clone(),
            })
            .unwrap_err();
        assert!(
            err.to_string().contains("already has a representative"),
            "{err}"
        );
        // the representative's own correction keeps the flag
        assert!(r
            .check_applicable(&RegisterEvent::Amend {
                person: A.into(),
                details: a
            })
            .is_ok());
        b.household_rep = false;
        assert!(r
            .check_applicable(&RegisterEvent::Add {
                person: B.into(),
                details: b
            })
            .is_ok());
    }

    #[test]
    fn adulthood_follows_the_birth_date_in_village_time() {
        let mut d = details("李小明", "李家");
        d.adult = false;
        d.born = Some("2008-12-02".into());
        let p = Register::fold(
            "r",
            &[ev(
                1,
                RegisterEvent::Add {
                    person: A.into(),
                    details: d,
                },
            )],
        )
        .persons
        .remove(0);
        // 2026-12-01 16:30 UTC is already 2026-12-02 00:30 in the village
        let dec1_1630_utc = 1_796_142_600_000;
        assert_eq!(village_date(dec1_1630_utc), "2026-12-02");
        assert!(p.adult_at(dec1_1630_utc));
        assert!(!p.adult_at(dec1_1630_utc - 3_600_000));
    }

    #[test]
    fn a_migrant_names_where_they_live() {
        let mut d = details("张伟", "张家");
        d.migrant = true;
        assert!(d.validate().is_err());
        d.lives_in = Some("东莞".into());
        assert!(d.validate().is_ok());
    }
}
