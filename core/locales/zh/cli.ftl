# 命令行 `cunwu` 对人说的话（cli/）。每个 id 以 cli- 开头。--json 输出不用这里的文字。

cli-internal-error = 程序内部出错（请报告）
cli-unknown-lang = { $from } 的值“{ $value }”不是 cunwu 支持的语言；请用 zh 或 en
cli-list-separator = 、
cli-none = （无）
cli-no-reason = 没有给出原因
cli-unknown-member = 不认识的成员

## 错误：每类错误一句话，后面附开发者看的详情

cli-error-invalid = 输入有误
cli-error-not-allowed = 不允许这样操作
cli-error-invalid-transition = 现在不能这样操作
cli-error-not-found = 找不到
cli-error-not-enrolled = 本机还没有加入村里（请先用邀请码运行 `cunwu enroll`）
cli-error-bad-signature = 签名核对不上
cli-error-malformed = 数据损坏或无法读取
cli-error-unsupported-version = 不支持的格式版本 { $found }（本程序只读版本 1 到 { $supported }；请更新写出它的应用或中继）
cli-error-too-large = 内容太大
cli-error-database = 本机数据库出了问题
cli-error-network = 连不上中继服务器
cli-error-relay = 中继服务器拒绝了请求（{ $status }）
cli-error-document = 无法修改这份记录
cli-error-io = 文件无法读写
cli-error-with-detail = { $message }（详情：{ $detail }）

## 本机、编号和成员

cli-cannot-open-store = 打不开 { $path }：{ $detail }
cli-no-device = { $home } 里没有 Cunwu 设备（请先运行 `cunwu --home { $home } enroll --relay 网址 --invite 邀请码 --name 姓名`）
cli-no-runtime = 无法启动网络运行环境：{ $detail }
cli-cannot-encode-json = 无法生成 JSON：{ $detail }
cli-what-notice = 公告
cli-what-request = 申请
cli-what-deliberation = 议事
cli-not-an-id = “{ $typed }”不是{ $what }编号（编号由 0-9 和 a-f 组成）
cli-no-such-id = 本机没有编号以 { $prefix } 开头的{ $what }
cli-ambiguous-id = 有 { $n } 个{ $what }的编号以 { $prefix } 开头；请多输入几位编号
cli-ambiguous-member-name = 有 { $n } 位成员叫 { $name }；请用成员编号（见 `cunwu members`）
cli-no-such-member = 本村没有成员“{ $name }”（见 `cunwu members`）
cli-ambiguous-member-id = 有 { $n } 位成员的编号以 { $prefix } 开头；请多输入几位编号

## 解析输入

cli-what-category = 公告类别
cli-what-subtype = 公告细类
cli-what-period = 财务期间
cli-what-notice-status = 公告状态
cli-what-request-status = 申请状态
cli-what-deciding-body = 表决机构
cli-what-role = 角色
cli-unknown-value = 不认识的{ $what }“{ $typed }”；可以用：{ $expected }
cli-bad-date = { $what } 的“{ $typed }”不是 年-月-日 格式的日期（如 2026-07-01）
cli-bad-line = 第 { $n } 个 --line（“{ $line }”）：{ $problem }
cli-line-fields = 应有 5 到 7 项，用英文逗号隔开（日期,收入或支出,科目,事项,金额（分）[,收款人或部门[,凭证号]]），实际有 { $n } 项
cli-line-direction = 收支方向“{ $typed }”应为 收入 或 支出（income 或 expense）
cli-line-amount = 金额“{ $typed }”应为整数，单位是分
cli-line-amount-too-large = 金额“{ $typed }”分太大：一行最多 { $max } 分
cli-cannot-read = 读不了 { $path }：{ $detail }
cli-bad-lines-json = { $path } 不是财务明细的 JSON 数组（{"{"}date, direction, account, item, amount_fen, payee_or_dept, voucher_no{"}"}）：{ $detail }
cli-amount-too-large = 金额 { $fen } 分太大，无法写成大写（最多 { $max } 分）

