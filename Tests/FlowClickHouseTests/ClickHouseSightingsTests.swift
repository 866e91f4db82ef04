import FlowClickHouse
import FlowStore
import Foundation
import TestSupport
import Testing

/// The first and last sightings of ClickHouse schema 004 (issue 19): `scope` refines each peer's
/// first and last sighting inside a rollup bucket from `sightings_1m`/`_1h`/`_1d` instead of
/// the bucket's raw rows; the answers are SQLite's, with data sent twice, after the tables lost
/// rows (the raw rows answer instead, and the writer's repair refills them), and on a store
/// written before 004 once a writer upgrades it.
extension ClickHouseRollupTests {
    /// What the sightings tables hold for a key, merged, against what the raw rows say: the same
    /// rows (a hash of each bucket's key and its four first/last starts), per table.
    static func sightingsMatchRawRows(_ server: ClickHouseServer, _ database: String) throws -> Bool {
        let no = "toInt64(9223372036854775807)", noLast = "toInt64(-9223372036854775807)"
        for (table, seconds) in [("sightings_1m", 60), ("sightings_1h", 3600), ("sightings_1d", 86400)] {
            let held = try Self.text(server, """
                SELECT count(), sum(cityHash64(bucket, reporter, kind, proto, src, dst, tf, tl, rf, rl)) FROM (
                    SELECT bucket, reporter, kind, proto, src, dst, minMerge(tx_first) AS tf, maxMerge(tx_last) AS tl,
                           minMerge(rx_first) AS rf, maxMerge(rx_last) AS rl
                    FROM \(database).\(table) GROUP BY bucket, reporter, kind, proto, src, dst)
                """)
            let raw = try Self.text(server, """
                SELECT count(), sum(cityHash64(bucket, reporter, kind, proto, src, dst, tf, tl, rf, rl)) FROM (
                    SELECT intDiv(start_ns, \(seconds) * 1000000000) * \(seconds) AS bucket, reporter, kind, proto, src, dst,
                           min(if(tx_packets != 0 OR tx_bytes != 0, start_ns, \(no))) AS tf, max(if(tx_packets != 0 OR tx_bytes != 0, start_ns, \(noLast))) AS tl,
                           min(if(rx_packets != 0 OR rx_bytes != 0, start_ns, \(no))) AS rf, max(if(rx_packets != 0 OR rx_bytes != 0, start_ns, \(noLast))) AS rl
                    FROM \(database).flows WHERE kind != 255 GROUP BY bucket, reporter, kind, proto, src, dst)
                """)
            if held != raw { return false }
        }
        return true
    }

