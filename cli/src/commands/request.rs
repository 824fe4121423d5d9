//! `cunwu request …`: file, list, show (status, every transition including superseded
//! ones, comments), transition, assign, comment (public or internal), rate.

use crate::args::{RequestCmd, RequestFileArgs};
use crate::context::{member_names, name_of, resolve, resolve_member, Ctx};
use crate::error::CliResult;
use crate::output::{clip, print_json, say, short, time, Table};
use cunwu_core::model::request::{Place, ServiceRequest, Status};
use cunwu_core::store::{ListOrder, NewRequest, RequestFilter};
use cunwu_core::{EntityKind, Store};
use serde_json::json;
use std::collections::HashMap;

pub fn run(ctx: &Ctx, cmd: RequestCmd) -> CliResult<()> {
    match cmd {
        RequestCmd::File(a) => file(ctx, a),
        RequestCmd::List {
            status,
            kind,
            mine,
            assignee,
            open,
            order,
            limit,
        } => {
            let order = super::parse::list_order(&order)?;
            let status = status
                .map(|s| Status::parse(s.trim()).map(|s| s.as_str().to_string()))
                .transpose()?;
            let store = ctx.store()?;
            let assignee = assignee.map(|a| resolve_member(&store, &a)).transpose()?;
            let rows = store.list_requests(&RequestFilter {
                kind: kind.map(|k| k.trim().to_string()),
                status,
                assignee,
                mine,
                open_only: open,
                order,
                limit,
                offset: 0,
            })?;
            if ctx.json {
                return print_json(&rows);
            }
            if rows.is_empty() {
                say("no requests");
                return Ok(());
            }
            let names = member_names(&store);
            // the time column is the one the list is ordered by
            let (when, at): (&str, fn(&cunwu_core::store::RequestSummary) -> i64) = match order {
                ListOrder::Newest => ("FILED", |r| r.created_at),
                ListOrder::Recent => ("UPDATED", |r| r.updated_at),
            };
            let mut t = Table::new(&["ID", "KIND", "STATUS", "FILER", "ASSIGNEE", when, "TITLE"]);
            for r in &rows {
                t.row(vec![
                    short(&r.id).into(),
                    r.kind.clone(),
                    r.status.as_str().into(),
                    name_of(&names, &r.filer),
                    r.assignee
                        .as_deref()
                        .map(|a| name_of(&names, a))
                        .unwrap_or_default(),
                    time(at(r)),
                    clip(&r.title, 48),
                ]);
            }
            t.print();
            Ok(())
        }
        RequestCmd::Show { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Request, &id)?;
            let r = store.request(&id)?;
            if ctx.json {
                return print_json(&r);
            }
            print_request(&r, &member_names(&store));
            Ok(())
        }
        RequestCmd::Transition { id, to, note } => {
            let to = Status::parse(to.trim())?;
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Request, &id)?;
            store.transition_request(&id, to, &note)?;
            done(ctx, &store, &id, &format!("is now {}", to.as_str()))
        }
        RequestCmd::Assign { id, to } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Request, &id)?;
            let who = resolve_member(&store, &to)?;
            store.assign_request(&id, &who)?;
            done(
                ctx,
                &store,
                &id,
                &format!("assigned to {}", name_of(&member_names(&store), &who)),
            )
        }
        RequestCmd::Comment { id, text, internal } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Request, &id)?;
            store.comment_request(&id, &text, internal)?;
            done(
                ctx,
                &store,
                &id,
                if internal {
                    "has a new internal note"
                } else {
                    "has a new comment"
                },
            )
        }
        RequestCmd::Rate { id, stars, text } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Request, &id)?;
            store.rate_request(&id, stars, &text)?;
            done(ctx, &store, &id, &format!("rated {stars}/5"))
        }
    }
}

fn file(ctx: &Ctx, a: RequestFileArgs) -> CliResult<()> {
    let store = ctx.store()?;
    let place = match (a.place, a.lat, a.lon) {
        (None, None, None) => None,
        (text, lat, lon) => Some(Place {
            text: text.unwrap_or_default(),
            lat,
            lon,
        }),
    };
    let on_behalf_of = a
        .on_behalf_of
        .map(|m| resolve_member(&store, &m))
        .transpose()?;
    let id = store.file_request(NewRequest {
        kind: a.kind.trim().to_string(),
        title: a.title,
        description: a.description,
        place,
        on_behalf_of,
        materials: vec![],
    })?;
    done(ctx, &store, &id, "filed")
}

