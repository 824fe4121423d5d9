//! `cunwu register …`: the village register (村民名册) kept by cadres — add, list, show
//! with history, amend, leave — and the follow-up lists built on it (`notice unread`,
//! `deliberation not-voted`), which a cadre takes on a round of visits.

use crate::args::{PersonArgs, RegisterCmd};
use crate::context::Ctx;
use crate::error::{CliError, CliResult};
use crate::lang::{label, when};
use crate::output::{print_json, say, short, Table};
use crate::t;
use cunwu_core::model::register::{Departure, Person, PersonDetails, PersonStatus};
use cunwu_core::store::FollowUpList;
use cunwu_core::Store;
use serde_json::json;

pub fn run(ctx: &Ctx, cmd: RegisterCmd) -> CliResult<()> {
    let store = ctx.store()?;
    match cmd {
        RegisterCmd::Add(a) => {
            let details = details_from(PersonDetails::default(), a, true)?;
            let id = store.register_add(details.clone())?;
            if ctx.json {
                return print_json(&json!({ "id": id, "name": details.name }));
            }
            say(t!(
                "cli-register-added",
                name = &details.name,
                id = short(&id)
            ));
            Ok(())
        }
        RegisterCmd::List { all } => {
            let persons: Vec<Person> = store
                .persons()?
                .into_iter()
                .filter(|p| all || p.active())
                .collect();
            if ctx.json {
                let rows: Vec<_> = persons.iter().map(person_json).collect();
                return print_json(&rows);
            }
            if persons.is_empty() {
                say(t!("cli-register-empty"));
                return Ok(());
            }
            let mut t = Table::new(&[
                &t!("cli-col-id"),
                &t!("cli-col-group"),
                &t!("cli-col-household"),
                &t!("cli-col-name"),
                &t!("cli-col-flags"),
            ]);
            let mut sorted = persons.clone();
            sorted.sort_by(|a, b| {
                (&a.details.group, &a.details.household)
                    .cmp(&(&b.details.group, &b.details.household))
            });
            for p in &sorted {
                t.row(vec![
                    short(&p.id).into(),
                    p.details.group.clone(),
                    p.details.household.clone(),
                    p.details.name.clone(),
                    flags(p),
                ]);
            }
            t.print();
            say(t!("cli-register-count", n = persons.len()));
            Ok(())
        }
        RegisterCmd::Show { person } => {
            let id = resolve_person(&store, &person)?;
            let r = store.register()?;
            let p = r.person(&id).expect("resolved");
            if ctx.json {
                return print_json(p);
            }
            say(format!("{} · {}", p.details.name, short(&p.id)));
            say(t!(
                "cli-register-where",
                group = &p.details.group,
                household = &p.details.household
            ));
            let f = flags(p);
            if !f.is_empty() {
                say(f);
            }
            say(t!("cli-register-history"));
            for h in &p.history {
                say(format!(
                    "  {} · {} · {}",
                    when(h.at),
                    t!(&format!("cli-register-what-{}", h.what)),
                    status_words(h.status)
                ));
            }
            Ok(())
        }
        RegisterCmd::Amend { person, fields } => {
            let id = resolve_person(&store, &person)?;
            let r = store.register()?;
            let now = r.person(&id).expect("resolved").details.clone();
            let details = details_from(now, fields, false)?;
            store.register_amend(&id, details.clone())?;
            if ctx.json {
                return print_json(&json!({ "id": id, "amended": true }));
            }
            say(t!("cli-register-amended", name = &details.name));
            Ok(())
        }
        RegisterCmd::Leave { person, reason, on } => {
            let id = resolve_person(&store, &person)?;
            let reason = match reason.trim() {
                "moved_away" | "迁出" => Departure::MovedAway,
                "deceased" | "去世" => Departure::Deceased,
                other => {
                    return Err(CliError::usage(t!(
                        "cli-register-bad-reason",
                        typed = other
                    )))
                }
            };
            store.register_leave(&id, reason, &on)?;
            if ctx.json {
                return print_json(&json!({ "id": id, "reason": reason, "on": on }));
            }
            say(t!("cli-register-left", on = on.as_str()));
            Ok(())
        }
    }
}

fn person_json(p: &Person) -> serde_json::Value {
    json!({
        "id": p.id, "name": p.details.name, "household": p.details.household,
        "group": p.details.group, "status": p.status, "born": p.details.born,
        "adult": p.details.adult, "party": p.details.party,
        "household_rep": p.details.household_rep, "villager_rep": p.details.villager_rep,
        "supervisor": p.details.supervisor, "migrant": p.details.migrant,
        "lives_in": p.details.lives_in, "post": p.details.post,
    })
}

fn status_words(s: PersonStatus) -> String {
    label(&s)
}

