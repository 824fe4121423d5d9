//! `cunwu`: a Cunwu (村务) device on the command line — a cadre's laptop, scripts, and
//! the end-to-end demo. One device per `--home DIR`; every command works offline
//! except `enroll`, `sync` and `invite create`, which talk to the relay. It speaks
//! Simplified Chinese unless asked for English (`--lang en`, `CUNWU_LANG=en`).
//!
//! Layout: `args` (the command line), `commands/*` (one module per command family),
//! `context` (store, ids, members), `lang` (the run's language and the catalogue),
//! `output` (JSON, tables, yuan, short ids), `error` (exit codes, error messages),
//! `demo` + `corpus` (`cunwu demo`, feature `demo`, on by default: the only part of
//! the CLI that links the relay).

mod args;
mod commands;
mod context;
#[cfg(feature = "demo")]
mod corpus;
#[cfg(feature = "demo")]
mod demo;
mod error;
mod lang;
mod output;

use clap::Parser;
use error::CliError;

fn main() {
    // A bug must not greet the user with a backtrace; bad input never panics.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("cunwu: {}: {info}", t!("cli-internal-error"));
    }));
    let wants_json = std::env::args().any(|a| a == "--json");
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        // clap's own messages (and --help) stay English; with --json a usage error is
        // still one JSON object on stderr
        Err(e) if wants_json && e.use_stderr() => {
            let first = e.to_string();
            let first = first
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            fail(true, &CliError::usage(first.to_string()), e.exit_code());
        }
        Err(e) => e.exit(),
    };
    let env = std::env::var(lang::LANG_ENV).ok();
    match lang::choose(cli.lang.as_deref(), env.as_deref()) {
        Ok(l) => lang::set(l),
        Err((from, value)) => {
            let e = CliError::usage(t!("cli-unknown-lang", from = from, value = value));
            fail(cli.json, &e, 2);
        }
    }
    let json = cli.json;
    if let Err(e) = commands::run(cli) {
        fail(json, &e, e.exit_code());
    }
}

fn fail(json: bool, e: &CliError, code: i32) -> ! {
    if json {
        eprintln!("{}", e.to_json());
    } else {
        eprintln!("cunwu: {e}");
    }
    std::process::exit(code);
}
