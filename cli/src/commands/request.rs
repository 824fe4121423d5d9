//! `cunwu request …`: file, list, show (status, every transition including superseded
//! ones, comments), transition, assign, comment (public or internal), rate.

use super::parse;
use crate::args::{RequestCmd, RequestFileArgs};
use crate::context::{member_names, name_of, resolve, resolve_member, Ctx};
use crate::error::CliResult;
use crate::lang::{day, kind_label, label, when};
use crate::output::{clip, print_json, say, short, Table};
use crate::t;
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
                .map(|s| parse::request_status(&s).map(|s| s.as_str().to_string()))
                .transpose()?;
            let store = ctx.store()?;
            let assignee = assignee.map(|a| resolve_member(&store, &a)).transpose()?;
            let rows = store.list_requests(&RequestFilter {
                kind: kind.map(|k| parse::request_kind(&k)),
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
                say(t!("cli-no-requests"));
                return Ok(());
            }
            let names = member_names(&store);
            // the time column is the one the list is ordered by
            let (column, at): (String, fn(&cunwu_core::store::RequestSummary) -> i64) = match order
            {
                ListOrder::Newest => (t!("cli-col-filed"), |r| r.created_at),
                ListOrder::Recent => (t!("cli-col-updated"), |r| r.updated_at),
            };
            let mut t = Table::new(&[
                &t!("cli-col-id"),
                &t!("cli-col-kind"),
                &t!("cli-col-status"),
                &t!("cli-col-filer"),
                &t!("cli-col-assignee"),
                &column,
                &t!("cli-col-title"),
            ]);
            for r in &rows {
                t.row(vec![
                    short(&r.id).into(),
                    kind_label(&r.kind),
                    label(&r.status),
                    name_of(&names, &r.filer),
                    r.assignee
                        .as_deref()
                        .map(|a| name_of(&names, a))
                        .unwrap_or_default(),
                    when(at(r)),
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
            let to = parse::request_status(&to)?;
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Request, &id)?;
            store.transition_request(&id, to, &note)?;
            done(
                ctx,
                &store,
                &id,
                &t!("cli-request-now", id = short(&id), status = label(&to)),
            )
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
                &t!(
                    "cli-request-assigned",
                    id = short(&id),
                    name = name_of(&member_names(&store), &who)
                ),
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
                &if internal {
                    t!("cli-request-internal-note", id = short(&id))
                } else {
                    t!("cli-request-comment", id = short(&id))
                },
            )
        }
        RequestCmd::Rate { id, stars, text } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Request, &id)?;
            store.rate_request(&id, stars, &text)?;
            done(
                ctx,
                &store,
                &id,
                &t!("cli-request-rated", id = short(&id), stars = stars),
            )
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
        kind: parse::request_kind(&a.kind),
        title: a.title,
        description: a.description,
        place,
        on_behalf_of,
        materials: vec![],
        attachments: a.attach,
    })?;
    done(ctx, &store, &id, &t!("cli-request-filed", id = short(&id)))
}

/// Report a successful write; `what` says what happened, in the run's language.
fn done(ctx: &Ctx, store: &Store, id: &str, what: &str) -> CliResult<()> {
    let r = store.request(id)?;
    if ctx.json {
        return print_json(
            &json!({ "id": id, "title": r.title, "status": r.status, "kind": r.kind }),
        );
    }
    say(t!("cli-request-done", what = what, title = &r.title));
    Ok(())
}

fn print_request(r: &ServiceRequest, names: &HashMap<String, String>) {
    say(&r.title);
    say("=".repeat(crate::output::width(&r.title).clamp(4, 60)));
    say(t!(
        "cli-request-kind-line",
        id = short(&r.id),
        kind = kind_label(&r.kind),
        status = cunwu_core::words::explain(crate::lang::lang(), &r.status)
    ));
    let mut who = t!(
        "cli-request-filed-line",
        when = when(r.created_at),
        name = name_of(names, &r.filer)
    );
    if let Some(b) = &r.filed_by {
        who += &t!("cli-request-entered-by", name = name_of(names, b));
    }
    if let Some(a) = &r.assignee {
        who += &t!("cli-request-assigned-to", name = name_of(names, a));
    }
    if let Some(d) = &r.expected_by {
        who += &t!("cli-request-expected-by", date = day(d));
    }
    say(who);
    if let Some(p) = &r.place {
        let mut s = t!("cli-request-place", place = &p.text);
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
        say(t!("cli-request-materials", list = m.join("  ")));
    }
    if !r.attachments.is_empty() {
        say("");
        say(t!("cli-request-attachments", n = r.attachments.len()));
        for a in &r.attachments {
            let x = &a.attachment;
            say(format!(
                "  {} {} ({}) · {} · {}",
                crate::lang::label(&x.kind()),
                x.name,
                crate::output::bytes(x.size),
                name_of(names, &a.by),
                &x.hash[..12]
            ));
        }
        say(t!("cli-request-attachments-hint", id = short(&r.id)));
    }
    say("");
    say(t!("cli-history"));
    for (at, line) in history(r, names) {
        say(format!("  {} {line}", when(at)));
    }
    if !r.comments.is_empty() {
        say("");
        say(t!("cli-comments"));
        for c in &r.comments {
            let tag = if c.internal {
                t!("cli-internal-tag")
            } else {
                String::new()
            };
            say(t!(
                "cli-comment-line",
                when = when(c.at),
                name = name_of(names, &c.by),
                tag = tag,
                text = &c.text
            ));
        }
    }
    if let Some(rt) = &r.rating {
        say("");
        let stars =
            "★".repeat(rt.stars as usize) + &"☆".repeat(5usize.saturating_sub(rt.stars as usize));
        say(t!("cli-rating", stars = stars, text = &rt.text) + &rated_by(rt, names));
    }
}

// ---- words for people (issue 14) ----------------------------------------------------

/// The history of a request in time order: the filing, every transition (superseded
/// ones too, and who acted for whom), every assignment.
fn history(r: &ServiceRequest, names: &HashMap<String, String>) -> Vec<(i64, String)> {
    let mut out = vec![(
        r.created_at,
        match &r.filed_by {
            Some(b) => t!(
                "cli-history-filed-for",
                name = name_of(names, b),
                filer = name_of(names, &r.filer),
                status = label(&Status::Submitted)
            ),
            None => t!(
                "cli-history-filed-by",
                name = name_of(names, &r.filer),
                status = label(&Status::Submitted)
            ),
        },
    )];
    for tr in &r.transitions {
        let mut line = match tr.on_behalf_of.as_deref() {
            Some(f) => t!(
                "cli-history-acted-for",
                name = name_of(names, &tr.by),
                filer = name_of(names, f),
                from = label(&tr.from),
                to = label(&tr.to)
            ),
            None => t!(
                "cli-history-acted",
                name = name_of(names, &tr.by),
                from = label(&tr.from),
                to = label(&tr.to)
            ),
        };
        if !tr.note.is_empty() {
            line += &t!("cli-history-note", note = &tr.note);
        }
        if !tr.applied {
            line += &t!("cli-history-superseded");
        }
        out.push((tr.at, line));
    }
    for a in &r.assignments {
        out.push((
            a.at,
            t!(
                "cli-history-assigned",
                name = name_of(names, &a.by),
                assignee = name_of(names, &a.assignee)
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
        Some(f) => t!(
            "cli-rated-for",
            name = name_of(names, &rt.by),
            filer = name_of(names, f)
        ),
        None => String::new(),
    }
}
