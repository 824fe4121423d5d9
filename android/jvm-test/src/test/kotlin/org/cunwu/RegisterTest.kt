package org.cunwu

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File

/**
 * The village register through the Kotlin bindings and a real relay (issue 11): a cadre
 * keeps the register, invites a person on it, opens a villagers' meeting over the
 * register, records ballots and attendance in the hall; both phones count the same.
 * Mirrors bindings/python/tests/test_register.py.
 */
class RegisterTest {
    @TempDir
    lateinit var dir: File
    private lateinit var relay: RelayProcess
    private lateinit var cadre: CunwuStore

    @BeforeEach
    fun village() {
        relay = RelayProcess(dir)
        cadre = CunwuStore.open(File(dir, "cadre/cunwu.db").path)
        runBlocking { cadre.enroll(relay.url, relay.cadreInvite, "王书记") }
    }

    @AfterEach
    fun tearDown() {
        cadre.close()
        relay.stop()
    }

    private fun person(name: String, household: String, party: Boolean = false) =
        PersonDetails(name = name, household = household, group = "一组", adult = true, party = party)

    @Test
    fun `register, hall ballots and follow-up lists`() {
        runBlocking {
            val names = listOf("李秀英", "张大爷", "王奶奶", "赵叔")
            val ids = names.mapIndexed { i, n -> cadre.registerAdd(person(n, "H0$i", party = i == 0)) }
            cadre.sync()
            assertEquals(names, cadre.persons().map { it.details.name })

            val invite = cadre.createInviteForPerson(Role.RESIDENT, ids[0], true, "东莞")
            val resident = CunwuStore.open(File(dir, "resident/cunwu.db").path)
            resident.enroll(relay.url, invite.code, "李秀英")
            val me = resident.me()
            assertEquals(ids[0], me.person)
            assertTrue(me.migrant && me.party)
            assertEquals("东莞", me.livesIn)
            assertTrue(resident.persons().isEmpty(), "the register stays with cadres")
            assertThrows<CunwuException> { resident.registerAdd(person("冒名", "H99")) }

            cadre.sync()
            val now = System.currentTimeMillis()
            val vote = cadre.createDeliberation(
                NewDeliberation(
                    title = "是否修建村文化广场",
                    body = "",
                    decidingBody = DecidingBody.VILLAGERS_MEETING,
                    options = listOf("同意", "不同意"),
                    opensAt = now,
                    closesAt = now + 86_400_000,
                ),
            )
            cadre.openVoting(vote)
            assertEquals(ids, cadre.deliberation(vote).persons)
            cadre.sync()
            resident.sync()
            resident.castBallot(vote, 0u)
            resident.sync()
            cadre.recordBallot(vote, ids[0], 1u)
            cadre.recordBallot(vote, ids[1], 0u)
            cadre.recordAttendance(vote, ids[2])
            assertThrows<CunwuException> { cadre.recordBallot(vote, ids[1], 1u) }
            cadre.sync()
            resident.sync()
            for (store in listOf(cadre, resident)) {
                val t = store.tally(vote)
                assertEquals(listOf(4u, 3u, 3u), listOf(t.eligible, t.participants, t.inHall))
                assertEquals(listOf(1u, 1u), t.counts)
                assertTrue(t.quorumMet)
            }
            val left = cadre.notVoted(vote)
            assertEquals(listOf("赵叔"), left.persons.map { it.name })
            assertFalse(left.persons[0].hasPhone)

            val proposal = resident.propose("修缮村小学围墙", "", DecidingBody.VILLAGERS_MEETING)
            resident.sync()
            cadre.sync()
            val view = cadre.proposal(proposal)
            assertEquals(listOf(ids[0]), view.proposal.signers)
            assertTrue(view.support!!.due)
            assertThrows<CunwuException> { cadre.coSign(proposal) }
            resident.close()
        }
    }
}
