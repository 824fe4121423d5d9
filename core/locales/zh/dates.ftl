# 日期和期限：村里的时间一律按北京时间（东八区）。core/src/words/dates.rs 使用。

date-month-name = { $month }月
date-day-month = { $month }月{ $day }日
date-full = { $year }年{ $month }月{ $day }日
date-today = 今天
date-yesterday = 昨天
date-tomorrow = 明天
# 时间（已按两位数排好，如 09:05）
when-today = 今天 { $time }
when-yesterday = 昨天 { $time }
when-tomorrow = 明天 { $time }
when-day = { $date } { $time }
reply-by = { $date }前答复
due-by = { $date }前
days-left = 还有{ $n }天
due-today = 今天到期
days-overdue = 已超期{ $n }天
deadline-with-left = { $deadline }（{ $left }）

## 朗读用：数字已写成汉字（由代码传入）

spoken-day-month = { $month }月{ $day }日
spoken-full = { $year }年{ $month }月{ $day }日
spoken-time = { $hour }点{ $minute }分
spoken-time-sharp = { $hour }点整
spoken-when-today = 今天{ $time }
spoken-when-yesterday = 昨天{ $time }
spoken-when-tomorrow = 明天{ $time }
spoken-when-day = { $date }{ $time }
spoken-days-left = 还有{ $n }天
spoken-days-overdue = 已经超期{ $n }天