## 表头

cli-col-id = 编号
cli-col-category = 类别
cli-col-status = 状态
cli-col-revision = 版本
cli-col-published = 发布时间
cli-col-balance = 结余
cli-col-questions = 待答
cli-col-read = 已读
cli-col-title = 标题
cli-col-date = 日期
cli-col-account = 科目
cli-col-item = 事项
cli-col-amount = 金额
cli-col-payee = 收款人或部门
cli-col-voucher = 凭证号
cli-col-kind = 事项
cli-col-filer = 申请人
cli-col-assignee = 经办人
cli-col-updated = 更新时间
cli-col-body = 表决机构
cli-col-closes = 截止时间
cli-col-voted = 已投
cli-col-name = 姓名
cli-col-role = 角色
cli-col-household = 户号
cli-col-group = 组
cli-col-devices = 设备数

## 加入、状态、成员、邀请

cli-already-enrolled = { $home } 已经以成员 { $member } 的身份加入了 { $space }；另一台设备请用另一个 --home
cli-enrolled = 已加入 { $space }，身份：{ $name }（{ $role }）
cli-enrolled-ids = 成员编号 { $member } · 设备 { $device }
cli-enrolled-next = 运行 `cunwu sync` 获取村里已发布的内容
cli-status-no-device = { $home } 里没有 Cunwu 设备（请先运行 `cunwu enroll`）
cli-status-not-enrolled = { $home } 里的设备 { $device } 还没有加入村里（请运行 `cunwu enroll`）
cli-status-space = 村        { $space }（{ $id }）
cli-status-member = 成员      { $name } — { $role }（{ $id }）
cli-status-device = 设备      { $id }
cli-status-relay = 中继      { $url }
cli-status-counts = 待办      未读公告 { $unread } 条 · 办理中的申请 { $open } 件（我的 { $mine } 件，交给我办的 { $assigned } 件）· 待投票 { $votes } 项
cli-status-pending = 待确认    { $n } 项改动中继还没有确认
cli-status-pending-line = {"          "}· [{ $state }] { $summary } { $id }（{ $when }）
cli-status-rejected-none = 被拒绝    无
cli-status-rejected = 被拒绝    { $n } 项改动被中继拒绝，本机已撤销：
cli-status-rejected-line = {"          "}✗ { $summary } { $id }（{ $when }）：{ $reason }
cli-flag-me = 我
cli-flag-revoked = 已停用
cli-flag-migrant = 外出务工
cli-invite-code = 邀请码：{ $code }
cli-invite-details = 角色 { $role } · { $expires } 失效 · 只能用一次：`cunwu enroll --invite { $code }`

## 公告

