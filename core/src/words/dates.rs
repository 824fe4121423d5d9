//! Dates and deadlines in words (issue 14, "Dates and deadlines"): "12月11日前答复",
//! "还有3天", "今天到期", "已超期2天", "昨天 14:30", and their English and spoken forms.
//!
//! Village time is China Standard Time (UTC+8), always: a phone abroad, a server in
//! another zone and CI all say what the village's clock says, so no system locale or
//! time zone is consulted. Every function takes `now_ms` (UTC milliseconds) explicitly
//! and reads no clock, so what it says is testable. Days are counted in village
//! calendar days: a deadline at 08:00 tomorrow is "还有1天" at 23:00 tonight.

use super::catalogue::{text, Arg, Lang};
use super::money;
use crate::ids::DAY_MS;

/// China Standard Time, UTC+8 (no daylight saving).
pub const VILLAGE_OFFSET_MS: i64 = 8 * 3600 * 1000;

/// A moment on the village's calendar and clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VillageTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
}

/// The village calendar day of `at_ms` (days since 1970-01-01 in UTC+8).
pub fn village_day(at_ms: i64) -> i64 {
    (at_ms + VILLAGE_OFFSET_MS).div_euclid(DAY_MS)
}

/// `at_ms` on the village's calendar and clock.
pub fn village_time(at_ms: i64) -> VillageTime {
    let day = village_day(at_ms);
    let ms_of_day = (at_ms + VILLAGE_OFFSET_MS).rem_euclid(DAY_MS);
    let (year, month, d) = civil_from_days(day);
    VillageTime {
        year,
        month,
        day: d,
        hour: (ms_of_day / 3_600_000) as u32,
        minute: (ms_of_day / 60_000 % 60) as u32,
    }
}

/// The start (00:00 village time) of a `YYYY-MM-DD` date, in UTC ms; `None` if it is
/// not such a date.
pub fn date_start_ms(date: &str) -> Option<i64> {
    let (y, m, d) = parse_date(date)?;
    Some(days_from_civil(y, m, d) * DAY_MS - VILLAGE_OFFSET_MS)
}

fn parse_date(date: &str) -> Option<(i64, u32, u32)> {
    let mut it = date.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day) to days since 1970-01-01 (H. Hinnant).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn date_args(lang: Lang, y: i64, m: u32, d: u32) -> Vec<(&'static str, Arg<'static>)> {
    let mon = text(lang, "date-month-name", &[("month", m.into())]);
    vec![
        ("year", y.into()),
        ("month", m.into()),
        ("day", d.into()),
        ("mon", mon.into()),
    ]
}

fn calendar_date(lang: Lang, y: i64, m: u32, d: u32, now_ms: i64) -> String {
    let id = if y == village_time(now_ms).year {
        "date-day-month"
    } else {
        "date-full"
    };
    text(lang, id, &date_args(lang, y, m, d))
}

/// The day of `at_ms`: "3月2日" in the current year, "2025年3月2日" in another; "2 Mar",
/// "2 Mar 2025".
pub fn date(lang: Lang, at_ms: i64, now_ms: i64) -> String {
    let t = village_time(at_ms);
    calendar_date(lang, t.year, t.month, t.day, now_ms)
}

/// A `YYYY-MM-DD` date (a finance period, an expected completion date) as [`date`]
/// says it; anything else is returned as it is.
pub fn civil_date(lang: Lang, date: &str, now_ms: i64) -> String {
    match parse_date(date) {
        Some((y, m, d)) => calendar_date(lang, y, m, d, now_ms),
        None => date.to_string(),
    }
}

fn hh_mm(t: &VillageTime) -> String {
    format!("{:02}:{:02}", t.hour, t.minute)
}

