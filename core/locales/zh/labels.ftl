# 标签：每个人会看到的枚举值。每条都有简短标签（消息值）、一句白话解释（.explain）
# 和朗读形式（.spoken，不含符号和缩写）。
# core/src/words/catalogue.rs 中的 Labelled 实现给出每个值的消息 id。

# 解释句的格式：标签在前，一句话解释在后。
explain-format = { $label }：{ $text }

## 公告类别 (Category)

category-party = 党务公开
    .explain = 党支部公开的党务事项
    .spoken = 党务公开
category-village = 村务公开
    .explain = 村委会公开的村里事务
    .spoken = 村务公开
category-finance = 财务公开
    .explain = 村集体的收入、支出和结余，请大家监督
    .spoken = 财务公开

## 公告细类 (Subtype)

subtype-resolution = 决议
    .explain = 村民会议或村民代表会议作出的决定
    .spoken = 决议
subtype-implementation = 实施结果
    .explain = 已定事项办得怎么样了
    .spoken = 实施结果
subtype-relief_funds = 救助资金
    .explain = 低保、特困供养、救灾等救助资金的发放情况
    .spoken = 救助资金
subtype-subsidy_list = 补贴名单
    .explain = 谁领了哪项补贴、领了多少
    .spoken = 补贴名单
subtype-homestead = 宅基地
    .explain = 宅基地申请和审批的结果
    .spoken = 宅基地
subtype-land_contract = 土地承包
    .explain = 集体土地、山林的承包和流转
    .spoken = 土地承包
subtype-work_allowance = 误工补贴
    .explain = 村干部和村民务工的补贴、工资发放
    .spoken = 误工补贴
subtype-quarterly_accounts = 季度账目
    .explain = 一个季度的集体收支明细
    .spoken = 季度账目
subtype-other = 其他
    .explain = 不属于以上各类的公开事项
    .spoken = 其他

## 财务期间 (PeriodKind)

period-monthly = 月度
    .explain = 按月公开的账目
    .spoken = 月度
period-quarterly = 季度
    .explain = 按季度公开的账目
    .spoken = 季度
period-ad_hoc = 专项
    .explain = 针对一件事单独公开的账目
    .spoken = 专项

## 收支方向 (Direction)

direction-income = 收入
    .explain = 进到村集体账上的钱
    .spoken = 收入
direction-expense = 支出
    .explain = 从村集体账上花出去的钱
    .spoken = 支出

## 公告状态 (NoticeStatus)

notice-status-draft = 草稿
    .explain = 还没有发布，只有村干部能看到
    .spoken = 草稿
notice-status-published = 已发布
    .explain = 已经向全村公开
    .spoken = 已发布
notice-status-corrected = 已更正
    .explain = 发布后改过，以前的每一版都还能查看
    .spoken = 已更正
notice-status-withdrawn = 已撤回
    .explain = 村里已撤回这条公告，不再有效
    .spoken = 已撤回

## 申请状态 (request Status)

request-status-submitted = 已提交
    .explain = 您的申请已经交上，等村里受理
    .spoken = 已提交
request-status-accepted = 已受理
    .explain = 村里已收到您的申请，正在安排办理
    .spoken = 已受理
request-status-in_progress = 办理中
    .explain = 村里正在办您的事
    .spoken = 办理中
request-status-referred = 已转办
    .explain = 已转给乡镇或有关部门办理
    .spoken = 已转办
request-status-resolved = 已办结
    .explain = 这件事已经办完，您可以给个评价
    .spoken = 已办结
request-status-rejected = 不予办理
    .explain = 村里没有办理这件事，理由写在记录里
    .spoken = 不予办理
request-status-withdrawn = 已撤回
    .explain = 申请人自己撤回了申请
    .spoken = 已撤回
request-status-reopened = 重新办理
    .explain = 申请人对结果不满意，要求重新办理
    .spoken = 重新办理

## 申请事项 (request kinds, request::catalogue)

