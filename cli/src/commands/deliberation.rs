//! `cunwu deliberation …`: open (create and open the vote; a consultation is only
//! created), list, show with the tally, vote, comment, close.

use super::parse;
use super::register::resolve_person;
use crate::args::{DeliberationCmd, DeliberationOpenArgs};
use crate::context::{member_names, name_of, resolve, Ctx};
use crate::error::{CliError, CliResult};
use crate::lang::{label, when};
use crate::output::{clip, print_json, say, short, Table};
use crate::t;
use cunwu_core::ids::now_ms;
use cunwu_core::model::deliberation::{
    DecidingBody, Deliberation, Hidden, Phase, Provisional, Standing, Tally, VisibleResult,
};
use cunwu_core::store::NewDeliberation;
use cunwu_core::{EntityKind, Store};
use serde_json::json;

pub fn run(ctx: &Ctx, cmd: DeliberationCmd) -> CliResult<()> {
    match cmd {
        DeliberationCmd::Open(a) => open(ctx, a),
        DeliberationCmd::List { limit } => {
            let store = ctx.store()?;
            let rows = store.list_deliberations(limit, 0)?;
            if ctx.json {
                return print_json(&rows);
            }
            if rows.is_empty() {
                say(t!("cli-no-deliberations"));
                return Ok(());
            }
            let mut t = Table::new(&[
                &t!("cli-col-id"),
                &t!("cli-col-body"),
                &t!("cli-col-status"),
                &t!("cli-col-closes"),
                &t!("cli-col-voted"),
                &t!("cli-col-title"),
            ]);
            for d in &rows {
                t.row(vec![
                    short(&d.id).into(),
                    label(&d.deciding_body),
                    label(&d.status),
                    when(d.closes_at),
                    if d.voted { "✓".into() } else { String::new() },
                    clip(&d.title, 48),
                ]);
            }
            t.print();
            Ok(())
        }
        DeliberationCmd::Show { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            show(ctx, &store, &id)
        }
        DeliberationCmd::Vote { id, option } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            let d = store.deliberation(&id)?;
            let idx = option_index(&d, &option)?;
            store.cast_ballot(&id, idx)?;
            if ctx.json {
                return print_json(
                    &json!({ "deliberation": id, "option": idx, "label": d.options[idx as usize] }),
                );
            }
            say(t!(
                "cli-ballot-cast",
                index = idx,
                option = &d.options[idx as usize],
                title = &d.title
            ));
            say(t!("cli-ballot-recast"));
            Ok(())
        }
        DeliberationCmd::Start { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            store.open_voting(&id)?;
            done(ctx, &store, &id, "cli-deliberation-voting")
        }
        DeliberationCmd::Comment { id, text } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            store.comment_deliberation(&id, &text)?;
            done(ctx, &store, &id, "cli-deliberation-comment")
        }
        DeliberationCmd::RecordBallot { id, person, option } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            let person = resolve_person(&store, &person)?;
            let d = store.deliberation(&id)?;
            let idx = option_index(&d, &option)?;
            store.record_ballot(&id, &person, idx)?;
            if ctx.json {
                return print_json(&json!({
                    "deliberation": id, "person": person, "option": idx,
                    "label": d.options[idx as usize],
                }));
            }
            say(t!(
                "cli-hall-ballot-recorded",
                name = person_name(&store, &person),
                index = idx,
                option = &d.options[idx as usize]
            ));
            Ok(())
        }
        DeliberationCmd::RecordAttendance { id, person } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            let person = resolve_person(&store, &person)?;
            store.record_attendance(&id, &person)?;
            if ctx.json {
                return print_json(
                    &json!({ "deliberation": id, "person": person, "present": true }),
                );
            }
            say(t!(
                "cli-hall-attendance-recorded",
                name = person_name(&store, &person)
            ));
            Ok(())
        }
        DeliberationCmd::Tellers { id, persons } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            let persons = persons
                .iter()
                .map(|p| resolve_person(&store, p))
                .collect::<CliResult<Vec<_>>>()?;
            store.name_tellers(&id, persons.clone())?;
            if ctx.json {
                return print_json(&json!({ "deliberation": id, "tellers": persons }));
            }
            let names: Vec<String> = persons.iter().map(|p| person_name(&store, p)).collect();
            say(t!(
                "cli-tellers-named",
                names = names.join(&t!("cli-list-separator"))
            ));
            Ok(())
        }
        DeliberationCmd::NotVoted { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            let list = store.not_voted(&id)?;
            super::register::print_follow_up(ctx, &t!("cli-follow-up-voted"), &list)
        }
        DeliberationCmd::Close { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            store.close_deliberation(&id)?;
            done(ctx, &store, &id, "cli-deliberation-closed")
        }
    }
}