cli-notice-published = 公告 { $id } 已发布：{ $title }
cli-notice-drafted = 公告 { $id } 已存为草稿：{ $title }
cli-notice-corrected = 公告 { $id } 已更正：{ $title }
cli-notice-withdrawn = 公告 { $id } 已撤回：{ $title }
cli-reaches-village-at-sync = 下次运行 `cunwu sync` 时送到全村
cli-question-asked = 已就公告 { $notice } 提问，问题编号 { $question }
cli-question-reply-due = 村里应在{ $deadline }
cli-no-such-question = 公告 { $notice } 没有问题 { $question }
cli-ambiguous-question = 有多个问题以 { $question } 开头；请多输入几位编号
cli-question-answered = 已答复公告 { $notice } 的问题 { $question }
cli-notice-marked-read = 已读公告 { $notice } 的第 { $revision } 版
cli-no-notices = 没有公告
cli-unread-mark = 未读
cli-notice-provenance = 发布人 { $name }（{ $role }），设备 { $device } · 签名{ $signature }
cli-signature-verified = 已核验
cli-signature-not-verified = 未通过核验：{ $problem }
cli-period-range = {" "}· { $start } 至 { $end }
cli-period-from = {" "}· 自 { $start } 起
cli-notice-kind-line = 编号 { $id } · { $category } / { $subtype } · { $period_kind }{ $period }
cli-notice-status-line = 状态 { $status } · 第 { $revision } 版
cli-notice-first-published = {" "}· { $name } 于 { $when } 首次发布
cli-notice-drafted-by = {" "}· { $name } 于 { $when } 起草
cli-notice-withdrawn-reason = 已撤回：{ $reason }
cli-finance-lines = 收支明细
cli-finance-totals = 期初 { $opening } · 收入 { $income } · 支出 { $expense } · 期末结余 { $closing }
cli-revisions = 历次版本
cli-revision-line = {"  "}第 { $number } 版 { $when } { $name }
cli-revision-reason = {" "}— 更正原因：{ $reason }
cli-questions = 村民提问
cli-question-answered-state = 已答复
cli-question-due-state = { $by }，{ $left }
cli-question-line = {"  "}[{ $id }] { $name } { $when }：{ $text }（{ $state }）
cli-answer-line = {"      "}↳ { $name } { $when }：{ $text }
cli-read-by-nobody = 已读：还没有人读
cli-read-old-revision = { $name }（读到第 { $revision } 版）
cli-read-by = 已读（{ $n } 人）：{ $names }
cli-diff-title = {"      "}原标题：{ $old }
cli-diff-body = {"      "}原正文：{ $old }
cli-diff-closing = {"      "}原期末结余 { $old }（现为 { $new }）
cli-diff-lines = {"      "}收支明细有改动（{ $old } 条 → { $new } 条）

## 申请

cli-no-requests = 没有申请
cli-request-filed = 申请 { $id } 已提交
cli-request-now = 申请 { $id } 现在{ $status }
cli-request-assigned = 申请 { $id } 已交给 { $name } 办理
cli-request-internal-note = 申请 { $id } 有一条新的内部备注
cli-request-comment = 申请 { $id } 有一条新留言
cli-request-rated = 申请 { $id } 已评价 { $stars } 星（满分 5 星）
cli-request-done = { $what }：{ $title }
cli-request-kind-line = 编号 { $id } · { $kind } · { $status }
cli-request-filed-line = { $name } 于 { $when } 提交
cli-request-entered-by = {" "}（由 { $name } 代为录入）
cli-request-assigned-to = {" "}· 经办人 { $name }
cli-request-expected-by = {" "}· 预计 { $date } 前办好
cli-request-place = 地点：{ $place }
cli-request-materials = 所需材料：{ $list }
cli-history = 办理经过
cli-history-filed = {"  "}{ $when } { $name }：{ $status }
cli-history-transition = {"  "}{ $when } { $name }：{ $from } → { $to }
cli-history-note = {" "}— { $note }
cli-history-superseded = {"  "}[未生效：与之前的操作冲突，保留在记录里]
cli-comments = 留言
cli-internal-tag = {" "}[内部]
cli-comment-line = {"  "}{ $when } { $name }{ $tag }：{ $text }
cli-rating = 评价 { $stars } { $text }

## 议事和表决