request-kind-social_assistance = 低保救助
    .explain = 申请低保、特困供养或临时救助
    .spoken = 低保救助
request-kind-medical_insurance = 医疗保险
    .explain = 城乡居民医疗保险的参保、缴费和报销
    .spoken = 医疗保险
request-kind-social_insurance = 养老保险
    .explain = 城乡居民养老保险的参保、缴费和领取
    .spoken = 养老保险
request-kind-disability = 残疾人服务
    .explain = 残疾证办理和残疾人补贴
    .spoken = 残疾人服务
request-kind-homestead_building = 宅基地建房
    .explain = 申请宅基地或在宅基地上建房
    .spoken = 宅基地建房
request-kind-certificate = 开证明
    .explain = 请村里开具各类证明
    .spoken = 开证明
request-kind-legal_mediation = 法律调解
    .explain = 邻里纠纷调解和法律咨询
    .spoken = 法律调解
request-kind-public_facility_repair = 公共设施维修
    .explain = 路灯、道路、水管等公共设施坏了，请村里修
    .spoken = 公共设施维修
request-kind-other = 其他事项
    .explain = 不属于以上各类的事
    .spoken = 其他事项
# 本村另外设的事项（目录以外）：直接显示它的名字。
request-kind-unlisted = { $kind }
    .explain = 本村设的事项“{ $kind }”
    .spoken = { $kind }

## 角色 (Role)

role-resident = 村民
    .explain = 本村村民，可以看公告、提申请、参加投票
    .spoken = 村民
role-villager_rep = 村民代表
    .explain = 村民推选的代表，参加村民代表会议表决
    .spoken = 村民代表
role-party_member = 党员
    .explain = 本村党员，参加党员大会
    .spoken = 党员
role-cadre = 村干部
    .explain = 村两委成员，负责发布公告和办理申请
    .spoken = 村干部
role-township = 乡镇干部
    .explain = 乡镇政府的工作人员，可以查看和办理转来的事
    .spoken = 乡镇干部

## 表决机构 (DecidingBody)

body-villagers_meeting = 村民会议
    .explain = 全体村民表决，过半数村民参加才有效
    .spoken = 村民会议
body-villager_reps = 村民代表会议
    .explain = 村民代表表决，三分之二以上代表参加才有效
    .spoken = 村民代表会议
body-household_reps = 户代表会议
    .explain = 每户一名代表表决，三分之二以上户代表参加才有效
    .spoken = 户代表会议
body-party_members = 党员大会
    .explain = 全体党员表决，过半数党员参加才有效
    .spoken = 党员大会
body-group_meeting = 村民小组会议
    .explain = 本组村民表决，三分之二以上参加才有效
    .spoken = 村民小组会议
body-consultation_only = 征求意见
    .explain = 只听大家的意见，不投票
    .spoken = 征求意见

## 议事阶段 (Phase)

phase-discussion = 讨论中
    .explain = 大家可以发表意见，还没开始投票
    .spoken = 讨论中
phase-voting = 投票中
    .explain = 正在投票，截止前都可以投
    .spoken = 投票中
phase-closed = 已结束
    .explain = 投票已经截止
    .spoken = 已结束

## 结果从哪里来 (ResultView) 和为什么还看不到 (Hidden)

result-counted = 本机计票
    .explain = 结果按本机收到的选票计算
    .spoken = 本机计票
result-relay_only = 以中继计票为准
    .explain = 结果只认中继服务器签名的计票
    .spoken = 以中继服务器计票为准
hidden-consultation = 不投票
    .explain = 征求意见不投票，没有结果
    .spoken = 不投票
hidden-not_opened = 未开始投票
    .explain = 投票还没有开始
    .spoken = 还没开始投票
hidden-until_close = 截止后公布
    .explain = 无记名投票或结果保密，截止后由中继统一计票公布
    .spoken = 截止以后公布
hidden-awaiting_relay = 等待计票结果
    .explain = 投票已截止，中继的计票结果还没传到本机，请同步
    .spoken = 正在等计票结果

