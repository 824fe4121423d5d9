//! `cunwu sync` (one exchange with the relay, with progress on a terminal) and
//! `cunwu bundle export|import|have` (the same signed changes as a file).

use crate::args::{BundleCmd, SyncArgs};
use crate::context::{runtime, Ctx};
use crate::error::CliResult;
use crate::output::{bytes, print_json, say, short, shorten_ids};
use crate::t;
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
        let mut line = t!(
            "cli-sync-progress",
            page = p.page,
            sent = bytes(p.bytes_sent),
            received_bytes = bytes(p.bytes_received),
            received = p.received
        );
        // how much is left (the relay says, after each page) and how long it should take
        if !p.done && p.remaining_change_bytes > 0 {
            line += &t!(
                "cli-sync-left",
                percent = p.percent,
                left = bytes(p.remaining_change_bytes)
            );
            if let Some(ms) = p.eta_ms {
                let secs = ms.div_ceil(1000);
                line += &if secs >= 120 {
                    t!("cli-sync-eta-minutes", minutes = secs.div_ceil(60))
                } else {
                    t!("cli-sync-eta-seconds", seconds = secs)
                };
            }
        }
        let _ = write!(err, "\r\x1b[2K{line}{}", if p.done { "\n" } else { "" });
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
        eprint!("{}", t!("cli-sync-contacting", url = &m.relay_url));
    }
    let client = SyncClient::new(Duration::from_secs(a.timeout.max(1)));
    let rt = runtime()?;
    let result = rt.block_on(client.sync_with_retry(&store, a.attempts.max(1), observer.clone()));
    if observer.is_some() && result.is_err() {
        eprintln!();
    }
    let report = result.map_err(|e| match e {
        cunwu_core::Error::Network(why) => crate::error::CliError::failure(t!(
            "cli-sync-unreachable",
            url = &m.relay_url,
            detail = why
        )),
        other => other.into(),
    })?;
    // then the attachments, on their own lane: a failing one never undoes the documents
    let blobs = rt.block_on(client.sync_blobs(&store, super::attachment::observer(ctx)));
    let (blobs, blob_error) = match blobs {
        Ok(b) => (b, None),
        Err(e) => (
            cunwu_core::store::BlobReport::default(),
            Some(crate::error::CliError::from(e).to_string()),
        ),
    };
    let (blobs_pending, blob_bytes_pending) = store.blobs_pending()?;
    let pending = store
        .local_changes(None, 10_000)?
        .iter()
        .filter(|c| matches!(c.state, ChangeState::Pending | ChangeState::Sent))
        .count();
    if ctx.json {
        let mut v = serde_json::to_value(&report).expect("report serializes");
        v["pending"] = json!(pending);
        v["relay_url"] = json!(m.relay_url);
        v["blobs_sent"] = json!(blobs.blobs_sent);
        v["blobs_received"] = json!(blobs.blobs_received);
        v["blob_bytes_sent"] = json!(blobs.blob_bytes_sent);
        v["blob_bytes_received"] = json!(blobs.blob_bytes_received);
        v["blobs_pending"] = json!(blobs_pending);
        v["blob_bytes_pending"] = json!(blob_bytes_pending);
        v["blobs_failed"] = json!(blobs.failed);
        v["blob_error"] = json!(blob_error);
        return print_json(&v);
    }
    say(t!(
        "cli-synced",
        url = &m.relay_url,
        sent = report.sent,
        acked = report.acked,
        received = report.received,
        rejected = report.rejected,
        trips = report.round_trips,
        up = bytes(report.bytes_sent),
        down = bytes(report.bytes_received)
    ));
    if report.rejected > 0 {
        say(t!("cli-sync-rejected", n = report.rejected));
        for r in &report.rejections {
            say(format!("  ✗ {}", shorten_ids(r)));
        }
        say(t!("cli-sync-rejected-hint"));
    }
    if report.refused_incoming > 0 {
        say(t!("cli-sync-refused-incoming", n = report.refused_incoming));
    }
    if blobs.blobs_sent + blobs.blobs_received > 0 {
        say(t!(
            "cli-blobs-synced",
            sent = blobs.blobs_sent,
            up = bytes(blobs.blob_bytes_sent),
            received = blobs.blobs_received,
            down = bytes(blobs.blob_bytes_received)
        ));
    }
    for detail in blobs
        .failed
        .iter()
        .map(|f| shorten_ids(f))
        .chain(blob_error)
    {
        say(t!("cli-blobs-failed", detail = detail));
    }
    if blobs_pending > 0 {
        say(t!(
            "cli-blobs-on-the-way",
            n = blobs_pending,
            left = bytes(blob_bytes_pending)
        ));
    }
    Ok(())
}

pub fn bundle(ctx: &Ctx, cmd: BundleCmd) -> CliResult<()> {
    let store = ctx.store()?;
    match cmd {
        BundleCmd::Export { file, have } => {
            // the peer's summary names the attachments it holds: those are not sent again
            let have = have.map(|h| bundle::read_have_holding(&h)).transpose()?;
            let n = match &have {
                Some((summary, holds)) => bundle::export_for(&store, &file, Some(summary), holds)?,
                None => bundle::export(&store, &file, None)?,
            };
            if ctx.json {
                return print_json(
                    &json!({ "file": file, "bytes": n, "incremental": have.is_some() }),
                );
            }
            say(t!(
                if have.is_some() {
                    "cli-bundle-wrote-incremental"
                } else {
                    "cli-bundle-wrote"
                },
                size = bytes(n),
                file = file.display().to_string()
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
                    "attachments": r.attachments,
                }));
            }
            say(t!(
                "cli-bundle-imported",
                file = file.display().to_string(),
                applied = r.merge.applied,
                duplicates = r.merge.duplicates,
                parked = r.merge.parked,
                refused = r.merge.rejected.len(),
                tallies = r.tallies
            ));
            for (e, _, why) in &r.merge.rejected {
                say(format!("  ✗ {}: {}", short(e), shorten_ids(why)));
            }
        }
        BundleCmd::Have { file } => {
            bundle::write_have(&store, &file)?;
            let n = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            if ctx.json {
                return print_json(&json!({ "file": file, "bytes": n }));
            }
            say(t!(
                "cli-bundle-have",
                size = bytes(n),
                file = file.display().to_string()
            ));
            say(t!("cli-bundle-have-hint"));
        }
    }
    Ok(())
}