    /// `scope` over windows on and off minute, hour and day boundaries (rollup buckets of every
    /// level holding first and last sightings, raw edges), for busy endpoints, `*` and a protocol:
    /// SQLite's answers. Then: the same file sent again (nothing changes); a forged earlier
    /// sighting shows in the answer (so the table is read) while the raw path still answers as
    /// SQLite; tables that lost their rows, or some keys of a bucket, answer as SQLite (from the
    /// raw rows) until an ingest meeting stored messages refills them. (A store written before 004
    /// is filled when a writer upgrades it: `storeBeforeRollupsIsFilledOnUpgrade`.)
    @Test func scopeReadsSightingsAndAnswersAsSQLite() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("s.jsonl"), devices = dir.path("devices.json"), db = dir.path("s.db")
        try await Self.ok(["generate", "--nodes", "8", "--start", "2026-11-01T00:00:00Z", "--duration", "51h", "--rate", "0.05", "--seed", "17",
                           "-o", logs, "--devices", devices])
        // A reporter's rows with traffic in one direction only, each the only sighting of its peer
        // (inside the day bucket of 11-02): the other direction has no raw row (schema 004's sentinels).
        let lines = try String(contentsOfFile: logs, encoding: .utf8).split(separator: "\n")
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        let reporter = try #require(first["nodeId"] as? String)
        let address = try #require(((first["srcNode"] as? [String: Any])?["addresses"] as? [String])?.first)
        let oneWay = """
            {"nodeId":"\(reporter)","start":"2026-11-02T03:10:20Z","end":"2026-11-02T03:10:25Z","virtualTraffic":[\
            {"proto":17,"src":"\(address):5555","dst":"100.64.250.250:53","txPkts":3,"txBytes":300},\
            {"proto":17,"src":"\(address):5556","dst":"100.64.250.251:53","rxPkts":2,"rxBytes":200}]}
            """
        try (lines.map { $0 + "\n" }.joined() + oneWay + "\n").write(toFile: logs, atomically: true, encoding: .utf8)
        let store = server.storeURL(database: "s")
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["ingest"] + target + [logs])
            try await Self.ok(["nodes", "import"] + target + [devices])
        }
        #expect(try Self.sightingsMatchRawRows(server, "s"), "the views did not feed the sightings as the raw rows say")
        let (a, b) = try await Self.busiest(db)
        // Whole days (11-02 a day bucket; 11-01..11-03 a 2-day bucket), hours, minutes and raw
        // edges (13:17:00 starts on a minute, 02:00:30 and 41.5 s are off it).
        let windows = [
            ["--from", "2026-11-01T13:17:00Z", "--to", "2026-11-03T02:00:30Z"],
            ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-03T00:00:00Z"],
            ["--from", "2026-11-02T05:00:00Z", "--to", "2026-11-02T08:00:00Z"],
            ["--from", "2026-11-02T05:03:41.5Z", "--to", "2026-11-02T05:58:00Z"],
        ]
        var questions: [[String]] = windows.map { ["scope", "--endpoint", a] + $0 }
        questions += [["scope", "--endpoint", b] + windows[0], ["scope", "--endpoint", "*"] + windows[0],
                      ["scope", "--endpoint", a, "--proto", "tcp"] + windows[2], ["scope", "--endpoint", reporter] + windows[0]]
        // SQLite's answers, once; ClickHouse's must equal them at each step below.
        var truth: [[String]: String] = [:]
        for q in questions { truth[q] = try await Self.ok(q + ["--db", db, "--format", "json"]).stdout }
        func expectSQLite(_ qs: [[String]], env: [String: String] = [:], _ step: String) async throws {
            for q in qs {
                let out = try await Self.ok(q + ["--store", store, "--format", "json"], env: env)
                #expect(out.stdout == truth[q], "\(step): \(q.joined(separator: " ")): the answers differ")
            }
        }
        try await expectSQLite(questions, "fed by the views")
        #expect(truth[questions[7]]?.contains("100.64.250.251") == true, "the one-way peers are not in the answer: the test tests nothing")

        // Messages sent again (the file's first and last, one batch spanning all of it): nothing
        // stored; the writer's repair inserted every sighting again, which changes nothing.
        let slice = dir.path("slice.jsonl")
        try (lines.prefix(2) + lines.suffix(2)).map { $0 + "\n" }.joined().write(toFile: slice, atomically: true, encoding: .utf8)
        let again = try await Self.ok(["ingest", "--store", store, "--format", "json", slice])
        #expect(again.stdout.contains("\"storedMessages\": 0") || again.stdout.contains("\"storedMessages\":0"), "\(again.stdout)")
        #expect(try Self.sightingsMatchRawRows(server, "s"), "data sent again changed the sightings")
        try await expectSQLite([questions[0], questions[7]], "sent again")

        // Every key of a bucket forged as first seen at its first instant and last seen at its last
        // (the same keys: the tables still cover the bucket): the day 11-02 (windows[1], a 2-day
        // bucket read as day rows), the hour 11-02 07:00 (windows[2]) and the minute 11-02 05:57
        // (windows[3]). Each answer shows the forgery, so each level's table is read; the raw path does not.
        for (table, bucket, span, q) in [("sightings_1d", 1793577600, 86400, questions[1]), ("sightings_1h", 1793602800, 3600, questions[2]),
                                         ("sightings_1m", 1793599020, 60, questions[3])] {
            _ = try server.query("""
                INSERT INTO s.\(table) SELECT bucket, reporter, kind, proto, src, dst,
                       minState(toInt64(bucket) * 1000000000), maxState(toInt64(bucket + \(span)) * 1000000000 - 1),
                       minState(toInt64(bucket) * 1000000000), maxState(toInt64(bucket + \(span)) * 1000000000 - 1)
                FROM s.\(table) WHERE bucket = \(bucket) GROUP BY bucket, reporter, kind, proto, src, dst
                """)
            let forged = try await Self.ok(q + ["--store", store, "--format", "json"])
            #expect(forged.stdout != truth[q], "\(table): a forged sighting did not change the answer: the table is not read")
        }
        try await expectSQLite([questions[1], questions[3]], env: ["TAILFLOW_CLICKHOUSE_RAW_SIGHTINGS": "1"], "the raw rows' sightings")

        // The tables lost their rows (as a server that died between an insert's raw rows and its
        // views leaves them): the raw rows answer. Messages sent again refill them.
        for t in ["sightings_1m", "sightings_1h", "sightings_1d"] { _ = try server.query("TRUNCATE TABLE s.\(t)") }
        try await expectSQLite([questions[0], questions[2]], "without sightings")
        // 11-02's day partly held (as a shard not yet filled leaves it): every key but those of the
        // endpoint's own reports. Its sightings are not taken (they lack keys the rollups have).
        func fillDay(_ condition: String) throws {
            _ = try server.query("""
                INSERT INTO s.sightings_1d SELECT intDiv(start_ns, 86400000000000) * 86400 AS b, reporter, kind, proto, src, dst,
                       minState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(9223372036854775807))),
                       maxState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(-9223372036854775807))),
                       minState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(9223372036854775807))),
                       maxState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(-9223372036854775807)))
                FROM s.flows WHERE kind != 255 AND start_ns >= 1793577600000000000 AND start_ns < 1793664000000000000 AND \(condition)
                GROUP BY b, reporter, kind, proto, src, dst
                """)
        }
        try fillDay("reporter != \(ClickHouseClient.quote(a))")
        try await expectSQLite([questions[1]], "with a day's sightings lacking a reporter")
        // The rest of 11-02: only 11-01 lacks its sightings. A peer first seen on 11-01 has its
        // first sighting in the tables on 11-02, outside the bucket the sums found: not taken.
        try fillDay("reporter = \(ClickHouseClient.quote(a))")
        try await expectSQLite([questions[1]], "with one day of sightings")
        _ = try await Self.ok(["ingest", "--store", store, slice])
        #expect(try Self.sightingsMatchRawRows(server, "s"), "an ingest meeting stored messages did not refill the sightings")

    }
}
