import Foundation
import FlowStore
import Testing
import GRDB
import TestSupport

/// `tailflow ingest` and friends, run as a user runs them: the real binary on real files.
@Suite(.ownThreads)
struct IngestCommandTests {
    static let tinyDump: [String] = {
        let dir = TempDir()
        let db = dir.path("ref.db")
        _ = try? CLI.runBlocking(["ingest", Fixtures.path("tiny/api-response.json")], db: db)
        return (try? Dump.of(db)) ?? []
    }()

    @Test(arguments: Fixtures.containers.filter { $0 != "single-message.json" })
    func everyContainerStoresIdenticalContent(_ name: String) async throws {
        let dir = TempDir()
        let db = dir.path("t.db")
        let r = try await CLI.run(["ingest", "--format", "json", Fixtures.path("containers/" + name)], db: db)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains(#""storedMessages":6,"storedRows":8"#))
        #expect(Self.tinyDump.count > 20)
        #expect(try Dump.of(db) == Self.tinyDump)
        // Again: nothing new.
        let again = try await CLI.run(["ingest", "--format", "json", Fixtures.path("containers/" + name)], db: db)
        #expect(again.status == 0)
        #expect(again.stdout.contains(#""storedMessages":0,"storedRows":0,"duplicates":6"#), "\(again.stdout)")
        #expect(try Dump.of(db) == Self.tinyDump)
    }

    /// Two processes store the same rows, internal ids and blobs included: each hashes addresses and
    /// node IDs from a seed of its own (`hashSeed`), and nothing stored may follow a hash's order
    /// (with a `[String: NodeState]`, a device list's addresses were numbered in its order).
    @Test func twoProcessesStoreTheSameRows() async throws {
        let dir = TempDir()
        var tables: [[String]] = []
        for name in ["a.db", "b.db"] {
            let db = dir.path(name)
            let imported = try await CLI.run(["nodes", "import", Fixtures.path("tiny/devices.json")], db: db)
            #expect(imported.status == 0, "\(imported.stderr)")
            let r = try await CLI.run(["ingest", Fixtures.path("tiny/api-response.json")], db: db)
            #expect(r.status == 0, "\(r.stderr)")
            tables.append(try await DatabaseQueue(path: db).read { db in
                try String.fetchAll(db, sql: "SELECT id || ' ' || ip FROM addresses ORDER BY id")
                    + String.fetchAll(db, sql: "SELECT address || ' ' || node FROM node_addresses ORDER BY address")
                    + String.fetchAll(db, sql: "SELECT id || ' ' || stable_id FROM nodes ORDER BY id")
                    + String.fetchAll(db, sql: "SELECT id || ' ' || hex(body) FROM message_groups ORDER BY id")
                    + String.fetchAll(db, sql: "SELECT step || ' ' || reporter || ' ' || bucket || ' ' || part || ' ' || hex(sums) FROM rollups ORDER BY step, reporter, bucket, part")
            })
        }
        #expect(tables[0].count > 20)
        #expect(tables[0] == tables[1])
    }

    @Test func allContainersTogetherAndStdinStoreEachMessageOnce() async throws {
        let dir = TempDir()
        let db = dir.path("t.db")
        let files = Fixtures.containers.map { Fixtures.path("containers/" + $0) }
        let r = try await CLI.run(["ingest", "--format", "json"] + files, db: db)
        #expect(r.status == 0)
        #expect(try Dump.of(db) == Self.tinyDump)
        let stdin = try await CLI.run(["ingest", "-"], db: db, stdin: try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("containers/api-response.json.gz"))))
        #expect(stdin.status == 0)
        #expect(try Dump.of(db) == Self.tinyDump)
        // No file arguments reads standard input too.
        let implicit = try await CLI.run(["ingest"], db: db, stdin: try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("containers/messages.jsonl"))))
        #expect(implicit.status == 0 && implicit.stdout.contains("6 duplicates"))
    }

    @Test(arguments: [
        ("malformed-line.jsonl", "malformed-line.jsonl:2: JSON syntax error", 2),
        ("counter-overflow.jsonl", "counter-overflow.jsonl:2: virtualTraffic[0].txBytes: 18446744073709551615 exceeds 2^63-1", 1),
        ("wrong-types.jsonl", #"wrong-types.jsonl:1: start: "yesterday" is not an RFC 3339 time"#, 1),
        ("bad-address.jsonl", #"bad-address.jsonl:1: virtualTraffic[0].dst: "100.101.1.999:22""#, 1),
        ("end-before-start.jsonl", "end-before-start.jsonl:1: end 2026-11-01T10:00:10Z is before start", 0),
        ("not-json.bin", "not-json.bin:1: JSON syntax error: expected a JSON value, found byte 0x00", 0),
        ("truncated.json.gz", "gzip stream truncated", 0),
    ])
    func badInputIsRejectedWithWhereAndWhy(_ file: String, _ message: String, _ kept: Int) async throws {
        let dir = TempDir()
        let db = dir.path("t.db")
        let r = try await CLI.run(["ingest", "--format", "json", Fixtures.path("bad/" + file)], db: db)
        #expect(r.status == 3)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stdout.contains(#""storedMessages":\#(kept),"#), "\(r.stdout)")
        #expect(r.stdout.contains(#""rejected":1,"#))
        let listed = try await CLI.run(["rejects", "--format", "json"], db: db)
        #expect(listed.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
        #expect(json?.count == 1)
        #expect((json?.first?["source"] as? String)?.hasSuffix(file) == true)
        #expect(json?.first?["offset"] is Int)
        // Ingesting the same bad file again records the reject once.
        _ = try await CLI.run(["ingest", Fixtures.path("bad/" + file)], db: db)
        #expect(try Dump.of(db).filter { $0.hasPrefix("reject ") }.count == 1)
    }

    @Test func inputsWithoutMessagesAreNotErrors() async throws {
        let dir = TempDir()
        for file in ["empty.json", "no-messages.json"] {
            let r = try await CLI.run(["ingest", "--format", "json", Fixtures.path("bad/" + file)], db: dir.path(file + ".db"))
            #expect(r.status == 0)
            #expect(r.stderr.isEmpty)
        }
        let r = try await CLI.run(["ingest", "--format", "json", Fixtures.path("bad/no-messages.json")], db: dir.path("x.db"))
        #expect(r.stdout.contains(#""skipped":1"#))
    }

    @Test func manyRejectsArePrintedThenCounted() async throws {
        let dir = TempDir()
        let bad = String(repeating: #"{"nodeId":"n1","start":"nope","end":"nope"}"# + "\n", count: 25)
        let r = try await CLI.run(["ingest", "-"], db: dir.path("t.db"), stdin: Data(bad.utf8))
        #expect(r.status == 3)
        #expect(r.stderr.components(separatedBy: "tailflow: rejected").count - 1 == 10)
        #expect(r.stderr.contains("15 more rejects not shown"))
    }

    /// A source that cannot be opened or read is a failure, named on stderr and counted:
    /// exit 1 when nothing was stored, 3 (partial) when other sources were.
    @Test(arguments: ["missing", "directory", "unreadable"])
    func unreadableSourceFailsButTheOthersLand(_ kind: String) async throws {
        let dir = TempDir()
        let db = dir.path("t.db")
        let bad: String
        let why: String
        switch kind {
        case "missing":
            bad = dir.path("missing.jsonl")
            why = "No such file or directory"
        case "directory":
            bad = dir.path("a-directory")
            try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: false)
            why = "is a directory"
        default:
            // Opens, but every read fails (EIO): what a failing disk or a vanished mount gives.
            bad = "/proc/self/mem"
            why = "read failed"
        }
        let alone = try await CLI.run(["ingest", "--format", "json", bad], db: db)
        #expect(alone.status == 1, "\(alone.stderr)")
        #expect(alone.stderr.contains("tailflow: cannot read \(bad)") && alone.stderr.contains(why), "\(alone.stderr)")
        #expect(alone.stdout.contains(#""failedSources":1"#), "\(alone.stdout)")
        let mixed = try await CLI.run(["ingest", "--format", "json", bad, Fixtures.path("containers/messages.jsonl")], db: db)
        #expect(mixed.status == 3, "\(mixed.stderr)")
        #expect(mixed.stderr.contains("tailflow: cannot read \(bad)"), "\(mixed.stderr)")
        #expect(mixed.stdout.contains(#""failedSources":1"#), "\(mixed.stdout)")
        #expect(try Dump.of(db) == Self.tinyDump)
        // The table summary says it too.
        let table = try await CLI.run(["ingest", bad], db: db)
        #expect(table.status == 1 && table.stdout.contains("1 source could not be read"), "\(table.stdout)")
    }

    @Test func usageErrorsExitTwo() async throws {
        let dir = TempDir()
        for args in [["ingest", "--bogus"], ["nodes", "--format", "xml"], ["frobnicate"], ["nodes", "import"]] {
            let r = try await CLI.run(args, db: dir.path("t.db"))
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(!r.stderr.isEmpty)
        }
        #expect(try await CLI.run(["--help"]).status == 0)
    }

    /// `tailflow --version` names the program and the schema it writes, and exits 0 without
    /// opening a store.
    @Test func versionNamesTheProgramAndItsSchema() async throws {
        let dir = TempDir()
        let r = try await CLI.run(["--version"], db: dir.path("v.db"))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("tailflow "), "\(r.stdout)")
        #expect(r.stdout.contains("schema 0"), "\(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("v.db")))
    }

    @Test func dbFlagAndEnvironmentChooseTheFile() async throws {
        let dir = TempDir()
        let viaFlag = try await CLI.run(["ingest", "--db", dir.path("flag.db"), Fixtures.path("containers/messages.jsonl")], db: dir.path("env.db"))
        #expect(viaFlag.status == 0)
        #expect(FileManager.default.fileExists(atPath: dir.path("flag.db")))
        #expect(!FileManager.default.fileExists(atPath: dir.path("env.db")))
        let p = CLI.start(["ingest", Fixtures.path("containers/messages.jsonl")], db: nil)
        p.currentDirectoryURL = dir.url
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(FileManager.default.fileExists(atPath: dir.path("tailflow.db")))
    }

    @Test func newerSchemaIsAClearError() async throws {
        let dir = TempDir()
        let db = dir.path("t.db")
        _ = try await CLI.run(["ingest", Fixtures.path("containers/messages.jsonl")], db: db)
        let store = try FlowStore(path: db)
        try await store.pool.write { try $0.execute(sql: "INSERT INTO grdb_migrations VALUES ('900_next')") }
        let r = try await CLI.run(["nodes"], db: db)
        #expect(r.status == 1)
        #expect(r.stderr.contains("newer than this tailflow knows"))
    }
}

@Suite(.ownThreads)
struct IngestProgressTests {
    /// On a terminal (a pseudo-terminal from script(1)), ingest shows a progress line; piped, it does not.
    @Test func progressLineOnlyOnATerminal() async throws {
        let dir = TempDir()
        let input = dir.path("in.jsonl")
        try Synthetic.jsonl(count: 20_000).write(to: URL(fileURLWithPath: input))
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-q", "-c", "\(CLI.binary) ingest --db \(dir.path("tty.db")) \(input)", "/dev/null"]
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(text.contains("MB/s") && text.contains(" messages, ") && text.contains(" rows, "), "\(text)")
        #expect(text.contains("ingested 20,000 messages"))
        let piped = try await CLI.run(["ingest", "--db", dir.path("pipe.db"), input])
        #expect(piped.status == 0)
        #expect(!piped.stderr.contains("MB/s"))
        #expect(piped.stdout.contains("ingested 20,000 messages"))
    }
}
