@testable import FlowClickHouse
import Foundation
import TestSupport
import Testing

/// Schema 006's day sums (`day_sums`, filled by the questions): `top` by endpoint and pair over
/// whole days answer as SQLite after a late message lands in a filled day, after an address
/// changes owner, and with a second fill of each day beside the first; old fills are dropped.
/// In the rollup chain (``ClickHouseRollupTests``): one server more, not one chain more.
extension ClickHouseRollupTests {
    @Test func daySumsFollowLateMessagesOwnersAndSecondFills() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("logs.jsonl"), devices = dir.path("devices.json"), db = dir.path("sums.db")
        try await Self.ok(["generate", "--nodes", "8", "--start", "2026-10-31T22:00:00Z", "--duration", "52h", "--rate", "0.1", "--seed", "21",
                           "-o", logs, "--devices", devices])
        // Every seventh message comes late.
        let lines = try String(contentsOfFile: logs, encoding: .utf8).split(separator: "\n")
        let early = dir.path("early.jsonl"), late = dir.path("late.jsonl")
        try lines.enumerated().filter { $0.offset % 7 != 3 }.map { $0.element + "\n" }.joined().write(toFile: early, atomically: true, encoding: .utf8)
        try lines.enumerated().filter { $0.offset % 7 == 3 }.map { $0.element + "\n" }.joined().write(toFile: late, atomically: true, encoding: .utf8)
        let store = server.storeURL(database: "sums")
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["nodes", "import"] + target + [devices])
            try await Self.ok(["ingest"] + target + [early])
        }
        // Two whole days; one whole day with hours, minutes and raw rows at both edges.
        let days = ["--from", "2026-11-01", "--to", "2026-11-03"]
        let ragged = ["--from", "2026-10-31T23:01:00.5Z", "--to", "2026-11-02T01:30:10Z"]
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: devices))) as? [String: Any])
        let user = try #require((listed["devices"] as? [[String: Any]])?.compactMap { $0["user"] as? String }.first)
        let pairs = ["top", "--by", "pair", "--limit", "1000"] + days
        let questions = [["top"] + days, pairs, ["top", "--limit", "1000"] + ragged,
                         ["top", "--endpoint", "db-1", "--by", "pair", "--limit", "1000"] + ragged,
                         ["top", "--metric", "packets", "--kind", "virtual,physical", "--tag", "tag:web"] + days,
                         ["top", "--by", "pair", "--user", user] + ragged]
        func text(_ sql: String) throws -> String { try Self.text(server, sql) }
        /// Each question's answer on both stores: the same bytes. Returns SQLite's.
        func same(_ questions: [[String]], env: [String: String] = [:], on target: String? = nil, _ step: String) async throws -> [String] {
            var answers: [String] = []
            for q in questions {
                let sqlite = try await Self.ok(q + ["--db", db, "--format", "json"])
                let clickhouse = try await Self.ok(q + ["--store", target ?? store, "--format", "json"], env: env)
                #expect(clickhouse.stdout == sqlite.stdout, "\(step): \(q.joined(separator: " ")): the answers differ")
                answers.append(sqlite.stdout)
            }
            return answers
        }
        let first = try await same(questions, "first")
        // The day sums answered (both days filled, once: the questions after the first found them).
        #expect(try text("SELECT uniqExact(bucket), count() FROM sums.day_sums_fills") == "2\t2")

        // Late messages in both filled days: new signatures, so both days are filled again. The
        // first fills stay: read, they would give the first answers, which are not SQLite's now.
        for target in [["--db", db], ["--store", store]] { try await Self.ok(["ingest"] + target + [late]) }
        let afterLate = try await same(questions, "late messages")
        #expect(try text("SELECT uniqExact(bucket), count() FROM sums.day_sums_fills") == "2\t4")
        #expect(zip(first, afterLate).filter { $0 != $1 }.count == questions.count, "late messages that change no answer test nothing")
        let firstFills = try text("SELECT groupArray(fill) FROM sums.day_sums_fills")

        // An address changes owner (db-1 and web-1 swap addresses): a new fingerprint. Fills made
        // a second before are old enough to go (a test grace): the first fingerprint's are given up.
        var list = listed
        var entries = try #require(list["devices"] as? [[String: Any]])
        let web = try #require(entries.firstIndex { ($0["name"] as? String)?.hasPrefix("web-1.") == true })
        let dbNode = try #require(entries.firstIndex { ($0["name"] as? String)?.hasPrefix("db-1.") == true })
        (entries[web]["addresses"], entries[dbNode]["addresses"]) = (entries[dbNode]["addresses"], entries[web]["addresses"])
        list["devices"] = entries
        try JSONSerialization.data(withJSONObject: list).write(to: URL(fileURLWithPath: devices))
        for target in [["--db", db], ["--store", store]] { try await Self.ok(["nodes", "import"] + target + [devices]) }
        // A user that may not write: its questions cannot fill the days (the new fingerprint has
        // none), and answer as without the day sums.
        _ = try await same([questions[0], pairs, questions[3]], on: server.storeURL(database: "sums", user: ClickHouseServer.reader), "read-only user")
        #expect(try text("SELECT uniqExact(fp), count() FROM sums.day_sums_fills") == "1\t4")
        let graceless = ["TAILFLOW_CLICKHOUSE_DAY_SUMS_TEST_GRACE": "1"]
        let afterOwners = try await same(questions, env: graceless, "owner change")
        #expect(zip(afterLate, afterOwners).filter { $0 != $1 }.count >= 4, "an owner change that changes no answer tests nothing")
        // The first fingerprint's fills are given up (a tombstone each) and their rows kept a grace
        // longer (here a second): a question that took one before its tombstone still reads it.
        #expect(try text("SELECT count(), uniqExact(fill) FROM sums.day_sums_fills WHERE rows = 0") == "4\t4")
        #expect(try text("SELECT hasAll(groupUniqArray(toUInt64(partition)), \(firstFills)) FROM system.parts WHERE database = 'sums' AND table = 'day_sums' AND active") == "1")

        let live = "rows > 0 AND fill NOT IN (SELECT fill FROM sums.day_sums_fills WHERE rows = 0)"
        // A second fill of each day beside the first (as a question racing the first would make):
        // the answers take one of them, not both.
        _ = try server.query("""
            INSERT INTO sums.day_sums SELECT fill + 1, bucket, level, kind, a, b, ab_packets, ab_bytes, ba_packets, ba_bytes, star, sig
            FROM sums.day_sums WHERE fill IN (SELECT fill FROM sums.day_sums_fills WHERE \(live))
            """)
        _ = try server.query("INSERT INTO sums.day_sums_fills SELECT fp, bucket, sig, fill + 1, rows, made + 1 FROM sums.day_sums_fills WHERE \(live)")
        _ = try await same([questions[0], pairs], "a second fill")
        // And two questions filling both days at once, after new messages in both (the late ones
        // again with a counter changed).
        let extra = dir.path("extra.jsonl")
        try lines.enumerated().filter { $0.offset % 7 == 3 }.map { $0.element.replacingOccurrences(of: "\"txBytes\":", with: "\"txBytes\":1") + "\n" }
            .joined().write(toFile: extra, atomically: true, encoding: .utf8)
        for target in [["--db", db], ["--store", store]] { try await Self.ok(["ingest"] + target + [extra]) }
        async let one = Self.ok(pairs + ["--store", store, "--format", "json"], env: graceless)
        async let two = Self.ok(pairs + ["--store", store, "--format", "json"], env: graceless)
        let sqlite = try await Self.ok(pairs + ["--db", db, "--format", "json"])
        let (a, b) = try await (one, two)
        #expect(a.stdout == sqlite.stdout && b.stdout == sqlite.stdout, "two questions filling at once")
        #expect(sqlite.stdout != afterOwners[1])
        // Their clean-up dropped the rows of the first fingerprint's fills (given up at the owner change, over a grace ago).
        let parts = try text("SELECT groupUniqArray(toUInt64(partition)) FROM system.parts WHERE database = 'sums' AND table = 'day_sums' AND active")
        #expect(try text("SELECT hasAny(\(firstFills), \(parts))") == "0", "\(firstFills) in \(parts)")
        try await Self.eventually("the dropped fills' records deleted") { try text("SELECT countIf(has(\(firstFills), fill)) FROM sums.day_sums_fills") == "0" }
        // Without the day sums, the same answers.
        let off = try await Self.ok(["top"] + days + ["--store", store, "--format", "json"], env: ["TAILFLOW_CLICKHOUSE_DAY_SUMS": "off"])
        let on = try await Self.ok(["top"] + days + ["--store", store, "--format", "json"])
        #expect(off.stdout == on.stdout)
    }

    /// The kept fills' file (``KeptFills``, `….days` beside the node tables') is taken as the node
    /// tables' file is: a regular file of this user's, sealed, under its key; not through a link,
    /// not a FIFO (without blocking), not a file others may write, not another store's.
    @Test func keptFillsFileIsTakenOnlyWhenOwnAndSealed() throws {
        let dir = TempDir()
        let file = URL(fileURLWithPath: dir.path("s.days")), key = ["tailflow node tables 2", "default@h:1/s", "001"]
        KeptFills(file: file, key: key).keep(7, [86400, 172800], [11, 12])
        #expect(KeptFills(file: file, key: key).fills(7, [86400, 172800]) == [11, 12], "the file as written is taken")
        #expect(KeptFills(file: file, key: key.dropLast() + ["002"]).fills(7, [86400]) == nil, "another binary's")
        let link = URL(fileURLWithPath: dir.path("link.days"))
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: file)
        #expect(KeptFills(file: link, key: key).fills(7, [86400]) == nil, "through a link")
        let text = try String(contentsOf: file, encoding: .utf8)
        let unsealed = URL(fileURLWithPath: dir.path("unsealed.days"))
        try text.split(separator: "\n").dropLast().map { $0 + "\n" }.joined().write(to: unsealed, atomically: true, encoding: .utf8)
        #expect(KeptFills(file: unsealed, key: key).fills(7, [86400]) == nil, "without its seal")
        let shared = URL(fileURLWithPath: dir.path("shared.days"))
        try text.write(to: shared, atomically: true, encoding: .utf8)
        #expect(KeptFills(file: shared, key: key).fills(7, [86400]) == [11], "a copy of this user's")
        chmod(shared.path, 0o666)
        #expect(KeptFills(file: shared, key: key).fills(7, [86400]) == nil, "a file others may write")
        let fifo = dir.path("fifo.days")
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(KeptFills(file: URL(fileURLWithPath: fifo), key: key).fills(7, [86400]) == nil, "a FIFO")
    }

    /// Waits (up to 30 s, asking every half second) until `done` holds.
    static func eventually(_ what: String, _ done: () async throws -> Bool) async throws {
        for _ in 0..<60 {
            if try await done() { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        Issue.record("not within 30 s: \(what)")
    }
}
