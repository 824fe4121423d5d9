//! `cunwu-relay`: serve, and the admin commands that work on the same database file.

use clap::{Parser, Subcommand};
use cunwu_relay::{HttpConfig, Limits};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The relay allocates and frees many small buffers per sync on many threads (rows,
/// changes, answers); mimalloc's per-thread pages do that at about a third of the cost
/// of glibc's malloc, which was a sixth of a small sync's CPU (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cunwu-relay",
    version,
    about = "Cunwu relay: one-round-trip sync for village spaces"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve HTTP (default 127.0.0.1:8700, database ./cunwu-relay.db; `--db postgres://…`
    /// for PostgreSQL).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: String,
        /// SQLite file, or a PostgreSQL URL (postgres://user@host/db) so that several
        /// relay processes serve the same spaces.
        #[arg(long, default_value = "cunwu-relay.db")]
        db: PathBuf,
        /// Largest request body accepted, in bytes.
        #[arg(long, default_value_t = 32 * 1024 * 1024)]
        max_body_bytes: usize,
        /// Sync requests allowed per device and space per minute.
        #[arg(long, default_value_t = 120)]
        rate_per_minute: u32,
        /// Seconds before a request is answered 408.
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
        /// Seconds a connection may wait for a request's headers (new, or idle
        /// between keep-alive requests) before it is closed.
        #[arg(long, default_value_t = 10)]
        header_timeout_secs: u64,
        /// Seconds a request body may take to arrive before it is answered 408.
        #[arg(long, default_value_t = 30)]
        body_timeout_secs: u64,
        /// Connections served at once (more wait in the accept queue); lowered to
        /// what the open-file limit allows.
        #[arg(long, default_value_t = 4096)]
        max_connections: usize,
        /// Syncs worked on at once (default: twice the cores).
        #[arg(long)]
        sync_workers: Option<usize>,
        /// Milliseconds a sync waits for a worker before it is answered 503.
        #[arg(long, default_value_t = 2000)]
        sync_queue_wait_ms: u64,
        /// MiB of request bodies held in memory at once, over all connections
        /// (past it, reading slows down, then 503).
        #[arg(long, default_value_t = 1024)]
        body_memory_mb: usize,
        /// Plain-text logs instead of JSON lines.
        #[arg(long)]
        plain_logs: bool,
    },
    /// Spaces (villages).
    Space {
        #[command(subcommand)]
        cmd: SpaceCmd,
    },
    /// Invites.
    Invite {
        #[command(subcommand)]
        cmd: InviteCmd,
    },
    /// A consistent copy of an SQLite relay database, made while the relay serves it
    /// (SQLite online backup). PostgreSQL: use pg_dump (docs/ARCHITECTURE.md).
    Backup {
        /// The SQLite file the relay serves.
        #[arg(long, default_value = "cunwu-relay.db")]
        db: PathBuf,
        /// Where to write the copy (a new file).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Restore: with --from, copy a backup over the SQLite database (stop the relay
    /// first); then give every space's log a new epoch, so phones that synced since the
    /// backup pull again and re-send what the relay no longer holds. PostgreSQL:
    /// pg_restore, then this command without --from.
    Restore {
        /// SQLite file, or a PostgreSQL URL.
        #[arg(long, default_value = "cunwu-relay.db")]
        db: PathBuf,
        /// The backup to copy in (SQLite only).
        #[arg(long)]
        from: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device (by key) or a member (by id) with all their devices.
    Revoke {
        #[arg(long)]
        space: String,
        #[arg(long)]
        target: String,
        /// SQLite file, or a PostgreSQL URL (postgres://user@host/db) so that several
        /// relay processes serve the same spaces.
        #[arg(long, default_value = "cunwu-relay.db")]
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SpaceCmd {
    /// Create a space; prints its id and the first cadre invite.
    Create {
        #[arg(long)]
        name: String,
        /// SQLite file, or a PostgreSQL URL (postgres://user@host/db) so that several
        /// relay processes serve the same spaces.
        #[arg(long, default_value = "cunwu-relay.db")]
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum InviteCmd {
    /// Create an invite for a role in a space.
    Create {
        #[arg(long)]
        space: String,
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        household: String,
        #[arg(long, default_value = "")]
        group: String,
        /// The person on the space's register the invite enrols (their id)
        #[arg(long)]
        person: Option<String>,
        /// The person lives or works away from the village
        #[arg(long)]
        migrant: bool,
        /// Where a migrant lives or works (a city)
        #[arg(long)]
        lives_in: Option<String>,
        /// SQLite file, or a PostgreSQL URL (postgres://user@host/db) so that several
        /// relay processes serve the same spaces.
        #[arg(long, default_value = "cunwu-relay.db")]
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("cunwu-relay: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve {
            listen,
            db,
            max_body_bytes,
            rate_per_minute,
            timeout_secs,
            header_timeout_secs,
            body_timeout_secs,
            max_connections,
            sync_workers,
            sync_queue_wait_ms,
            body_memory_mb,
            plain_logs,
        } => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into());
            if plain_logs {
                tracing_subscriber::fmt()
                    .with_env_filter(filter)
                    .with_writer(std::io::stderr)
                    .init();
            } else {
                tracing_subscriber::fmt()
                    .json()
                    .with_env_filter(filter)
                    .with_writer(std::io::stderr)
                    .init();
            }
            let nofile = match cunwu_relay::raise_open_file_limit() {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "could not raise the open-file limit");
                    rlimit::getrlimit(rlimit::Resource::NOFILE)
                        .map(|(soft, _)| soft)
                        .unwrap_or(1024)
                }
            };
            let cfg = HttpConfig {
                max_body_bytes,
                request_timeout: Duration::from_secs(timeout_secs),
                header_timeout: Duration::from_secs(header_timeout_secs.max(1)),
                body_timeout: Duration::from_secs(body_timeout_secs.max(1)),
                max_connections: cunwu_relay::connection_cap(max_connections, nofile),
                sync_workers: sync_workers
                    .unwrap_or_else(cunwu_relay::http::default_sync_workers)
                    .max(1),
                sync_queue_wait: Duration::from_millis(sync_queue_wait_ms),
                body_memory_bytes: body_memory_mb
                    .max(1)
                    .saturating_mul(1024 * 1024)
                    .max(max_body_bytes),
            };
            if cfg.max_connections < max_connections {
                tracing::warn!(
                    asked = max_connections,
                    cap = cfg.max_connections,
                    nofile,
                    "connection cap lowered to fit the open-file limit"
                );
            }
            let relay = match cunwu_relay::open(
                &db,
                Limits {
                    requests_per_minute: rate_per_minute,
                    ..Limits::default()
                },
            ) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            match relay.prune_counters() {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    rows = n,
                    "pruned replay counters and roster floors of devices that may no longer sync"
                ),
                Err(e) => tracing::warn!(error = %e, "could not prune replay counters"),
            }
            match relay.prune_nonces(cunwu_protocol::ids::now_ms()) {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "pruned the nonces of old control requests"),
                Err(e) => tracing::warn!(error = %e, "could not prune nonces"),
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let res = rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&listen).await?;
                tracing::info!(
                    listen = %listener.local_addr()?,
                    db = %cunwu_relay::pg::redact(&db.to_string_lossy()),
                    max_connections = cfg.max_connections,
                    sync_workers = cfg.sync_workers,
                    nofile,
                    "relay listening"
                );
                cunwu_relay::serve(relay, listener, cfg, shutdown_signal()).await?;
                tracing::info!("relay stopped");
                Ok::<_, std::io::Error>(())
            });
            match res {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Cmd::Space {
            cmd: SpaceCmd::Create { name, db, json },
        } => {
            let relay = match cunwu_relay::open(&db, Limits::default()) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            match relay.create_space(&name) {
                Ok((space_id, invite)) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"space_id": space_id, "invite": invite, "name": name})
                        );
                    } else {
                        println!("space {name}: {space_id}\nfirst cadre invite: {invite}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Cmd::Invite {
            cmd:
                InviteCmd::Create {
                    space,
                    role,
                    household,
                    group,
                    person,
                    migrant,
                    lives_in,
                    db,
                    json,
                },
        } => {
            let role = match cunwu_protocol::Role::parse(&role) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let relay = match cunwu_relay::open(&db, Limits::default()) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let enrols = cunwu_protocol::wire::control::InviteFor {
                person,
                migrant,
                lives_in,
            };
            match relay.admin_invite_for(&space, role, &household, &group, &enrols) {
                Ok(invite) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"invite": invite, "role": role.as_str()})
                        );
                    } else {
                        println!("{invite}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Cmd::Backup { db, out, json } => {
            if cunwu_relay::pg::is_url(&db.to_string_lossy()) {
                return fail(
                    "a PostgreSQL relay is backed up with pg_dump (see docs/ARCHITECTURE.md)",
                );
            }
            match cunwu_relay::db::backup(&db, &out) {
                Ok(pages) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"backup": out.display().to_string(), "pages": pages})
                        );
                    } else {
                        println!(
                            "backed up {} to {} ({pages} pages)",
                            db.display(),
                            out.display()
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Cmd::Restore { db, from, json } => {
            if let Some(from) = &from {
                if cunwu_relay::pg::is_url(&db.to_string_lossy()) {
                    return fail("a PostgreSQL relay is restored with pg_restore; then run `cunwu-relay restore --db URL` without --from");
                }
                if let Err(e) = cunwu_relay::db::restore_file(from, &db) {
                    return fail(e);
                }
            }
            let relay = match cunwu_relay::open(&db, Limits::default()) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            match relay.renew_epochs() {
                Ok(()) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"restored": true, "new_epochs": true})
                        );
                    } else {
                        println!("every space's log has a new epoch: phones will pull again and re-send what this relay lacks");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Cmd::Revoke {
            space,
            target,
            db,
            json,
        } => {
            let relay = match cunwu_relay::open(&db, Limits::default()) {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            match relay.admin_revoke(&space, &target) {
                Ok(()) => {
                    if json {
                        println!("{}", serde_json::json!({"revoked": target}));
                    } else {
                        println!("revoked {target}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal: finishing requests in flight");
}
