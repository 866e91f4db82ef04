import Foundation
import FlowFormat
import FlowIngest
import FlowModel
@testable import FlowQuery
import FlowStore
import MemoryStore
import Testing

/// The configuration audit log through the store protocol (SPEC §13): both stores, the write
/// pipeline, idempotency, the filters of `changes` and what `scope` picks.
struct ChangeQueryTests {
    static func fixture() throws -> DecodedBody {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Data/changes/mixed.jsonl").path
        return try DecodedBody(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))), source: "mixed.jsonl")
    }

    @Test func bothStoresKeepEachChangeOnceAndAnswerAlike() async throws {
        let body = try Self.fixture()
        #expect(body.changes.count == 6 && body.messages.count == 6)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-changes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let stores: [(String, any FlowStorage)] = [("sqlite", try FlowStore(path: dir.appendingPathComponent("c.db").path)), ("memory", MemoryStore())]
        var answers: [[ConfigChange]] = []
        for (name, store) in stores {
            let pipeline = WritePipeline(store: store, policy: .server)
            let first = try await pipeline.submit(body.messages, changes: body.changes)
            #expect(first.messages.allSatisfy { $0 } && first.changes.allSatisfy { $0 }, "\(name)")
            // A re-sent batch: the changes in another order, with other display names, add nothing.
            var again = body.changes.reversed().map { c -> ConfigChange in
                var c = c
                c.actorName = "renamed"
                c.record = "{}"
                return c
            }
            again.append(body.changes[0])
            let second = try await pipeline.submit([], changes: again)
            #expect(second.changes.allSatisfy { !$0 } && second.changes.count == 7, "\(name)")
            let stats = try pipeline.finish()
            #expect(stats.changes == 6 && stats.duplicateChanges == 7, "\(name)")

            let engine = QueryEngine(store: store)
            let window = TimeWindow(from: Timestamp.parseRFC3339("2026-11-01T00:00:00Z")!, to: Timestamp.parseRFC3339("2026-11-02T00:00:00Z")!)
            let all = try engine.changeRecords(ChangeQuery(window: window))
            #expect(all.map(\.time) == body.changes.map(\.time).sorted(), "\(name)")
            #expect(all.map(\.actorName) == body.changes.map(\.actorName), "\(name): the first copy stays")
            #expect(all.map(\.record) == body.changes.map(\.record), "\(name)")
            answers.append(all)

            #expect(try engine.changeRecords(ChangeQuery(window: window, actor: "BOB")).count == 3)
            #expect(try engine.changeRecords(ChangeQuery(window: window, actor: "Alice Ng")).count == 2)
            #expect(try engine.changeRecords(ChangeQuery(window: window, target: "router-1")).map(\.property) == ["KEY_EXPIRY_TIME"])
            #expect(try engine.changeRecords(ChangeQuery(window: window, target: "example.com")).count == 2)
            #expect(try engine.changeRecords(ChangeQuery(window: window, type: "node")).count == 4)
            #expect(try engine.changeRecords(ChangeQuery(window: TimeWindow(from: all[2].time, to: all[3].time))).count == 1)
            let report = try engine.changes(ChangeQuery(window: window, limit: 4))
            #expect(report.rows.count == 4 && report.cut?.total == 6)
            // An unknown name is no usage error here: targets may be users, keys or the tailnet.
            #expect(try engine.changeRecords(ChangeQuery(window: window, target: "nobody")).isEmpty)
            #expect(try engine.scopeChanges(window: window, endpoint: "db-1").map(\.property) == ["ACL", "TAGS", "DNS_NAMESERVERS"])
            #expect(try engine.scopeChanges(window: window, endpoint: "203.0.113.9").map(\.property) == ["ACL", "DNS_NAMESERVERS"])
        }
        #expect(answers[0] == answers[1])
    }
}
