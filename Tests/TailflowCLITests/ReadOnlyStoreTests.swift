import Foundation
import Testing
import TestSupport

/// Questions open the store read-only: they never create a store, never change
/// one, and answer from a file nobody may write (issue 14 item 6, issue 13 item 3).
@Suite(.ownThreads) struct ReadOnlyStoreTests {
    /// Every command that only reads, with the arguments it needs.
    static let questions: [[String]] = [
        ["top", "--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z"],
        ["series", "--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z", "--step", "1h"],
        ["rollup", "--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z", "--step", "1h"],
        ["scope", "--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z", "--endpoint", "*"],
        ["flows", "--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z"],
        ["nodes"],
        ["rejects"],
    ]

    @Test(arguments: questions)
    func aQuestionOnAMissingStoreFailsAndCreatesNothing(_ question: [String]) async throws {
        let dir = TempDir()
        let db = dir.path("missing.db")
        let r = try await CLI.run(question + ["--format", "json"], db: db)
        #expect(r.status == 1, "\(question): \(r.stderr)")
        #expect(r.stderr.contains("no tailflow store at \(db)"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.url.path)
        #expect(left.isEmpty, "\(question) created \(left)")
    }

    /// A store made once: the fixtures, the device list and one reject.
    static func makeStore(_ dir: TempDir) async throws -> String {
        let db = dir.path("t.db")
        try FileManager.default.createDirectory(atPath: dir.path("ro"), withIntermediateDirectories: true)
        #expect(try await CLI.run(["ingest", Fixtures.path("containers/messages.jsonl"), Fixtures.path("bad/counter-overflow.jsonl")], db: db).status == 3)
        #expect(try await CLI.run(["nodes", "import", Fixtures.path("tiny/devices.json")], db: db).status == 0)
        return db
    }

    /// Everything in a directory: names, sizes and contents.
    static func fingerprint(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return out
    }

    @Test func questionsDoNotChangeTheFile() async throws {
        let dir = TempDir()
        let db = try await Self.makeStore(dir)
        let store = dir.path("ro")
        try FileManager.default.copyItem(atPath: db, toPath: store + "/t.db")
        let before = try Self.fingerprint(store)
        for q in Self.questions {
            let r = try await CLI.run(q + ["--format", "json"], db: store + "/t.db")
            #expect(r.status == 0, "\(q): \(r.stderr)")
            #expect(r.stdout.hasPrefix("["), "\(q): \(r.stdout)")
        }
        // Not one byte of the store changed. (SQLite's WAL readers leave an empty log
        // and a shared-memory index beside a store in a writable directory; they hold no data.)
        let after = try Self.fingerprint(store)
        #expect(after["t.db"] == before["t.db"])
        #expect(after["t.db-wal"].map(\.isEmpty) ?? true)
        #expect(Set(after.keys).subtracting(["t.db", "t.db-wal", "t.db-shm"]).isEmpty, "\(after.keys)")
    }

    /// As a user who may not write the file or its directory (tests run as root, who
    /// may write anything, so the binary runs as `nobody`).
    @Test func questionsAnswerFromAReadOnlyFileInAReadOnlyDirectory() async throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return }
        let dir = TempDir()
        let db = try await Self.makeStore(dir)
        let ro = dir.path("ro")
        let file = ro + "/t.db"
        try FileManager.default.copyItem(atPath: db, toPath: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: ro)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.url.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: ro) }
        let before = try Self.fingerprint(ro)
        for q in Self.questions {
            let want = try await CLI.run(q + ["--format", "json"], db: db)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", CLI.binary] + q + ["--format", "json", "--db", file]
            let got = try CLI.collect(p)
            #expect(got.status == 0, "\(q) as nobody: \(got.stderr)")
            // `rejects` prints when each was recorded: the same file, the same answer.
            #expect(got.stdout == want.stdout, "\(q) as nobody")
        }
        #expect(try Self.fingerprint(ro) == before)
        // Writing is refused with the reason, and creates nothing.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", CLI.binary, "ingest", "--db", file, Fixtures.path("containers/messages.jsonl")]
        let write = try CLI.collect(p)
        #expect(write.status == 1, "\(write.stderr)")
        #expect(try Self.fingerprint(ro) == before)
    }
}
