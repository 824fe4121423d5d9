package org.cunwu

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.time.LocalDate
import java.time.ZoneOffset

/**
 * The words people read and hear (issue 14) through the generated Kotlin: a label with
 * its explanation and spoken form in Chinese and English, the forms of an amount (the
 * uppercase 大写 of finance documents), dates and deadlines, and a notice and a request
 * read aloud from a phone's own store. Mirrors bindings/python/tests/test_words.py.
 */
class WordsTest {
    @TempDir
    lateinit var dir: File

    private val asciiDigit = Regex("[0-9]")

    /** 00:00 China Standard Time of a date, in UTC milliseconds. */
    private fun villageMidnight(date: String): Long =
        LocalDate.parse(date).atStartOfDay().toInstant(ZoneOffset.ofHours(8)).toEpochMilli()

    private fun enrolled(relay: RelayProcess, who: String, invite: String, name: String): CunwuStore {
        val store = CunwuStore.open(File(dir, "$who/cunwu.db").path)
        runBlocking { store.enroll(relay.url, invite, name) }
        return store
    }

    @Test
    fun `a label reads with its explanation and spoken form in both languages`() {
        val accepted = Term.RequestStatus(RequestStatus.ACCEPTED)
        val zh = wordsOf(Lang.ZH, accepted)
        assertEquals("已受理", zh.label)
        assertEquals("村里已收到您的申请，正在安排办理", zh.explanation)
        assertEquals("已受理：村里已收到您的申请，正在安排办理", zh.explained)
        assertEquals("已受理", zh.spoken)
        val en = wordsOf(Lang.EN, accepted)
        assertEquals("Accepted", en.label)
        assertEquals("the village has received your request and is arranging the work", en.explanation)
        assertEquals("Accepted: the village has received your request and is arranging the work", en.explained)

        // where the voice says more than the chip: each field is its own message
        val pending = wordsOf(Lang.ZH, Term.LocalChangeState(ChangeState.PENDING))
        assertEquals("待发送" to "等待发送", pending.label to pending.spoken)
        val voting = wordsOf(Lang.EN, Term.DeliberationPhase(DeliberationPhase.VOTING))
        assertEquals("Voting" to "Voting open", voting.label to voting.spoken)

        // core's own enums under their app names, and request kinds by identifier
        assertEquals("财务公开", wordsOf(Lang.ZH, Term.NoticeCategory(NoticeCategory.FINANCE)).label)
        assertEquals("村干部", wordsOf(Lang.ZH, Term.MemberRole(Role.CADRE)).label)
        val own = wordsOf(Lang.ZH, Term.RequestKind("护林员报名"))
        assertEquals("护林员报名", own.label)
        assertEquals("护林员报名：本村设的事项“护林员报名”", own.explained)
        assertEquals(Lang.ZH, langOfTag("zh_CN.UTF-8"))
        assertNull(langOfTag("fr-FR"))
    }

    @Test
    fun `an amount in figures, compact, uppercase and spoken`() {
        val a: AmountForms = amountWords(1_240_000L)
        assertEquals(1_240_000L, a.fen)
        assertEquals("人民币壹万贰仟肆佰元整", a.upper)
        assertEquals("一万两千四百元", a.spoken)
        assertEquals("12,400.00元", a.figures)
        assertEquals("1.24万元", a.compact)
        assertEquals("人民币壹万贰仟肆佰元伍角", amountWords(1_240_050L).upper)
        assertEquals("12400 yuan and 50 fen", spokenAmount(Lang.EN, 1_240_050L))
        val tooLarge = assertThrows<CunwuException.InvalidInput> { amountWords(1_000_000_000_000_000L) }
        assertTrue(tooLarge.message!!.contains("too large"), tooLarge.message)
    }

    @Test
    fun `dates and deadlines on the village clock`() {
        val now = villageMidnight("2026-12-02") + 9 * 3_600_000L
        val yesterday = villageMidnight("2026-12-01") + 14 * 3_600_000L + 30 * 60_000L
        assertEquals("昨天 14:30", whenWords(Lang.ZH, yesterday, now))
        assertEquals("yesterday 14:30", whenWords(Lang.EN, yesterday, now))
        val due = villageMidnight("2026-12-11") + 3_600_000L
        assertEquals("12月11日前答复", replyByWords(Lang.ZH, due, now))
        assertEquals("还有9天", daysLeftWords(Lang.ZH, due, now))
        assertEquals("已超期2天", daysLeftWords(Lang.ZH, now - 2 * 86_400_000L, now))
        assertEquals("due today", daysLeftWords(Lang.EN, now, now))
    }

    @Test
    fun `a finance notice and a request read aloud from the store`(): Unit = RelayProcess(dir).use { relay ->
        val cadre = enrolled(relay, "cadre", relay.cadreInvite, "王书记")
        val resident = enrolled(relay, "resident", relay.invite("resident"), "李秀英")
        try {
            val income = 1_240_000L
            val noticeId = cadre.postNotice(
                NewNotice(
                    category = NoticeCategory.FINANCE,
                    subtype = NoticeSubtype.OTHER,
                    title = "2026年11月财务公开",
                    body = "本月收到村道硬化补助12400元，支付施工款。",
                    period = Period(kind = PeriodKind.MONTHLY, start = "2026-11-01", end = "2026-11-30"),
                    openingBalanceFen = 0L,
                    lines = listOf(
                        FinanceLine(
                            date = "2026-11-20", direction = Direction.INCOME, account = "补助收入",
                            item = "村道硬化上级补助", amountFen = income,
                        ),
                        FinanceLine(
                            date = "2026-11-25", direction = Direction.EXPENSE, account = "其他支出",
                            item = "村道硬化施工款", amountFen = 350_050L,
                        ),
                    ),
                ),
            )
            val now = System.currentTimeMillis()

            val zh = cadre.readNoticeAloud(noticeId, Lang.ZH, now)
            assertFalse(asciiDigit.containsMatchIn(zh), zh)
            assertTrue(zh.contains("二〇二六年十一月财务公开"), zh)
            assertTrue(zh.contains("本期收入合计" + amountWords(income).spoken), zh)
            assertTrue(zh.contains("本期收入合计一万两千四百元"), zh)
            assertTrue(zh.contains("支出合计三千五百元五角"), zh)
            assertTrue(zh.contains("期末结余八千八百九十九元五角"), zh)
            assertTrue(zh.contains("账目期间从十一月一日到十一月三十日"), zh)

            val en = cadre.readNoticeAloud(noticeId, Lang.EN, now)
            assertTrue(en.contains("income this period 12400 yuan"), en)
            assertTrue(en.contains("closing balance 8899 yuan and 50 fen"), en)
            // English voices read figures: the digit check above does see them when they are there
            assertTrue(asciiDigit.containsMatchIn(en), en)

            val requestId = resident.fileRequest(
                NewRequest(kind = "public_facility_repair", title = "村口3号路灯不亮", description = "坏了一周。"),
            )
            val said = resident.readRequestAloud(requestId, Lang.ZH, now)
            assertFalse(asciiDigit.containsMatchIn(said), said)
            assertTrue(said.contains("村口三号路灯不亮"), said)
            val submitted = wordsOf(Lang.ZH, Term.RequestStatus(RequestStatus.SUBMITTED))
            assertTrue(said.contains("现在${submitted.spoken}，${submitted.explanation}"), said)

            assertThrows<CunwuException.NotFound> { cadre.readNoticeAloud("00".repeat(16), Lang.ZH, now) }
            Unit
        } finally {
            cadre.close()
            resident.close()
        }
    }
}
