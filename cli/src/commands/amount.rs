//! `cunwu amount FEN`: an amount in the forms people read and hear
//! (`cunwu_core::words::money`). Text: figures, uppercase, spoken, one per line;
//! `--json`: `{"fen", "figures", "compact", "upper", "spoken"}`. Needs no device home.

use crate::args::AmountArgs;
use crate::context::Ctx;
use crate::error::{CliError, CliResult};
use crate::output::{print_json, say};
use crate::t;
use cunwu_core::words::money;

pub fn amount(ctx: &Ctx, a: AmountArgs) -> CliResult<()> {
    let forms = money::forms(a.fen).map_err(|e| {
        CliError::usage(t!(
            "cli-amount-too-large",
            fen = e.0,
            max = money::MAX_WORDS_FEN
        ))
    })?;
    if ctx.json {
        return print_json(&forms);
    }
    say(&forms.figures);
    say(&forms.upper);
    say(&forms.spoken);
    Ok(())
}