/// The attributes that combine (party member, household representative, ...), in words.
fn flags(p: &Person) -> String {
    let d = &p.details;
    let mut out = vec![];
    for (on, id) in [
        (d.party, "cli-person-party"),
        (d.household_rep, "cli-person-household_rep"),
        (d.villager_rep, "cli-person-villager_rep"),
        (d.supervisor, "cli-person-supervisor"),
    ] {
        if on {
            out.push(t!(id));
        }
    }
    if d.migrant {
        out.push(t!(
            "cli-person-migrant",
            city = d.lives_in.as_deref().unwrap_or("?")
        ));
    }
    if let Some(post) = &d.post {
        out.push(post.clone());
    }
    if !p.active() {
        out.push(status_words(p.status));
    }
    out.join(&t!("cli-list-separator"))
}

/// `base` with the given fields replaced; on `add`, name, household and group are needed.
fn details_from(mut d: PersonDetails, a: PersonArgs, add: bool) -> CliResult<PersonDetails> {
    if add {
        for (v, flag) in [
            (&a.name, "--name"),
            (&a.household, "--household"),
            (&a.group, "--group"),
        ] {
            if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                return Err(CliError::usage(t!("cli-register-needs", flag = flag)));
            }
        }
        if a.born.is_none() && a.adult.is_none() {
            return Err(CliError::usage(t!("cli-register-needs-age")));
        }
    }
    if let Some(v) = a.name {
        d.name = v.trim().into();
    }
    if let Some(v) = a.household {
        d.household = v.trim().into();
    }
    if let Some(v) = a.group {
        d.group = v.trim().into();
    }
    if let Some(v) = a.born {
        d.born = Some(v.trim().into()).filter(|s: &String| !s.is_empty());
    }
    let set = |field: &mut bool, v: Option<bool>| {
        if let Some(v) = v {
            *field = v;
        }
    };
    set(&mut d.adult, a.adult);
    set(&mut d.party, a.party);
    set(&mut d.household_rep, a.household_rep);
    set(&mut d.villager_rep, a.villager_rep);
    set(&mut d.supervisor, a.supervisor);
    set(&mut d.migrant, a.migrant);
    if let Some(v) = a.lives_in {
        d.lives_in = Some(v.trim().into()).filter(|s: &String| !s.is_empty());
    }
    if let Some(v) = a.post {
        d.post = Some(v.trim().into()).filter(|s: &String| !s.is_empty());
    }
    if !d.migrant && a.migrant == Some(false) {
        d.lives_in = None;
    }
    Ok(d)
}

/// A person on this phone's register by id, unique id prefix or unique name.
pub fn resolve_person(store: &Store, typed: &str) -> CliResult<String> {
    let t = typed.trim();
    let persons = store.persons()?;
    if persons.is_empty() {
        return Err(CliError::usage(t!("cli-register-none-here")));
    }
    if let Some(p) = persons.iter().find(|p| p.id == t) {
        return Ok(p.id.clone());
    }
    let by_name: Vec<&Person> = persons
        .iter()
        .filter(|p| p.details.name == t && p.active())
        .collect();
    if by_name.len() == 1 {
        return Ok(by_name[0].id.clone());
    }
    if by_name.len() > 1 {
        return Err(CliError::usage(t!(
            "cli-ambiguous-person-name",
            n = by_name.len(),
            name = t
        )));
    }
    let lower = t.to_ascii_lowercase();
    let by_prefix: Vec<&Person> = persons
        .iter()
        .filter(|p| !lower.is_empty() && p.id.starts_with(&lower))
        .collect();
    match by_prefix.len() {
        1 => Ok(by_prefix[0].id.clone()),
        0 => Err(CliError::usage(t!("cli-no-such-person", name = t))),
        n => Err(CliError::usage(t!(
            "cli-ambiguous-person-id",
            n = n,
            prefix = t
        ))),
    }
}

/// Print a follow-up list: by group, then household, with who has no phone.
pub fn print_follow_up(ctx: &Ctx, what: &str, list: &FollowUpList) -> CliResult<()> {
    if ctx.json {
        return print_json(list);
    }
    if !list.complete {
        say(t!("cli-follow-up-incomplete"));
    }
    if list.persons.is_empty() {
        say(t!("cli-follow-up-none", what = what));
        return Ok(());
    }
    let mut sorted = list.persons.clone();
    sorted.sort_by(|a, b| (&a.group, &a.household).cmp(&(&b.group, &b.household)));
    let mut t = Table::new(&[
        &t!("cli-col-group"),
        &t!("cli-col-household"),
        &t!("cli-col-name"),
        &t!("cli-col-phone"),
    ]);
    for p in &sorted {
        let phone = if p.has_phone {
            t!("cli-follow-up-has-phone")
        } else {
            t!("cli-follow-up-no-phone")
        };
        let phone = match (&p.lives_in, p.migrant) {
            (Some(city), true) => format!("{phone} · {city}"),
            _ => phone,
        };
        t.row(vec![
            p.group.clone(),
            p.household.clone(),
            p.name.clone(),
            phone,
        ]);
    }
    t.print();
    say(t!(
        "cli-follow-up-count",
        n = list.persons.len(),
        of = list.of,
        what = what
    ));
    Ok(())
}
