import Foundation
import FlowFormat
import FlowIngest
import FlowModel
@testable import FlowQuery
import FlowStore
import MemoryStore
import Testing
import TestSupport

/// The configuration audit log through the store protocol (SPEC §13): both stores, the write
/// pipeline, idempotency, the filters of `changes` and what `scope` picks.
@Suite(.ownThreads)
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

    /// `--where` over changes: each term of SPEC §11 read as documented on ``ChangeFilter``, and the
    /// terms of traffic refused at their column.
    @Test func whereReadsTheFilterLanguageOverChanges() async throws {
        let body = try Self.fixture()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-changes-where-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try FlowStore(path: dir.appendingPathComponent("c.db").path)
        let pipeline = WritePipeline(store: store, policy: .server)
        _ = try await pipeline.submit(body.messages, changes: body.changes)
        _ = try pipeline.finish()
        let engine = QueryEngine(store: store)
        let window = TimeWindow(from: Timestamp.parseRFC3339("2026-11-01T00:00:00Z")!, to: Timestamp.parseRFC3339("2026-11-02T00:00:00Z")!)
        func properties(_ expression: String, actor: String? = nil) throws -> [String] {
            try engine.changeRecords(ChangeQuery(window: window, actor: actor, filter: try FilterExpression(parsing: expression)))
                .map { $0.property ?? $0.action }
        }
        // node: the changed node, by name, first label, ID or address; tailnet-wide changes have none.
        #expect(try properties("node = db-1") == ["TAGS"])
        #expect(try properties("node = nRt7Pq2CNTRL") == ["KEY_EXPIRY_TIME"])
        #expect(try properties("node = 100.101.1.20") == ["TAGS"])
        #expect(try properties("node = old-ci") == ["MACHINE_AUTHORIZED", "DELETE"])
        #expect(try properties("not node = db-1") == ["ACL", "MACHINE_AUTHORIZED", "KEY_EXPIRY_TIME", "DNS_NAMESERVERS", "DELETE"])
        #expect(try properties("node in (db-1, router-1)") == ["TAGS", "KEY_EXPIRY_TIME"])
        // A network holds the nodes whose addresses lie in it; an address no node has matches nothing.
        let inNetwork = try properties("endpoint in (100.101.1.0/24)")
        #expect(inNetwork.contains("TAGS") && !inNetwork.contains("ACL"))
        #expect(try properties("node = 100.64.9.9").isEmpty)
        // tag: a tag of the changed node now, or one the change set or removed.
        #expect(try properties("tag = prod") == ["TAGS"])
        #expect(try properties("tag = tag:db") == ["TAGS"])
        // user: who made the change (exact login), or the owner of the changed node.
        #expect(try properties("user = bob@example.com") == ["TAGS", "KEY_EXPIRY_TIME", "DNS_NAMESERVERS"])
        #expect(try properties("user = alice@example.com and not node = old-ci") == ["ACL"])
        // os: the changed node's operating system; combined with --actor by `and`.
        #expect(try properties("os = linux", actor: "bob") == ["TAGS", "KEY_EXPIRY_TIME"])
        // Terms of traffic are usage errors naming the term and its column.
        for (expression, term, column) in [("port = 22", "port", 1), ("node = db-1 and kind = exit", "kind", 17), ("src = db-1", "src", 1)] {
            do {
                _ = try properties(expression)
                Issue.record("\(expression) was answered")
            } catch let e as QueryError {
                #expect(e.message.contains("'\(term)' does not apply to configuration changes at column \(column)"), "\(e.message)")
                #expect(e.message.hasPrefix("--where:"))
            }
        }
        // A name that is no node and no change target is a usage error with a suggestion.
        do {
            _ = try properties("node = db1")
            Issue.record("an unknown name was answered")
        } catch let e as QueryError {
            #expect(e.message.contains("'db1' is no node of this store") && e.message.contains("did you mean"), "\(e.message)")
        }
    }
}
