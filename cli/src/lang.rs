//! The language of everything the CLI says to a person (issue 14, "The CLI speaks
//! Chinese by default"). Chosen once per run: `--lang zh|en`, else `$CUNWU_LANG`, else
//! Simplified Chinese. The system locale is never consulted, so a server or CI prints
//! what a cadre sees. Every line meant for a person comes from the catalogue in
//! `cunwu_core::words` through [`t`] (or the `t!` macro), [`label`] and [`when`];
//! `--json` output is untouched by the language.

use cunwu_core::ids::now_ms;
use cunwu_core::words::{self, dates, Arg, Labelled, Lang};
use std::sync::OnceLock;

static LANG: OnceLock<Lang> = OnceLock::new();

/// The environment variable that picks the language when `--lang` is not given.
pub const LANG_ENV: &str = "CUNWU_LANG";

/// The language for this run: the flag wins, then the environment; Chinese by default.
/// An unknown value is an error (naming where it came from), not a silent fallback.
pub fn choose(flag: Option<&str>, env: Option<&str>) -> Result<Lang, (&'static str, String)> {
    if let Some(f) = flag {
        return Lang::parse(f).ok_or(("--lang", f.to_string()));
    }
    match env.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Lang::parse(e).ok_or((LANG_ENV, e.to_string())),
        None => Ok(Lang::Zh),
    }
}

pub fn set(l: Lang) {
    let _ = LANG.set(l);
}

pub fn lang() -> Lang {
    LANG.get().copied().unwrap_or_default()
}

/// A sentence of the catalogue in this run's language.
pub fn t(id: &str, args: &[(&str, Arg<'_>)]) -> String {
    words::text(lang(), id, args)
}

/// `t!("cli-notice-published", id = short(&id), title = &n.title)`.
#[macro_export]
macro_rules! t {
    ($id:expr) => {
        $crate::lang::t($id, &[])
    };
    ($id:expr, $($k:ident = $v:expr),+ $(,)?) => {
        $crate::lang::t($id, &[$((stringify!($k), cunwu_core::words::Arg::from($v))),+])
    };
}

/// The short label of a domain value ("已受理").
pub fn label(x: &impl Labelled) -> String {
    words::label(lang(), x)
}

/// A request kind's label (its identifier when the catalogue does not know it).
pub fn kind_label(kind: &str) -> String {
    label(&words::RequestKind(kind))
}

/// When something happened, as the village says it ("昨天 14:30").
pub fn when(ms: i64) -> String {
    dates::when(lang(), ms, now_ms())
}

/// A `YYYY-MM-DD` date as the village says it ("7月1日").
pub fn day(date: &str) -> String {
    dates::civil_date(lang(), date, now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_environment_then_chinese() {
        assert_eq!(choose(None, None), Ok(Lang::Zh));
        assert_eq!(choose(None, Some("")), Ok(Lang::Zh));
        assert_eq!(choose(None, Some("en_US.UTF-8")), Ok(Lang::En));
        assert_eq!(choose(Some("zh"), Some("en")), Ok(Lang::Zh));
        assert_eq!(choose(Some("en"), None), Ok(Lang::En));
        assert_eq!(choose(Some("fr"), None), Err(("--lang", "fr".into())));
        assert_eq!(choose(None, Some("de")), Err((LANG_ENV, "de".into())));
    }

    /// Every `cli-*` message id the CLI's source names exists in both languages.
    #[test]
    fn every_message_the_cli_names_is_in_the_catalogue() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![dir.clone()];
        let mut ids = vec![];
        while let Some(p) = files.pop() {
            if p.is_dir() {
                files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else if p.extension().is_some_and(|e| e == "rs") {
                let src = std::fs::read_to_string(&p).unwrap();
                for piece in src.split("\"cli-").skip(1) {
                    let id: String = piece
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect();
                    if !id.is_empty() && piece[id.len()..].starts_with('"') {
                        ids.push((p.display().to_string(), format!("cli-{id}")));
                    }
                }
            }
        }
        assert!(ids.len() > 50, "found only {} ids", ids.len());
        let mut missing = vec![];
        for (file, id) in &ids {
            for l in Lang::ALL {
                if !words::catalogue::has(l, id) {
                    missing.push(format!("{l:?} {id} ({file})"));
                }
            }
        }
        assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
    }
}
