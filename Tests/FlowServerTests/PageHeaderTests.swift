import Foundation
import Testing
import TestSupport

/// An answer cut by a limit says so over HTTP too (SPEC §5): `Tailflow-Total` (raw rows page with a `next` link: AnswerSizeTests).
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct PageHeaderTests {
    @Test func aCutAnswerCarriesItsTotal() async throws {
        let dir = TempDir()
        let db = dir.path("p.db")
        let api = try Fixtures.bytes("tiny/api-response.json")
        try await TestServer.run(db: db) { app in
            #expect(try await app.post("/api/v1/ingest", api, Auth.ingest).status == 200)
            let window = "from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&kind=virtual,subnet,exit,physical"
            let whole = try await app.get("/api/v1/flows?limit=1000&" + window, Auth.read)
            let all = try #require(try JSONSerialization.jsonObject(with: Data(whole.body.utf8)) as? [[String: Any]])
            #expect(all.count > 3 && whole["Tailflow-Total"] == nil && whole["Link"] == nil, "an answer not cut has no page headers")

            // `top` says how many rows its limit left out (no cursor, no link).
            let top = try await app.get("/api/v1/top?limit=1&" + window, Auth.read)
            let topAll = try await app.get("/api/v1/top?limit=1000&" + window, Auth.read)
            let count = (try JSONSerialization.jsonObject(with: Data(topAll.body.utf8)) as? [Any])?.count ?? 0
            #expect(count > 1 && top["Tailflow-Total"] == String(count) && top["Link"] == nil)
        }
    }
}
