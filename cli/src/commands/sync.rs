//! `cunwu sync` (one exchange with the relay, with progress on a terminal) and
//! `cunwu bundle export|import|have` (the same signed changes as a file).

use crate::args::{BundleCmd, SyncArgs};
use crate::context::{runtime, Ctx};
use crate::error::CliResult;
use crate::output::{bytes, print_json, say};
use cunwu_core::bundle;
use cunwu_core::store::ChangeState;
use cunwu_core::sync::{ProgressObserver, SyncClient, SyncProgress};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

/// Page and byte progress on stderr, overwriting one line.
struct TerminalProgress;

impl ProgressObserver for TerminalProgress {
    fn progress(&self, p: &SyncProgress) {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Ksync: page {} · ↑ {} · ↓ {} · {} change(s) received{}",
            p.page,
            bytes(p.bytes_sent),
            bytes(p.bytes_received),
            p.received,
            if p.done { "\n" } else { "" }
        );
        let _ = err.flush();
    }
}

pub fn sync(ctx: &Ctx, a: SyncArgs) -> CliResult<()> {
    let store = ctx.store()?;
    let m = store.membership()?.ok_or(cunwu_core::Error::NotEnrolled)?;
    let observer: Option<Arc<dyn ProgressObserver>> = (!ctx.json
        && std::io::stdout().is_terminal())
    .then(|| Arc::new(TerminalProgress) as Arc<dyn ProgressObserver>);
    if observer.is_some() {
        eprint!("sync: contacting {} …", m.relay_url);
    }
    let client = SyncClient::new(Duration::from_secs(a.timeout.max(1)));
    let rt = runtime()?;
    let result = rt.block_on(client.sync_with_retry(&store, a.attempts.max(1), observer.clone()));
    if observer.is_some() && result.is_err() {
        eprintln!();
    }
    let report = result.map_err(|e| match e {
        cunwu_core::Error::Network(why) => crate::error::CliError::failure(format!(
            "cannot reach the relay at {} ({why}); local changes stay on this device until the next sync",
            m.relay_url
        )),
        other => other.into(),
    })?;
    let pending = store
        .local_changes(None, 10_000)?
        .iter()
        .filter(|c| matches!(c.state, ChangeState::Pending | ChangeState::Sent))
        .count();
    if ctx.json {
        let mut v = serde_json::to_value(&report).expect("report serializes");
        v["pending"] = json!(pending);
        v["relay_url"] = json!(m.relay_url);
        return print_json(&v);
    }
    say(format!(
        "synced with {}: sent {} (acked {}), received {}, rejected {} · {} round trip(s), {} up, {} down",
        m.relay_url,
        report.sent,
        report.acked,
        report.received,
        report.rejected,
        report.round_trips,
        bytes(report.bytes_sent),
        bytes(report.bytes_received)
    ));
    if report.rejected > 0 {
        say(format!(
            "the relay REJECTED {} of your change(s); they were undone on this device:",
            report.rejected
        ));
        for r in &report.rejections {
            say(format!("  ✗ {r}"));
        }
        say("(`cunwu status` lists every rejected change with its reason)");
    }
    if report.refused_incoming > 0 {
        say(format!(
            "{} incoming change(s) failed this device's checks and were not applied",
            report.refused_incoming
        ));
    }
    Ok(())
}

pub fn bundle(ctx: &Ctx, cmd: BundleCmd) -> CliResult<()> {
    let store = ctx.store()?;
    match cmd {
        BundleCmd::Export { file, have } => {
            let have = have.map(|h| bundle::read_have(&h)).transpose()?;
            let n = bundle::export(&store, &file, have.as_ref())?;
            if ctx.json {
                return print_json(
                    &json!({ "file": file, "bytes": n, "incremental": have.is_some() }),
                );
            }
            say(format!(
                "wrote {} to {}{}",
                bytes(n),
                file.display(),
                if have.is_some() {
                    " (only what the peer lacks)"
                } else {
                    ""
                }
            ));
        }
        BundleCmd::Import { file } => {
            let r = bundle::import(&store, &file)?;
            let rejected: Vec<_> = r
                .merge
                .rejected
                .iter()
                .map(|(e, h, why)| json!({ "entity": e, "hash": h, "reason": why }))
                .collect();
            if ctx.json {
                return print_json(&json!({
                    "file": file,
                    "applied": r.merge.applied,
                    "duplicates": r.merge.duplicates,
                    "parked": r.merge.parked,
                    "rejected": rejected,
                    "tallies": r.tallies,
                }));
            }
            say(format!(
                "imported {}: {} change(s) applied, {} already here, {} waiting for earlier changes, {} refused, {} tally(ies)",
                file.display(),
                r.merge.applied,
                r.merge.duplicates,
                r.merge.parked,
                r.merge.rejected.len(),
                r.tallies
            ));
            for (e, _, why) in &r.merge.rejected {
                say(format!("  ✗ {}: {why}", crate::output::short(e)));
            }
        }
        BundleCmd::Have { file } => {
            bundle::write_have(&store, &file)?;
            let n = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            if ctx.json {
                return print_json(&json!({ "file": file, "bytes": n }));
            }
            say(format!(
                "wrote this device's summary ({}) to {}",
                bytes(n),
                file.display()
            ));
            say("give it to the other device: `cunwu bundle export OUT --for THIS_FILE` there");
        }
    }
    Ok(())
}
