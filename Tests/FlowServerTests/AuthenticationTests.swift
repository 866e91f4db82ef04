import FlowServer
import Foundation
import HTTPTypes
import Testing
import TestSupport

/// One authentication middleware per role: every refusal keeps its protocol's answer.
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct AuthenticationTests {
    @Test func authenticationFailuresAndReceiversThatAreOff() async throws {
        let dir = TempDir()
        let db = dir.path("auth.db")
        let body = try Fixtures.bytes("containers/splunk-hec.json")
        let bulkBody = try Fixtures.bytes("containers/elasticsearch-bulk.ndjson")
        let basic = { (u: String, p: String) in [("Authorization", "Basic " + Data("\(u):\(p)".utf8).base64EncodedString())] }
        let cases: [(String, String, [UInt8]?, [(String, String)], Int)] = [
            // HEC
            ("POST", "/services/collector/event", body, [], 401),
            ("POST", "/services/collector/event", body, [("Authorization", "Splunk nope")], 401),
            ("POST", "/services/collector/event", body, [("Authorization", "Bearer T1-hec")], 401),
            ("POST", "/services/collector/event", body, [("Authorization", "Splunk T3-ingest")], 403),
            ("POST", "/services/collector/event", body, [("Authorization", "Splunk T4-read")], 403),
            // Bulk
            ("POST", "/_bulk", bulkBody, [], 401),
            ("POST", "/_bulk", bulkBody, basic("U", "wrong"), 401),
            ("POST", "/_bulk", bulkBody, basic("someone", "T2-bulk"), 401),
            ("POST", "/_bulk", bulkBody, basic("U", "T1-hec"), 403),
            ("GET", "/", nil, [], 401),
            ("GET", "/", nil, Auth.bulk, 200),
            ("GET", "/_cluster/health", nil, Auth.bulk, 200),
            ("GET", "/_license", nil, Auth.bulk, 200),
            // Plain
            ("POST", "/api/v1/ingest", body, [], 401),
            ("POST", "/api/v1/ingest", body, [("Authorization", "Bearer T3-ingestX")], 401),
            ("POST", "/api/v1/ingest", body, [("Authorization", "Bearer T4-read")], 403),
            // Queries
            ("GET", "/api/v1/top", nil, [], 401),
            ("GET", "/api/v1/top", nil, [("Authorization", "Bearer T4")], 401),
            ("GET", "/api/v1/top", nil, [("Authorization", "Bearer T3-ingest")], 403),
            ("GET", "/api/v1/nodes", nil, [("Authorization", "Splunk T4-read")], 401),
            ("GET", "/api/v1/top", nil, Auth.read, 200),
        ]
        try await TestServer.run(db: db) { app in
            for (method, path, payload, headers, expected) in cases {
                let a = try await app.send(method == "GET" ? .get : .post, path, body: payload, headers: headers)
                #expect(a.status == expected, "\(method) \(path) \(headers): \(a.status) \(a.body)")
                // A refusal names no secret.
                for secret in ["T1-hec", "T2-bulk", "T3-ingest", "T4-read"] { #expect(!a.body.contains(secret)) }
                if a.status == 401 { #expect(a["WWW-Authenticate"] != nil) }
                // Each protocol refuses in its own shape.
                if a.status >= 400 {
                    if path.hasPrefix("/services") { #expect(a.object["code"] is Int && a.object["text"] is String, "\(a.body)") }
                    if path.hasPrefix("/api") { #expect(a.object["error"] is String, "\(a.body)") }
                    if path == "/" || path.hasSuffix("_bulk") {
                        #expect((a.object["error"] as? [String: Any])?["type"] as? String == "security_exception" && a["X-Elastic-Product"] == "Elasticsearch")
                    }
                }
            }
        }
        #expect(try Dump.content(db).filter { $0.hasPrefix("message") }.isEmpty)

        // Only the read token set: every receiver answers 404, in its own shape.
        var readOnly = ServerConfiguration()
        readOnly.readToken = "T4-read"
        try await TestServer.run(db: db, readOnly) { app in
            for path in ["/services/collector/event", "/_bulk", "/api/v1/ingest"] {
                #expect(try await app.post(path, body, Auth.hec + Auth.bulk).status == 404)
            }
            let health = try await app.get("/services/collector/health")
            #expect(health.status == 404 && health.object["code"] as? Int == 404)
            #expect(try await app.get("/api/v1/nodes", Auth.read).status == 200)
        }
    }
}
