//! The party branch online (党员活动上线): the branch's activities — 党员大会, 支委会,
//! 党小组会, 党课, 主题党日 — with agenda, time, place or online link; each party
//! member's sign-in (in person, recorded by the secretary, or remotely by the member:
//! a migrant party member in Dongguan attends online), absences with their reason, and
//! the minutes. A member's yearly attendance is counted from the folded activities
//! (`Activity::attendance_of`, the store's `party_attendance`).
//!
//! Who signs in for whom is the policy's rule (`policy::check_party_activity`); who may
//! read an activity is `policy::Audience::Party` (cadres, township officials and party
//! members). Attendance is by register person (`person`, the id of a villager in the
//! register), so a member with no phone is counted as well as one with.
//!
//! When one person has several records (a cadre marked them absent while they signed in
//! from Dongguan), a sign-in wins over an absence whatever the order: whoever attended
//! attended. Between two sign-ins or two absences, the first in document order stays.

use super::{check_len, check_text, check_title, Event};
use crate::error::{Error, Result};
use crate::ids::DAY_MS;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest place text or online link, in characters.
pub const MAX_PLACE_CHARS: usize = 500;
/// Most attendance records one activity may hold (a branch of a large village, with
/// room for corrections).
pub const MAX_RECORDS: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ActivityKind {
    /// 党员大会
    MembersMeeting,
    /// 支委会
    CommitteeMeeting,
    /// 党小组会
    GroupMeeting,
    /// 党课
    PartyLecture,
    /// 主题党日
    ThemeDay,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 5] = [
        ActivityKind::MembersMeeting,
        ActivityKind::CommitteeMeeting,
        ActivityKind::GroupMeeting,
        ActivityKind::PartyLecture,
        ActivityKind::ThemeDay,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::MembersMeeting => "members_meeting",
            ActivityKind::CommitteeMeeting => "committee_meeting",
            ActivityKind::GroupMeeting => "group_meeting",
            ActivityKind::PartyLecture => "party_lecture",
            ActivityKind::ThemeDay => "theme_day",
        }
    }
    pub fn parse(s: &str) -> Result<ActivityKind> {
        ActivityKind::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown activity kind {s:?}; expected one of {}",
                    ActivityKind::ALL.map(|x| x.as_str()).join(", ")
                ))
            })
    }
}

/// How a person attended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum SignInMode {
    /// In the hall, recorded by the secretary (a cadre).
    InPerson,
    /// Remotely: the member signs in on their own phone, or the secretary records a
    /// member who joined the call.
    Online,
}

impl SignInMode {
    pub const ALL: [SignInMode; 2] = [SignInMode::InPerson, SignInMode::Online];
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMode::InPerson => "in_person",
            SignInMode::Online => "online",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActivityEvent {
    Create {
        kind: ActivityKind,
        title: String,
        #[serde(default)]
        agenda: String,
        /// When it starts (UTC ms).
        starts_at: i64,
        #[serde(default)]
        place: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        online_link: Option<String>,
    },
    SignIn {
        person: String,
        mode: SignInMode,
    },
    Absent {
        person: String,
        reason: String,
    },
    Minutes {
        text: String,
    },
}

/// One person's attendance at one activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AttendanceRecord {
    pub person: String,
    /// `Some` when present (how), `None` when absent.
    pub mode: Option<SignInMode>,
    /// The reason of an absence (empty when present).
    pub reason: String,
    /// The member who recorded it (the person's own member when they signed in).
    pub by: String,
    pub at: i64,
}

