//! Output helpers: JSON on stdout, aligned text tables that respect the double width
//! of Chinese characters, money in yuan, short ids (times and dates are put into words
//! by `lang::when`, in village time).

use crate::error::{CliError, CliResult};
use serde::Serialize;
use std::io::Write;

/// Print a value as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(v: &T) -> CliResult<()> {
    let s = serde_json::to_string_pretty(v).map_err(|e| {
        CliError::failure(crate::t!("cli-cannot-encode-json", detail = e.to_string()))
    })?;
    let mut out = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth a message.
    let _ = writeln!(out, "{s}");
    Ok(())
}

/// The first 8 characters of an id: enough to tell entities apart on screen, and
/// accepted back as a prefix by every command.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// Text with every full id (32 hex characters or more: entity ids, keys, change
/// hashes) cut to its short form, for developer detail shown to a person.
pub fn shorten_ids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 32 {
            out.push_str(short(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Fen as yuan with thousands separators: `¥186,432.50`, `-¥12.00`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    let (whole, cents) = (abs / 100, abs % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}¥{grouped}.{cents:02}")
}

/// Bytes in a readable unit.
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    }
}

/// Display width of a character on a terminal: East Asian wide characters take two columns.
fn char_width(c: char) -> usize {
    let u = c as u32;
    let wide = matches!(u,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Cut `s` to at most `max` columns, ending with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// A text table with columns aligned by display width.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| width(c))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for r in &self.rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                line.push_str(c);
                if i + 1 < r.len() {
                    line.push_str(&" ".repeat(widths[i] - width(c) + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        let _ = std::io::stdout().lock().write_all(self.render().as_bytes());
    }
}

/// Print text on stdout (ignoring a closed pipe).
pub fn say(s: impl AsRef<str>) {
    let _ = writeln!(std::io::stdout().lock(), "{}", s.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_time() {
        assert_eq!(yuan(18643250), "¥186,432.50");
        assert_eq!(yuan(-1200), "-¥12.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(100_000_000), "¥1,000,000.00");
    }

    #[test]
    fn full_ids_are_shortened() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            shorten_ids(&format!("entity {id}: missing; 2026 cafe")),
            "entity 01234567: missing; 2026 cafe"
        );
    }

    #[test]
    fn widths() {
        assert_eq!(width("低保a"), 5);
        assert_eq!(clip("关于修路的通知", 7), "关于修…");
        let mut t = Table::new(&["ID", "标题"]);
        t.row(vec!["a".into(), "x".into()]);
        assert_eq!(t.render(), "ID  标题\na   x\n");
    }
}
