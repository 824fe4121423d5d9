"""The words people read and hear (issue 14) through the cunwu-ffi Python module: a
label with its explanation and spoken form in Chinese and English, the forms of an
amount (the uppercase 大写 of finance documents), dates and deadlines, and a notice and
a request read aloud from a phone's own store. The Kotlin suite (WordsTest.kt) reads
the same words.
"""

import asyncio
import calendar
import re
import time

import pytest

import cunwu_ffi as cw
from cunwu_ffi import CunwuError

ASCII_DIGIT = re.compile(r"[0-9]")
DAY_MS = 86_400_000


def village_midnight_ms(date):
    """00:00 China Standard Time of a YYYY-MM-DD date, in UTC milliseconds."""
    y, m, d = (int(x) for x in date.split("-"))
    return calendar.timegm((y, m, d, 0, 0, 0)) * 1000 - 8 * 3_600_000


def enrolled(relay, tmp_path, who, invite, name):
    store = cw.CunwuStore.open(str(tmp_path / who / "cunwu.db"))
    asyncio.run(store.enroll(relay.url, invite, name))
    return store


def test_a_label_reads_with_its_explanation_and_spoken_form_in_both_languages():
    accepted = cw.Term.REQUEST_STATUS(status=cw.RequestStatus.ACCEPTED)
    zh = cw.words_of(cw.Lang.ZH, accepted)
    assert zh.label == "已受理"
    assert zh.explanation == "村里已收到您的申请，正在安排办理"
    assert zh.explained == "已受理：村里已收到您的申请，正在安排办理"
    assert zh.spoken == "已受理"
    en = cw.words_of(cw.Lang.EN, accepted)
    assert en.label == "Accepted"
    assert en.explanation == "the village has received your request and is arranging the work"
    assert en.explained == "Accepted: the village has received your request and is arranging the work"

    # where the voice says more than the chip: each field is its own message
    pending = cw.words_of(cw.Lang.ZH, cw.Term.LOCAL_CHANGE_STATE(state=cw.ChangeState.PENDING))
    assert (pending.label, pending.spoken) == ("待发送", "等待发送")
    voting = cw.words_of(cw.Lang.EN, cw.Term.DELIBERATION_PHASE(phase=cw.DeliberationPhase.VOTING))
    assert (voting.label, voting.spoken) == ("Voting", "Voting open")

    # core's own enums, under their app names, and request kinds by identifier
    assert cw.words_of(cw.Lang.ZH, cw.Term.NOTICE_CATEGORY(category=cw.NoticeCategory.FINANCE)).label == "财务公开"
    assert cw.words_of(cw.Lang.ZH, cw.Term.MEMBER_ROLE(role=cw.Role.CADRE)).label == "村干部"
    own = cw.words_of(cw.Lang.ZH, cw.Term.REQUEST_KIND(kind="护林员报名"))
    assert own.label == "护林员报名"
    assert own.explained == "护林员报名：本村设的事项“护林员报名”"
    assert cw.lang_of_tag("zh_CN.UTF-8") == cw.Lang.ZH
    assert cw.lang_of_tag("fr-FR") is None


def test_an_amount_in_figures_compact_uppercase_and_spoken():
    a = cw.amount_words(1_240_000)
    assert isinstance(a, cw.AmountForms)
    assert a.fen == 1_240_000
    assert a.upper == "人民币壹万贰仟肆佰元整"
    assert a.spoken == "一万两千四百元"
    assert a.figures == "12,400.00元"
    assert a.compact == "1.24万元"
    assert cw.amount_words(1_240_050).upper == "人民币壹万贰仟肆佰元伍角"
    assert cw.spoken_amount(cw.Lang.EN, 1_240_050) == "12400 yuan and 50 fen"
    with pytest.raises(CunwuError.InvalidInput, match="too large"):
        cw.amount_words(10**15)


def test_dates_and_deadlines_on_the_village_clock():
    now = village_midnight_ms("2026-12-02") + 9 * 3_600_000
    yesterday = village_midnight_ms("2026-12-01") + 14 * 3_600_000 + 30 * 60_000
    assert cw.when_words(cw.Lang.ZH, yesterday, now) == "昨天 14:30"
    assert cw.when_words(cw.Lang.EN, yesterday, now) == "yesterday 14:30"
    due = village_midnight_ms("2026-12-11") + 3_600_000
    assert cw.reply_by_words(cw.Lang.ZH, due, now) == "12月11日前答复"
    assert cw.days_left_words(cw.Lang.ZH, due, now) == "还有9天"
    assert cw.days_left_words(cw.Lang.ZH, now - 2 * DAY_MS, now) == "已超期2天"
    assert cw.days_left_words(cw.Lang.EN, now, now) == "due today"


def test_a_finance_notice_and_a_request_read_aloud_from_the_store(relay, tmp_path):
    cadre = enrolled(relay, tmp_path, "cadre", relay.cadre_invite, "王书记")
    income, expense = 1_240_000, 350_050
    notice_id = cadre.post_notice(
        cw.NewNotice(
            category=cw.NoticeCategory.FINANCE,
            subtype=cw.NoticeSubtype.OTHER,
            title="2026年11月财务公开",
            body="本月收到村道硬化补助12400元，支付施工款。",
            period=cw.Period(kind=cw.PeriodKind.MONTHLY, start="2026-11-01", end="2026-11-30"),
            opening_balance_fen=0,
            lines=[
                cw.FinanceLine(
                    date="2026-11-20",
                    direction=cw.Direction.INCOME,
                    account="补助收入",
                    item="村道硬化上级补助",
                    amount_fen=income,
                ),
                cw.FinanceLine(
                    date="2026-11-25",
                    direction=cw.Direction.EXPENSE,
                    account="其他支出",
                    item="村道硬化施工款",
                    amount_fen=expense,
                ),
            ],
        )
    )
    now = int(time.time() * 1000)

    zh = cadre.read_notice_aloud(notice_id, cw.Lang.ZH, now)
    assert not ASCII_DIGIT.search(zh), zh
    assert "二〇二六年十一月财务公开" in zh, zh
    assert "财务公开" in zh and "发布" in zh, zh
    assert "本期收入合计" + cw.amount_words(income).spoken in zh, zh
    assert "本期收入合计一万两千四百元" in zh, zh
    assert "支出合计三千五百元五角" in zh, zh
    assert "期末结余八千八百九十九元五角" in zh, zh
    assert "账目期间从十一月一日到十一月三十日" in zh, zh

    en = cadre.read_notice_aloud(notice_id, cw.Lang.EN, now)
    assert "income this period 12400 yuan" in en, en
    assert "closing balance 8899 yuan and 50 fen" in en, en
    assert "¥" not in en and "/" not in en, en
    # English voices read figures: the digit check above does see them when they are there
    assert ASCII_DIGIT.search(en), en

    resident = enrolled(relay, tmp_path, "resident", relay.invite("resident"), "李秀英")
    request_id = resident.file_request(
        cw.NewRequest(kind="public_facility_repair", title="村口3号路灯不亮", description="坏了一周。")
    )
    said = resident.read_request_aloud(request_id, cw.Lang.ZH, now)
    assert not ASCII_DIGIT.search(said), said
    assert "村口三号路灯不亮" in said, said
    submitted = cw.words_of(cw.Lang.ZH, cw.Term.REQUEST_STATUS(status=cw.RequestStatus.SUBMITTED))
    assert f"现在{submitted.spoken}，{submitted.explanation}" in said, said

    with pytest.raises(CunwuError.NotFound):
        cadre.read_notice_aloud("00" * 16, cw.Lang.ZH, now)