/// A person's name on this phone's register (the id when it is not there).
fn person_name(store: &Store, person: &str) -> String {
    store
        .register()
        .ok()
        .and_then(|r| r.person(person).map(|p| p.details.name.clone()))
        .unwrap_or_else(|| short(person).to_string())
}

/// An option by exact label, else by index.
fn option_index(d: &Deliberation, typed: &str) -> CliResult<u32> {
    let t = typed.trim();
    if let Some(i) = d.options.iter().position(|o| o == t) {
        return Ok(i as u32);
    }
    if let Ok(i) = t.parse::<u32>() {
        if (i as usize) < d.options.len() {
            return Ok(i);
        }
    }
    let list: Vec<String> = d
        .options
        .iter()
        .enumerate()
        .map(|(i, o)| format!("[{i}] {o}"))
        .collect();
    if list.is_empty() {
        return Err(CliError::usage(t!(
            "cli-consultation-has-no-options",
            title = &d.title
        )));
    }
    Err(CliError::usage(t!(
        "cli-no-such-option",
        typed = t,
        options = list.join(&t!("cli-list-separator"))
    )))
}

fn open(ctx: &Ctx, a: DeliberationOpenArgs) -> CliResult<()> {
    let body_kind: DecidingBody = parse::deciding_body(&a.body_kind)?;
    if !a.closes_in_hours.is_finite()
        || a.closes_in_hours <= 0.0
        || a.closes_in_hours > 24.0 * 366.0
    {
        return Err(CliError::usage(t!("cli-bad-closes-in-hours")));
    }
    let store = ctx.store()?;
    let now = now_ms();
    let id = store.create_deliberation(NewDeliberation {
        title: a.title,
        body: a.body,
        deciding_body: body_kind,
        options: a.options,
        group: a.group,
        secret: a.secret,
        hide_results: a.hide_results,
        opens_at: now,
        closes_at: now + (a.closes_in_hours * 3_600_000.0) as i64,
    })?;
    if body_kind != DecidingBody::ConsultationOnly {
        store.open_voting(&id)?;
    }
    done(
        ctx,
        &store,
        &id,
        if body_kind == DecidingBody::ConsultationOnly {
            "cli-deliberation-comments-open"
        } else {
            "cli-deliberation-voting"
        },
    )
}

/// Report a successful write; `what` is the catalogue id of what happened.
fn done(ctx: &Ctx, store: &Store, id: &str, what: &str) -> CliResult<()> {
    let d = store.deliberation(id)?;
    let status = d.phase(now_ms()).as_str();
    if ctx.json {
        return print_json(&json!({
            "id": id, "title": d.title, "status": status, "eligible": electorate_size(&d),
            "roster_version": d.snapshot_roster_version,
            "over_register": d.over_register(),
        }));
    }
    say(t!(what, id = short(id), title = &d.title));
    if d.opened_at.is_some() && d.closed_at.is_none() {
        say(t!(
            "cli-deliberation-eligible",
            n = electorate_size(&d),
            when = when(d.closes_at)
        ));
        if d.over_register() {
            let phones = d
                .member_persons
                .values()
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            say(t!(
                "cli-deliberation-over-register",
                n = d.persons.len(),
                phones = phones
            ));
        } else if what == "cli-deliberation-voting" {
            for line in snapshot_words(d.eligible.len(), d.snapshot_roster_version) {
                say(line);
            }
        }
    }
    Ok(())
}

/// How many may vote: the register's persons, else the enrolled members.
fn electorate_size(d: &Deliberation) -> usize {
    if d.over_register() {
        d.persons.len()
    } else {
        d.eligible.len()
    }
}

// ---- words for people (issue 14: each in one place, for the catalogue) -------------

/// What happens to the eligibility snapshot just taken: the relay keeps it as it is
/// (`policy::check_deliberation`: it refuses only a snapshot that names someone the
/// deciding body excludes or leaves out someone that roster version listed, or one
/// older than a roster this device already received), so members who joined after
/// that roster version do not vote in this deliberation.
fn snapshot_words(voters: usize, roster_version: Option<u64>) -> [String; 2] {
    let version = roster_version.map_or_else(|| "?".to_string(), |v| v.to_string());
    [
        t!(
            "cli-snapshot-kept",
            voters = voters,
            version = version.as_str()
        ),
        t!("cli-snapshot-later", version = version.as_str()),
    ]
}

/// The words after a shown tally: so far, provisional (why, and when final), or final.
fn standing_words(s: &Standing) -> String {
    match s {
        Standing::Running { closes_at } => t!("cli-standing-running", closes = when(*closes_at)),
        Standing::Provisional {
            reason: Provisional::OfflineBallots,
            final_at,
        } => t!("cli-standing-offline", at = when(*final_at)),
        Standing::Provisional {
            reason: Provisional::AwaitingFinalTally,
            final_at,
        } => t!("cli-standing-awaiting", at = when(*final_at)),
        // the status line above says when it closed; "(final)" ends the tally line, as
        // the binding tests read it
        Standing::Final { .. } => t!("cli-standing-final"),
    }
}

