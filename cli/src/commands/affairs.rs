//! `cunwu matter …` (四议两公开: create, step, show, list) and `cunwu party activity …`
//! (the party branch online: create, sign-in, absent, minutes, show, list, a person's
//! yearly attendance). The rules are the model's and the policy's (`model::matter`,
//! `model::branch`, `policy::check_party_activity`); this file parses and prints.

use super::parse::enum_value;
use crate::args::{ActivityCmd, MatterCmd, MatterStepArgs, PartyCmd};
use crate::context::{member_names, name_of, resolve, Ctx};
use crate::error::{CliError, CliResult};
use crate::lang::{label, when};
use crate::output::{print_json, say, short, Table};
use crate::t;
use cunwu_core::ids::now_ms;
use cunwu_core::model::branch::{ActivityKind, SignInMode};
use cunwu_core::model::matter::{Attendance, Outcome, Stage, StepInput};
use cunwu_core::store::NewActivity;
use cunwu_core::words::catalogue;
use cunwu_core::{EntityKind, Store};
use serde_json::json;

/// "YYYY-MM-DD" or "YYYY-MM-DD HH:MM", village time (UTC+8), to UTC milliseconds.
fn village_time(what: &str, s: &str) -> CliResult<i64> {
    let s = s.trim();
    let (d, hm) = s.split_once([' ', 'T']).unwrap_or((s, "00:00"));
    let bad = || CliError::usage(t!("cli-bad-time", what = what, typed = s));
    cunwu_core::model::check_date(what, d).map_err(|_| bad())?;
    let (y, m, day): (i64, i64, i64) = (
        d[..4].parse().map_err(|_| bad())?,
        d[5..7].parse().map_err(|_| bad())?,
        d[8..].parse().map_err(|_| bad())?,
    );
    let (h, min) = hm.split_once(':').ok_or_else(bad)?;
    let (h, min): (i64, i64) = (
        h.parse().map_err(|_| bad())?,
        min.parse().map_err(|_| bad())?,
    );
    if !(0..24).contains(&h) || !(0..60).contains(&min) {
        return Err(bad());
    }
    // days from civil (Howard Hinnant)
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400_000 + (h - 8) * 3_600_000 + min * 60_000)
}

fn person_or_mine(store: &Store, typed: Option<String>) -> CliResult<String> {
    if let Some(p) = typed {
        let p = p.trim().to_ascii_lowercase();
        let on_register: Vec<String> = store
            .persons()
            .unwrap_or_default()
            .into_iter()
            .map(|x| x.id)
            .filter(|id| id.starts_with(&p))
            .collect();
        return Ok(match on_register.as_slice() {
            [one] => one.clone(),
            _ => p,
        });
    }
    store
        .me()?
        .person
        .ok_or_else(|| CliError::usage(t!("cli-party-no-person")))
}

