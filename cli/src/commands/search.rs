//! `cunwu search QUERY`: ranked full-text search (two-character Chinese words such as
//! 低保 or 修路 included), with each hit's current status.

use crate::args::SearchArgs;
use crate::context::Ctx;
use crate::error::CliResult;
use crate::output::{clip, print_json, say, short, Table};
use cunwu_core::ids::now_ms;
use cunwu_core::Store;
use serde_json::json;

/// The status of a hit, as its list would show it.
fn status_of(store: &Store, kind: &str, id: &str) -> String {
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
        .map(|h| json!({ "id": h.id, "kind": h.kind, "title": h.title, "status": status_of(&store, h.kind.as_str(), &h.id), "rank": h.rank }))
        .collect();
    if ctx.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        say(format!("nothing found for {:?}", a.query));
        return Ok(());
    }
    let mut t = Table::new(&["ID", "KIND", "STATUS", "TITLE"]);
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        t.row(vec![
            short(&s("id")).into(),
            s("kind"),
            s("status"),
            clip(&s("title"), 56),
        ]);
    }
    t.print();
    Ok(())
}
