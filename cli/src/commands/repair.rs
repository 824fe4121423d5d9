//! `cunwu repair`: the phone heals. Runs the store's integrity check (SQLite, every
//! document, every list row, the outbox), sets damaged entities aside to be fetched
//! again, re-derives missing outbox rows, rebuilds the lists, and asks the next sync
//! to pull everything again from the relay. Prints what was found and done in plain
//! words (or JSON with `--json`); exits 0 when the store could be repaired.

use crate::context::Ctx;
use crate::error::CliResult;
use crate::output::{print_json, say};

pub fn repair(ctx: &Ctx) -> CliResult<()> {
    let store = ctx.store()?;
    let r = store.repair()?;
    if ctx.json {
        return print_json(&r);
    }
    let found = r.before.problems();
    if found.is_empty() {
        say("integrity check: no damage found");
    } else {
        say(format!("integrity check found {} problem(s):", found.len()));
        for p in &found {
            say(format!("  ✗ {p}"));
        }
    }
    for (e, why) in &r.quarantined {
        say(format!(
            "quarantined entity {e} ({why}); it will be fetched again from the relay"
        ));
    }
    if r.outbox_restored > 0 {
        say(format!(
            "{} local change(s) had lost their outbox row and will be sent with the next sync",
            r.outbox_restored
        ));
    }
    for (h, why) in &r.lost {
        say(format!("local change {h} can never be sent: {why}"));
    }
    if r.parked_dropped > 0 {
        say(format!(
            "dropped {} unreadable waiting change(s); the relay will send them again",
            r.parked_dropped
        ));
    }
    if r.restored > 0 {
        say(format!(
            "put {} kept local change(s) back into their documents",
            r.restored
        ));
    }
    say("lists and search rebuilt from the documents");
    say("the next `cunwu sync` fetches everything again from the relay (nothing is sent twice)");
    let left = r.after.problems();
    if left.is_empty() {
        say("after repair: no damage left");
    } else {
        say(format!(
            "after repair, {} problem(s) remain until the next sync:",
            left.len()
        ));
        for p in &left {
            say(format!("  · {p}"));
        }
    }
    Ok(())
}
