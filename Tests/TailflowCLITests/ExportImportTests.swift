import FlowModel
import Foundation
import FlowStore
import GRDB
import StoreDump
import Testing
import TestSupport

/// Incident export and import with the real binary (issue 16 item 3): every question over the
/// exported window answers the same from the case as from the store (scoped to the endpoint
/// for an endpoint export), `export --verify` finds a changed case, and `import` merges
/// idempotently into what a direct ingest gives.
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct ExportImportTests {
    static let minute: Int64 = 60 * Timestamp.nanosPerSecond
    static let start: Int64 = 1_793_491_200 * Timestamp.nanosPerSecond  // 2026-11-01T00:00:00Z

    /// Two hours of a generated 12-node tailnet with configuration changes and its device list.
    static func source(_ dir: TempDir, devices: Bool = true) async throws -> String {
        let file = dir.path("gen.jsonl"), list = dir.path("devices.json"), db = dir.path("source.db")
        let g = try await CLI.run(["generate", "--nodes", "12", "--duration", "2h", "--rate", "0.3", "--changes", "--start",
                             Timestamp.formatRFC3339(start), "-o", file, "--devices", list])
        #expect(g.status == 0, "\(g.stderr)")
        let i = try await CLI.run(["ingest", "--quiet", file], db: db)
        #expect(i.status == 0, "\(i.stderr)")
        if devices {
            let n = try await CLI.run(["nodes", "import", list], db: db)
            #expect(n.status == 0, "\(n.stderr)")
        }
        return db
    }

    static func window(_ from: Int64, _ to: Int64) -> [String] {
        ["--from", Timestamp.formatRFC3339(from), "--to", Timestamp.formatRFC3339(to)]
    }

    /// Every question kind over `[from, to)`, each as JSON; with `endpoint`, the questions scoped to it.
    static func questions(_ from: Int64, _ to: Int64, endpoint: String? = nil) -> [[String]] {
        let w = window(from, to) + ["--format", "json"]
        let mid = from + (to - from) / 2
        guard let e = endpoint else {
            return [
                ["top", "--by", "endpoint", "--limit", "1000"], ["top", "--by", "pair", "--limit", "1000"],
                ["top", "--by", "port", "--limit", "1000"], ["top", "--by", "proto"],
                ["top", "--kind", "physical", "--limit", "1000"],
                ["series", "--step", "1m"], ["series", "--step", "1h"],
                ["rollup", "--step", "5m", "--group-by", "kind,proto,src,dst"], ["rollup", "--step", "1h", "--group-by", "src,dst,port,tag"],
                ["flows", "--limit", "100000"], ["coverage"], ["changes"],
                ["top", "--by", "pair", "--where", "tag = prod and port in (443, 5432)", "--limit", "1000"],
            ].map { $0 + w } + ["pair", "endpoint", "port"].map { by in
                // diff inside the window: its second half against its first.
                ["diff", "--by", by, "--limit", "1000", "--baseline", "\(Timestamp.formatRFC3339(from))..\(Timestamp.formatRFC3339(mid))"]
                    + window(mid, to) + ["--format", "json"]
            }
        }
        return [
            ["top", "--by", "endpoint", "--endpoint", e, "--limit", "1000"], ["top", "--by", "pair", "--endpoint", e, "--limit", "1000"],
            ["top", "--by", "port", "--endpoint", e, "--limit", "1000"], ["top", "--by", "proto", "--endpoint", e],
            ["series", "--step", "1m", "--endpoint", e], ["series", "--step", "1h", "--endpoint", e],
            ["rollup", "--step", "5m", "--group-by", "kind,proto,src,dst", "--endpoint", e],
            ["scope", "--endpoint", e], ["scope", "--endpoint", e, "--flows"], ["flows", "--endpoint", e, "--limit", "100000"],
            ["top", "--by", "pair", "--where", "endpoint = \(e) and port in (443, 5432)", "--limit", "1000"],
        ].map { $0 + w } + [
            ["diff", "--by", "pair", "--endpoint", e, "--limit", "1000",
             "--baseline", "\(Timestamp.formatRFC3339(from))..\(Timestamp.formatRFC3339(mid))"] + window(mid, to) + ["--format", "json"],
        ]
    }

    /// Asks each question of both stores and expects the same exit status and the same JSON.
    static func expectSameAnswers(_ a: String, _ b: String, _ questions: [[String]], ignoring: Set<String> = [],
                                  sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
        for q in questions {
            let x = try await CLI.run(q, db: a), y = try await CLI.run(q, db: b)
            #expect(x.status == 0, "\(q.joined(separator: " ")): \(x.stderr)", sourceLocation: sourceLocation)
            #expect(x.status == y.status, "\(q.joined(separator: " ")): \(y.stderr)", sourceLocation: sourceLocation)
            let same = ignoring.isEmpty ? x.stdout == y.stdout : try strip(x.stdout, ignoring) == strip(y.stdout, ignoring)
            #expect(same, "\(q.joined(separator: " ")) answers differently (\(x.stdout.count) and \(y.stdout.count) bytes)",
                    sourceLocation: sourceLocation)
            #expect(x.stdout.count > 2 || q.contains("--kind") || q.contains("diff"),
                    "\(q.joined(separator: " ")): an empty answer proves nothing", sourceLocation: sourceLocation)
        }
    }

    /// A JSON array answer with some fields of its rows left out, re-encoded with sorted keys.
    static func strip(_ json: String, _ fields: Set<String>) throws -> String {
        guard var rows = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { return json }
        rows = rows.map { $0.filter { !fields.contains($0.key) } }
        return String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]), as: UTF8.self)
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    @Test func aWholeWindowExportAnswersEveryQuestionAsTheStore() async throws {
        let dir = TempDir()
        let db = try await Self.source(dir)
        // Not hour-aligned: the planner mixes raw rows and rollups on both stores.
        let (from, to) = (Self.start + 20 * Self.minute, Self.start + 110 * Self.minute)
        let out = dir.path("case.db")
        let e = try await CLI.run(["export", "-o", out, "--format", "json"] + Self.window(from, to), db: db)
        #expect(e.status == 0, "\(e.stderr)")
        // Self-contained: one file, no write-ahead log beside it (until something opens it).
        #expect(!FileManager.default.fileExists(atPath: out + "-wal"))
        let manifest = Self.json(e.stdout)["manifest"] as? [String: Any] ?? [:]
        let inWindow = try StoreDump.messageCount(db, from: from, to: to)
        #expect(manifest["messages"] as? Int == inWindow && inWindow > 0, "\(e.stdout)")
        #expect(try StoreDump.count(out, "SELECT coalesce(sum(messages), 0) FROM message_groups") == inWindow)
        #expect((manifest["changes"] as? Int ?? 0) > 0, "the generated changes of the window travel with the case")
        #expect(manifest["fromNs"] as? Int64 == from && manifest["toNs"] as? Int64 == to)
        #expect((manifest["sha256"] as? String)?.count == 64)
        try await Self.expectSameAnswers(db, out, Self.questions(from, to))
        // The case is a sound store by `check`'s standard too.
        let check = try await CLI.run(["check", "--full"], db: out)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        // An existing file is not overwritten without --force.
        let again = try await CLI.run(["export", "-o", out] + Self.window(from, to), db: db)
        #expect(again.status == 1 && again.stderr.contains("exists"), "\(again.stderr)")
    }

    /// The point of carrying reporter status: in an endpoint's case, its peers that report keep
    /// counting their own edges even where the case holds none of their messages, so the edge
    /// model takes each byte from the same side as on the store.
    @Test(arguments: ["web-1", "carol-mbp", "router-sfo"])
    func anEndpointExportAnswersTheQuestionsAboutItAsTheStore(endpoint: String) async throws {
        let dir = TempDir()
        let db = try await Self.source(dir)
        let (from, to) = (Self.start + 15 * Self.minute, Self.start + 105 * Self.minute)
        let out = dir.path("case.db")
        let e = try await CLI.run(["export", "-o", out, "--endpoint", endpoint, "--format", "json"] + Self.window(from, to), db: db)
        #expect(e.status == 0, "\(e.stderr)")
        let manifest = Self.json(e.stdout)["manifest"] as? [String: Any] ?? [:]
        let all = try StoreDump.messageCount(db, from: from, to: to)
        let taken = manifest["messages"] as? Int ?? 0
        #expect(taken > 0 && taken < all, "an endpoint's case holds only the messages that touch it: \(taken) of \(all)")
        #expect(manifest["endpoint"] as? String == endpoint && (manifest["endpointKey"] as? String ?? "").hasPrefix("n"))
        try await Self.expectSameAnswers(db, out, Self.questions(from, to, endpoint: endpoint))
        // coverage of the endpoint: the same, except the skew estimate, which is relative to the whole
        // tailnet's delivery delay (every reporter's messages, which an endpoint's case leaves out).
        try await Self.expectSameAnswers(db, out, [["coverage", "--endpoint", endpoint, "--format", "json"] + Self.window(from, to)],
                                   ignoring: ["skewSeconds"])
    }

    /// E reports a conversation with B; B reports too, but none of B's messages touches E. On the
    /// store, B→E counts only from B's own reports (SPEC §3), so E received nothing. A case of E
    /// holds only E's message: without B's reporter status it would count B→E from E's report.
    @Test func anEndpointExportKeepsWhoReports() async throws {
        let dir = TempDir()
        let node = { (id: String, name: String, ip: String) in #"{"nodeId":"\#(id)","name":"\#(name)","addresses":["\#(ip)"]}"# }
        let e = node("nE1CNTRL", "e.example.ts.net", "100.64.0.1"), b = node("nB1CNTRL", "b.example.ts.net", "100.64.0.2")
        let c = node("nC1CNTRL", "c.example.ts.net", "100.64.0.3")
        let lines = [
            #"{"nodeId":"nE1CNTRL","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z","srcNode":\#(e),"dstNodes":[\#(b)],"virtualTraffic":[{"proto":6,"src":"100.64.0.1:50000","dst":"100.64.0.2:443","txPkts":10,"txBytes":1000,"rxPkts":20,"rxBytes":50000}]}"#,
            #"{"nodeId":"nB1CNTRL","start":"2026-11-01T10:00:01Z","end":"2026-11-01T10:00:06Z","srcNode":\#(b),"dstNodes":[\#(c)],"virtualTraffic":[{"proto":6,"src":"100.64.0.2:443","dst":"100.64.0.3:6000","txPkts":5,"txBytes":700,"rxPkts":5,"rxBytes":800}]}"#,
        ]
        let input = dir.path("two.jsonl"), db = dir.path("store.db"), out = dir.path("case.db")
        try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["ingest", "--quiet", input], db: db).status == 0)
        let w = ["--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T10:01:00Z"]
        let x = try await CLI.run(["export", "-o", out, "--endpoint", "e", "--format", "json"] + w, db: db)
        #expect(x.status == 0, "\(x.stderr)")
        let manifest = Self.json(x.stdout)["manifest"] as? [String: Any] ?? [:]
        #expect(manifest["messages"] as? Int == 1 && manifest["reporters"] as? Int == 2, "\(x.stdout)")
        let top = ["top", "--endpoint", "e", "--format", "json"] + w
        try await Self.expectSameAnswers(db, out, [top, ["series", "--step", "1m", "--endpoint", "e", "--format", "json"] + w,
                                             ["scope", "--endpoint", "e", "--format", "json"] + w])
        let rows = (try? JSONSerialization.jsonObject(with: Data(try await CLI.run(top, db: out).stdout.utf8))) as? [[String: Any]] ?? []
        let row = rows.first { $0["endpoint"] as? String == "nE1CNTRL" }
        #expect(row?["sentBytes"] as? Int == 1000 && row?["receivedBytes"] as? Int == 0, "\(rows)")
    }

    @Test func verifyFindsAChangedCaseAndImportRefusesIt() async throws {
        let dir = TempDir()
        let db = try await Self.source(dir, devices: false)
        let out = dir.path("case.db")
        let e = try await CLI.run(["export", "-o", out, "--endpoint", "web-1"] + Self.window(Self.start, Self.start + 60 * Self.minute), db: db)
        #expect(e.status == 0, "\(e.stderr)")

        let ok = try await CLI.run(["export", "--verify", out, "--format", "json"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(Self.json(ok.stdout)["verified"] as? Bool == true, "\(ok.stdout)")
        let table = try await CLI.run(["export", "--verify", out])
        #expect(table.status == 0 && table.stdout.contains("endpoint: web-1") && table.stdout.contains("verified: the content matches"),
                "\(table.stdout)")

        // One counter of one flow row, one node's name, one rollup: each changes the hash.
        let tampers: [(String, @Sendable (Database) throws -> Void)] = [
            ("one flow row's blob", { db in
                let first = try FlowStore.storedMessages(db).first!
                try FlowStore.rewriteStoredMessages(db) { var m = $0; if m == first { m.rows += [0] }; return m }
            }),
            ("a node's name", { try $0.execute(sql: "UPDATE nodes SET name = 'someone-else' WHERE id = (SELECT min(id) FROM nodes)") }),
            ("a rollup", { try $0.execute(sql: "DELETE FROM rollups WHERE step = 60 AND bucket = (SELECT min(bucket) FROM rollups WHERE step = 60)") }),
        ]
        for (tamper, change) in tampers {
            let copy = dir.path("tampered.db")
            try? FileManager.default.removeItem(atPath: copy)
            try FileManager.default.copyItem(atPath: out, toPath: copy)
            try await DatabaseQueue(path: copy).write { try change($0) }
            let bad = try await CLI.run(["export", "--verify", copy, "--format", "json"])
            #expect(bad.status == 1, "\(tamper): \(bad.stdout)")
            #expect(Self.json(bad.stdout)["verified"] as? Bool == false, "\(bad.stdout)")
            #expect(bad.stderr.contains("does not match the manifest"), "\(bad.stderr)")
            let target = dir.path("target.db")
            let i = try await CLI.run(["import", copy], db: target)
            #expect(i.status == 1 && i.stderr.contains("does not match its manifest"), "\(i.stderr)")
            #expect(try StoreDump.count(target, "SELECT coalesce(sum(messages), 0) FROM message_groups") == 0, "nothing of a refused case is merged")
        }
        // A store that is no case has nothing to verify.
        let plain = try await CLI.run(["export", "--verify", db])
        #expect(plain.status == 1 && plain.stderr.contains("no export manifest"), "\(plain.stderr)")
    }

    @Test func importMergesIdempotentlyIntoWhatADirectIngestGives() async throws {
        let dir = TempDir()
        let db = try await Self.source(dir)
        let mid = Self.start + 60 * Self.minute, end = Self.start + 120 * Self.minute
        let first = dir.path("first.db"), second = dir.path("second.db"), target = dir.path("target.db")
        for (file, from, to) in [(first, Self.start, mid), (second, mid, end)] {
            let e = try await CLI.run(["export", "-o", file] + Self.window(from, to), db: db)
            #expect(e.status == 0, "\(e.stderr)")
        }
        let i = try await CLI.run(["import", first, second, "--format", "json"], db: target)
        #expect(i.status == 0, "\(i.stderr)")
        let reports = (try? JSONSerialization.jsonObject(with: Data(i.stdout.utf8))) as? [[String: Any]] ?? []
        let stored = try StoreDump.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups")
        #expect(reports.map { $0["messages"] as? Int ?? 0 }.reduce(0, +) == stored, "\(i.stdout)")
        // Import summarizes the hours it changed for `coverage`, as ingest does (schema/011).
        let hours = try StoreDump.count(target, "SELECT count(DISTINCT (id >> 24) / 60) FROM message_groups")
        let summarized = try StoreDump.count(target, "SELECT count(*) FROM coverage_hours")
        #expect(hours >= 2 && summarized == hours, "\(summarized) of \(hours) hours summarized")
        // The same content as the store the cases came from: messages, rollups, nodes, owners.
        #expect(try Dump.of(target) == Dump.of(db))
        // flows' cursors carry the store's own node ids; everything else is the same answer.
        try await Self.expectSameAnswers(db, target, Self.questions(Self.start, end).filter { $0[0] != "flows" })
        try await Self.expectSameAnswers(db, target, [["flows", "--limit", "100000", "--format", "json"] + Self.window(Self.start, end)],
                                   ignoring: ["cursor"])

        // Twice: nothing new, the same content; the store keeps the cases' manifests once each.
        let dump = try Dump.of(target)
        let again = try await CLI.run(["import", first, second, "--format", "json"], db: target)
        #expect(again.status == 0, "\(again.stderr)")
        let second2 = (try? JSONSerialization.jsonObject(with: Data(again.stdout.utf8))) as? [[String: Any]] ?? []
        #expect(second2.map { $0["messages"] as? Int ?? -1 } == [0, 0], "\(again.stdout)")
        #expect(second2.map { $0["duplicates"] as? Int ?? 0 }.reduce(0, +) == stored)
        #expect(try Dump.of(target) == dump)
        #expect(try StoreDump.count(target, "SELECT count(*) FROM manifest WHERE imported_ns IS NOT NULL") == 2)

        // Into a store that ingested the same input directly: message identity is ingest's, nothing doubles.
        let direct = dir.path("direct.db")
        #expect(try await CLI.run(["ingest", "--quiet", dir.path("gen.jsonl")], db: direct).status == 0)
        let over = try await CLI.run(["import", first, "--format", "json"], db: direct)
        #expect(over.status == 0, "\(over.stderr)")
        #expect(((try? JSONSerialization.jsonObject(with: Data(over.stdout.utf8))) as? [[String: Any]])?.first?["messages"] as? Int == 0,
                "\(over.stdout)")
        #expect(try StoreDump.count(direct, "SELECT coalesce(sum(messages), 0) FROM message_groups") == stored)
    }

    @Test func exportNamesWhatItCannotDo() async throws {
        let dir = TempDir()
        let db = try await Self.source(dir, devices: false)
        let w = Self.window(Self.start, Self.start + 60 * Self.minute)
        let unknown = try await CLI.run(["export", "-o", dir.path("x.db"), "--endpoint", "no-such-node"] + w, db: db)
        #expect(unknown.status == 2 && unknown.stderr.contains("no-such-node"), "\(unknown.stderr)")
        let badWhere = try await CLI.run(["export", "-o", dir.path("x.db"), "--where", "port ="] + w, db: db)
        #expect(badWhere.status == 2, "\(badWhere.stderr)")
        let neither = try await CLI.run(["export"] + w, db: db)
        #expect(neither.status == 2, "\(neither.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path("x.db")), "a failed export leaves no file")
        let missing = try await CLI.run(["export", "-o", dir.path("y.db")] + w, db: dir.path("none.db"))
        #expect(missing.status == 1 && missing.stderr.contains("none.db"), "\(missing.stderr)")
    }

    @Test(arguments: ["export", "import"])
    func helpWrapsOnlyAtParagraphs(_ command: String) async throws {
        let r = try await CLI.run([command, "--help"])
        #expect(r.status == 0, "\(r.stderr)")
        ServeHelpTests.checkParagraphs(r.stdout, command)
    }

    @Test func anExportOfPrunedRawTimeIsRefusedWithTheEarliestTimeAvailable() async throws {
        let dir = TempDir()
        let (db, from, to) = try await RetentionSettingsTests.oldStore(dir, daysAgo: 10)
        #expect(try await CLI.run(["prune", "--raw", "7d"], db: db).status == 0)
        let out = dir.path("case.db")
        let r = try await CLI.run(["export", "-o", out] + Self.window(from, to), db: db)
        #expect(r.status == 1 && r.stderr.contains("were pruned") && r.stderr.contains("earliest time available"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "a refused export leaves no file")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).allSatisfy { !$0.contains(".partial-") })
    }
}
