import Foundation
import Testing
import TestSupport

/// Configuration events through `tailflow serve`: mixed bodies on every receiver, and `GET /api/v1/changes`,
/// with real HTTP requests to the running binary (SPEC §13).
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct ChangesServeTests {
    static let window = "from=2026-11-01T09:00:00Z&to=2026-11-01T11:00:00Z"

    static func body(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: ChangesCommandTests.data(name))))
    }

    @Test func everyReceiverTakesMixedBodiesAndTheAPIAnswersChanges() async throws {
        let dir = TempDir()
        let db = dir.path("serve.db")
        let server = try await ServeProcess.started(db: db)
        let client = try Client()
        // Splunk HEC: twelve events, six of them configuration events; all land.
        let hec = try await client.post(server.url + "/services/collector/event", try Self.body("hec.json"), Auth.hec)
        #expect(hec.status == 200 && hec.object["code"] as? Int == 0, "\(hec.body)")
        // Elasticsearch _bulk: the same again, every item answered; the changes are already stored (noop).
        let bulk = try await client.post(server.url + "/tailscale/_bulk", try Self.body("bulk.ndjson"), Auth.bulk)
        #expect(bulk.status == 200 && bulk.object["errors"] as? Bool == false, "\(bulk.body)")
        let items = bulk.object["items"] as? [[String: [String: Any]]] ?? []
        #expect(items.count == 12)
        #expect(items.compactMap { $0.values.first?["result"] as? String }.allSatisfy { $0 == "noop" })
        // The plain receiver: the API envelope, counted.
        let plain = try await client.post(server.url + "/api/v1/ingest", try Self.body("api.json"), Auth.ingest)
        #expect(plain.status == 200, "\(plain.body)")
        #expect(plain.object["changes"] as? Int == 6 && plain.object["storedChanges"] as? Int == 0 && plain.object["messages"] as? Int == 6)

        // The answer is exactly what the CLI prints.
        let api = try await client.get(server.url + "/api/v1/changes?" + Self.window + "&target=db-1", Auth.read)
        #expect(api.status == 200)
        let rows = try #require(try api.json() as? [[String: Any]])
        #expect(rows.count == 1 && rows.first?["property"] as? String == "TAGS")
        let csv = try await client.get(server.url + "/api/v1/changes?" + Self.window + "&format=csv&limit=2", Auth.read)
        #expect(csv.status == 200 && csv.headers["tailflow-total"] == "6" && csv.headers["tailflow-shown"] == "2")
        #expect(try await client.get(server.url + "/api/v1/changes?" + Self.window, []).status == 401)
        let scope = try await client.get(server.url + "/api/v1/scope?" + Self.window + "&endpoint=db-1&changes=true", Auth.read)
        #expect(scope.status == 200)
        #expect(((try scope.json()) as? [[String: Any]])?.compactMap { $0["property"] as? String } == ["ACL", "TAGS", "DNS_NAMESERVERS"], "\(scope.body)")
        let bad = try await client.get(server.url + "/api/v1/changes?" + Self.window + "&kind=virtual", Auth.read)
        #expect(bad.status == 400 && bad.body.contains("kind"))
        // `where` reads the filter language over changes; a term of traffic is a 400 naming it.
        let tagged = try await client.get(server.url + "/api/v1/changes?" + Self.window + "&where=" + "tag%20%3D%20prod%20or%20node%20%3D%20router-1", Auth.read)
        #expect(tagged.status == 200, "\(tagged.body)")
        #expect(((try JSONSerialization.jsonObject(with: Data(tagged.body.utf8)) as? [[String: Any]]) ?? []).map { $0["property"] as? String } == ["TAGS", "KEY_EXPIRY_TIME"])
        let port = try await client.get(server.url + "/api/v1/changes?" + Self.window + "&where=" + "port%20%3D%2022", Auth.read)
        #expect(port.status == 400 && port.body.contains("where: 'port' does not apply to configuration changes at column 1"), "\(port.body)")
        #expect(server.stop() == 0)

        let cli = try await CLI.run(["changes", "--format", "json", "--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z",
                               "--target", "db-1"], db: db)
        #expect(cli.stdout == api.body)
        let all = try await CLI.run(["changes", "--format", "json", "--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z"], db: db)
        #expect(try (JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [Any])?.count == 6)
    }
}
