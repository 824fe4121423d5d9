# Dates and deadlines: village time is China Standard Time (UTC+8), always.
# Used by core/src/words/dates.rs.

date-month-name = { $month ->
    [1] Jan
    [2] Feb
    [3] Mar
    [4] Apr
    [5] May
    [6] Jun
    [7] Jul
    [8] Aug
    [9] Sep
    [10] Oct
    [11] Nov
   *[12] Dec
}
date-day-month = { $day } { $mon }
date-full = { $day } { $mon } { $year }
date-today = today
date-yesterday = yesterday
date-tomorrow = tomorrow
# A time, already as two-digit hours and minutes (09:05)
when-today = today { $time }
when-yesterday = yesterday { $time }
when-tomorrow = tomorrow { $time }
when-day = { $date } { $time }
reply-by = reply by { $date }
due-by = by { $date }
days-left = { $n ->
    [one] 1 day left
   *[other] { $n } days left
}
due-today = due today
days-overdue = { $n ->
    [one] 1 day overdue
   *[other] { $n } days overdue
}
deadline-with-left = { $deadline } ({ $left })

## For reading aloud (English voices read figures well; no abbreviations)

spoken-day-month = { $day } { $month ->
    [1] January
    [2] February
    [3] March
    [4] April
    [5] May
    [6] June
    [7] July
    [8] August
    [9] September
    [10] October
    [11] November
   *[12] December
}
spoken-full = { spoken-day-month } { $year }
spoken-time = { $hour } { $minute }
spoken-time-sharp = { $hour } o'clock
spoken-when-today = today at { $time }
spoken-when-yesterday = yesterday at { $time }
spoken-when-tomorrow = tomorrow at { $time }
spoken-when-day = { $date } at { $time }
spoken-days-left = { days-left }
spoken-days-overdue = { days-overdue }
