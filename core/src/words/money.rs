//! Money in words a villager reads and hears (issue 14, "Money"). Every amount in Cunwu
//! is an integer number of fen (分); this module turns it into the forms people use,
//! with integer arithmetic only:
//! - [`figures`]: "12,400.50元", what a list or a notice shows;
//! - [`compact`]: "1.24万元", where space is short (a badge, a summary line);
//! - [`upper`]: "人民币壹万贰仟肆佰元伍角", the uppercase form (大写) of finance documents,
//!   written by the People's Bank of China's rules for amounts in words (《支付结算办法》
//!   附件一, 正确填写票据和结算凭证的基本规定);
//! - [`spoken`]: "一万两千四百元五角", for the phone's text-to-speech.
//!
//! Where the rules allow two forms, one is chosen and kept (documented on [`upper`]).

use serde::Serialize;

/// The largest amount written in words: 9,999亿9,999万9,999元9角9分 (just under a
/// trillion yuan, far beyond any village account). Larger amounts are refused by
/// [`upper`] and [`spoken`] with [`TooLarge`] rather than written wrong.
pub const MAX_WORDS_FEN: i64 = 99_999_999_999_999;

/// An amount beyond [`MAX_WORDS_FEN`] (or `i64::MIN`, which has no absolute value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge(pub i64);

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the amount {} fen is too large to write in words (at most {MAX_WORDS_FEN} fen)",
            self.0
        )
    }
}

impl std::error::Error for TooLarge {}

/// The three forms `cunwu amount FEN` prints (`--json` keys: `figures`, `upper`, `spoken`),
/// and the compact one; what the apps get from `amountWords` (cunwu-ffi).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AmountForms {
    pub fen: i64,
    /// "12,400.50元"
    pub figures: String,
    /// "1.24万元"
    pub compact: String,
    /// "人民币壹万贰仟肆佰元伍角", the uppercase form (大写) of finance documents
    pub upper: String,
    /// "一万两千四百元五角", for text-to-speech
    pub spoken: String,
}

/// Every form of `fen`.
pub fn forms(fen: i64) -> Result<AmountForms, TooLarge> {
    Ok(AmountForms {
        fen,
        figures: figures(fen),
        compact: compact(fen),
        upper: upper(fen)?,
        spoken: spoken(fen)?,
    })
}

/// "12,400.50元": thousands separated by commas, always two decimals; "-" before a
/// negative amount.
pub fn figures(fen: i64) -> String {
    let abs = fen.unsigned_abs();
    let (yuan, cents) = (abs / 100, abs % 100);
    let digits = yuan.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{grouped}.{cents:02}元")
}

/// "1.24万元", "3.5亿元": amounts of ten thousand yuan and more in 万 or 亿 with at most
/// two decimals (rounded half up, trailing zeros dropped); smaller amounts as
/// [`figures`].
pub fn compact(fen: i64) -> String {
    let abs = fen.unsigned_abs();
    let sign = if fen < 0 { "-" } else { "" };
    // (unit in fen, its name)
    let (unit, name) = if abs >= 100_000_000 * 100 {
        (100_000_000u64 * 100, "亿")
    } else if abs >= 10_000 * 100 {
        (10_000u64 * 100, "万")
    } else {
        return figures(fen);
    };
    // hundredths of the unit, rounded half up
    let hundredths = (abs as u128 * 100 + unit as u128 / 2) / unit as u128;
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    let frac = match frac {
        0 => String::new(),
        f if f % 10 == 0 => format!(".{}", f / 10),
        f => format!(".{f:02}"),
    };
    format!("{sign}{whole}{frac}{name}元")
}

