import Foundation

/// A real cunwu-relay process serving one space (青石村) from a SQLite file in `dir`,
/// on a loopback port, after creating the space and its first cadre invite with the
/// relay's admin command. The binary is $CUNWU_RELAY_BIN, else
/// <repo>/target/debug/cunwu-relay (`cargo build -p cunwu-relay`).
final class RelayProcess {
    static let spaceName = "青石村"

    enum Failure: Error, CustomStringConvertible {
        case command(String, String)
        case notHealthy(String)
        var description: String {
            switch self {
            case let .command(args, out): return "cunwu-relay \(args) failed: \(out)"
            case let .notHealthy(log): return "relay did not become healthy: \(log)"
            }
        }
    }

    /// ios/Tests/CunwuTests/RelayProcess.swift → the repository root.
    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["CUNWU_RELAY_BIN"] {
            return URL(fileURLWithPath: path)
        }
        return repoRoot.appendingPathComponent("target/debug/cunwu-relay")
    }

    let dir: URL
    let db: URL
    let spaceId: String
    let cadreInvite: String
    private(set) var url = ""
    private var process: Process?

    private init(dir: URL) throws {
        self.dir = dir
        db = dir.appendingPathComponent("relay.db")
        let created = try Self.admin(db: db, ["space", "create", "--name", Self.spaceName])
        spaceId = created["space_id"] ?? ""
        cadreInvite = created["invite"] ?? ""
    }

    /// Create the space, start serving and wait for /healthz (retrying on another
    /// port if the chosen one is taken).
    static func start(in dir: URL) async throws -> RelayProcess {
        let relay = try RelayProcess(dir: dir)
        for _ in 0..<5 {
            if try await relay.serve(port: Int.random(in: 20000...60000)) { return relay }
        }
        throw Failure.notHealthy(relay.output())
    }

    private func serve(port: Int) async throws -> Bool {
        let log = dir.appendingPathComponent("relay.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--db", db.path]
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        process = p
        url = "http://127.0.0.1:\(port)"
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if !p.isRunning { return false }
            if await healthy() { return true }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        stop()
        return false
    }

    private func healthy() async -> Bool {
        guard let health = URL(string: "\(url)/healthz") else { return false }
        var request = URLRequest(url: health)
        request.timeoutInterval = 1
        do {
            let (_, response) = try await URLSession.shared.data(for: request)
            return (response as? HTTPURLResponse)?.statusCode == 200
        } catch {
            return false
        }
    }

    @discardableResult
    static func admin(db: URL, _ args: [String]) throws -> [String: String] {
        let p = Process()
        p.executableURL = binary
        p.arguments = args + ["--db", db.path, "--json"]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0,
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw Failure.command(args.joined(separator: " "), text) }
        return object.compactMapValues { $0 as? String }
    }

    func invite(role: String = "resident") throws -> String {
        let args = ["invite", "create", "--space", spaceId, "--role", role]
        guard let code = try Self.admin(db: db, args)["invite"] else {
            throw Failure.command(args.joined(separator: " "), "no invite in the output")
        }
        return code
    }

    func output() -> String {
        let log = dir.appendingPathComponent("relay.log")
        return String(String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self).suffix(4000))
    }

    func stop() {
        guard let p = process, p.isRunning else { return }
        p.terminate()
        p.waitUntilExit()
    }
}