pub fn matter(ctx: &Ctx, cmd: MatterCmd) -> CliResult<()> {
    let store = ctx.store()?;
    match cmd {
        MatterCmd::Create { title, body } => {
            let id = store.create_matter(&title, &body)?;
            if ctx.json {
                return print_json(&json!({ "id": id, "title": title.trim() }));
            }
            say(t!(
                "cli-matter-created",
                id = short(&id),
                title = title.trim()
            ));
            say(t!("cli-reaches-village-at-sync"));
            Ok(())
        }
        MatterCmd::Step(a) => step(ctx, &store, a),
        MatterCmd::Show { id } => {
            let id = resolve(&store, EntityKind::Matter, &id)?;
            let m = store.matter(&id)?;
            if ctx.json {
                return print_json(&m);
            }
            let names = member_names(&store);
            say(&m.title);
            say(t!(
                "cli-matter-status-line",
                id = short(&m.id),
                status = label(&m.status),
                next = m.next.map(|s| label(&s)).unwrap_or_else(|| "—".into())
            ));
            if !m.body.is_empty() {
                say(&m.body);
            }
            for s in &m.steps {
                let mut line = t!(
                    "cli-matter-step-line",
                    stage = label(&s.step.stage),
                    outcome = label(&s.step.outcome),
                    held = when(s.step.held_at),
                    name = name_of(&names, &s.by)
                );
                if let Some(a) = s.step.attendance {
                    line += &t!(
                        "cli-matter-attendance",
                        present = a.present,
                        expected = a.expected
                    );
                }
                if let Some(n) = &s.step.notice {
                    line += &t!("cli-matter-notice", id = short(n));
                }
                if let Some(d) = &s.step.deliberation {
                    line += &t!("cli-matter-deliberation", id = short(d));
                }
                if !s.applied {
                    line += &t!("cli-matter-superseded");
                }
                say(line);
                if !s.step.note.is_empty() {
                    say(format!("    {}", s.step.note));
                }
            }
            Ok(())
        }
        MatterCmd::List { limit } => {
            let rows = store.list_matters(limit, 0)?;
            if ctx.json {
                return print_json(&rows);
            }
            if rows.is_empty() {
                say(t!("cli-matter-none"));
                return Ok(());
            }
            let mut t = Table::new(&[
                &t!("cli-col-id"),
                &t!("cli-col-title"),
                &t!("cli-col-status"),
                &t!("cli-matter-col-next"),
            ]);
            for m in rows {
                t.row(vec![
                    short(&m.id).into(),
                    m.title,
                    label(&m.status),
                    m.next.map(|s| label(&s)).unwrap_or_else(|| "—".into()),
                ]);
            }
            t.print();
            Ok(())
        }
    }
}

fn step(ctx: &Ctx, store: &Store, a: MatterStepArgs) -> CliResult<()> {
    let id = resolve(store, EntityKind::Matter, &a.id)?;
    let stage: Stage = enum_value("cli-what-stage", &a.stage, &catalogue::MATTER_STAGE_ALL)?;
    let outcome: Outcome = enum_value(
        "cli-what-outcome",
        &a.outcome,
        &catalogue::MATTER_OUTCOME_ALL,
    )?;
    let held_at = match &a.held {
        Some(h) => village_time("--held", h)?,
        None => now_ms(),
    };
    let link = |kind, typed: &Option<String>| -> CliResult<Option<String>> {
        typed
            .as_deref()
            .map(|x| resolve(store, kind, x))
            .transpose()
    };
    let step = StepInput {
        stage,
        held_at,
        attendance: a
            .present
            .zip(a.expected)
            .map(|(present, expected)| Attendance { present, expected }),
        outcome,
        note: a.note,
        deliberation: link(EntityKind::Deliberation, &a.deliberation)?,
        notice: link(EntityKind::Notice, &a.notice)?,
    };
    store.record_matter_step(&id, step)?;
    let m = store.matter(&id)?;
    if ctx.json {
        return print_json(&json!({
            "id": id, "stage": stage, "status": m.status, "next": m.next,
        }));
    }
    say(t!(
        "cli-matter-step-recorded",
        stage = label(&stage),
        title = &m.title,
        next = m
            .next
            .map(|s| label(&s))
            .unwrap_or_else(|| label(&m.status))
    ));
    say(t!("cli-reaches-village-at-sync"));
    Ok(())
}