const UPPER_DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const SPOKEN_DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// The uppercase form of finance documents: "人民币" then the amount in words.
///
/// The rules, and the choice made where they allow two:
/// - whole yuan end in "元整" ("人民币壹拾元整"); an amount in jiao ends at the jiao
///   without 整 ("…元伍角", as the rules' own example "人民币壹仟肆佰零玖元伍角");
/// - a leading 1 of tens is written "壹拾" (¥16.50 → 人民币壹拾陆元伍角), and so is every 拾;
/// - zeros between digits are written as one 零 however many there are
///   (¥6007.14 → 人民币陆仟零柒元壹角肆分), also across 万 and 亿
///   (¥100,000,007 → 壹亿零柒元整);
/// - where the yuan digit is 0 and jiao is not, or a 万 group ends in zeros and the
///   thousands below are not zero, the rules allow one 零 or none: none is written
///   (¥12,400.50 → 人民币壹万贰仟肆佰元伍角, the form the issue names;
///   ¥1680.32 → 人民币壹仟陆佰捌拾元叁角贰分; ¥107000.53 → 人民币壹拾万柒仟元伍角叁分);
/// - jiao zero and fen not: "元零X分" (¥325.04 → 人民币叁佰贰拾伍元零肆分);
/// - an amount under one yuan has no 元 (¥0.50 → 人民币伍角); zero is 人民币零元整;
/// - a negative amount (a deficit) is written with 负 after 人民币.
pub fn upper(fen: i64) -> Result<String, TooLarge> {
    let abs = checked(fen)?;
    let (yuan, jiao, fen_digit) = (abs / 100, (abs / 10) % 10, abs % 10);
    let mut out = String::from("人民币");
    if fen < 0 {
        out.push('负');
    }
    if yuan == 0 && jiao == 0 && fen_digit == 0 {
        out.push_str("零元整");
        return Ok(out);
    }
    if yuan > 0 {
        out.push_str(&integer_words(
            yuan,
            &UPPER_DIGITS,
            ['拾', '佰', '仟'],
            false,
        ));
        out.push('元');
    }
    match (jiao, fen_digit) {
        (0, 0) => out.push('整'),
        (0, f) => {
            if yuan > 0 {
                out.push('零');
            }
            out.push(UPPER_DIGITS[f as usize]);
            out.push('分');
        }
        (j, f) => {
            out.push(UPPER_DIGITS[j as usize]);
            out.push('角');
            if f > 0 {
                out.push(UPPER_DIGITS[f as usize]);
                out.push('分');
            }
        }
    }
    Ok(out)
}

/// The amount as it is said aloud: "一万两千四百元五角", "十五元", "两百元零五分".
/// 两 is said for a 2 before 百, 千, 万 and 亿 and for two of a coin (两元, 两角, and
/// 两分 alone), 二 before 十, as the last digit of a longer number (十二元) and for fen
/// after jiao (三角二分); a number from 10 to
/// 19 at the start is said without the leading 一 (十五元, but 一百一十元); zeros
/// between digits are one 零; jiao after whole yuan follow without 零 (…元五角), fen
/// after a zero jiao with 零 (…元零五分); a deficit starts with 负.
pub fn spoken(fen: i64) -> Result<String, TooLarge> {
    let abs = checked(fen)?;
    let (yuan, jiao, fen_digit) = (abs / 100, (abs / 10) % 10, abs % 10);
    let mut out = String::new();
    if fen < 0 {
        out.push('负');
    }
    if abs == 0 {
        out.push_str("零元");
        return Ok(out);
    }
    if yuan == 2 {
        out.push_str("两元");
    } else if yuan > 0 {
        out.push_str(&integer_words(
            yuan,
            &SPOKEN_DIGITS,
            ['十', '百', '千'],
            true,
        ));
        out.push('元');
    }
    if jiao > 0 {
        out.push(if jiao == 2 {
            '两'
        } else {
            SPOKEN_DIGITS[jiao as usize]
        });
        out.push('角');
    }
    if fen_digit > 0 {
        if jiao == 0 && yuan > 0 {
            out.push('零');
        }
        // 两分 alone; after yuan or jiao the digit is said (三角二分)
        let alone = yuan == 0 && jiao == 0;
        out.push(if fen_digit == 2 && alone {
            '两'
        } else {
            SPOKEN_DIGITS[fen_digit as usize]
        });
        out.push('分');
    }
    Ok(out)
}