cli-no-deliberations = 没有议事
cli-ballot-cast = 已在“{ $title }”中投票：[{ $index }] { $option }
cli-ballot-recast = 截止前可以改投，以最后一次为准
cli-deliberation-voting = 议事 { $id } 已开始投票：{ $title }
cli-deliberation-comments-open = 议事 { $id } 已开始征求意见：{ $title }
cli-deliberation-comment = 议事 { $id } 有一条新意见：{ $title }
cli-deliberation-closed = 议事 { $id } 已结束投票：{ $title }
cli-deliberation-eligible = 有投票权 { $n } 人 · { $when } 截止
cli-deliberation-roster-warning = 谁有投票权按本机的成员名单算：如果上次同步后有新成员加入，中继会拒绝这次开始投票（见 `cunwu status`）；那时请先同步，再运行 `cunwu deliberation start 编号`
cli-consultation-has-no-options = “{ $title }”是征求意见，没有可投的选项
cli-no-such-option = 没有选项“{ $typed }”；请从这些里选：{ $options }
cli-bad-closes-in-hours = --closes-in-hours 必须大于 0，最多一年
cli-deliberation-kind-line = 编号 { $id } · { $body }
cli-deliberation-group = {" "}（{ $group }）
cli-deliberation-secret = {" "}· 无记名投票
cli-deliberation-hidden-results = {" "}· 截止前不公布结果
cli-deliberation-status-closes = 状态 { $status } · { $name } 于 { $created } 发起 · { $close } 截止
cli-deliberation-status-closed = 状态 { $status } · { $name } 于 { $created } 发起 · { $close } 已截止
cli-options = 选项
cli-option-votes = {"  "}{ $n } 票
cli-option-mine = {"  "}← 您投的
cli-tally-decided = 结果：{ $option }
cli-tally-no-majority = 没有选项过半数
cli-tally-no-quorum = 参加人数不够
cli-quorum-met = 够
cli-quorum-not-met = 不够
cli-tally-final = （最终结果）
cli-tally-so-far = （目前）
cli-tally-line = 计票：有投票权 { $eligible } 人，{ $participants } 人参加 · 参加人数{ $quorum } · { $decided }{ $state }
cli-roll = 投票记录：{ $list }
cli-tally-hidden = 计票：{ $why }

## 搜索

cli-search-nothing = 没有找到“{ $query }”

## 同步和文件传递

cli-sync-contacting = 同步：正在连接 { $url } …
cli-sync-progress = 同步：第 { $page } 页 · 发出 { $sent } · 收到 { $received_bytes } · 已收到 { $received } 项改动
cli-sync-unreachable = 连不上中继 { $url }（{ $detail }）；本机的改动会保留，下次同步时再发
cli-synced = 已与 { $url } 同步：发出 { $sent } 项（已确认 { $acked } 项），收到 { $received } 项，被拒绝 { $rejected } 项 · 共往返 { $trips } 次，上传 { $up }，下载 { $down }
cli-sync-rejected = 中继拒绝了您的 { $n } 项改动，本机已撤销：
cli-sync-rejected-hint = （`cunwu status` 会列出每项被拒绝的改动和原因）
cli-sync-refused-incoming = 收到的 { $n } 项改动没有通过本机检查，没有采用
cli-bundle-wrote = 已把 { $size } 写入 { $file }
cli-bundle-wrote-incremental = 已把 { $size } 写入 { $file }（只含对方缺的部分）
cli-bundle-imported = 已导入 { $file }：采用 { $applied } 项改动，{ $duplicates } 项本机已有，{ $parked } 项等待更早的改动，拒绝 { $refused } 项，计票结果 { $tallies } 份
cli-bundle-have = 已把本机的摘要（{ $size }）写入 { $file }
cli-bundle-have-hint = 把它交给另一台设备，在那里运行 `cunwu bundle export 输出文件 --for 这个文件`

## 修复

cli-repair-no-damage = 完整性检查：没有发现损坏
cli-repair-found = 完整性检查发现 { $n } 个问题：
cli-repair-quarantined = 已隔离记录 { $id }（{ $why }）；会从中继重新获取
cli-repair-outbox-restored = { $n } 项本机改动丢了待发记录，下次同步时会发出
cli-repair-lost = 本机改动 { $hash } 永远发不出去了：{ $why }
cli-repair-parked-dropped = 丢弃了 { $n } 项读不出的待处理改动；中继会重新发送
cli-repair-restored = 把 { $n } 项保留的本机改动放回了记录中
cli-repair-rebuilt = 已按记录重建列表和搜索
cli-repair-next-sync = 下次 `cunwu sync` 会从中继重新获取全部内容（不会重复发送）
cli-repair-clean = 修复后：没有损坏了
cli-repair-left = 修复后还有 { $n } 个问题，要等下次同步：

## cunwu demo（演示）