/// When voting ends or ended; a vote closed early says so, with its deadline.
fn close_words(d: &Deliberation, now: i64) -> String {
    if d.closed_early() {
        t!(
            "cli-close-early",
            closed = when(d.effective_close()),
            deadline = when(d.closes_at)
        )
    } else if d.phase(now) == Phase::Closed {
        t!("cli-close-closed", closed = when(d.effective_close()))
    } else {
        t!("cli-close-closes", closes = when(d.closes_at))
    }
}

/// The tally this member may see now, or why there is none: the store's
/// `visible_tally`, which is the model's one rule (`Deliberation::visible_result`).
pub fn visible_tally(store: &Store, d: &Deliberation) -> CliResult<Result<Tally, Hidden>> {
    Ok(match store.visible_tally(&d.id)? {
        VisibleResult::Shown(t) => Ok(t),
        VisibleResult::Hidden(why) => Err(why),
    })
}

fn show(ctx: &Ctx, store: &Store, id: &str) -> CliResult<()> {
    let d = store.deliberation(id)?;
    let now = now_ms();
    let tally = visible_tally(store, &d)?;
    let mine = store.my_ballot(id)?;
    let names = member_names(store);
    if ctx.json {
        let mut v = serde_json::to_value(&d).expect("deliberation serializes");
        v["status"] = json!(d.phase(now).as_str());
        v["my_ballot"] = json!(mine);
        v["closed_early"] = json!(d.closed_early());
        match &tally {
            Ok(t) => {
                v["tally"] = json!(t);
                v["standing"] = json!(d.standing(now, t));
            }
            Err(why) => {
                v["tally"] = serde_json::Value::Null;
                v["tally_hidden"] = json!(why.reason());
            }
        }
        return print_json(&v);
    }
    say(&d.title);
    say("=".repeat(crate::output::width(&d.title).clamp(4, 60)));
    let mut line = t!(
        "cli-deliberation-kind-line",
        id = short(&d.id),
        body = label(&d.deciding_body)
    );
    if let Some(g) = &d.group {
        line += &t!("cli-deliberation-group", group = g);
    }
    if d.secret {
        line += &t!("cli-deliberation-secret");
    }
    if d.hide_results {
        line += &t!("cli-deliberation-hidden-results");
    }
    say(line);
    say(t!(
        "cli-deliberation-status",
        status = label(&d.phase(now)),
        name = name_of(&names, &d.created_by),
        created = when(d.created_at),
        close = close_words(&d, now)
    ));
    if !d.body.is_empty() {
        say("");
        say(&d.body);
    }
    if !d.options.is_empty() {
        say("");
        say(t!("cli-options"));
        for (i, o) in d.options.iter().enumerate() {
            let count = tally
                .as_ref()
                .ok()
                .and_then(|t| t.counts.get(i))
                .map(|c| t!("cli-option-votes", n = *c))
                .unwrap_or_default();
            let me = if mine == Some(i as u32) {
                t!("cli-option-mine")
            } else {
                String::new()
            };
            say(format!("  [{i}] {o}{count}{me}"));
        }
    }
    say("");
    match &tally {
        Ok(t) => {
            let decided = match t.decided {
                Some(i) => t!(
                    "cli-tally-decided",
                    option = d.options.get(i as usize).map(String::as_str).unwrap_or("?")
                ),
                None if t.quorum_met => t!("cli-tally-no-majority"),
                None => t!("cli-tally-no-quorum"),
            };
            say(t!(
                "cli-tally-line",
                participants = t.participants,
                eligible = t.eligible,
                quorum = if t.quorum_met {
                    t!("cli-quorum-met")
                } else {
                    t!("cli-quorum-not-met")
                },
                decided = decided,
                state = standing_words(&d.standing(now, t))
            ));
            if !t.roll.is_empty() {
                let roll: Vec<String> = t
                    .roll
                    .iter()
                    .map(|(m, o)| {
                        format!(
                            "{}→{}",
                            name_of(&names, m),
                            d.options
                                .get(*o as usize)
                                .map(String::as_str)
                                .unwrap_or("?")
                        )
                    })
                    .collect();
                say(t!("cli-roll", list = roll.join(&t!("cli-list-separator"))));
            }
        }
        Err(why) => say(t!(
            "cli-tally-hidden",
            why = cunwu_core::words::explain(crate::lang::lang(), why)
        )),
    }
    if !d.comments.is_empty() {
        say("");
        say(t!("cli-comments"));
        for c in &d.comments {
            say(t!(
                "cli-comment-line",
                when = when(c.at),
                name = name_of(&names, &c.by),
                tag = "",
                text = &c.text
            ));
        }
    }
    Ok(())
}
