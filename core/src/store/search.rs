//! Full-text search for Simplified Chinese mixed with Latin text.
//!
//! SQLite's tokenizers do not segment Chinese, and the trigram tokenizer cannot find
//! two-character words such as 低保 or 修路. So text is tokenised here before it
//! reaches FTS5: each run of CJK characters becomes its overlapping bigrams, Latin
//! letters and digits become lowercase words. A query is tokenised the same way and
//! every bigram must match, so "低保" matches the bigram 低保 and "低保金" the bigrams
//! 低保 and 保金. The index keeps no positions (detail=column: a third of the size), so
//! a long query may also match text that has its bigrams apart; ranking (title above
//! body above the rest, and FTS5's bm25; `Store::search`) puts the closer matches first.

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F | 0x3040..=0x30FF)
}

enum Run {
    Cjk(Vec<char>),
    Word(String),
}

fn runs(text: &str) -> Vec<Run> {
    let mut out = vec![];
    let mut cjk: Vec<char> = vec![];
    let mut word = String::new();
    let flush = |cjk: &mut Vec<char>, word: &mut String, out: &mut Vec<Run>| {
        if !cjk.is_empty() {
            out.push(Run::Cjk(std::mem::take(cjk)));
        }
        if !word.is_empty() {
            out.push(Run::Word(std::mem::take(word)));
        }
    };
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                flush(&mut vec![], &mut word, &mut out);
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            if !cjk.is_empty() {
                flush(&mut cjk, &mut String::new(), &mut out);
            }
            word.extend(c.to_lowercase());
        } else {
            flush(&mut cjk, &mut word, &mut out);
        }
    }
    flush(&mut cjk, &mut word, &mut out);
    out
}

fn bigrams(cs: &[char]) -> Vec<String> {
    if cs.len() == 1 {
        return vec![cs[0].to_string()];
    }
    cs.windows(2).map(|w| w.iter().collect()).collect()
}

/// The text as stored in the FTS table.
pub fn index_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for r in runs(text) {
        let toks = match r {
            Run::Cjk(cs) => bigrams(&cs),
            Run::Word(w) => vec![w],
        };
        for t in toks {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t);
        }
    }
    out
}

/// An FTS5 MATCH expression for a user's query (all terms must match), or `None`
/// when the query has nothing searchable.
pub fn match_expr(query: &str) -> Option<String> {
    let mut terms = vec![];
    for r in runs(query) {
        match r {
            Run::Cjk(cs) if cs.len() == 1 => terms.push(format!("\"{}\"*", cs[0])),
            Run::Cjk(cs) => terms.extend(bigrams(&cs).into_iter().map(|b| format!("\"{b}\""))),
            Run::Word(w) => terms.push(format!("\"{w}\"*")),
        }
    }
    if terms.is_empty() {
        None
    } else {
        Some(terms.join(" AND "))
    }
}

/// `expr` (from `match_expr`) restricted to one column: every term in that column.
pub fn in_column(column: &str, expr: &str) -> String {
    format!("{column} : ({expr})")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn bigrams_and_words() {
        assert_eq!(
            index_text("申请低保WiFi修路2026"),
            "申请 请低 低保 wifi 修路 2026"
        );
        assert_eq!(match_expr("低保"), Some("\"低保\"".into()));
        assert_eq!(
            match_expr("低保金 wifi"),
            Some("\"低保\" AND \"保金\" AND \"wifi\"*".into())
        );
        assert_eq!(match_expr("  ，。 "), None);
    }
}