cli-demo-failed = 演示出错：{ $detail }
cli-demo-title = 村务演示 — { $space }
cli-demo-content = 内容来源：{ $source }
cli-demo-relay = 中继：在本进程内运行，地址 { $url }，数据文件 { $file }
cli-demo-cadre-label = 村干部，村党支部书记
cli-demo-resident-label = 村民，二组
cli-demo-migrant-label = 村民，在{ $city }打工
cli-demo-step-enrol = 一、加入（在中继上兑换邀请码）
cli-demo-enrolled = {"   "}{ $name }（{ $label }）· 设备 { $device }
cli-demo-step-offline = 二、离线办事（还没有同步）
cli-demo-posts-finance = {"   "}[{ $who }] 发布财务公开「{ $title }」（{ $lines } 笔收支，期末结余 { $closing }）
cli-demo-posts-village = {"   "}[{ $who }] 发布村务公开「{ $title }」
cli-demo-files = {"   "}[{ $who }] 提交申请「{ $title }」（{ $kind }）
cli-demo-files-from = {"   "}[{ $who }] 在{ $city }提交申请「{ $title }」（{ $kind }）
cli-demo-step-sync = 三、大家同步
cli-demo-step-read = 四、再次离线：村民阅读公告；外出务工的村民就账目提问
cli-demo-read = {"   "}[{ $a }] 和 [{ $b }] 读了两条公告
cli-demo-asks = {"   "}[{ $who }] 提问：{ $text }
cli-demo-step-cadre = 五、村干部办理申请、答复提问，并发起全村表决
cli-demo-accepts = {"   "}[{ $who }] 受理「{ $a }」和「{ $b }」（{ $status }）
cli-demo-answers = {"   "}[{ $who }] 答复：{ $text }
cli-demo-opens-vote = {"   "}[{ $who }] 发起{ $body }表决「{ $title }」（有投票权 { $n } 人）
cli-demo-step-vote = 六、村民离线投票后同步；村干部结束投票
cli-demo-votes = {"   "}[{ $a }] 和 [{ $b }] 投「{ $option }」
cli-demo-closes = {"   "}[{ $who }] 结束投票
cli-demo-step-views = 七、每台设备看到的内容
cli-demo-rejected = {"   "}[{ $who }] 被中继拒绝：{ $why }
cli-demo-synced = {"   "}同步 [{ $who }] { $syncs } 次：发出 { $sent } 项，收到 { $received } 项，被拒绝 { $rejected } 项 · 共往返 { $trips } 次，上传 { $up }，下载 { $down }
cli-demo-view = {"   "}── { $name }（{ $role }）──
cli-demo-view-notice = {"   "}公告  [{ $status } 第{ $revision }版] { $title }
cli-demo-view-closing = {" "}· 期末结余 { $amount }
cli-demo-view-questions = {" "}· 提问 { $n } 个，已答复 { $answered } 个
cli-demo-view-read-by = {" "}· { $n } 人已读
cli-demo-view-request = {"   "}申请  [{ $status }] { $title } — 申请人 { $filer } · 留言 { $comments } 条
cli-demo-view-decided = {" "}· 结果：{ $option }
cli-demo-view-tally = { $counts } · { $eligible } 人中 { $participants } 人参加{ $decided }
cli-demo-view-no-tally = 没有计票结果
cli-demo-view-vote = {"   "}表决  [{ $status }] { $title } — { $tally }
cli-demo-view-outbox = {"   "}待发    { $pending } 项待发送，{ $rejected } 项被拒绝
cli-demo-converged = 各设备一致：是
cli-demo-not-converged = 各设备一致：否
cli-demo-elapsed = （用时 { $seconds } 秒）
cli-demo-differences = 各设备不一致（{ $n } 处不同）
cli-demo-p-notices = { $a } 的公告和 { $b } 的不一样
cli-demo-p-deliberations = { $a } 的议事或计票和 { $b } 的不一样
cli-demo-p-requests = { $a } 的申请和 { $b } 看到的不一样
cli-demo-p-outbox = { $a } 还有 { $pending } 项待发送、{ $rejected } 项被拒绝的改动
cli-demo-p-request-count = { $a } 看到 { $n } 件申请，应为 2 件
cli-demo-p-notice-count = { $a } 看到 { $n } 条公告，应为 2 条
cli-demo-p-tally = 计票结果不对：{ $tally }
cli-demo-p-document = 记录 { $id } 在 { $a } 的设备上不一样
cli-demo-next = 接下来可以试试：自己运行中继和设备（见 README.md）：
cli-demo-next-build = {"  "}cargo build --release -p cunwu-relay -p cunwu-cli
cli-demo-next-space = {"  "}./target/release/cunwu-relay space create --name 青石村     # 显示村的编号和第一个村干部邀请码
cli-demo-next-serve = {"  "}./target/release/cunwu-relay serve                          # 地址 127.0.0.1:8700，数据在 ./cunwu-relay.db
cli-demo-next-enroll = {"  "}./target/release/cunwu --home ./cadre enroll --relay http://127.0.0.1:8700 --invite 邀请码 --name 陈建国
cli-demo-next-invite = {"  "}./target/release/cunwu --home ./cadre invite create --role 村民   # 给村民的手机一个邀请码
cli-demo-next-post = {"  "}./target/release/cunwu --home ./cadre notice post --category 村务公开 --title 停水通知 --body 明天上午停水
cli-demo-next-sync = {"  "}./target/release/cunwu --home ./cadre sync
cli-demo-next-help = `cunwu --help` 列出所有命令（帮助文字是英文）；加 --lang en 显示英文，加 --json 供脚本使用。