## 本机改动的状态 (ChangeState)

change-pending = 待发送
    .explain = 改动保存在本机，还没有发出去
    .spoken = 等待发送
change-sent = 已发送
    .explain = 改动已发出，等中继确认
    .spoken = 已经发送
change-acked = 已确认
    .explain = 中继已收下，全村都能收到
    .spoken = 已经确认
change-rejected = 被拒绝
    .explain = 中继没有接受这个改动，本机已撤销它
    .spoken = 被拒绝

## 内容种类 (EntityKind)

entity-notice = 公告
    .explain = 村里发布的公开事项
    .spoken = 公告
entity-request = 申请
    .explain = 村民请村里办的事
    .spoken = 申请
entity-request_notes = 内部备注
    .explain = 村干部对申请的内部记录，申请人看不到
    .spoken = 内部备注
entity-deliberation = 议事
    .explain = 需要大家讨论或表决的事
    .spoken = 议事
entity-ballot = 选票
    .explain = 一个人在一次表决中投的票
    .spoken = 选票
entity-register = 村民名册
    .explain = 村里的村民和户的登记，由村干部维护
    .spoken = 村民名册
entity-proposal = 村民提议
    .explain = 村民提出、大家联名支持的议题，够人数时村委会应当召集会议
    .spoken = 村民提议
entity-matter = 重大事项
    .explain = 按"四议两公开"办理的村级重大事项
    .spoken = 重大事项
entity-party_activity = 党员活动
    .explain = 党支部的会议和活动，党员和村干部可以看到
    .spoken = 党员活动

## 本机的改动（待发送、被拒绝的改动列表里显示）

event-notice-create = 新建公告
event-notice-edit_draft = 修改公告草稿
event-notice-publish = 发布公告
event-notice-correct = 更正公告
event-notice-withdraw = 撤回公告
event-notice-ask = 就公告提问
event-notice-answer = 答复公告提问
event-notice-read = 阅读公告
event-request-file = 提交申请
event-request-edit_description = 修改申请说明
event-request-transition = 办理申请
event-request-assign = 指定经办人
event-request-expect_by = 定下预计办好的日期
event-request-materials = 列出所需材料
event-request-comment = 给申请留言
event-request-rate = 评价申请
event-request_notes-open = 建立内部备注
event-request_notes-note = 写内部备注
event-deliberation-create = 发起议事
event-deliberation-open = 开始投票
event-deliberation-comment = 发表意见
event-deliberation-close = 结束投票
event-ballot-cast = 投票
event-deliberation-tellers = 指定计票人
event-ballot-record = 登记会场投票
event-ballot-attend = 登记到会
event-register-add = 登记村民
event-register-amend = 更正村民信息
event-register-leave = 登记迁出或去世
event-proposal-propose = 提出议题
event-proposal-co_sign = 联名支持
event-proposal-withdraw = 撤回提议
event-proposal-take_up = 受理提议、召集会议

## 村民名册 (PersonStatus, Departure)

person-active = 在册
    .explain = 这个人在村民名册上
    .spoken = 在册
person-moved_away = 已迁出
    .explain = 户口已迁出本村，留在名册历史中
    .spoken = 已迁出
person-deceased = 已去世
    .explain = 已去世，留在名册历史中
    .spoken = 已去世
departure-moved_away = 迁出
    .explain = 户口迁出本村
    .spoken = 迁出
departure-deceased = 去世
    .explain = 村民去世
    .spoken = 去世

proposal-open = 征集联名中
    .explain = 还在征集村民联名支持
    .spoken = 征集联名中
proposal-taken_up = 已召集会议
    .explain = 村委会已受理，召集会议讨论
    .spoken = 已召集会议
proposal-withdrawn = 已撤回
    .explain = 提议人撤回了这个提议
    .spoken = 已撤回
event-matter-create = 登记重大事项
event-matter-step = 记录四议两公开步骤
event-party_activity-create = 发起党员活动
event-party_activity-sign_in = 党员活动签到
event-party_activity-absent = 登记缺席
event-party_activity-minutes = 写会议记录

