//! `cunwu repair`: the phone heals. Runs the store's integrity check (SQLite, every
//! document, every list row, the outbox), sets damaged entities aside to be fetched
//! again, re-derives missing outbox rows, rebuilds the lists, and asks the next sync
//! to pull everything again from the relay. Prints what was found and done in plain
//! words (or JSON with `--json`); exits 0 when the store could be repaired.

use crate::context::Ctx;
use crate::error::CliResult;
use crate::output::{print_json, say, short, shorten_ids};
use crate::t;

pub fn repair(ctx: &Ctx) -> CliResult<()> {
    let store = ctx.store()?;
    let r = store.repair()?;
    if ctx.json {
        return print_json(&r);
    }
    let found = r.before.problems();
    if found.is_empty() {
        say(t!("cli-repair-no-damage"));
    } else {
        say(t!("cli-repair-found", n = found.len()));
        for p in &found {
            say(format!("  ✗ {}", shorten_ids(p)));
        }
    }
    for (e, why) in &r.quarantined {
        say(t!(
            "cli-repair-quarantined",
            id = short(e),
            why = shorten_ids(why)
        ));
    }
    if r.outbox_restored > 0 {
        say(t!("cli-repair-outbox-restored", n = r.outbox_restored));
    }
    for (h, why) in &r.lost {
        say(t!(
            "cli-repair-lost",
            hash = short(h),
            why = shorten_ids(why)
        ));
    }
    if r.parked_dropped > 0 {
        say(t!("cli-repair-parked-dropped", n = r.parked_dropped));
    }
    if r.restored > 0 {
        say(t!("cli-repair-restored", n = r.restored));
    }
    say(t!("cli-repair-rebuilt"));
    say(t!("cli-repair-next-sync"));
    let left = r.after.problems();
    if left.is_empty() {
        say(t!("cli-repair-clean"));
    } else {
        say(t!("cli-repair-left", n = left.len()));
        for p in &left {
            say(format!("  · {}", shorten_ids(p)));
        }
    }
    Ok(())
}
