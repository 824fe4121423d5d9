//! `cunwu`: a Cunwu (村务) device on the command line — a cadre's laptop, scripts, and
//! the end-to-end demo. One device per `--home DIR`; every command works offline
//! except `enroll`, `sync` and `invite create`, which talk to the relay.
//!
//! Layout: `args` (the command line), `commands/*` (one module per command family),
//! `context` (store, ids, members), `output` (JSON, tables, yuan, times), `error`
//! (exit codes), `demo` + `corpus` (`cunwu demo`, feature `demo`, on by default: the
//! only part of the CLI that links the relay).

mod args;
mod commands;
mod context;
#[cfg(feature = "demo")]
mod corpus;
#[cfg(feature = "demo")]
mod demo;
mod error;
mod output;

use clap::Parser;

fn main() {
    // A bug must not greet the user with a backtrace; bad input never panics.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("cunwu: internal error (please report): {info}");
    }));
    let cli = args::Cli::parse();
    if let Err(e) = commands::run(cli) {
        eprintln!("cunwu: {e}");
        std::process::exit(e.exit_code());
    }
}
