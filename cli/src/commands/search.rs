//! `cunwu search QUERY`: ranked full-text search (two-character Chinese words such as
//! 低保 or 修路 included), with each hit's current status.

use crate::args::SearchArgs;
use crate::context::Ctx;
use crate::error::CliResult;
use crate::lang::label;
use crate::output::{clip, print_json, say, short, Table};
use crate::t;
use cunwu_core::ids::now_ms;
use cunwu_core::Store;
use serde_json::json;

/// The status of a hit, as its list would show it (`label`: in words, else the
/// identifier as `--json` prints it).
fn status_of(store: &Store, kind: &str, id: &str, words: bool) -> String {
    if words {
        return match kind {
            "notice" => store.notice(id).map(|n| label(&n.status)),
            "request" => store.request(id).map(|r| label(&r.status)),
            "deliberation" => store.deliberation(id).map(|d| label(&d.phase(now_ms()))),
            _ => return String::new(),
        }
        .unwrap_or_default();
    }
    match kind {
        "notice" => store
            .notice(id)
            .map(|n| n.status.as_str().to_string())
            .unwrap_or_default(),
        "request" => store
            .request(id)
            .map(|r| r.status.as_str().to_string())
            .unwrap_or_default(),
        "deliberation" => store
            .deliberation(id)
            .map(|d| d.phase(now_ms()).as_str().to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

pub fn run(ctx: &Ctx, a: SearchArgs) -> CliResult<()> {
    let store = ctx.store()?;
    let hits = store.search(&a.query, a.limit)?;
    let rows: Vec<_> = hits
        .iter()
        .map(|h| json!({ "id": h.id, "kind": h.kind, "title": h.title, "status": status_of(&store, h.kind.as_str(), &h.id, false), "rank": h.rank }))
        .collect();
    if ctx.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        say(t!("cli-search-nothing", query = &a.query));
        return Ok(());
    }
    let mut t = Table::new(&[
        &t!("cli-col-id"),
        &t!("cli-col-kind"),
        &t!("cli-col-status"),
        &t!("cli-col-title"),
    ]);
    for h in &hits {
        t.row(vec![
            short(&h.id).into(),
            label(&h.kind),
            status_of(&store, h.kind.as_str(), &h.id, true),
            clip(&h.title, 56),
        ]);
    }
    t.print();
    Ok(())
}