# issue 14: finance notices read as accounts; times the village saw
cli-notice-edited = 公告 { $id } 草稿已修改：{ $title }
cli-by-account = 按科目小计
cli-col-lines = 笔数
cli-col-subtotal = 小计
cli-revision-current = 　　（即上面的现行内容）
cli-revision-changed-in = 　　第{ $number }版改动：
cli-revision-title = 标题：{ $title }
cli-change-title = 标题：{ $was } → { $now }
cli-change-body = 正文：{ $was } → { $now }
cli-change-opening = 期初余额：{ $was } → { $now }
cli-change-line-amount = 第{ $line }行（{ $item }）金额：{ $was } → { $now }
cli-change-line = 第{ $line }行：{ $was } → { $now }
cli-change-line-added = 新增第{ $line }行：{ $now }
cli-change-line-removed = 删去第{ $line }行：{ $was }
cli-phone-said = （发布手机记为 { $when }）

# issue 14: a closed vote says what it is; true warnings
cli-deliberation-status = 状态 { $status } · { $name } 于 { $created } 发起 · { $close }
cli-close-early = 提前于 { $closed } 结束（原定 { $deadline } 截止）
cli-close-closed = { $closed } 已截止
cli-close-closes = { $closes } 截止
cli-standing-running = （目前结果；{ $closes } 截止投票）
cli-standing-offline = （暂定结果：截止前离线投出的票可能还在路上；{ $at } 成为最终结果）
cli-standing-awaiting = （暂定结果：中继的最终计票（{ $at } 出）还没有到本机，请同步）
cli-standing-final = （最终结果）
cli-snapshot-kept = 中继按这份投票权名单计票：{ $voters } 人，来自本机持有的第 { $version } 版成员名单；
cli-snapshot-later = 第 { $version } 版名单之后加入的成员不能参加这次表决（开始投票前先同步，才能把他们算进来）

# issue 14: filing on someone's behalf, end to end
cli-col-filed = 提交时间
cli-history-filed-for = { $name } 代 { $filer } 提交：{ $status }
cli-history-filed-by = { $name }：{ $status }
cli-history-acted-for = { $name } 代 { $filer }：{ $from } → { $to }
cli-history-acted = { $name }：{ $from } → { $to }
cli-history-assigned = { $name }：交给 { $assignee } 办理
cli-rated-for = （{ $name } 代 { $filer } 评价）
cli-unknown-order = 不认识的排序“{ $typed }”：可以用 newest（最新发布）或 recent（最近有动态）
cli-sync-left = {" "}· 已完成 { $percent }%，还剩约 { $left }
cli-sync-eta-seconds = ，约 { $seconds } 秒
cli-sync-eta-minutes = ，约 { $minutes } 分钟

