//! `cunwu deliberation …`: open (create and open the vote; a consultation is only
//! created), list, show with the tally, vote, comment, close.

use super::parse::{enum_value, BODIES};
use crate::args::{DeliberationCmd, DeliberationOpenArgs};
use crate::context::{member_names, name_of, resolve, Ctx};
use crate::error::{CliError, CliResult};
use crate::output::{clip, print_json, say, short, time, Table};
use cunwu_core::ids::now_ms;
use cunwu_core::model::deliberation::{
    DecidingBody, Deliberation, Phase, Provisional, Standing, Tally, VisibleResult,
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
                say("no deliberations");
                return Ok(());
            }
            let mut t = Table::new(&["ID", "BODY", "STATUS", "CLOSES", "VOTED", "TITLE"]);
            for d in &rows {
                t.row(vec![
                    short(&d.id).into(),
                    json!(d.deciding_body).as_str().unwrap_or_default().into(),
                    d.status.as_str().into(),
                    time(d.closes_at),
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
            say(format!(
                "ballot cast for [{idx}] {} in {}",
                d.options[idx as usize], d.title
            ));
            say("you may vote again until the close; your last ballot counts");
            Ok(())
        }
        DeliberationCmd::Start { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            store.open_voting(&id)?;
            done(ctx, &store, &id, "is open for voting")
        }
        DeliberationCmd::Comment { id, text } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            store.comment_deliberation(&id, &text)?;
            done(ctx, &store, &id, "has a new comment")
        }
        DeliberationCmd::Close { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Deliberation, &id)?;
            store.close_deliberation(&id)?;
            done(ctx, &store, &id, "is closed")
        }
    }
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
        return Err(CliError::usage(format!(
            "{} is a consultation; it has no options to vote on",
            d.title
        )));
    }
    Err(CliError::usage(format!(
        "no option {t:?}; choose one of {}",
        list.join(", ")
    )))
}

fn open(ctx: &Ctx, a: DeliberationOpenArgs) -> CliResult<()> {
    let body_kind: DecidingBody = enum_value("deciding body", &a.body_kind, BODIES)?;
    if !a.closes_in_hours.is_finite()
        || a.closes_in_hours <= 0.0
        || a.closes_in_hours > 24.0 * 366.0
    {
        return Err(CliError::usage(
            "--closes-in-hours must be more than 0 and at most a year",
        ));
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
            "is open for comments"
        } else {
            "is open for voting"
        },
    )
}

fn done(ctx: &Ctx, store: &Store, id: &str, what: &str) -> CliResult<()> {
    let d = store.deliberation(id)?;
    let status = d.phase(now_ms()).as_str();
    if ctx.json {
        return print_json(&json!({
            "id": id, "title": d.title, "status": status, "eligible": d.eligible.len(),
            "roster_version": d.snapshot_roster_version,
        }));
    }
    say(format!("deliberation {id} {what}: {}", d.title));
    if d.opened_at.is_some() && d.closed_at.is_none() {
        say(format!(
            "{} eligible voters · closes {}",
            d.eligible.len(),
            time(d.closes_at)
        ));
        if what == "is open for voting" {
            for line in snapshot_words(d.eligible.len(), d.snapshot_roster_version) {
                say(line);
            }
        }
    }
    Ok(())
}

// ---- words for people (issue 14: each in one place, for the catalogue) -------------

/// What happens to the eligibility snapshot just taken: the relay keeps it as it is
/// (`policy::check_deliberation`: it refuses only a snapshot that names someone the
/// deciding body excludes or leaves out someone that roster version listed, or one
/// older than a roster this device already received), so members who joined after
/// that roster version do not vote in this deliberation.
fn snapshot_words(voters: usize, roster_version: Option<u64>) -> [String; 2] {
    let v = roster_version.map_or_else(|| "?".to_string(), |v| v.to_string());
    [
        format!("the relay keeps this eligibility snapshot: {voters} voter(s) from roster version {v}, the roster this device holds;"),
        format!("members who joined after roster version {v} cannot vote in this deliberation (sync before opening a vote to include them)"),
    ]
}