/// A whole number in spoken Chinese (0 → 零, 15 → 十五, 200 → 两百), for dates and
/// counts in the other word modules.
pub(crate) fn spoken_integer(n: u64) -> String {
    if n == 0 {
        return "零".into();
    }
    integer_words(n, &SPOKEN_DIGITS, ['十', '百', '千'], true)
}

fn checked(fen: i64) -> Result<u64, TooLarge> {
    let abs = fen.unsigned_abs();
    if abs > MAX_WORDS_FEN as u64 {
        return Err(TooLarge(fen));
    }
    Ok(abs)
}

/// A whole number (1 to 9,999,9999,9999) in Chinese words: groups of four digits with
/// 亿 and 万, one 零 for any run of zeros between digits. `spoken` uses the spoken
/// conventions (两, a bare 十 at the start); otherwise every digit is written.
fn integer_words(n: u64, digits: &[char; 10], units: [char; 3], spoken: bool) -> String {
    debug_assert!(n > 0);
    let groups = [
        (n / 100_000_000 % 10_000, Some('亿')),
        (n / 10_000 % 10_000, Some('万')),
        (n % 10_000, None),
    ];
    let mut out = String::new();
    let mut zero_pending = false;
    for (value, unit) in groups {
        if value == 0 {
            // an all-zero group between digits is a zero
            zero_pending |= !out.is_empty();
            continue;
        }
        let ds = [value / 1000, value / 100 % 10, value / 10 % 10, value % 10];
        let last = ds.iter().rposition(|&d| d != 0).unwrap_or(0);
        for (i, &d) in ds.iter().enumerate() {
            let place = 3 - i; // 3 = 千, 2 = 百, 1 = 十, 0 = ones
            if d == 0 {
                // zeros after a group's last digit are no gap: 壹拾万柒仟, not 壹拾万零柒仟
                zero_pending |= !out.is_empty() && i < last;
                continue;
            }
            if zero_pending {
                out.push(digits[0]);
                zero_pending = false;
            }
            let word =
                if spoken && d == 2 && (place >= 2 || (place == 0 && unit.is_some() && value == 2))
                {
                    '两'
                } else {
                    digits[d as usize]
                };
            // spoken: 十五, not 一十五, at the very start
            let bare_ten = spoken && place == 1 && d == 1 && out.is_empty();
            if !bare_ten {
                out.push(word);
            }
            if place > 0 {
                out.push(units[place - 1]);
            }
        }
        if let Some(u) = unit {
            out.push(u);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (fen, uppercase) — the People's Bank rules' own examples first, then zeros in
    /// every position, 10, 100,000,000 and more.
    const UPPER: &[(i64, &str)] = &[
        // the rules' examples (where they allow a 零 or none, the form without)
        (140_950, "人民币壹仟肆佰零玖元伍角"),
        (600_714, "人民币陆仟零柒元壹角肆分"),
        (168_032, "人民币壹仟陆佰捌拾元叁角贰分"),
        (10_700_053, "人民币壹拾万柒仟元伍角叁分"),
        (32_504, "人民币叁佰贰拾伍元零肆分"),
        (1_650, "人民币壹拾陆元伍角"),
        // the example
        (1_240_050, "人民币壹万贰仟肆佰元伍角"),
        // small and round
        (0, "人民币零元整"),
        (1, "人民币壹分"),
        (50, "人民币伍角"),
        (55, "人民币伍角伍分"),
        (100, "人民币壹元整"),
        (1_000, "人民币壹拾元整"),
        (1_100, "人民币壹拾壹元整"),
        (10_000, "人民币壹佰元整"),
        (11_000, "人民币壹佰壹拾元整"),
        (100_000, "人民币壹仟元整"),
        (1_000_000, "人民币壹万元整"),
        // zeros in every position
        (100_100, "人民币壹仟零壹元整"),
        (101_000, "人民币壹仟零壹拾元整"),
        (100_001, "人民币壹仟元零壹分"),
        (100_010, "人民币壹仟元壹角"),
        (1_000_100, "人民币壹万零壹元整"),
        (1_001_000, "人民币壹万零壹拾元整"),
        (10_000_000, "人民币壹拾万元整"),
        (10_100_000, "人民币壹拾万壹仟元整"),
        (10_070_000, "人民币壹拾万零柒佰元整"),
        (100_000_000, "人民币壹佰万元整"),
        (1_000_000_000, "人民币壹仟万元整"),
        (10_000_000_000, "人民币壹亿元整"),
        (10_000_000_700, "人民币壹亿零柒元整"),
        (10_000_700_000, "人民币壹亿零柒仟元整"),
        (10_700_000_000, "人民币壹亿零柒佰万元整"),
        (
            12_345_678_912,
            "人民币壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分",
        ),
        (
            99_999_999_999_999,
            "人民币玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分",
        ),
        (-25_000, "人民币负贰佰伍拾元整"),
    ];

    const SPOKEN: &[(i64, &str)] = &[
        (1_240_050, "一万两千四百元五角"),
        (0, "零元"),
        (5, "五分"),
        (2, "两分"),
        (22, "两角二分"),
        (20, "两角"),
        (200, "两元"),
        (1_000, "十元"),
        (1_500, "十五元"),
        (1_200, "十二元"),
        (2_000, "二十元"),
        (2_200, "二十二元"),
        (11_000, "一百一十元"),
        (20_000, "两百元"),
        (20_005, "两百元零五分"),
        (200_000, "两千元"),
        (100_500, "一千零五元"),
        (2_000_000, "两万元"),
        (12_000_000, "十二万元"),
        (20_000_000, "二十万元"),
        (200_000_000, "两百万元"),
        (20_000_000_000, "两亿元"),
        (10_000_000_700, "一亿零七元"),
        (168_032, "一千六百八十元三角二分"),
        (-1_500, "负十五元"),
    ];

    #[test]
    fn uppercase_follows_the_peoples_bank_rules() {
        for (fen, want) in UPPER {
            assert_eq!(upper(*fen).unwrap(), *want, "{fen} fen");
        }
        assert!(UPPER.len() >= 30);
    }

    #[test]
    fn spoken_form_is_what_a_person_says() {
        for (fen, want) in SPOKEN {
            assert_eq!(spoken(*fen).unwrap(), *want, "{fen} fen");
        }
    }

    #[test]
    fn figures_and_compact() {
        assert_eq!(figures(1_240_050), "12,400.50元");
        assert_eq!(figures(5), "0.05元");
        assert_eq!(figures(-123_456_789), "-1,234,567.89元");
        assert_eq!(figures(i64::MIN), "-92,233,720,368,547,758.08元");
        assert_eq!(compact(1_240_050), "1.24万元");
        assert_eq!(compact(1_000_000), "1万元");
        assert_eq!(compact(1_050_000), "1.05万元");
        assert_eq!(compact(1_500_000), "1.5万元");
        assert_eq!(compact(1_999_999), "2万元");
        assert_eq!(compact(999_999), "9,999.99元");
        assert_eq!(compact(35_000_000_000), "3.5亿元");
        assert_eq!(compact(i64::MAX), "922337203.69亿元");
    }

    #[test]
    fn an_amount_too_large_for_words_says_so() {
        assert_eq!(upper(MAX_WORDS_FEN + 1), Err(TooLarge(MAX_WORDS_FEN + 1)));
        assert_eq!(spoken(i64::MIN), Err(TooLarge(i64::MIN)));
        assert!(TooLarge(i64::MAX).to_string().contains("too large"));
    }
}
