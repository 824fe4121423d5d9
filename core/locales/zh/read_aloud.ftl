# 朗读：给手机的语音朗读用的短段落。core/src/words/read_aloud.rs 使用。
# 传入的数字、日期、金额都已写成汉字；这里不要写阿拉伯数字和符号。

read-sentence = { $text }。
read-list-separator = ，

## 公告

read-notice-head = { $category }，{ $subtype }：{ $title }
read-notice-published = { $date }发布
read-notice-corrected = { $date }更正，现在是第{ $revision }版，更正原因：{ $reason }
read-notice-draft = 这是草稿，还没有发布
read-notice-withdrawn = 这条公告已经撤回，原因：{ $reason }
read-notice-period = 账目期间从{ $start }到{ $end }
read-notice-totals = 期初余额{ $opening }，本期收入合计{ $income }，支出合计{ $expense }，期末结余{ $closing }
read-notice-open-questions = 有{ $n }个问题还在等村里答复
read-notice-more = 全文请在公告里查看

## 申请

read-request-head = 申请事项：{ $kind }，{ $title }
read-request-filed = { $date }提交
read-request-filed-for-someone = { $date }由村干部代为提交
read-request-status = 现在{ $status }，{ $explain }
read-request-note = 村里的说明：{ $note }
read-request-expected = 预计{ $date }前办好
read-request-materials = 还需要准备：{ $list }
read-request-rated = 已评价{ $stars }颗星

## 表决

read-vote-head = { $body }：{ $title }
read-vote-discussion = 正在讨论，还没有开始投票
read-vote-voting = 正在投票，{ $when }截止
read-vote-closed = 投票已在{ $when }结束
read-vote-hidden = { $why }
read-vote-turnout = { $eligible }人有投票权，{ $participants }人参加了投票
read-vote-option = “{ $option }”{ $n }票
read-vote-counts = 各选项得票：{ $list }
read-vote-decided = 结果是“{ $option }”，超过参加人数的一半
read-vote-no-majority = 没有一个选项超过参加人数的一半
read-vote-no-quorum = 参加的人数不够，这次表决不算数
read-vote-provisional = 这是初步结果，离线投的票可能还会送到，{ $when }以后才是最终结果
read-vote-final = 这是最终结果