## 四议两公开 (matter Stage, Outcome, MatterStatus)

matter-stage-proposal = 党支部提议
    .explain = 村党组织就重大事项提出建议
    .spoken = 党支部提议
matter-stage-consultation = 两委会商议
    .explain = 村党组织和村委会共同商议
    .spoken = 两委会商议
matter-stage-party_review = 党员大会审议
    .explain = 党员大会审议通过
    .spoken = 党员大会审议
matter-stage-decision = 村民会议决议
    .explain = 村民会议或村民代表会议讨论决定
    .spoken = 村民会议决议
matter-stage-decision_disclosure = 决议公开
    .explain = 把决议内容向全村公开
    .spoken = 决议公开
matter-stage-result_disclosure = 实施结果公开
    .explain = 把决议办理的结果向全村公开
    .spoken = 实施结果公开
matter-outcome-agreed = 同意
    .explain = 会议同意，事项进入下一步
    .spoken = 同意
matter-outcome-not_agreed = 不同意
    .explain = 会议没有同意，事项到此为止
    .spoken = 不同意
matter-status-in_progress = 办理中
    .explain = 还有步骤没有完成
    .spoken = 办理中
matter-status-stopped = 已终止
    .explain = 有一次会议没有同意，事项不再往下办
    .spoken = 已终止
matter-status-completed = 已完成
    .explain = 四议两公开六个步骤都已完成
    .spoken = 已完成

## 党员活动 (ActivityKind, SignInMode)

activity-kind-members_meeting = 党员大会
    .explain = 全体党员参加的会议
    .spoken = 党员大会
activity-kind-committee_meeting = 支委会
    .explain = 党支部委员会的会议
    .spoken = 支委会
activity-kind-group_meeting = 党小组会
    .explain = 党小组的会议
    .spoken = 党小组会
activity-kind-party_lecture = 党课
    .explain = 给党员上的党课
    .spoken = 党课
activity-kind-theme_day = 主题党日
    .explain = 每月固定的主题党日活动
    .spoken = 主题党日
sign-in-in_person = 现场签到
    .explain = 本人到会，由支部书记登记
    .spoken = 现场签到
sign-in-online = 线上参加
    .explain = 在外地通过手机参加，算作出席
    .spoken = 线上参加

## 附件 (attachment::Kind, AttachmentState)

attachment-kind-voice = 语音
    .explain = 语音留言或录音（M4A、Opus、AMR）
    .spoken = 语音
attachment-kind-photo = 照片
    .explain = 照片（JPEG、PNG、WebP）
    .spoken = 照片
attachment-kind-document = 文件
    .explain = 扫描件或文件（PDF），打开时才下载
    .spoken = 文件

## 附件在本机的状态 (AttachmentState)

attachment-state-pending = 待上传
    .explain = 附件保存在本机，还没有传到中继；有信号时会自动续传
    .spoken = 等待上传
attachment-state-uploading = 上传中
    .explain = 附件正在传到中继，断了会从断点接着传
    .spoken = 正在上传
attachment-state-uploaded = 已上传
    .explain = 中继已收下完整的附件，有权看的人都能取到
    .spoken = 已经上传
attachment-state-not_downloaded = 未下载
    .explain = 附件还不在本机；照片和语音会自动下载，文件要点开才下载
    .spoken = 还没下载
attachment-state-downloading = 下载中
    .explain = 附件正在下载，断了会从断点接着下
    .spoken = 正在下载
attachment-state-downloaded = 已下载
    .explain = 完整的附件在本机，已核对无误
    .spoken = 已经下载
attachment-state-failed = 传送失败
    .explain = 上次传送没有成功，下次同步会再试
    .spoken = 传送失败

# 还有附件在路上：{ $count } 个，还剩 { $left }（已按大小格式化）
attachments-on-the-way = { $count } 个附件正在传送（还剩 { $left }）
