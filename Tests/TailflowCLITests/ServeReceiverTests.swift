import Foundation
import Testing
import NIOHTTP1

/// `tailflow serve` receivers, through a real server on loopback and real clients (async-http-client, curl).
@Suite(.timeLimit(.minutes(3)))
struct ServeReceiverTests {
    /// The content `tailflow ingest FILE` stores, to compare a receiver's store with.
    static func ingested(_ fixture: String, in dir: TempDir) throws -> [String] {
        let db = dir.path("ref-\(UUID().uuidString.prefix(6)).db")
        let r = try CLI.run(["ingest", "--quiet", Fixtures.path(fixture)], db: db)
        #expect(r.status == 0, "\(r.stderr)")
        return try Dump.content(db)
    }

    @Test func everyReceiverStoresWhatIngestStores() async throws {
        let dir = TempDir()
        let client = try Client()

        // Splunk HEC, plain and gzip (by header), through async-http-client and curl.
        do {
            let db = dir.path("hec.db")
            let server = try ServeProcess(db: db)
            let body = try fixtureBytes("containers/splunk-hec.json")
            let a = try await client.post(server.url + "/services/collector/event", body, Auth.hec)
            #expect(a.status == 200)
            #expect(a.object["text"] as? String == "Success" && a.object["code"] as? Int == 0)
            let gz = dir.path("hec.json.gz")
            try Data(try Tool.gzip(body)).write(to: URL(fileURLWithPath: gz))
            let c = try curl(["-H", "Authorization: Splunk T1-hec", "-H", "Content-Encoding: gzip", "--data-binary", "@" + gz,
                              server.url + "/services/collector"])
            #expect(c.status == 200 && c.body.contains("\"Success\""))
            #expect(server.stop() == 0)
            #expect(try Dump.content(db) == Self.ingested("containers/splunk-hec.json", in: dir))
        }
        // Elasticsearch bulk, plain through curl, gzip (magic bytes only, no header) through async-http-client.
        do {
            let db = dir.path("bulk.db")
            let server = try ServeProcess(db: db)
            let c = try curl(["-u", "U:T2-bulk", "-H", "Content-Type: application/x-ndjson", "--data-binary",
                              "@" + Fixtures.path("containers/elasticsearch-bulk.ndjson"), server.url + "/logs-tailscale/_bulk"])
            #expect(c.status == 200)
            let answer = try JSONSerialization.jsonObject(with: Data(c.body.utf8)) as! [String: Any]
            #expect(answer["errors"] as? Bool == false)
            let items = answer["items"] as! [[String: [String: Any]]]
            #expect(items.count == 6 && items.allSatisfy { $0["create"]?["status"] as? Int == 201 && $0["create"]?["result"] as? String == "created" })
            let gz = try Tool.gzip(try fixtureBytes("containers/elasticsearch-bulk.ndjson"))
            let again = try await client.post(server.url + "/_bulk", gz, Auth.bulk)
            #expect(again.status == 200 && again.headers["x-elastic-product"] == "Elasticsearch")
            #expect(server.stop() == 0)
            #expect(try Dump.content(db) == Self.ingested("containers/elasticsearch-bulk.ndjson", in: dir))
        }
        // The plain endpoint takes every container, gzip included.
        for fixture in Fixtures.containers {
            let db = dir.path("plain-\(fixture).db")
            let server = try ServeProcess(db: db, ["--ingest-token", "T3-ingest"])
            let a = try await client.post(server.url + "/api/v1/ingest", try fixtureBytes("containers/" + fixture), Auth.ingest)
            #expect(a.status == 200, "\(fixture): \(a.body)")
            #expect((a.object["stored"] as? Int ?? 0) > 0 && a.object["stored"] as? Int == a.object["messages"] as? Int
                    && a.object["rejected"] as? Int == 0, "\(fixture): \(a.body)")
            #expect(server.stop() == 0)
            #expect(try Dump.content(db) == Self.ingested("containers/" + fixture, in: dir), "\(fixture)")
        }
    }

    @Test func tlsWithACertificateMadeHere() async throws {
        let dir = TempDir()
        let (cert, key) = try Tool.certificate(in: dir)
        let db = dir.path("tls.db")
        let server = try ServeProcess(db: db, ServeProcess.tokens + ["--tls-cert", cert, "--tls-key", key], tls: true)
        #expect(server.url.hasPrefix("https://"))
        let c = try curl(["--cacert", cert, "-H", "Authorization: Splunk T1-hec", "--data-binary",
                          "@" + Fixtures.path("containers/splunk-hec.json"), server.url + "/services/collector/event"])
        #expect(c.status == 200)
        let client = try Client(trusting: cert)
        let answer: Answer
        do {
            answer = try await client.get(server.url + "/api/v1/nodes", Auth.read)
            try await client.shutdown()
        } catch {
            try await client.shutdown()
            throw error
        }
        #expect(answer.status == 200 && answer.body.contains("nKq3vX1CNTRL"))
        // Plain HTTP on the TLS port gets no answer; an untrusted certificate is refused by the client.
        #expect(throws: (any Error).self) { _ = try curl(["--max-time", "5", "http://127.0.0.1:\(server.port)/healthz"]) }
        #expect(throws: (any Error).self) { _ = try curl(["--max-time", "5", server.url + "/healthz"]) }
        #expect(server.stop() == 0)
        // A key that does not exist is a clear startup error.
        let bad = try CLI.run(["serve", "--db", db, "--listen", "127.0.0.1:0", "--hec-token", "x", "--tls-cert", cert,
                               "--tls-key", dir.path("missing.pem")])
        #expect(bad.status != 0 && bad.stderr.contains("missing.pem"))
    }

    @Test func authenticationFailuresAndReceiversThatAreOff() async throws {
        let dir = TempDir()
        let server = try ServeProcess(db: dir.path("auth.db"))
        let client = try Client()
        let body = try fixtureBytes("containers/splunk-hec.json")
        let bulkBody = try fixtureBytes("containers/elasticsearch-bulk.ndjson")
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
        for (method, path, payload, headers, expected) in cases {
            let a = try await client.send(method == "GET" ? .GET : .POST, server.url + path, body: payload, headers: headers)
            #expect(a.status == expected, "\(method) \(path) \(headers): \(a.status) \(a.body)")
            // A refusal names no secret.
            for secret in ["T1-hec", "T2-bulk", "T3-ingest", "T4-read"] { #expect(!a.body.contains(secret)) }
            if a.status == 401 { #expect(a.headers["www-authenticate"] != nil) }
        }
        #expect(server.stop() == 0)
        #expect(try Dump.content(dir.path("auth.db")).filter { $0.hasPrefix("message") }.isEmpty)

        // Only the read token set: every receiver answers 404.
        let readOnly = try ServeProcess(db: dir.path("auth.db"), [], env: ["TAILFLOW_READ_TOKEN": "T4-read"])
        for path in ["/services/collector/event", "/_bulk", "/api/v1/ingest"] {
            #expect(try await client.post(readOnly.url + path, body, Auth.hec + Auth.bulk).status == 404)
        }
        #expect(try await client.get(readOnly.url + "/services/collector/health").status == 404)
        #expect(try await client.get(readOnly.url + "/api/v1/nodes", Auth.read).status == 200)
        #expect(readOnly.stop() == 0)
        try await client.shutdown()

        // Nothing to serve is a usage error.
        let none = try CLI.run(["serve", "--db", dir.path("auth.db"), "--listen", "127.0.0.1:0"])
        #expect(none.status == 2 && none.stderr.contains("nothing to serve"))
    }

    @Test func oversizeBodiesAndGzipBombsGet413() async throws {
        let dir = TempDir()
        let db = dir.path("big.db")
        let server = try ServeProcess(db: db, ServeProcess.tokens + ["--max-body", "64KiB"])
        let client = try Client()
        let big = Array(Synthetic.jsonl(count: 200))  // ~190 KB
        #expect(big.count > 64 << 10)
        let bomb = try Tool.gzip(Array(repeating: UInt8(ascii: " "), count: 8 << 20) + Array(Synthetic.jsonl(count: 1)))
        #expect(bomb.count < 64 << 10)
        for (path, auth) in [("/api/v1/ingest", Auth.ingest), ("/services/collector/event", Auth.hec), ("/_bulk", Auth.bulk)] {
            let a = try await client.post(server.url + path, big, auth)
            #expect(a.status == 413, "\(path): \(a.body)")
            let b = try await client.post(server.url + path, bomb, auth + [("Content-Encoding", "gzip")])
            #expect(b.status == 413, "\(path) bomb: \(b.body)")
        }
        let c = try curl(["-H", "Authorization: Bearer T3-ingest", "--data-binary", "@" + Fixtures.path("containers/messages.jsonl"),
                          server.url + "/api/v1/ingest"])
        #expect(c.status == 200, "a body under the limit still lands")
        #expect(server.stop() == 0)
        #expect(try Dump.content(db).filter { $0.hasPrefix("message") }.count == 6)
    }

    @Test func malformedEventsAreReportedAndTheGoodOnesLand() async throws {
        let dir = TempDir()
        let db = dir.path("bad.db")
        let server = try ServeProcess(db: db)
        let client = try Client()
        let good = String(decoding: Synthetic.jsonl(count: 3), as: UTF8.self).split(separator: "\n")
        // HEC: event 1 has a negative counter, event 3 no event field; 0, 2 and 4 are good.
        let hec = [
            #"{"event":\#(good[0])}"#,
            #"{"event":{"nodeId":"nBad","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z","virtualTraffic":[{"proto":6,"src":"100.64.0.1:1","dst":"100.64.0.2:2","txBytes":-5}]}}"#,
            #"{"event":\#(good[1])}"#,
            #"{"time":1793527200}"#,
            #"{"event":\#(good[2])}"#,
        ].joined(separator: "\n")
        let a = try await client.post(server.url + "/services/collector/event", Array(hec.utf8), Auth.hec)
        #expect(a.status == 400)
        #expect(a.object["code"] as? Int == 6 && a.object["invalid-event-number"] as? Int == 1, "\(a.body)")
        let reasons = a.object["reasons"] as? [[String: Any]] ?? []
        #expect(reasons.map { $0["event"] as? Int } == [1, 3])
        #expect((reasons.first?["reason"] as? String ?? "").contains("virtualTraffic[0].txBytes"))
        #expect(try Dump.content(db).filter { $0.hasPrefix("message") }.count == 3)

        // Bulk: per item; the request itself is 200 with errors: true.
        let bulk = [#"{"create":{}}"#, String(good[0]), #"{"create":{"_id":"x"}}"#, #"{"nodeId":"n1","start":12}"#,
                    #"{"index":{}}"#, #"{"nodeId":"nNew","start":"2026-11-01T11:00:00Z","end":"2026-11-01T11:00:05Z"}"#].joined(separator: "\n")
        let b = try await client.post(server.url + "/_bulk", Array(bulk.utf8), Auth.bulk)
        #expect(b.status == 200 && b.object["errors"] as? Bool == true)
        let items = b.object["items"] as? [[String: [String: Any]]] ?? []
        #expect(items.map { ($0.values.first?["status"] as? Int) ?? 0 } == [200, 400, 201])
        #expect(items[1]["create"]?["_id"] as? String == "x")
        #expect(((items[1]["create"]?["error"] as? [String: Any])?["reason"] as? String ?? "").contains("start"))

        // Plain: 400 with the rejects' lines; the rest stored.
        let plain = [String(good[0]), "{not json", String(good[1])].joined(separator: "\n")
        let c = try await client.post(server.url + "/api/v1/ingest", Array(plain.utf8), Auth.ingest)
        #expect(c.status == 400 && c.object["rejected"] as? Int == 1 && c.object["duplicates"] as? Int == 2, "\(c.body)")
        #expect((c.object["rejects"] as? [[String: Any]])?.first?["line"] as? Int == 2)
        // Empty bodies.
        #expect(try await client.post(server.url + "/services/collector/event", [], Auth.hec).object["code"] as? Int == 5)
        #expect(try await client.post(server.url + "/_bulk", Array("\n".utf8), Auth.bulk).status == 400)
        #expect(server.stop() == 0)

        // The rejects are recorded with their request and line.
        let rejects = try CLI.run(["rejects", "--format", "json"], db: db)
        #expect(rejects.stdout.contains("hec request") && rejects.stdout.contains("bulk request") && rejects.stdout.contains("ingest request"))
        #expect(try Dump.content(db).filter { $0.hasPrefix("message") }.count == 4)
    }

    @Test func aRetriedDeliveryStoresNothingTwice() async throws {
        let dir = TempDir()
        let db = dir.path("retry.db")
        let server = try ServeProcess(db: db)
        let client = try Client()
        let bulk = try fixtureBytes("containers/elasticsearch-bulk.ndjson")
        let hec = try fixtureBytes("containers/splunk-hec.json")
        _ = try await client.post(server.url + "/_bulk", bulk, Auth.bulk)
        let before = try Dump.content(db)
        for _ in 0..<2 {
            let b = try await client.post(server.url + "/_bulk", bulk, Auth.bulk)
            #expect(b.status == 200 && b.object["errors"] as? Bool == false)
            let items = b.object["items"] as? [[String: [String: Any]]] ?? []
            #expect(items.count == 6 && items.allSatisfy { $0["create"]?["status"] as? Int == 200 && $0["create"]?["result"] as? String == "noop" })
            #expect(try await client.post(server.url + "/services/collector/event", hec, Auth.hec).status == 200)
            let p = try await client.post(server.url + "/api/v1/ingest", try fixtureBytes("containers/api-response.json.gz"), Auth.ingest)
            #expect(p.status == 200 && p.object["duplicates"] as? Int == 6 && p.object["stored"] as? Int == 0)
        }
        #expect(try Dump.content(db) == before)
        #expect(server.stop() == 0)
    }

    @Test func settingsFromAConfigFileAndTheEnvironment() async throws {
        let dir = TempDir()
        let config = dir.path("serve.json")
        try Data(#"{"listen": "127.0.0.1:0", "hec-token": "from-file", "read-token": "R", "max-body": "1MiB"}"#.utf8)
            .write(to: URL(fileURLWithPath: config))
        let server = try ServeProcess(db: dir.path("cfg.db"), ["--config", config], env: ["TAILFLOW_HEC_TOKEN": "from-env"])
        let client = try Client()
        let body = try fixtureBytes("containers/splunk-hec.json")
        // The environment wins over the file.
        #expect(try await client.post(server.url + "/services/collector/event", body, [("Authorization", "Splunk from-file")]).status == 401)
        #expect(try await client.post(server.url + "/services/collector/event", body, [("Authorization", "Splunk from-env")]).status == 200)
        #expect(try await client.get(server.url + "/services/collector/health").object["code"] as? Int == 17)
        #expect(server.stop() == 0)
        try await client.shutdown()
        try Data(#"{"listen": "127.0.0.1:0", "hec-tokn": "x"}"#.utf8).write(to: URL(fileURLWithPath: config))
        let bad = try CLI.run(["serve", "--db", dir.path("cfg.db"), "--config", config])
        #expect(bad.status == 2 && bad.stderr.contains("hec-tokn"))
    }
}
