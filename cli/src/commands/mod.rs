//! One module per command family; `run` dispatches the parsed command line.

mod affairs;
mod amount;
mod attachment;
mod deliberation;
mod device;
mod notice;
mod parse;
mod proposal;
mod register;
mod repair;
mod request;
mod search;
mod sync;

#[cfg(feature = "demo")]
pub use deliberation::visible_tally;

use crate::args::{Cli, Command};
use crate::context::Ctx;
use crate::error::CliResult;

pub fn run(cli: Cli) -> CliResult<()> {
    let ctx = Ctx::new(cli.home, cli.json);
    match cli.command {
        Command::Enroll(a) => device::enroll(&ctx, a),
        Command::Status => device::status(&ctx),
        Command::Members => device::members(&ctx),
        Command::Invite(c) => device::invite(&ctx, c),
        Command::Register(c) => register::run(&ctx, c),
        Command::Proposal(c) => proposal::run(&ctx, c),
        Command::Notice(c) => notice::run(&ctx, c),
        Command::Request(c) => request::run(&ctx, c),
        Command::Deliberation(c) => deliberation::run(&ctx, c),
        Command::Search(a) => search::run(&ctx, a),
        Command::Sync(a) => sync::sync(&ctx, a),
        Command::Bundle(c) => sync::bundle(&ctx, c),
        Command::Attachment(c) => attachment::run(&ctx, c),
        Command::Matter(c) => affairs::matter(&ctx, c),
        Command::Party(c) => affairs::party(&ctx, c),
        Command::Repair => repair::repair(&ctx),
        Command::Amount(a) => amount::amount(&ctx, a),
        #[cfg(feature = "demo")]
        Command::Demo => crate::demo::run(ctx.json),
    }
}
