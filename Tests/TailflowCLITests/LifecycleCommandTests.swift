import FlowModel
import Foundation
import GRDB
import Testing
import TestSupport

/// Store lifecycle with the real binary (issue 16): prune and what questions say after it,
/// check, backup (also of a store a server is writing), and clear errors for files that are
/// not sound stores.
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct LifecycleCommandTests {
    static let hour: Int64 = 3600 * Timestamp.nanosPerSecond

    /// Three hours of a generated 8-node tailnet whose raw rows `--raw 27d` partly prunes:
    /// the data starts an hour before the hour that holds now − 27 days and ends two hours
    /// after it. `prune` cuts at the minute that holds its own now − 27 days, which is later
    /// than the fixture's now: a test that starts at 22:59 and prunes at 23:00 still cuts
    /// inside the data (with two hours of it, that prune took every row: CI at 23:00 UTC).
    static func agedStore(_ dir: TempDir) async throws -> (db: String, from: Int64, to: Int64) {
        let cutoff = Int64(Date().timeIntervalSince1970 * 1e9) - 27 * 24 * hour
        let from = Timestamp.bucketStart(cutoff, step: hour) - hour
        let file = dir.path("aged.jsonl"), db = dir.path("aged.db")
        let g = try await CLI.run(["generate", "--nodes", "8", "--duration", "3h", "--rate", "0.2", "--start", Timestamp.formatRFC3339(from), "-o", file])
        #expect(g.status == 0, "\(g.stderr)")
        let i = try await CLI.run(["ingest", "--quiet", file], db: db)
        #expect(i.status == 0, "\(i.stderr)")
        return (db, from, from + 3 * hour)
    }

    static func count(_ db: String, _ sql: String) throws -> Int {
        let queue = try DatabaseQueue(path: db, configuration: { var c = Configuration(); c.readonly = true; return c }())
        return try queue.read { try Int.fetchOne($0, sql: sql) ?? -1 }
    }

    @Test func pruneKeepsAnswersExactAndSaysFromWhichResolution() async throws {
        let dir = TempDir()
        let (db, from, to) = try await Self.agedStore(dir)
        let window = ["--from", Timestamp.formatRFC3339(from), "--to", Timestamp.formatRFC3339(to)]
        let questions = [["top"], ["top", "--by", "pair"], ["series", "--step", "5m"], ["rollup", "--step", "1h", "--group-by", "kind,src,dst"]]
        var before: [CLI.Result] = []
        for question in questions { before.append(try await CLI.run(question + window + ["--format", "json"], db: db)) }
        let messages = try Self.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups")

        // A dry run counts and deletes nothing.
        let dry = try await CLI.run(["prune", "--raw", "27d", "--dry-run", "--format", "json"], db: db)
        #expect(dry.status == 0, "\(dry.stderr)")
        let dryReport = try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any]
        let dryRaw = (dryReport?["levels"] as? [[String: Any]])?.first
        #expect((dryRaw?["messages"] as? Int ?? 0) > 0 && (dryRaw?["messages"] as? Int ?? 0) < messages, "\(dry.stdout)")
        #expect(try Self.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") == messages)

        let pruned = try await CLI.run(["prune", "--raw", "27d", "--format", "json"], db: db)
        #expect(pruned.status == 0, "\(pruned.stderr)")
        let prunedRaw = ((try? JSONSerialization.jsonObject(with: Data(pruned.stdout.utf8)) as? [String: Any])?["levels"] as? [[String: Any]])?.first
        let dryCount = dryRaw?["messages"] as? Int ?? -1, prunedCount = prunedRaw?["messages"] as? Int ?? -2
        #expect(try Self.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") == messages - prunedCount)
        // Each cuts at the minute that holds its own now − 27 days: the dry run counted what the
        // prune deleted, unless a minute began between the two (then it counted no more).
        if dryRaw?["keptFrom"] as? String == prunedRaw?["keptFrom"] as? String {
            #expect(dryCount == prunedCount, "\(dry.stdout) \(pruned.stdout)")
        } else {
            #expect(dryCount <= prunedCount, "\(dry.stdout) \(pruned.stdout)")
        }

        // Exactly the same answers, and a note that says where they came from.
        for (q, want) in zip(questions, before) {
            let got = try await CLI.run(q + window + ["--format", "json"], db: db)
            #expect(got.status == 0, "\(q): \(got.stderr)")
            #expect(got.stdout == want.stdout, "\(q)")
            #expect(got.stderr.contains("were pruned (retention raw=27d)") && got.stderr.contains("answered exactly from rollups"), "\(q): \(got.stderr)")
        }
        // Raw rows over pruned time: refused, naming the retention and the earliest time kept.
        let flows = try await CLI.run(["flows"] + window, db: db)
        #expect(flows.status == 1)
        #expect(flows.stderr.contains("retention raw=27d") && flows.stderr.contains("the earliest time available is"), "\(flows.stderr)")
        // A window edge in pruned time off every kept level's boundary: refused, saying which boundary works.
        let ragged = try await CLI.run(["top", "--from", Timestamp.formatRFC3339(from + 30 * Timestamp.nanosPerSecond), "--to", Timestamp.formatRFC3339(to)], db: db)
        #expect(ragged.status == 1)
        #expect(ragged.stderr.contains("1m boundary"), "\(ragged.stderr)")
        // The pruned store is sound.
        let check = try await CLI.run(["check", "--full"], db: db)
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")

        // Over HTTP: the same answer, with Tailflow-Resolution; raw rows are 410 Gone.
        let server = try await ServeProcess.started(db: db)
        defer { server.stop() }
        let query = "from=\(Timestamp.formatRFC3339(from))&to=\(Timestamp.formatRFC3339(to))"
        let top = try await curlHeaders([server.url + "/api/v1/top?" + query, "-H", "Authorization: Bearer T4-read"])
        #expect(top.status == 200)
        #expect(top.headers["tailflow-resolution"] != nil, "\(top.headers)")
        #expect(top.body == before[0].stdout)
        let raw = try await curlHeaders([server.url + "/api/v1/flows?" + query, "-H", "Authorization: Bearer T4-read"])
        #expect(raw.status == 410, "\(raw.body)")
        #expect(raw.body.contains("retention raw=27d"))
    }

    @Test func aRetentionPolicyThatCannotBeReadIsAUsageError() async throws {
        let dir = TempDir()
        let db = dir.path("empty.db")
        #expect(try await CLI.run(["ingest", "--quiet", "-"], db: db, stdin: Data()).status == 0)
        for (args, phrase) in [(["prune", "--raw", "30x"], "'30x' is not a duration"),
                               (["prune", "--retention", "raw=30d,raw=1d"], "raw is given twice"),
                               (["prune", "--retention", "weeks=3"], "expected LEVEL=PERIOD"),
                               (["serve", "--retention", "raw=soon"], "'soon' is not a duration")] {
            let r = try await CLI.run(args, db: db)
            #expect(r.status == 2, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(phrase), "\(args): \(r.stderr)")
        }
        // forever keeps a level: nothing to prune.
        let r = try await CLI.run(["prune", "--raw", "forever"], db: db)
        #expect(r.status == 0 && r.stdout.contains("keeps everything"), "\(r.stdout) \(r.stderr)")
    }

    @Test func serveAndPruneInTheBackgroundWhileReceiving() async throws {
        let dir = TempDir()
        let (db, _, _) = try await Self.agedStore(dir)
        let old = try Self.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups")
        let server = try await ServeProcess.started(db: db, ServeProcess.tokens + ["--retention", "raw=27d,1m=90d"])
        defer { server.stop() }
        let client = try Client()
        let (bodies, _) = ServeDurabilityTests.hecBatches(20, 20)
        for body in bodies {
            let a = try await client.post(server.url + "/services/collector/event", body, Auth.hec)
            #expect(a.status == 200, "\(a.body)")
        }
        // The writer prunes between batches: the retention is recorded and the old rows go.
        try await eventually { try Self.count(db, "SELECT count(*) FROM retention WHERE level = 0") != 0 }
        #expect(try Self.count(db, "SELECT count(*) FROM retention WHERE level = 0") == 1)
        try await eventually { try Self.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") < old }
        let left = try Self.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups")
        #expect(left < old + 400, "messages: \(old) old + 400 posted, \(left) now")
        #expect(server.stop() == 0)
        #expect(try await CLI.run(["check"], db: db).status == 0)
    }

    @Test func checkFindsARollupThatDisagreesWithItsRows() async throws {
        let dir = TempDir()
        let (db, _, _) = try await Self.agedStore(dir)
        let sound = try await CLI.run(["check", "--format", "json"], db: db)
        #expect(sound.status == 0, "\(sound.stdout) \(sound.stderr)")
        #expect(sound.stdout.contains(#""sound":true"#), "\(sound.stdout)")
        // Lose one minute bucket of one reporter, as a bug or a bad disk might.
        let queue = try DatabaseQueue(path: db)
        try await queue.write { db in
            try db.execute(sql: "DELETE FROM rollups WHERE (step, reporter, bucket) = (SELECT step, reporter, bucket FROM rollups WHERE step = 60 LIMIT 1 OFFSET 10)")
        }
        try queue.close()
        let broken = try await CLI.run(["check", "--full", "--format", "json"], db: db)
        #expect(broken.status == 1)
        #expect(broken.stdout.contains(#""sound":false"#) && broken.stdout.contains("rollup: the 1m bucket"), "\(broken.stdout)")
        let table = try await CLI.run(["check", "--full"], db: db)
        #expect(table.status == 1 && table.stderr.contains("keys missing"), "\(table.stderr)")
    }

    @Test func backupOfAStoreBeingWrittenIsConsistent() async throws {
        let dir = TempDir()
        let db = dir.path("live.db"), copy = dir.path("copy.db")
        let server = try await ServeProcess.started(db: db)
        let client = try Client()
        let (bodies, _) = ServeDurabilityTests.hecBatches(120, 25)
        let url = server.url + "/services/collector/event"
        let sender = Task {
            for body in bodies { _ = try await client.post(url, body, Auth.hec) }
        }
        // Back up while the senders stream (after the first commits).
        while try FileManager.default.fileExists(atPath: db) == false || Self.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") < 200 {
            try await Task.sleep(for: .milliseconds(20))
        }
        let backup = try await CLI.run(["backup", "-o", copy], db: db)
        #expect(backup.status == 0, "\(backup.stderr)")
        try await sender.value
        #expect(server.stop() == 0)
        // The copy opens, is sound, holds part of what was sent, and only what the store holds.
        let check = try await CLI.run(["check", "--full"], db: copy)
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
        let inCopy = try ServeDurabilityTests.storedKeys(copy), inStore = try ServeDurabilityTests.storedKeys(db)
        #expect(inCopy.count >= 200 && inCopy.isSubset(of: inStore), "\(inCopy.count) of \(inStore.count)")
        // Backing up onto an existing file is refused and leaves it alone.
        let again = try await CLI.run(["backup", "-o", copy], db: db)
        #expect(again.status == 1 && again.stderr.contains("exists already"), "\(again.stderr)")
    }

    /// Files that are not sound stores: a clear error naming the file, never a crash.
    @Test func filesThatAreNotSoundStoresGetClearErrors() async throws {
        let dir = TempDir()
        let (db, from, to) = try await Self.agedStore(dir)
        _ = try await CLI.run(["backup", "-o", dir.path("whole.db")], db: db)
        let whole = try Data(contentsOf: URL(fileURLWithPath: dir.path("whole.db")))
        try Data("hello, not a database\n".utf8).write(to: URL(fileURLWithPath: dir.path("text.db")))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: dir.path("truncated.db")))
        let window = ["--from", Timestamp.formatRFC3339(from), "--to", Timestamp.formatRFC3339(to)]
        let commands: [[String]] = [["check"], ["top"] + window, ["flows"] + window, ["prune", "--raw", "1d"], ["backup", "-o", dir.path("out.db")],
                                    ["ingest", dir.path("aged.jsonl")]]
        for (file, phrase) in [("text.db", "not a tailflow store"), ("truncated.db", "damaged")] {
            for c in commands {
                let r = try await CLI.run(c, db: dir.path(file))
                #expect(r.status == 1, "\(c) on \(file): status \(r.status) \(r.stderr)")
                #expect(r.stderr.contains(dir.path(file)) && r.stderr.contains(phrase), "\(c) on \(file): \(r.stderr)")
                #expect(!r.stderr.contains("Fatal error"), "\(c) on \(file)")
            }
        }
        // check says it in its own format too.
        let json = try await CLI.run(["check", "--format", "json"], db: dir.path("truncated.db"))
        #expect(json.status == 1 && json.stdout.contains(#""sound":false"#), "\(json.stdout)")
    }

    /// A store an older tailflow wrote is not a damaged one: check says which schema it has,
    /// that it was not checked, and how to upgrade, never "integrity: FAILED".
    @Test func checkOfAnOlderStoreNamesItsSchemaNotADamage() async throws {
        let dir = TempDir()
        let (db, _, _) = try await Self.agedStore(dir)
        let old = dir.path("old.db")
        _ = try await CLI.run(["backup", "-o", old], db: db)
        // The newest migration undone in the books: what the previous tailflow left.
        let queue = try DatabaseQueue(path: old)
        let applied = try await queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
        let last = try #require(applied.last), before = Array(applied.dropLast())
        try await queue.write { try $0.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = ?", arguments: [last]) }
        try queue.close()
        let table = try await CLI.run(["check"], db: old)
        #expect(table.status == 1, "\(table.stderr)")
        #expect(table.stdout.contains("integrity: not checked") && !table.stdout.contains("FAILED"), "\(table.stdout)")
        #expect(table.stdout.contains("schema: \(before.last!) (NOT what this tailflow expects)"), "\(table.stdout)")
        #expect(table.stderr.contains("older tailflow") && table.stderr.contains(last) && !table.stderr.contains("integrity:"), "\(table.stderr)")
        let json = try await CLI.run(["check", "--format", "json"], db: old)
        struct Answer: Decodable { var sound: Bool; var report: Report; struct Report: Decodable { var schemaVersion: [String]; var integrity: [String] } }
        let answer = try JSONDecoder().decode(Answer.self, from: Data(json.stdout.utf8))
        #expect(!answer.sound && answer.report.schemaVersion == before && answer.report.integrity.isEmpty, "\(json.stdout)")
    }

    /// As a user who may not write the file or its directory (the binary runs as `nobody`).
    @Test func aReadOnlyStoreCanBeCheckedAndCopiedButNotPruned() async throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return }
        let dir = TempDir()
        let (db, _, _) = try await Self.agedStore(dir)
        let ro = dir.path("ro"), out = dir.path("out")
        try FileManager.default.createDirectory(atPath: ro, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        _ = try await CLI.run(["backup", "-o", ro + "/t.db"], db: db)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: ro + "/t.db")
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: ro)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: out)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.url.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: ro) }
        func asNobody(_ args: [String]) throws -> CLI.Result {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", CLI.binary] + args + ["--db", ro + "/t.db"]
            return try CLI.collect(p)
        }
        let check = try asNobody(["check"])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
        let backup = try asNobody(["backup", "-o", out + "/copy.db"])
        #expect(backup.status == 0, "\(backup.stderr)")
        let prune = try asNobody(["prune", "--raw", "1d"])
        #expect(prune.status == 1)
        #expect(prune.stderr.contains(ro + "/t.db") && (prune.stderr.contains("cannot be written") || prune.stderr.contains("cannot open")), "\(prune.stderr)")
    }
}

/// curl with the status and response headers.
func curlHeaders(_ args: [String]) async throws -> (status: Int, headers: [String: String], body: String) {
    let r = try await curl(["-D", "-"] + args)
    var headers: [String: String] = [:]
    let parts = r.body.components(separatedBy: "\r\n\r\n")
    for line in parts.first?.split(separator: "\r\n").dropFirst() ?? [] {
        let kv = line.split(separator: ":", maxSplits: 1)
        if kv.count == 2 { headers[kv[0].lowercased()] = kv[1].trimmingCharacters(in: .whitespaces) }
    }
    return (r.status, headers, parts.dropFirst().joined(separator: "\r\n\r\n"))
}