## 村民名册、会场投票、走访名单 (issue 11)

cli-col-flags = 身份
cli-col-phone = 手机
cli-register-added = 已登记：{ $name }（编号 { $id }）
cli-register-amended = 已更正 { $name } 的登记信息，原记录保留在历史中
cli-register-left = 已登记迁出或去世（{ $on }），此人留在名册历史中
cli-register-empty = 名册里还没有人。村干部用 `cunwu register add` 登记村民
cli-register-count = 共 { $n } 人
cli-register-where = { $group } · { $household }
cli-register-history = 登记历史：
cli-register-what-add = 登记
cli-register-what-amend = 更正
cli-register-what-leave = 迁出或去世
cli-register-bad-reason = 不认识原因“{ $typed }”：请写 moved_away（迁出）或 deceased（去世）
cli-register-needs = 登记村民需要 { $flag }
cli-register-needs-age = 请给出出生日期 --born YYYY-MM-DD，或用 --adult 说明已满十八周岁
cli-register-none-here = 本机没有村民名册（只有村干部和乡镇干部的手机有；请先同步）
cli-no-such-person = 名册里没有“{ $name }”
cli-ambiguous-person-name = 名册里有 { $n } 人叫“{ $name }”，请用编号
cli-ambiguous-person-id = 有 { $n } 人的编号以 { $prefix } 开头，请多写几位
cli-person-party = 党员
cli-person-household_rep = 户代表
cli-person-villager_rep = 村民代表
cli-person-supervisor = 村务监督委员
cli-person-migrant = 外出（{ $city }）
cli-invite-for-person = 这个邀请码登记的是名册上的 { $name }
cli-hall-ballot-recorded = 已登记 { $name } 在会场投的票：[{ $index }] { $option }。会场投票优先于此人在手机上投的票，只算一次
cli-hall-attendance-recorded = 已登记 { $name } 到会，计入到会人数
cli-tellers-named = 已指定计票人：{ $names }
cli-deliberation-over-register = 按村民名册计算：有投票权 { $n } 人，其中 { $phones } 人有手机
cli-tally-in-hall = 其中会场登记 { $n } 人
cli-follow-up-none = 名册上的人都已{ $what }
cli-follow-up-count = { $n } 人还没有{ $what }（共 { $of } 人）
cli-follow-up-incomplete = 这是无记名投票，选票只在投票人和中继那里；本机只知道会场登记的和本机收到的
cli-follow-up-has-phone = 有手机
cli-follow-up-no-phone = 没有手机，需要上门
cli-follow-up-read = 阅读
cli-follow-up-voted = 投票
cli-col-support = 联名
cli-proposal-created = 已提出议题“{ $title }”（编号 { $id }）。请其他村民用 `cunwu proposal cosign { $id }` 联名支持
cli-proposal-cosigned = 已联名支持“{ $title }”
cli-proposal-withdrawn = 已撤回提议“{ $title }”
cli-proposal-taken-up = 已受理提议“{ $title }”，召集会议
cli-no-proposals = 还没有村民提议
cli-proposal-for = 提请{ $meeting }讨论 · { $when }提出
cli-proposal-signers = 已有 { $n } 人联名
cli-proposal-support = 已有 { $n } 人联名，需要 { $needed } 人
cli-proposal-due = 已有 { $n } 人联名（需要 { $needed } 人）：村委会应当召集会议
cli-demo-register = {"   "}[{ $who }] 登记村民名册：{ $n } 人，其中 { $without } 位老人没有手机；邀请码写明登记的是名册上的谁
cli-demo-hall = {"   "}[{ $who }] 作为计票人登记会场投票：{ $names } 投「{ $option }」（没有手机的村民也算数，每人只算一次）

## 四议两公开 (cunwu matter) 和党员活动 (cunwu party activity)、民主理财 (cunwu notice review)

