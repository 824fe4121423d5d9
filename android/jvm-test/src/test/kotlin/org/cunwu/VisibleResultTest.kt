package org.cunwu

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.util.concurrent.TimeUnit

/**
 * A deliberation's visible result through the bindings is what the CLI shows for the
 * same store file: a secret vote, a vote with results hidden until the close (before
 * and after it), a public vote inside the grace period after its deadline. Mirrors
 * bindings/python/tests/test_visible_result.py.
 *
 * The CLI (`cunwu --home DIR deliberation show ID --json`, CUNWU_CLI_BIN or
 * <repo>/target/debug/cunwu) reads the phone's own store file. An outcome is [Hidden]
 * (the CLI prints `"tally": null`; the bindings throw CunwuException.NotAllowed) or
 * the counts with the final flag. The rule deciding what a member may see of a vote
 * is one core function (protocol/src/model/deliberation.rs, `Deliberation::result_view`),
 * which the CLI, the store, the relay and the bindings all call.
 */
class VisibleResultTest {
    @TempDir
    lateinit var dir: File
    private lateinit var relay: RelayProcess
    private lateinit var cadre: CunwuStore
    private val home get() = File(dir, "cadre")

    sealed interface Outcome
    data object Hidden : Outcome
    data class Counted(val counts: List<Int>, val final: Boolean) : Outcome

    companion object {
        private val repoRoot: File =
            File(System.getProperty("cunwu.repo.root") ?: "../..").canonicalFile
        val cli: File = System.getenv("CUNWU_CLI_BIN")?.let(::File) ?: File(repoRoot, "target/debug/cunwu")
    }

    private fun cliOutcome(id: String): Outcome {
        check(cli.canExecute()) { "cunwu CLI not found at $cli (set CUNWU_CLI_BIN or build cunwu-cli)" }
        val p = ProcessBuilder(cli.path, "--home", home.path, "--json", "deliberation", "show", id)
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) { "cunwu deliberation show failed: $out" }
        if (Regex("\"tally\"\\s*:\\s*null").containsMatchIn(out)) {
            check(out.contains("\"tally_hidden\"")) { out }
            return Hidden
        }
        val counts = Regex("\"counts\"\\s*:\\s*\\[([^\\]]*)]").find(out)?.groupValues?.get(1)
            ?: error("no counts in $out")
        val final = Regex("\"final_result\"\\s*:\\s*(true|false)").find(out)?.groupValues?.get(1)
            ?: error("no final_result in $out")
        return Counted(counts.split(',').map { it.trim() }.filter { it.isNotEmpty() }.map(String::toInt), final == "true")
    }

    private fun ffiOutcome(id: String): Outcome = try {
        val t = cadre.tally(id)
        Counted(t.counts.map { it.toInt() }, t.finalResult)
    } catch (e: CunwuException.NotAllowed) {
        Hidden
    }

    /** A vote open now, closing soon, with the cadre's ballot for option 0; returns (id, closes at). */
    private fun vote(secret: Boolean = false, hideResults: Boolean = false, closesInMs: Long = 3_000): Pair<String, Long> {
        val now = System.currentTimeMillis()
        val id = cadre.createDeliberation(
            NewDeliberation(
                title = "是否修建村文化广场",
                body = "广场选址在老学校旧址。",
                decidingBody = DecidingBody.VILLAGERS_MEETING,
                options = listOf("同意", "不同意"),
                opensAt = now,
                closesAt = now + closesInMs,
                secret = secret,
                hideResults = hideResults,
            )
        )
        cadre.openVoting(id)
        cadre.castBallot(id, 0u)
        return id to now + closesInMs
    }

    private fun sleepPast(deadlineMs: Long) = Thread.sleep(maxOf(0, deadlineMs - System.currentTimeMillis()) + 200)

    @BeforeEach
    fun enrolled() {
        relay = RelayProcess(dir)
        cadre = CunwuStore.open(File(home, "cunwu.db").path)
        runBlocking { cadre.enroll(relay.url, relay.cadreInvite, "王书记") }
    }

    @AfterEach
    fun tearDown() {
        cadre.close()
        relay.stop()
    }

    @Test
    fun `a secret vote before the close is hidden as in the CLI`() {
        val (id, _) = vote(secret = true, closesInMs = 600_000)
        assertEquals(Hidden, cliOutcome(id))
        assertEquals(Hidden, ffiOutcome(id))
    }

    @Test
    fun `hidden results before the close are hidden as in the CLI`() {
        val (id, _) = vote(hideResults = true, closesInMs = 600_000)
        assertEquals(Hidden, cliOutcome(id))
        assertEquals(Hidden, ffiOutcome(id))
    }

    @Test
    fun `hidden results after the close show what the CLI shows`() {
        val (id, closesAt) = vote(hideResults = true)
        runBlocking { cadre.sync() }
        sleepPast(closesAt)
        // after the close the relay counts a hidden vote and signs its tally (it looks for
        // closed votes at least every 10 s); the phone shows that count only, and until it
        // arrives the result stays hidden
        val deadline = System.currentTimeMillis() + 30_000
        var shown: Outcome = Hidden
        while (shown == Hidden && System.currentTimeMillis() < deadline) {
            runBlocking { cadre.sync() }
            shown = cliOutcome(id)
            if (shown == Hidden) {
                assertEquals(Hidden, ffiOutcome(id))
                Thread.sleep(1_000)
            }
        }
        assertNotEquals(Hidden, shown)
        assertEquals(listOf(1, 0), (shown as Counted).counts)
        assertEquals(shown, ffiOutcome(id))
    }

    @Test
    fun `a public vote inside the grace period shows what the CLI shows`() {
        val (id, closesAt) = vote()
        sleepPast(closesAt) // past the deadline, well inside the grace period for late ballots
        val shown = cliOutcome(id)
        assertNotEquals(Hidden, shown)
        assertEquals(listOf(1, 0), (shown as Counted).counts)
        assertEquals(shown, ffiOutcome(id))
    }
}