/// The words after a shown tally: so far, provisional (why, and when final), or final.
fn standing_words(s: &Standing) -> String {
    match s {
        Standing::Running { closes_at } => format!("so far; voting closes {}", time(*closes_at)),
        Standing::Provisional {
            reason: Provisional::OfflineBallots,
            final_at,
        } => format!(
            "provisional: ballots cast offline before the close may still arrive; final at {}",
            time(*final_at)
        ),
        Standing::Provisional {
            reason: Provisional::AwaitingFinalTally,
            final_at,
        } => format!(
            "provisional: the relay's final count (due {}) has not reached this device yet (sync)",
            time(*final_at)
        ),
        // the status line above says when it closed; "(final)" ends the tally line, as
        // the binding tests read it
        Standing::Final { .. } => "final".into(),
    }
}

/// When voting ends or ended; a vote closed early says so, with its deadline.
fn close_words(d: &Deliberation, now: i64) -> String {
    if d.closed_early() {
        format!(
            "closed early {} (deadline was {})",
            time(d.effective_close()),
            time(d.closes_at)
        )
    } else if d.phase(now) == Phase::Closed {
        format!("closed {}", time(d.effective_close()))
    } else {
        format!("closes {}", time(d.closes_at))
    }
}

/// The tally this member may see now, or why there is none: the store's
/// `visible_tally`, which is the model's one rule (`Deliberation::visible_result`).
pub fn visible_tally(store: &Store, d: &Deliberation) -> CliResult<Result<Tally, &'static str>> {
    Ok(match store.visible_tally(&d.id)? {
        VisibleResult::Shown(t) => Ok(t),
        VisibleResult::Hidden(why) => Err(why.reason()),
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
                v["tally_hidden"] = json!(why);
            }
        }
        return print_json(&v);
    }
    say(&d.title);
    say("=".repeat(crate::output::width(&d.title).clamp(4, 60)));
    let body = serde_json::to_value(d.deciding_body)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut line = format!("id {} · {body}", d.id);
    if let Some(g) = &d.group {
        line += &format!(" ({g})");
    }
    if d.secret {
        line += " · secret ballot";
    }
    if d.hide_results {
        line += " · results hidden until the close";
    }
    say(line);
    say(format!(
        "status {} · opened by {} {} · {}",
        d.phase(now).as_str(),
        name_of(&names, &d.created_by),
        time(d.created_at),
        close_words(&d, now)
    ));
    if !d.body.is_empty() {
        say("");
        say(&d.body);
    }
    if !d.options.is_empty() {
        say("");
        say("Options");
        for (i, o) in d.options.iter().enumerate() {
            let count = tally
                .as_ref()
                .ok()
                .and_then(|t| t.counts.get(i))
                .map(|c| format!("  {c} vote(s)"))
                .unwrap_or_default();
            let me = if mine == Some(i as u32) {
                "  ← your ballot"
            } else {
                ""
            };
            say(format!("  [{i}] {o}{count}{me}"));
        }
    }
    say("");
    match &tally {
        Ok(t) => {
            let decided = match t.decided {
                Some(i) => format!(
                    "decided: {}",
                    d.options.get(i as usize).map(String::as_str).unwrap_or("?")
                ),
                None if t.quorum_met => "no option has a majority".into(),
                None => "quorum not met".into(),
            };
            say(format!(
                "tally: {} of {} eligible took part · quorum {} · {decided} ({})",
                t.participants,
                t.eligible,
                if t.quorum_met { "met" } else { "not met" },
                standing_words(&d.standing(now, t))
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
                say(format!("roll: {}", roll.join(", ")));
            }
        }
        Err(why) => say(format!("tally: {why}")),
    }
    if !d.comments.is_empty() {
        say("");
        say("Comments");
        for c in &d.comments {
            say(format!(
                "  {} {}: {}",
                time(c.at),
                name_of(&names, &c.by),
                c.text
            ));
        }
    }
    Ok(())
}