cli-notice-reviewed = 已签署审核财务公开 { $id }：{ $title }
cli-notice-reviewed-by = 村务监督委员会 { $name } 已于 { $when } 审核签字 { $note }
cli-bad-time = { $what } 的时间 “{ $typed }” 看不懂；请写 YYYY-MM-DD 或 “YYYY-MM-DD HH:MM”（北京时间）
cli-what-stage = 步骤
cli-what-outcome = 结果
cli-what-activity-kind = 活动类型
cli-party-no-person = 本成员没有关联村民名册上的人；请用 --person 指明是谁
cli-matter-created = 已登记重大事项 { $id }：{ $title }
cli-matter-status-line = 编号 { $id } · { $status } · 下一步：{ $next }
cli-matter-step-line = - { $stage }：{ $outcome }，{ $held }，{ $name } 记录
cli-matter-attendance = ，到会 { $present }/{ $expected } 人
cli-matter-notice = ，公告 { $id }
cli-matter-deliberation = ，表决 { $id }
cli-matter-superseded = （重复记录，未生效）
cli-matter-none = 还没有重大事项
cli-matter-col-next = 下一步
cli-matter-step-recorded = 已记录“{ $stage }”：{ $title }；下一步：{ $next }
cli-activity-created = 已发起党员活动 { $id }：{ $title }
cli-activity-signed-in = 已签到：{ $title }（{ $id }）
cli-activity-absence-recorded = 已登记缺席：{ $title }（{ $id }）
cli-activity-minutes-written = 已写会议记录：{ $title }（{ $id }）
cli-activity-when-where = 时间：{ $when } · 地点：{ $place } · 线上：{ $link }
cli-activity-agenda = 议程：{ $agenda }
cli-activity-present = - { $person }：{ $mode }
cli-activity-absent = - { $person }：缺席（{ $reason }）
cli-activity-minutes = 会议记录（{ $name }）：{ $text }
cli-activity-none = 还没有党员活动
cli-activity-col-when = 时间
cli-activity-col-attendance = 出席
cli-activity-counts = 出席 { $present } 人，缺席 { $absent } 人
cli-activity-year = { $year }年：共 { $activities } 次活动，出席 { $present } 次（其中线上 { $online } 次），缺席 { $absent } 次，未登记 { $unrecorded } 次

# 附件 (cunwu attachment, cunwu sync)
cli-attachment-added = 已把 { $name }（{ $size }）附到 { $to }，同步时上传
cli-attachment-none = 没有附件
cli-attachment-line = { $kind } { $name }（{ $size }）· { $state }
cli-attachment-bad-hash = “{ $typed }”不是附件的哈希（64 个十六进制字符，见 `cunwu attachment list`）
cli-attachment-fetched = 已把 { $name }（{ $size }）写到 { $out }
cli-attachment-no-parent = 本机没有编号以 { $prefix } 开头的申请、公告或议事
cli-attachment-ambiguous-parent = 编号 { $prefix } 对应 { $n } 项，请多输几位
cli-attachment-uploading = 上传 { $name }
cli-attachment-downloading = 下载 { $name }
cli-blobs-synced = 附件：发出 { $sent } 个（{ $up }），收到 { $received } 个（{ $down }）
cli-blobs-on-the-way = 还有 { $n } 个附件在路上（剩 { $left }）
cli-blobs-failed = 附件没有传完：{ $detail }（下次同步再试）
cli-request-attachments = 附件（{ $n } 个）：
cli-request-attachments-hint = （`cunwu attachment list { $id }` 看每个附件的状态和完整哈希）
cli-demo-voice-note = {"   "}[{ $who }] 不便打字，附上一段语音留言（{ $size }）
cli-demo-blobs = {"   "}[{ $who }] 附件：发出 { $sent } 个（{ $up }），收到 { $received } 个（{ $down }）
cli-attachment-state-why = { $state }：{ $why }
cli-attachment-state-done = { $state }（{ $done } / { $size }）
