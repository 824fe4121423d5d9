package org.cunwu

import java.io.File
import java.net.HttpURLConnection
import java.net.ServerSocket
import java.net.URI
import java.util.concurrent.TimeUnit

/**
 * A real cunwu-relay process serving one space (青石村) from a SQLite file in [dir],
 * started on a free loopback port after creating the space and its first cadre invite
 * with the relay's admin command. The binary is CUNWU_RELAY_BIN, else
 * <repo>/target/debug/cunwu-relay (prepare.sh builds it).
 */
class RelayProcess(private val dir: File) : AutoCloseable {
    companion object {
        const val SPACE_NAME = "青石村"

        private val repoRoot: File =
            File(System.getProperty("cunwu.repo.root") ?: "../..").canonicalFile

        val binary: File =
            System.getenv("CUNWU_RELAY_BIN")?.let(::File) ?: File(repoRoot, "target/debug/cunwu-relay")

        private fun freePort(): Int = ServerSocket(0).use { it.localPort }

        /** The string value of `"key": "..."` in a flat JSON object. */
        fun jsonString(json: String, key: String): String =
            Regex("\"" + Regex.escape(key) + "\"\\s*:\\s*\"([^\"]*)\"").find(json)?.groupValues?.get(1)
                ?: error("no \"$key\" in relay output: $json")
    }

    private val db = File(dir, "relay.db")
    private val log = File(dir, "relay.log")
    val spaceId: String
    val cadreInvite: String
    val url: String
    private val process: Process

    init {
        check(binary.canExecute()) { "relay binary not found at $binary (set CUNWU_RELAY_BIN or build cunwu-relay)" }
        val created = admin("space", "create", "--name", SPACE_NAME)
        spaceId = jsonString(created, "space_id")
        cadreInvite = jsonString(created, "invite")
        val port = freePort()
        url = "http://127.0.0.1:$port"
        process = ProcessBuilder(binary.path, "serve", "--listen", "127.0.0.1:$port", "--db", db.path)
            .redirectErrorStream(true)
            .redirectOutput(log)
            .start()
        waitHealthy()
    }

    /** Run an admin command against the relay's database; returns its JSON output. */
    fun admin(vararg args: String): String {
        val p = ProcessBuilder(binary.path, *args, "--db", db.path, "--json")
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) { "relay ${args.joinToString(" ")} failed: $out" }
        return out
    }

    fun invite(role: String = "resident"): String =
        jsonString(admin("invite", "create", "--space", spaceId, "--role", role), "invite")

    private fun waitHealthy() {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while (System.nanoTime() < deadline) {
            check(process.isAlive) { "relay exited with ${process.exitValue()}: ${output()}" }
            try {
                val c = URI("$url/healthz").toURL().openConnection() as HttpURLConnection
                c.connectTimeout = 1000
                c.readTimeout = 1000
                if (c.responseCode == 200) return
            } catch (_: java.io.IOException) {
            }
            Thread.sleep(50)
        }
        error("relay not healthy after 30 s: ${output()}")
    }

    fun output(): String = if (log.exists()) log.readText().takeLast(4000) else ""

    fun stop() {
        if (process.isAlive) {
            process.destroy()
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
        }
    }

    override fun close() = stop()
}