/// When something happened (or will): "今天 09:05", "昨天 14:30", "明天 18:00",
/// "3月2日 14:30" in the current year, "2025年3月2日" in another; "today 09:05",
/// "yesterday 14:30", "2 Mar 14:30", "2 Mar 2025".
pub fn when(lang: Lang, at_ms: i64, now_ms: i64) -> String {
    let t = village_time(at_ms);
    let time: Arg = hh_mm(&t).into();
    match village_day(at_ms) - village_day(now_ms) {
        0 => text(lang, "when-today", &[("time", time)]),
        -1 => text(lang, "when-yesterday", &[("time", time)]),
        1 => text(lang, "when-tomorrow", &[("time", time)]),
        _ if t.year == village_time(now_ms).year => text(
            lang,
            "when-day",
            &[("date", date(lang, at_ms, now_ms).into()), ("time", time)],
        ),
        _ => date(lang, at_ms, now_ms),
    }
}

/// Village days from today to the day of `due_ms`: positive before it, 0 on the day,
/// negative after it.
pub fn days_until(due_ms: i64, now_ms: i64) -> i64 {
    village_day(due_ms) - village_day(now_ms)
}

/// How long is left: "还有3天", "今天到期", "已超期2天"; "3 days left", "due today",
/// "2 days overdue".
pub fn days_left(lang: Lang, due_ms: i64, now_ms: i64) -> String {
    match days_until(due_ms, now_ms) {
        0 => text(lang, "due-today", &[]),
        n if n > 0 => text(lang, "days-left", &[("n", n.into())]),
        n => text(lang, "days-overdue", &[("n", (-n).into())]),
    }
}

/// A question's reply due date: "12月11日前答复"; "reply by 11 Dec".
pub fn reply_by(lang: Lang, due_ms: i64, now_ms: i64) -> String {
    text(
        lang,
        "reply-by",
        &[("date", date(lang, due_ms, now_ms).into())],
    )
}

/// A reply due date with what is left: "12月11日前答复（还有3天）".
pub fn reply_deadline(lang: Lang, due_ms: i64, now_ms: i64) -> String {
    text(
        lang,
        "deadline-with-left",
        &[
            ("deadline", reply_by(lang, due_ms, now_ms).into()),
            ("left", days_left(lang, due_ms, now_ms).into()),
        ],
    )
}

/// Any deadline with what is left: "12月11日前（还有3天）"; "by 11 Dec (3 days left)".
pub fn deadline(lang: Lang, due_ms: i64, now_ms: i64) -> String {
    let by = text(
        lang,
        "due-by",
        &[("date", date(lang, due_ms, now_ms).into())],
    );
    text(
        lang,
        "deadline-with-left",
        &[
            ("deadline", by.into()),
            ("left", days_left(lang, due_ms, now_ms).into()),
        ],
    )
}

// ---- spoken forms: for text-to-speech; in Chinese every number is in characters ----

/// A whole number in spoken Chinese: 0 → 零, 15 → 十五, 22 → 二十二, 200 → 两百.
pub fn spoken_number(n: u64) -> String {
    money::spoken_integer(n)
}

/// A count before a measure word: 2 → 两 (两天), else [`spoken_number`].
pub fn spoken_count(n: u64) -> String {
    if n == 2 {
        "两".into()
    } else {
        spoken_number(n)
    }
}