pub fn party(ctx: &Ctx, cmd: PartyCmd) -> CliResult<()> {
    let PartyCmd::Activity(cmd) = cmd;
    let store = ctx.store()?;
    let done = |store: &Store, id: &str, what: &str| -> CliResult<()> {
        let a = store.party_activity(id)?;
        if ctx.json {
            return print_json(&json!({ "id": id, "title": a.title }));
        }
        say(t!(what, id = short(id), title = &a.title));
        say(t!("cli-reaches-village-at-sync"));
        Ok(())
    };
    match cmd {
        ActivityCmd::Create {
            kind,
            title,
            agenda,
            starts,
            place,
            link,
        } => {
            let kind: ActivityKind = enum_value(
                "cli-what-activity-kind",
                &kind,
                &catalogue::ACTIVITY_KIND_ALL,
            )?;
            let id = store.create_party_activity(NewActivity {
                kind,
                title,
                agenda,
                starts_at: village_time("--starts", &starts)?,
                place,
                online_link: link,
            })?;
            done(&store, &id, "cli-activity-created")
        }
        ActivityCmd::SignIn { id, person, online } => {
            let id = resolve(&store, EntityKind::PartyActivity, &id)?;
            let myself = person.is_none();
            let person = person_or_mine(&store, person)?;
            // a member signing in on their own phone attends online
            let mode = if online || (myself && !store.me()?.role.is_staff()) {
                SignInMode::Online
            } else {
                SignInMode::InPerson
            };
            store.sign_in_party_activity(&id, &person, mode)?;
            done(&store, &id, "cli-activity-signed-in")
        }
        ActivityCmd::Absent { id, person, reason } => {
            let id = resolve(&store, EntityKind::PartyActivity, &id)?;
            let person = person_or_mine(&store, Some(person))?;
            store.mark_party_absent(&id, &person, &reason)?;
            done(&store, &id, "cli-activity-absence-recorded")
        }
        ActivityCmd::Minutes { id, text } => {
            let id = resolve(&store, EntityKind::PartyActivity, &id)?;
            store.write_party_minutes(&id, &text)?;
            done(&store, &id, "cli-activity-minutes-written")
        }
        ActivityCmd::Show { id } => {
            let id = resolve(&store, EntityKind::PartyActivity, &id)?;
            let a = store.party_activity(&id)?;
            if ctx.json {
                return print_json(&a);
            }
            let persons: std::collections::HashMap<String, String> = store
                .persons()
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.id, p.details.name))
                .collect();
            let person_name = |p: &str| persons.get(p).cloned().unwrap_or_else(|| short(p).into());
            let names = member_names(&store);
            say(format!("{} · {}", label(&a.kind), a.title));
            say(t!(
                "cli-activity-when-where",
                when = when(a.starts_at),
                place = &a.place,
                link = a.online_link.as_deref().unwrap_or("—")
            ));
            if !a.agenda.is_empty() {
                say(t!("cli-activity-agenda", agenda = &a.agenda));
            }
            for r in &a.attendance {
                say(match r.mode {
                    Some(m) => t!(
                        "cli-activity-present",
                        person = person_name(&r.person),
                        mode = label(&m)
                    ),
                    None => t!(
                        "cli-activity-absent",
                        person = person_name(&r.person),
                        reason = &r.reason
                    ),
                });
            }
            if let Some(m) = &a.minutes {
                say(t!(
                    "cli-activity-minutes",
                    name = name_of(&names, &m.by),
                    text = &m.text
                ));
            }
            Ok(())
        }
        ActivityCmd::List { year } => {
            let rows = store.list_party_activities(year)?;
            if ctx.json {
                return print_json(&rows);
            }
            if rows.is_empty() {
                say(t!("cli-activity-none"));
                return Ok(());
            }
            let mut t = Table::new(&[
                &t!("cli-col-id"),
                &t!("cli-col-title"),
                &t!("cli-activity-col-when"),
                &t!("cli-activity-col-attendance"),
            ]);
            for a in rows {
                t.row(vec![
                    short(&a.id).into(),
                    format!("{} · {}", label(&a.kind), a.title),
                    when(a.starts_at),
                    t!(
                        "cli-activity-counts",
                        present = a.present,
                        absent = a.absent
                    ),
                ]);
            }
            t.print();
            Ok(())
        }
        ActivityCmd::Attendance { person, year } => {
            let person = person_or_mine(&store, person)?;
            let y = store.party_attendance(&person, year)?;
            if ctx.json {
                return print_json(&y);
            }
            say(t!(
                "cli-activity-year",
                year = year,
                activities = y.activities,
                present = y.present,
                online = y.online,
                absent = y.absent,
                unrecorded = y.unrecorded
            ));
            Ok(())
        }
    }
}