fn done(ctx: &Ctx, store: &Store, id: &str, what: &str) -> CliResult<()> {
    let r = store.request(id)?;
    if ctx.json {
        return print_json(
            &json!({ "id": id, "title": r.title, "status": r.status, "kind": r.kind }),
        );
    }
    say(format!("request {id} {what}: {}", r.title));
    Ok(())
}

fn print_request(r: &ServiceRequest, names: &HashMap<String, String>) {
    say(&r.title);
    say("=".repeat(crate::output::width(&r.title).clamp(4, 60)));
    say(format!(
        "id {} · {} · status {}",
        r.id,
        r.kind,
        r.status.as_str()
    ));
    let mut who = format!(
        "filed {} by {}",
        time(r.created_at),
        name_of(names, &r.filer)
    );
    if let Some(b) = &r.filed_by {
        who += &format!(" (entered by {})", name_of(names, b));
    }
    if let Some(a) = &r.assignee {
        who += &format!(" · assigned to {}", name_of(names, a));
    }
    if let Some(d) = &r.expected_by {
        who += &format!(" · expected by {d}");
    }
    say(who);
    if let Some(p) = &r.place {
        let mut s = format!("place: {}", p.text);
        if let (Some(lat), Some(lon)) = (p.lat, p.lon) {
            s += &format!(" ({lat:.5}, {lon:.5})");
        }
        say(s);
    }
    if !r.description.is_empty() {
        say("");
        say(&r.description);
    }
    if !r.materials.is_empty() {
        say("");
        let m: Vec<String> = r
            .materials
            .iter()
            .map(|m| format!("{}{}", if m.provided { "✓" } else { "☐" }, m.name))
            .collect();
        say(format!("materials: {}", m.join("  ")));
    }
    say("");
    say("History");
    for (at, line) in history(r, names) {
        say(format!("  {} {line}", time(at)));
    }
    if !r.comments.is_empty() {
        say("");
        say("Comments");
        for c in &r.comments {
            let tag = if c.internal { " [internal]" } else { "" };
            say(format!(
                "  {} {}{tag}: {}",
                time(c.at),
                name_of(names, &c.by),
                c.text
            ));
        }
    }
    if let Some(rt) = &r.rating {
        say("");
        let stars =
            "★".repeat(rt.stars as usize) + &"☆".repeat(5usize.saturating_sub(rt.stars as usize));
        say(format!("rating {stars} {}{}", rt.text, rated_by(rt, names)));
    }
}

// ---- words for people (issue 14: each in one place, for the catalogue) -------------

/// The history of a request in time order: the filing, every transition (superseded
/// ones too, and who acted for whom), every assignment.
fn history(r: &ServiceRequest, names: &HashMap<String, String>) -> Vec<(i64, String)> {
    let mut out = vec![(
        r.created_at,
        match &r.filed_by {
            Some(b) => format!(
                "{}: submitted for {}",
                name_of(names, b),
                name_of(names, &r.filer)
            ),
            None => format!("{}: submitted", name_of(names, &r.filer)),
        },
    )];
    for t in &r.transitions {
        let mut line = format!(
            "{}{}: {} → {}",
            name_of(names, &t.by),
            t.on_behalf_of
                .as_deref()
                .map(|f| format!(" for {}", name_of(names, f)))
                .unwrap_or_default(),
            t.from.as_str(),
            t.to.as_str()
        );
        if !t.note.is_empty() {
            line += &format!(" — {}", t.note);
        }
        if !t.applied {
            line += "  [superseded: not allowed after what came before; kept in the history]";
        }
        out.push((t.at, line));
    }
    for a in &r.assignments {
        out.push((
            a.at,
            format!(
                "{}: assigned to {}",
                name_of(names, &a.by),
                name_of(names, &a.assignee)
            ),
        ));
    }
    // stable: events at the same millisecond keep their document order
    out.sort_by_key(|(at, _)| *at);
    out
}

/// Who gave a rating, when it was not the filer.
fn rated_by(rt: &cunwu_core::model::request::Rating, names: &HashMap<String, String>) -> String {
    match &rt.on_behalf_of {
        Some(f) => format!(
            " (rated by {} for {})",
            name_of(names, &rt.by),
            name_of(names, f)
        ),
        None => String::new(),
    }
}