/// A year digit by digit, as people say it: 2026 → 二〇二六.
fn spoken_year(y: i64) -> String {
    const D: [char; 10] = ['〇', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    y.to_string()
        .chars()
        .map(|c| c.to_digit(10).map(|d| D[d as usize]).unwrap_or(c))
        .collect()
}

fn spoken_calendar_date(lang: Lang, y: i64, m: u32, d: u32, now_ms: i64) -> String {
    let same_year = y == village_time(now_ms).year;
    let id = if same_year {
        "spoken-day-month"
    } else {
        "spoken-full"
    };
    match lang {
        Lang::Zh => text(
            lang,
            id,
            &[
                ("year", spoken_year(y).into()),
                ("month", spoken_number(m.into()).into()),
                ("day", spoken_number(d.into()).into()),
            ],
        ),
        Lang::En => text(
            lang,
            id,
            &[("year", y.into()), ("month", m.into()), ("day", d.into())],
        ),
    }
}

/// The day of `at_ms` for a voice: "十二月十一日", "二〇二五年三月二日"; "11 December".
pub fn spoken_date(lang: Lang, at_ms: i64, now_ms: i64) -> String {
    let t = village_time(at_ms);
    spoken_calendar_date(lang, t.year, t.month, t.day, now_ms)
}

/// A `YYYY-MM-DD` date for a voice (see [`spoken_date`]); anything else as it is.
pub fn spoken_civil_date(lang: Lang, date: &str, now_ms: i64) -> String {
    match parse_date(date) {
        Some((y, m, d)) => spoken_calendar_date(lang, y, m, d, now_ms),
        None => date.to_string(),
    }
}

fn spoken_clock(lang: Lang, t: &VillageTime) -> String {
    match lang {
        Lang::Zh => {
            let hour = spoken_count(t.hour.into());
            if t.minute == 0 {
                text(lang, "spoken-time-sharp", &[("hour", hour.into())])
            } else {
                // 十四点零五分, 十四点三十分
                let minute = if t.minute < 10 {
                    format!("零{}", spoken_number(t.minute.into()))
                } else {
                    spoken_number(t.minute.into())
                };
                text(
                    lang,
                    "spoken-time",
                    &[("hour", hour.into()), ("minute", minute.into())],
                )
            }
        }
        Lang::En => {
            if t.minute == 0 {
                text(lang, "spoken-time-sharp", &[("hour", t.hour.into())])
            } else {
                text(
                    lang,
                    "spoken-time",
                    &[
                        ("hour", t.hour.into()),
                        ("minute", format!("{:02}", t.minute).into()),
                    ],
                )
            }
        }
    }
}

/// [`when`] for a voice: "昨天十四点三十分", "十二月十一日九点整"; "yesterday at 14 30".
pub fn spoken_when(lang: Lang, at_ms: i64, now_ms: i64) -> String {
    let t = village_time(at_ms);
    let time: Arg = spoken_clock(lang, &t).into();
    match village_day(at_ms) - village_day(now_ms) {
        0 => text(lang, "spoken-when-today", &[("time", time)]),
        -1 => text(lang, "spoken-when-yesterday", &[("time", time)]),
        1 => text(lang, "spoken-when-tomorrow", &[("time", time)]),
        _ if t.year == village_time(now_ms).year => text(
            lang,
            "spoken-when-day",
            &[
                ("date", spoken_date(lang, at_ms, now_ms).into()),
                ("time", time),
            ],
        ),
        _ => spoken_date(lang, at_ms, now_ms),
    }
}

/// [`days_left`] for a voice: "还有三天", "今天到期", "已经超期两天".
pub fn spoken_days_left(lang: Lang, due_ms: i64, now_ms: i64) -> String {
    let n = days_until(due_ms, now_ms);
    let count = |n: i64| -> Arg<'static> {
        match lang {
            Lang::Zh => spoken_count(n.unsigned_abs()).into(),
            Lang::En => n.abs().into(),
        }
    };
    match n {
        0 => text(lang, "due-today", &[]),
        n if n > 0 => text(lang, "spoken-days-left", &[("n", count(n))]),
        n => text(lang, "spoken-days-overdue", &[("n", count(n))]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UTC ms of a UTC wall-clock time.
    fn utc(y: i64, m: u32, d: u32, hh: i64, mm: i64) -> i64 {
        days_from_civil(y, m, d) * DAY_MS + (hh * 60 + mm) * 60_000
    }

    #[test]
    fn village_time_is_utc_plus_eight() {
        // 2026-12-01 23:30 UTC is 07:30 on 2 December in the village
        let t = village_time(utc(2026, 12, 1, 23, 30));
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute),
            (2026, 12, 2, 7, 30)
        );
        // 15:59 UTC is still the same day there, 16:00 UTC is the next
        assert_eq!(village_time(utc(2026, 12, 1, 15, 59)).day, 1);
        assert_eq!(village_time(utc(2026, 12, 1, 16, 0)).day, 2);
        // new year in the village before it in London
        let t = village_time(utc(2026, 12, 31, 16, 0));
        assert_eq!((t.year, t.month, t.day), (2027, 1, 1));
        assert_eq!(date_start_ms("2026-12-02"), Some(utc(2026, 12, 1, 16, 0)));
        assert_eq!(date_start_ms("2026-13-02"), None);
        // before 1970 too
        assert_eq!(village_time(utc(1969, 12, 31, 12, 0)).day, 31);
        assert_eq!(
            days_from_civil(2024, 2, 29) + 1,
            days_from_civil(2024, 3, 1)
        );
    }

    #[test]
    fn when_says_today_yesterday_or_the_date() {
        let now = utc(2026, 12, 1, 6, 0); // 14:00 on 1 Dec in the village
        let zh = |at| when(Lang::Zh, at, now);
        let en = |at| when(Lang::En, at, now);
        assert_eq!(zh(utc(2026, 12, 1, 1, 5)), "今天 09:05");
        assert_eq!(en(utc(2026, 12, 1, 1, 5)), "today 09:05");
        assert_eq!(zh(utc(2026, 11, 30, 6, 30)), "昨天 14:30");
        assert_eq!(en(utc(2026, 11, 30, 6, 30)), "yesterday 14:30");
        assert_eq!(zh(utc(2026, 12, 2, 10, 0)), "明天 18:00");
        assert_eq!(zh(utc(2026, 3, 2, 6, 30)), "3月2日 14:30");
        assert_eq!(en(utc(2026, 3, 2, 6, 30)), "2 Mar 14:30");
        assert_eq!(zh(utc(2025, 3, 2, 6, 30)), "2025年3月2日");
        assert_eq!(en(utc(2025, 3, 2, 6, 30)), "2 Mar 2025");
        // the day boundary is the village's: 23:30 UTC on 30 Nov is 07:30 on 1 Dec there
        assert_eq!(zh(utc(2026, 11, 30, 23, 30)), "今天 07:30");
        // and 15:30 UTC on 30 Nov is 23:30 on 30 Nov there: yesterday
        assert_eq!(zh(utc(2026, 11, 30, 15, 30)), "昨天 23:30");
    }

    #[test]
    fn the_day_boundary_is_the_villages() {
        // 23:30 UTC on 1 Dec: already 2 Dec (07:30) in the village
        let now = utc(2026, 12, 1, 23, 30);
        assert_eq!(date(Lang::Zh, now, now), "12月2日");
        // something at 10:00 UTC on 1 Dec (18:00 there) was yesterday
        assert_eq!(when(Lang::Zh, utc(2026, 12, 1, 10, 0), now), "昨天 18:00");
        // a deadline at 08:00 village time on 2 Dec is due today, not tomorrow
        let due = utc(2026, 12, 2, 0, 0);
        assert_eq!(days_left(Lang::Zh, due, now), "今天到期");
        // ...while at 15:30 UTC on 1 Dec (23:30 there) it is still a day away
        assert_eq!(
            days_left(Lang::Zh, due, utc(2026, 12, 1, 15, 30)),
            "还有1天"
        );
    }

    #[test]
    fn deadlines_say_how_long_is_left() {
        let now = utc(2026, 12, 1, 2, 0); // 10:00 on 1 Dec
        let due = utc(2026, 12, 11, 2, 0);
        assert_eq!(reply_by(Lang::Zh, due, now), "12月11日前答复");
        assert_eq!(reply_by(Lang::En, due, now), "reply by 11 Dec");
        assert_eq!(days_left(Lang::Zh, utc(2026, 12, 4, 1, 0), now), "还有3天");
        assert_eq!(
            days_left(Lang::En, utc(2026, 12, 4, 1, 0), now),
            "3 days left"
        );
        assert_eq!(
            days_left(Lang::En, utc(2026, 12, 2, 1, 0), now),
            "1 day left"
        );
        assert_eq!(
            days_left(Lang::Zh, utc(2026, 12, 1, 15, 0), now),
            "今天到期"
        );
        assert_eq!(
            days_left(Lang::En, utc(2026, 12, 1, 15, 0), now),
            "due today"
        );
        assert_eq!(
            days_left(Lang::Zh, utc(2026, 11, 29, 2, 0), now),
            "已超期2天"
        );
        assert_eq!(
            days_left(Lang::En, utc(2026, 11, 29, 2, 0), now),
            "2 days overdue"
        );
        assert_eq!(
            days_left(Lang::En, utc(2026, 11, 30, 2, 0), now),
            "1 day overdue"
        );
        assert_eq!(
            reply_deadline(Lang::Zh, due, now),
            "12月11日前答复（还有10天）"
        );
        assert_eq!(deadline(Lang::En, due, now), "by 11 Dec (10 days left)");
        assert_eq!(civil_date(Lang::Zh, "2026-07-01", now), "7月1日");
        assert_eq!(civil_date(Lang::Zh, "2025-07-01", now), "2025年7月1日");
        assert_eq!(civil_date(Lang::En, "2025-07-01", now), "1 Jul 2025");
        assert_eq!(civil_date(Lang::En, "soon", now), "soon");
    }

    #[test]
    fn spoken_dates_have_no_figures() {
        let now = utc(2026, 12, 1, 2, 0);
        assert_eq!(
            spoken_date(Lang::Zh, utc(2026, 12, 11, 2, 0), now),
            "十二月十一日"
        );
        assert_eq!(
            spoken_date(Lang::Zh, utc(2025, 3, 2, 2, 0), now),
            "二〇二五年三月二日"
        );
        assert_eq!(
            spoken_date(Lang::En, utc(2026, 12, 11, 2, 0), now),
            "11 December"
        );
        assert_eq!(
            spoken_date(Lang::En, utc(2025, 3, 2, 2, 0), now),
            "2 March 2025"
        );
        assert_eq!(
            spoken_when(Lang::Zh, utc(2026, 11, 30, 6, 30), now),
            "昨天十四点三十分"
        );
        assert_eq!(
            spoken_when(Lang::Zh, utc(2026, 12, 1, 1, 5), now),
            "今天九点零五分"
        );
        assert_eq!(
            spoken_when(Lang::Zh, utc(2026, 12, 1, 6, 0), now),
            "今天十四点整"
        );
        assert_eq!(
            spoken_when(Lang::Zh, utc(2026, 11, 30, 18, 0), now),
            "今天两点整"
        );
        assert_eq!(
            spoken_when(Lang::Zh, utc(2026, 3, 2, 12, 20), now),
            "三月二日二十点二十分"
        );
        assert_eq!(
            spoken_when(Lang::En, utc(2026, 11, 30, 6, 30), now),
            "yesterday at 14 30"
        );
        assert_eq!(
            spoken_days_left(Lang::Zh, utc(2026, 12, 3, 2, 0), now),
            "还有两天"
        );
        assert_eq!(
            spoken_days_left(Lang::Zh, utc(2026, 11, 20, 2, 0), now),
            "已经超期十一天"
        );
        assert_eq!(
            spoken_days_left(Lang::En, utc(2026, 11, 29, 2, 0), now),
            "2 days overdue"
        );
        assert_eq!(spoken_civil_date(Lang::Zh, "2026-09-30", now), "九月三十日");
        for s in [
            spoken_when(Lang::Zh, utc(2024, 10, 31, 3, 7), now),
            spoken_days_left(Lang::Zh, utc(2027, 1, 1, 0, 0), now),
        ] {
            assert!(!s.contains(|c: char| c.is_ascii_digit()), "{s}");
        }
    }
}
