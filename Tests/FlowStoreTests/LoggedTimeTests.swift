import Foundation
import FlowIngest
import FlowModel
import FlowSchema
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// Migration 005: a message's `logged` time is kept (to the millisecond, as an offset from its
/// window's end), messages without one and rows stored before the migration read as unknown.
@Suite(.ownThreads)
struct LoggedTimeTests {
    static func windows(_ store: FlowStore) throws -> [Nanoseconds: Nanoseconds?] {
        try store.read { snapshot in
            var out: [Nanoseconds: Nanoseconds?] = [:]
            try snapshot.messageWindows(from: .min, to: .max) { out[$0.start] = $0.logged }
            return out
        }
    }

    /// Two accepted times can lie 584 years apart, more than `Int64` nanoseconds hold: a window from
    /// 1678 to 1970, or a `logged` time centuries from its window, trapped the writer (or was stored
    /// as a group no reader accepts). Such a message is a reject naming the field; its neighbours land,
    /// and a span of 99 years is still kept exactly.
    @Test func spansOfMoreThanACenturyAreRejectsNotTraps() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("span.db"))
        let traffic = #""virtualTraffic":[{"proto":6,"src":"100.64.0.1:1","dst":"100.64.0.2:22","txBytes":10}]"#
        let lines = [
            #"{"nodeId":"nA","start":"1678-01-01T00:00:00Z","end":"1970-04-12T23:47:15.854775807Z",\#(traffic)}"#,
            #"{"nodeId":"nA","start":"1678-01-01T00:00:00Z","end":"2261-12-31T23:59:59Z",\#(traffic)}"#,
            #"{"nodeId":"nB","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z","logged":"1678-01-01T00:00:00Z",\#(traffic)}"#,
            #"{"nodeId":"nB","start":"2026-11-01T10:00:05Z","end":"2026-11-01T10:00:10Z","logged":"2261-12-31T00:00:00Z",\#(traffic)}"#,
            #"{"nodeId":"nC","start":"1900-01-01T00:00:00Z","end":"1999-01-01T00:00:00Z","logged":"2098-01-01T00:00:00Z",\#(traffic)}"#,
            #"{"nodeId":"nC","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z",\#(traffic)}"#,
        ]
        let summary = try Ingester(store: store).ingest(bytes: Array(lines.joined(separator: "\n").utf8), source: "t.jsonl")
        #expect(summary.rejected == 4 && summary.messages == 2)
        let reasons = try store.rejects(limit: 10).map(\.reason)
        #expect(reasons.filter { $0.contains("is more than 100 years after start") }.count == 2, "\(reasons)")
        #expect(reasons.filter { $0.contains("logged") && $0.contains("is more than 100 years from end") }.count == 2, "\(reasons)")
        let t = { (s: String) in Timestamp.parseRFC3339(s)! }
        let got = try Self.windows(store)
        #expect(got[t("1900-01-01T00:00:00Z")] == .some(t("2098-01-01T00:00:00Z")))
        #expect(got[t("2026-11-01T10:00:00Z")] == .some(nil))
        #expect(try store.check(full: true).isSound)
        // A library caller's message the decoders would refuse is an error, not a trap.
        let bad = FlowMessage(nodeID: "nD", start: t("1678-01-01T00:00:00Z"), end: t("2261-12-31T00:00:00Z"), srcNode: nil, dstNodes: [], rows: [], logged: nil)
        #expect {
            try store.withWriter { w in
                try w.begin()
                defer { w.rollback() }
                try w.add(bad)
            }
        } throws: { ($0 as? StoreError)?.code == .invalidMessage }
    }

    @Test func loggedIsStoredAndReadBack() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("l.db"))
        let lines = [
            #"{"nodeId":"nA","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z","logged":"2026-11-01T10:00:06.789123456Z","virtualTraffic":[{"proto":6,"src":"100.64.0.1:1","dst":"100.64.0.2:22","txBytes":10}]}"#,
            #"{"nodeId":"nA","start":"2026-11-01T10:00:05Z","end":"2026-11-01T10:00:10Z","virtualTraffic":[{"proto":6,"src":"100.64.0.1:1","dst":"100.64.0.2:22","txBytes":10}]}"#,
            // A clock far ahead: logged before the window ended.
            #"{"nodeId":"nB","start":"2026-11-01T10:01:30Z","end":"2026-11-01T10:01:35Z","logged":"2026-11-01T10:00:06Z"}"#,
            #"{"nodeId":"nC","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z","logged":"yesterday"}"#,
        ]
        let summary = try Ingester(store: store).ingest(bytes: Array(lines.joined(separator: "\n").utf8), source: "t.jsonl")
        #expect(summary.rejected == 1 && summary.messages == 3)
        #expect(try store.rejects(limit: 5).first?.reason.contains("logged") == true)
        let t = { (s: String) in Timestamp.parseRFC3339(s)! }
        let got = try Self.windows(store)
        #expect(got[t("2026-11-01T10:00:00Z")] == .some(t("2026-11-01T10:00:06.789Z")))
        #expect(got[t("2026-11-01T10:00:05Z")] == .some(nil))
        #expect(got[t("2026-11-01T10:01:30Z")] == .some(t("2026-11-01T10:00:06Z")))
    }

    /// Log-service records (log streaming) carry the receive time as `logtail.server_time`:
    /// `logged` when the record has none (`Tests/Data/logtail/server-time.jsonl`).
    @Test func logtailServerTimeStandsInForLogged() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("l.db"))
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Data/logtail/server-time.jsonl").path
        let summary = try Ingester(store: store).ingest(paths: [file])
        // A malformed or misplaced server_time is a hint ignored, as unknown keys are: nothing is rejected.
        #expect(summary.rejected == 0 && summary.storedMessages == 8, "\(summary)")
        let t = { (s: String) in Timestamp.parseRFC3339("2026-11-01T10:00:\(s)Z")! }
        let got = try Self.windows(store)
        #expect(got[t("00")] == .some(t("06.25")), "server_time when logged is absent")
        #expect(got[t("05")] == .some(t("11.5")), "logged wins over server_time")
        #expect(got[t("10")] == .some(t("16.125")), "logtail before the message's fields")
        #expect(got[t("15")] == .some(nil), "server_time not a time")
        #expect(got[t("20")] == .some(nil), "logtail not an object")
        #expect(got[t("25")] == .some(nil), "server_time not a string; one in a nested value does not count")
        #expect(got[t("30")] == .some(nil), "no server_time")
        #expect(got[t("35")] == .some(t("41")), "the first logtail")
    }

    /// A message streamed first (no `logged`) and pulled later (with it) is kept once and gets the
    /// pulled copy's `logged`; its rows, rollups and node facts stay as they were; a `logged` once
    /// known is not replaced by a later copy's.
    @Test func aLaterCopyFillsInTheLoggedTime() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("l.db"))
        let traffic = #""virtualTraffic":[{"proto":6,"src":"100.64.0.1:1","dst":"100.64.0.2:22","txPkts":2,"txBytes":10}]"#
        func line(_ start: String, _ end: String, logged: String?) -> String {
            #"{"nodeId":"nA","start":"2026-11-01T10:00:\#(start)Z","end":"2026-11-01T10:00:\#(end)Z","#
                + (logged.map { #""logged":"2026-11-01T10:00:\#($0)Z","# } ?? "") + traffic + "}"
        }
        func ingest(_ lines: [String]) throws -> IngestSummary {
            try Ingester(store: store).ingest(bytes: Array(lines.joined(separator: "\n").utf8), source: "t.jsonl")
        }
        func contents() throws -> [String] {
            try DatabaseQueue(path: dir.path("l.db")).read { db in
                try FlowStore.storedMessages(db).map { "\($0.rows) \($0.rowCount) \($0.duration)" }
                    + String.fetchAll(db, sql: "SELECT step || reporter || bucket || hex(sums) FROM rollups ORDER BY step, reporter, bucket, part")
                    + String.fetchAll(db, sql: "SELECT stable_id || first_report_ns || last_report_ns FROM nodes ORDER BY id")
            }
        }
        let t = { (s: String) in Timestamp.parseRFC3339("2026-11-01T10:00:\(s)Z")! }

        let streamed = try ingest([line("00", "05", logged: nil), line("05", "10", logged: nil), line("10", "15", logged: "16")])
        #expect(streamed.storedMessages == 3)
        let before = try contents()
        let pulled = try ingest([line("00", "05", logged: "06.5"), line("05", "10", logged: nil), line("10", "15", logged: "59")])
        #expect(pulled.storedMessages == 0 && pulled.duplicates == 3, "\(pulled)")
        let got = try Self.windows(store)
        #expect(got.count == 3)
        #expect(got[t("00")] == .some(t("06.5")), "filled in from the later copy")
        #expect(got[t("05")] == .some(nil), "no copy carries one")
        #expect(got[t("10")] == .some(t("16")), "the first logged stays")
        #expect(try contents() == before, "rows, rollups and node facts unchanged")
    }

    @Test func rowsStoredBeforeTheMigrationHaveNoLoggedTime() throws {
        let dir = TempDir()
        let path = dir.path("old.db")
        // A store as version 3 left it, with one message.
        let queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for m in Schema.migrations.prefix(3) { migrator.registerMigration(m.name) { try $0.execute(sql: m.sql) } }
        try migrator.migrate(queue)
        try queue.write { db in
            try db.execute(sql: "INSERT INTO nodes (id, stable_id, first_report_ns, last_report_ns) VALUES (1, 'nOld', 0, 0)")
            try db.execute(sql: "INSERT INTO messages (start_ns, reporter, digest, duration_ns, row_count, rows) VALUES (1000, 1, 7, 5000000000, 0, x'')")
        }
        try queue.close()
        let store = try FlowStore(path: path)
        #expect(try store.schemaVersion().contains("005_message_logged"))
        let got = try Self.windows(store)
        #expect(got.count == 1 && got[1000] == .some(nil))
    }
}