impl AttendanceRecord {
    pub fn present(&self) -> bool {
        self.mode.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Minutes {
    pub text: String,
    pub by: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Activity {
    pub id: String,
    pub kind: ActivityKind,
    pub title: String,
    pub agenda: String,
    pub starts_at: i64,
    pub place: String,
    pub online_link: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    /// One record per person, in the order they were first recorded.
    pub attendance: Vec<AttendanceRecord>,
    /// The latest minutes (every version stays in the document).
    pub minutes: Option<Minutes>,
    pub updated_at: i64,
}

/// A person's attendance over one year's activities (`Activity::year`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct YearAttendance {
    pub person: String,
    pub year: i32,
    /// Activities of the branch that year.
    pub activities: u32,
    /// Present in person or online.
    pub present: u32,
    /// Of `present`, online.
    pub online: u32,
    pub absent: u32,
    /// Activities with no record for the person.
    pub unrecorded: u32,
}

impl Activity {
    pub fn fold(id: &str, events: &[Event<ActivityEvent>]) -> Result<Activity> {
        let first = events
            .first()
            .ok_or_else(|| Error::Malformed(format!("activity {id} has no events")))?;
        let ActivityEvent::Create {
            kind,
            title,
            agenda,
            starts_at,
            place,
            online_link,
        } = &first.body
        else {
            return Err(Error::Malformed(format!(
                "activity {id} does not start with a create event"
            )));
        };
        let mut a = Activity {
            id: id.into(),
            kind: *kind,
            title: title.clone(),
            agenda: agenda.clone(),
            starts_at: *starts_at,
            place: place.clone(),
            online_link: online_link.clone(),
            created_by: first.by.clone(),
            created_at: first.at,
            attendance: vec![],
            minutes: None,
            updated_at: first.at,
        };
        let mut at: BTreeMap<String, usize> = BTreeMap::new();
        for e in &events[1..] {
            a.updated_at = a.updated_at.max(e.at);
            let rec = match &e.body {
                ActivityEvent::Create { .. } => continue,
                ActivityEvent::Minutes { text } => {
                    a.minutes = Some(Minutes {
                        text: text.clone(),
                        by: e.by.clone(),
                        at: e.at,
                    });
                    continue;
                }
                ActivityEvent::SignIn { person, mode } => AttendanceRecord {
                    person: person.clone(),
                    mode: Some(*mode),
                    reason: String::new(),
                    by: e.by.clone(),
                    at: e.at,
                },
                ActivityEvent::Absent { person, reason } => AttendanceRecord {
                    person: person.clone(),
                    mode: None,
                    reason: reason.clone(),
                    by: e.by.clone(),
                    at: e.at,
                },
            };
            match at.get(&rec.person) {
                // a sign-in replaces an absence; nothing else replaces a record
                Some(&i) => {
                    if rec.present() && !a.attendance[i].present() {
                        a.attendance[i] = rec;
                    }
                }
                None => {
                    at.insert(rec.person.clone(), a.attendance.len());
                    a.attendance.push(rec);
                }
            }
        }
        Ok(a)
    }

    /// The person's record, if any.
    pub fn record(&self, person: &str) -> Option<&AttendanceRecord> {
        self.attendance.iter().find(|r| r.person == person)
    }

    /// The calendar year of the activity's start, in village time (UTC+8).
    pub fn year(&self) -> i32 {
        year_of(self.starts_at)
    }

    /// A person's attendance over the activities of `year` among `activities`.
    pub fn attendance_of<'a>(
        person: &str,
        year: i32,
        activities: impl IntoIterator<Item = &'a Activity>,
    ) -> YearAttendance {
        let mut y = YearAttendance {
            person: person.into(),
            year,
            ..Default::default()
        };
        for a in activities.into_iter().filter(|a| a.year() == year) {
            y.activities += 1;
            match a.record(person) {
                Some(r) if r.present() => {
                    y.present += 1;
                    if r.mode == Some(SignInMode::Online) {
                        y.online += 1;
                    }
                }
                Some(_) => y.absent += 1,
                None => y.unrecorded += 1,
            }
        }
        y
    }
}

/// The calendar year of a UTC millisecond time in village time (UTC+8), from the day
/// count (civil-from-days, Howard Hinnant's algorithm).
pub fn year_of(ms: i64) -> i32 {
    let days = (ms + 8 * 3_600_000).div_euclid(DAY_MS);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2)) as i32
}

/// Content checks shared by the action layer and the policy.
pub fn validate_event(e: &ActivityEvent) -> Result<()> {
    match e {
        ActivityEvent::Create {
            title,
            agenda,
            place,
            online_link,
            ..
        } => {
            check_title(title)?;
            check_text("agenda", agenda, false)?;
            check_len("place", place, MAX_PLACE_CHARS)?;
            if let Some(l) = online_link {
                check_len("online link", l, MAX_PLACE_CHARS)?;
            }
            if place.trim().is_empty() && online_link.as_deref().is_none_or(|l| l.trim().is_empty())
            {
                return Err(Error::invalid(
                    "an activity needs a place or an online link (--place or --link)",
                ));
            }
            Ok(())
        }
        ActivityEvent::SignIn { person, .. } => check_person(person),
        ActivityEvent::Absent { person, reason } => {
            check_person(person)?;
            check_text("reason", reason, true)
        }
        ActivityEvent::Minutes { text } => check_text("minutes", text, true),
    }
}

fn check_person(person: &str) -> Result<()> {
    if person.trim().is_empty() {
        return Err(Error::invalid("the person signing in must be named"));
    }
    check_len("person", person, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(by: &str, at: i64, body: ActivityEvent) -> Event<ActivityEvent> {
        Event {
            id: format!("e{at}"),
            by: by.into(),
            at,
            body,
        }
    }

    #[test]
    fn year_in_village_time() {
        // 2025-12-31T16:00:00Z is 2026-01-01 00:00 in the village
        assert_eq!(year_of(1_767_196_800_000), 2026);
        assert_eq!(year_of(1_767_196_800_000 - 1), 2025);
        assert_eq!(year_of(0), 1970);
    }

    #[test]
    fn a_sign_in_wins_over_an_absence_in_either_order() {
        let create = ev(
            "cadre",
            1,
            ActivityEvent::Create {
                kind: ActivityKind::ThemeDay,
                title: "主题党日".into(),
                agenda: String::new(),
                starts_at: 1_767_196_800_000,
                place: "村委会".into(),
                online_link: None,
            },
        );
        let absent = ev(
            "cadre",
            2,
            ActivityEvent::Absent {
                person: "p1".into(),
                reason: "在东莞务工".into(),
            },
        );
        let signin = ev(
            "m1",
            3,
            ActivityEvent::SignIn {
                person: "p1".into(),
                mode: SignInMode::Online,
            },
        );
        for evs in [
            vec![create.clone(), absent.clone(), signin.clone()],
            vec![create.clone(), signin.clone(), absent.clone()],
        ] {
            let a = Activity::fold("a", &evs).unwrap();
            assert_eq!(a.attendance.len(), 1);
            assert_eq!(a.record("p1").unwrap().mode, Some(SignInMode::Online));
            let y = Activity::attendance_of("p1", 2026, [&a]);
            assert_eq!((y.activities, y.present, y.online, y.absent), (1, 1, 1, 0));
            assert_eq!(Activity::attendance_of("p1", 2025, [&a]).activities, 0);
        }
    }
}
