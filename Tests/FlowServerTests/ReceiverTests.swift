import FlowServer
import Foundation
import Testing
import TestSupport

/// The receivers (Splunk HEC, Elasticsearch bulk, plain), in process: what they store, what they answer.
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct ReceiverTests {
    @Test func everyReceiverStoresWhatIngestStores() async throws {
        let dir = TempDir()
        // Splunk HEC, plain and gzip (by header), on two of its paths.
        let hecDB = dir.path("hec.db")
        let hecBody = try Fixtures.bytes("containers/splunk-hec.json")
        try await TestServer.run(db: hecDB) { app in
            let a = try await app.post("/services/collector/event", hecBody, Auth.hec)
            #expect(a.status == 200)
            #expect(a.object["text"] as? String == "Success" && a.object["code"] as? Int == 0)
            let b = try await app.post("/services/collector", try gzip(hecBody), Auth.hec + [("Content-Encoding", "gzip")])
            #expect(b.status == 200 && b.body.contains("\"Success\""))
        }
        #expect(try Dump.content(hecDB) == (try await Dump.ingested("containers/splunk-hec.json", in: dir)))

        // Elasticsearch bulk, plain under an index, then gzip (magic bytes only, no header).
        let bulkDB = dir.path("bulk.db")
        let bulkBody = try Fixtures.bytes("containers/elasticsearch-bulk.ndjson")
        try await TestServer.run(db: bulkDB) { app in
            let c = try await app.post("/logs-tailscale/_bulk", bulkBody, Auth.bulk + [("Content-Type", "application/x-ndjson")])
            #expect(c.status == 200)
            #expect(c.object["errors"] as? Bool == false)
            let items = c.object["items"] as? [[String: [String: Any]]] ?? []
            #expect(items.count == 6 && items.allSatisfy { $0["create"]?["status"] as? Int == 201 && $0["create"]?["result"] as? String == "created" })
            let again = try await app.post("/_bulk", try gzip(bulkBody), Auth.bulk)
            #expect(again.status == 200 && again["X-Elastic-Product"] == "Elasticsearch")
        }
        #expect(try Dump.content(bulkDB) == (try await Dump.ingested("containers/elasticsearch-bulk.ndjson", in: dir)))

        // The plain endpoint takes every container, gzip included.
        for fixture in Fixtures.containers {
            let db = dir.path("plain-\(fixture).db")
            var configuration = TestServer.configuration
            configuration.hecToken = nil
            configuration.bulkUser = nil
            configuration.bulkToken = nil
            configuration.readToken = nil
            let body = try Fixtures.bytes("containers/" + fixture)
            try await TestServer.run(db: db, configuration) { app in
                let a = try await app.post("/api/v1/ingest", body, Auth.ingest)
                #expect(a.status == 200, "\(fixture): \(a.body)")
                #expect((a.object["stored"] as? Int ?? 0) > 0 && a.object["stored"] as? Int == a.object["messages"] as? Int
                        && a.object["rejected"] as? Int == 0, "\(fixture): \(a.body)")
            }
            #expect(try Dump.content(db) == (try await Dump.ingested("containers/" + fixture, in: dir)), "\(fixture)")
        }
    }

    @Test func oversizeBodiesAndGzipBombsGet413() async throws {
        let dir = TempDir()
        let db = dir.path("big.db")
        var configuration = TestServer.configuration
        configuration.maxBody = 64 << 10
        let big = Array(Synthetic.jsonl(count: 200))  // ~190 KB
        #expect(big.count > 64 << 10)
        let bomb = try gzip(Array(repeating: UInt8(ascii: " "), count: 8 << 20) + Array(Synthetic.jsonl(count: 1)))
        #expect(bomb.count < 64 << 10)
        let small = try Fixtures.bytes("containers/messages.jsonl")
        try await TestServer.run(db: db, configuration) { app in
            for (path, auth) in [("/api/v1/ingest", Auth.ingest), ("/services/collector/event", Auth.hec), ("/_bulk", Auth.bulk)] {
                let a = try await app.post(path, big, auth)
                #expect(a.status == 413, "\(path): \(a.body)")
                let b = try await app.post(path, bomb, auth + [("Content-Encoding", "gzip")])
                #expect(b.status == 413, "\(path) bomb: \(b.body)")
            }
            // Each protocol says so in its own shape.
            #expect(try await app.post("/services/collector/event", big, Auth.hec).object["code"] as? Int == 413)
            #expect((try await app.post("/_bulk", big, Auth.bulk).object["error"] as? [String: Any])?["type"] as? String == "content_too_long_exception")
            #expect(try await app.post("/api/v1/ingest", small, Auth.ingest).status == 200, "a body under the limit still lands")
        }
        #expect(try Dump.content(db).filter { $0.hasPrefix("message") }.count == 6)
    }

    @Test func malformedEventsAreReportedAndTheGoodOnesLand() async throws {
        let dir = TempDir()
        let db = dir.path("bad.db")
        let good = String(decoding: Synthetic.jsonl(count: 3), as: UTF8.self).split(separator: "\n")
        try await TestServer.run(db: db) { app in
            // HEC: event 1 has a negative counter, event 3 no event field; 0, 2 and 4 are good.
            let hec = [
                #"{"event":\#(good[0])}"#,
                #"{"event":{"nodeId":"nBad","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z","virtualTraffic":[{"proto":6,"src":"100.64.0.1:1","dst":"100.64.0.2:2","txBytes":-5}]}}"#,
                #"{"event":\#(good[1])}"#,
                #"{"time":1793527200}"#,
                #"{"event":\#(good[2])}"#,
            ].joined(separator: "\n")
            let a = try await app.post("/services/collector/event", Array(hec.utf8), Auth.hec)
            #expect(a.status == 400)
            #expect(a.object["code"] as? Int == 6 && a.object["invalid-event-number"] as? Int == 1, "\(a.body)")
            let reasons = a.object["reasons"] as? [[String: Any]] ?? []
            #expect(reasons.map { $0["event"] as? Int } == [1, 3])
            let firstReason = reasons.first?["reason"] as? String ?? ""
            #expect(firstReason.contains("virtualTraffic[0].txBytes"), "\(firstReason)")
            #expect(try Dump.content(db).filter { $0.hasPrefix("message") }.count == 3)

            // Bulk: per item; the request itself is 200 with errors: true.
            let bulk = [#"{"create":{}}"#, String(good[0]), #"{"create":{"_id":"x"}}"#, #"{"nodeId":"n1","start":12}"#,
                        #"{"index":{}}"#, #"{"nodeId":"nNew","start":"2026-11-01T11:00:00Z","end":"2026-11-01T11:00:05Z"}"#].joined(separator: "\n")
            let b = try await app.post("/_bulk", Array(bulk.utf8), Auth.bulk)
            #expect(b.status == 200 && b.object["errors"] as? Bool == true)
            let items = b.object["items"] as? [[String: [String: Any]]] ?? []
            #expect(items.map { ($0.values.first?["status"] as? Int) ?? 0 } == [200, 400, 201])
            #expect(items.count == 3 && items[1]["create"]?["_id"] as? String == "x")
            let createReason = (items.count == 3 ? items[1]["create"]?["error"] as? [String: Any] : nil)?["reason"] as? String ?? ""
            #expect(createReason.contains("start"), "\(createReason)")

            // Plain: 400 with the rejects' lines; the rest stored.
            let plain = [String(good[0]), "{not json", String(good[1])].joined(separator: "\n")
            let c = try await app.post("/api/v1/ingest", Array(plain.utf8), Auth.ingest)
            #expect(c.status == 400 && c.object["rejected"] as? Int == 1 && c.object["duplicates"] as? Int == 2, "\(c.body)")
            #expect((c.object["rejects"] as? [[String: Any]])?.first?["line"] as? Int == 2)
            // Empty bodies.
            #expect(try await app.post("/services/collector/event", [], Auth.hec).object["code"] as? Int == 5)
            let emptyBulk = try await app.post("/_bulk", Array("\n".utf8), Auth.bulk)
            #expect(emptyBulk.status == 400 && (emptyBulk.object["error"] as? [String: Any])?["type"] as? String == "action_request_validation_exception")
            let emptyPlain = try await app.post("/api/v1/ingest", [], Auth.ingest)
            #expect(emptyPlain.status == 400 && emptyPlain.object["error"] as? String == "no data: the body is empty")
        }
        // The rejects are recorded with their request and line.
        let rejects = try await CLI.run(["rejects", "--format", "json"], db: db)
        #expect(rejects.stdout.contains("hec request") && rejects.stdout.contains("bulk request") && rejects.stdout.contains("ingest request"))
        #expect(try Dump.content(db).filter { $0.hasPrefix("message") }.count == 4)
    }

    @Test func aRetriedDeliveryStoresNothingTwice() async throws {
        let dir = TempDir()
        let db = dir.path("retry.db")
        let bulk = try Fixtures.bytes("containers/elasticsearch-bulk.ndjson")
        let hec = try Fixtures.bytes("containers/splunk-hec.json")
        let api = try Fixtures.bytes("containers/api-response.json.gz")
        try await TestServer.run(db: db) { app in
            _ = try await app.post("/_bulk", bulk, Auth.bulk)
            let before = try Dump.content(db)
            for _ in 0..<2 {
                let b = try await app.post("/_bulk", bulk, Auth.bulk)
                #expect(b.status == 200 && b.object["errors"] as? Bool == false)
                let items = b.object["items"] as? [[String: [String: Any]]] ?? []
                #expect(items.count == 6 && items.allSatisfy { $0["create"]?["status"] as? Int == 200 && $0["create"]?["result"] as? String == "noop" })
                #expect(try await app.post("/services/collector/event", hec, Auth.hec).status == 200)
                let p = try await app.post("/api/v1/ingest", api, Auth.ingest)
                #expect(p.status == 200 && p.object["duplicates"] as? Int == 6 && p.object["stored"] as? Int == 0)
            }
            #expect(try Dump.content(db) == before)
        }
    }
}
