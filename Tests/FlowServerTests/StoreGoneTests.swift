import FlowServer
import Foundation
import Testing
import TestSupport

/// The store deleted or replaced under a running server (issue 14, item 8): nothing more is
/// acknowledged (503 in each protocol's shape), since SQLite would write into a file no one
/// can open again.
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct StoreGoneTests {
    static func removeStore(_ db: String) throws {
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: db + suffix) {
            try FileManager.default.removeItem(atPath: db + suffix)
        }
    }

    static func expectRefusals(_ app: Requests, _ body: [UInt8], _ jsonl: [UInt8]) async throws {
        let hec = try await app.post("/services/collector/event", body, Auth.hec)
        #expect(hec.status == 503 && hec.object["code"] as? Int == 9, "\(hec.body)")
        let bulk = try await app.post("/_bulk", Array((#"{"create":{}}"# + "\n").utf8) + jsonl, Auth.bulk)
        #expect(bulk.status == 503 && bulk["X-Elastic-Product"] == "Elasticsearch", "\(bulk.body)")
        let plain = try await app.post("/api/v1/ingest", jsonl, Auth.ingest)
        #expect(plain.status == 503 && (plain.object["error"] as? String ?? "").contains("restart"), "\(plain.body)")
        let question = try await app.get("/api/v1/nodes", Auth.read)
        #expect(question.status == 503, "\(question.body)")
        let health = try await app.get("/healthz")
        #expect(health.status == 503, "\(health.body)")
    }

    @Test func aDeletedStoreAnswers503() async throws {
        let dir = TempDir()
        let db = dir.path("gone.db")
        let body = try Fixtures.bytes("containers/splunk-hec.json")
        let jsonl = Array(Synthetic.jsonl(count: 1))
        try await TestServer.run(db: db) { app in
            #expect(try await app.post("/services/collector/event", body, Auth.hec).status == 200)
            try Self.removeStore(db)
            try await Self.expectRefusals(app, body, jsonl)
        }
    }

    @Test func aReplacedStoreAnswers503() async throws {
        let dir = TempDir()
        let db = dir.path("replaced.db")
        let other = dir.path("other.db")
        let body = try Fixtures.bytes("containers/splunk-hec.json")
        let jsonl = Array(Synthetic.jsonl(count: 1))
        _ = try await CLI.run(["ingest", "--quiet", Fixtures.path("containers/messages.jsonl")], db: other)
        try await TestServer.run(db: db) { app in
            #expect(try await app.post("/services/collector/event", body, Auth.hec).status == 200)
            try Self.removeStore(db)
            try FileManager.default.copyItem(atPath: other, toPath: db)
            try await Self.expectRefusals(app, body, jsonl)
        }
    }
}
