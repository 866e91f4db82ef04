import Foundation
import Testing
import TestSupport

/// `tailflow changes` and configuration events in `ingest`, through the real binary (SPEC §13).
@Suite(.ownThreads)
struct ChangesCommandTests {
    static let window = ["--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z"]

    static func data(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Data/changes/\(name)").path
    }

    static func json(_ r: CLI.Result) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], "\(r.stderr)")
    }

    static func summary(_ r: CLI.Result) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr)")
    }

    @Test func everyContainerTwiceStoresEachChangeOnce() async throws {
        let dir = TempDir()
        let db = dir.path("c.db")
        var stored = 0
        for name in ["api.json", "mixed.jsonl", "mixed.jsonl.gz", "hec.json", "bulk.ndjson", "api.json"] {
            let r = try await CLI.run(["ingest", "--format", "json", Self.data(name)], db: db)
            #expect(r.status == 0, "\(name): \(r.stderr)")
            let s = try Self.summary(r)
            #expect(s["changes"] as? Int == 6, "\(name)")
            stored += s["storedChanges"] as? Int ?? -1
        }
        #expect(stored == 6)
        let all = try Self.json(try await CLI.run(["changes", "--format", "json"] + Self.window, db: db))
        #expect(all.count == 6)
        #expect(all.map { $0["action"] as? String } == ["UPDATE", "UPDATE", "APPROVE", "UPDATE", "UPDATE", "DELETE"])
    }

    @Test func jsonFieldsFiltersAndEveryFormat() async throws {
        let dir = TempDir()
        let db = dir.path("c.db")
        try await CLI.run(["ingest", Self.data("mixed.jsonl")], db: db)
        let r = try await CLI.run(["changes", "--format", "json", "--target", "db-1"] + Self.window, db: db)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try Self.json(r)
        #expect(rows.count == 1)
        let row = try #require(rows.first)
        #expect(Array(row.keys).sorted() == ["action", "actorId", "actorLogin", "actorName", "details", "error", "new", "old", "origin",
                                             "property", "targetId", "targetName", "targetType", "time"])
        #expect(row["time"] as? String == "2026-11-01T09:59:30Z")
        #expect(row["old"] as? [String] == ["tag:db"])
        #expect(row["new"] as? [String] == ["tag:db", "tag:prod"])
        #expect(row["error"] is NSNull)

        let byActor = try Self.json(try await CLI.run(["changes", "--format", "json", "--actor", "alice"] + Self.window, db: db))
        #expect(byActor.count == 2 && byActor.allSatisfy { $0["actorLogin"] as? String == "alice@example.com" })
        let byType = try Self.json(try await CLI.run(["changes", "--format", "json", "--type", "tailnet"] + Self.window, db: db))
        #expect(byType.map { $0["property"] as? String } == ["ACL", "DNS_NAMESERVERS"])
        let byNode = try Self.json(try await CLI.run(["changes", "--format", "json", "--target", "nCi4Lm8CNTRL"] + Self.window, db: db))
        #expect(byNode.map { $0["action"] as? String } == ["APPROVE", "DELETE"])

        let csv = try await CLI.run(["changes", "--format", "csv"] + Self.window, db: db)
        let lines = csv.stdout.split(separator: "\r\n")
        #expect(lines.first == "time,action,origin,actorId,actorLogin,actorName,targetId,targetName,targetType,property,old,new,details,error")
        #expect(lines.count == 7)
        let nd = try await CLI.run(["changes", "--format", "ndjson", "--limit", "2"] + Self.window, db: db)
        #expect(nd.stdout.split(separator: "\n").count == 2)
        #expect(nd.stderr.contains("showing 2 of 6"))
        let table = try await CLI.run(["changes"] + Self.window, db: db)
        #expect(table.stdout.contains("KEY_EXPIRY_TIME") && table.stdout.contains("Tailscale"))

        // An empty window says where the changes are.
        let empty = try await CLI.run(["changes", "--from", "2026-10-01", "--to", "2026-10-02"], db: db)
        #expect(empty.status == 0)
        #expect(empty.stderr.contains("2026-11-01T09:58:00.512Z"))
    }

    @Test func whereFiltersChangesAndRefusesTermsOfTraffic() async throws {
        let dir = TempDir()
        let db = dir.path("c.db")
        try await CLI.run(["ingest", Self.data("mixed.jsonl")], db: db)
        let tagged = try Self.json(try await CLI.run(["changes", "--format", "json", "--where", "tag = prod or node = router-1"] + Self.window, db: db))
        #expect(tagged.map { $0["property"] as? String } == ["TAGS", "KEY_EXPIRY_TIME"])
        // Combined with --actor by `and`.
        let bob = try Self.json(try await CLI.run(["changes", "--format", "json", "--actor", "bob", "--where", "not node = db-1"] + Self.window, db: db))
        #expect(bob.map { $0["property"] as? String } == ["KEY_EXPIRY_TIME", "DNS_NAMESERVERS"])
        let port = try await CLI.run(["changes", "--where", "node = db-1 and port = 22"] + Self.window, db: db)
        #expect(port.status == 2 && port.stdout.isEmpty)
        #expect(port.stderr.contains("--where: 'port' does not apply to configuration changes at column 17"), "\(port.stderr)")
        #expect(port.stderr.contains("node = db-1 and port = 22\n                  ^^^^"), "\(port.stderr)")
        let unknown = try await CLI.run(["changes", "--where", "node = nobody"] + Self.window, db: db)
        #expect(unknown.status == 2 && unknown.stderr.contains("'nobody' is no node of this store"), "\(unknown.stderr)")
        let syntax = try await CLI.run(["changes", "--where", "node ="] + Self.window, db: db)
        #expect(syntax.status == 2 && syntax.stderr.contains("--where:"), "\(syntax.stderr)")
    }

    @Test func theTableShowsAStringValueAsItsText() async throws {
        let dir = TempDir()
        let db = dir.path("c.db")
        try await CLI.run(["ingest", Self.data("mixed.jsonl")], db: db)
        let table = try await CLI.run(["changes", "--wide", "--type", "acl"] + Self.window, db: db)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains(#"{"acls":[{"action":"accept""#) && !table.stdout.contains(#"\""#), "\(table.stdout)")
        // The machine formats keep the exact JSON value.
        let json = try Self.json(try await CLI.run(["changes", "--format", "json", "--type", "acl"] + Self.window, db: db))
        #expect((json.first?["old"] as? String)?.hasPrefix(#"{"acls""#) == true)
    }

    @Test func scopeListsTheNodesChangesAndTheTailnetWideOnes() async throws {
        let dir = TempDir()
        let db = dir.path("c.db")
        try await CLI.run(["ingest", Self.data("api.json")], db: db)
        let json = try Self.json(try await CLI.run(["scope", "--endpoint", "db-1", "--changes", "--format", "json"] + Self.window, db: db))
        // db-1's tag change, and the policy and DNS edits of the whole tailnet; not the other nodes' changes.
        #expect(json.map { $0["property"] as? String } == ["ACL", "TAGS", "DNS_NAMESERVERS"])
        let byAddress = try Self.json(try await CLI.run(["scope", "--endpoint", "100.101.1.20", "--changes", "--format", "json"] + Self.window, db: db))
        #expect(byAddress.count == 3)
        let ci = try Self.json(try await CLI.run(["scope", "--endpoint", "nCi4Lm8CNTRL", "--changes", "--format", "json"] + Self.window, db: db))
        #expect(ci.map { $0["action"] as? String } == ["UPDATE", "APPROVE", "UPDATE", "DELETE"])

        let table = try await CLI.run(["scope", "--endpoint", "db-1"] + Self.window, db: db)
        #expect(table.status == 0, "\(table.stderr)")
        let parts = table.stdout.components(separatedBy: "Configuration changes in the window")
        #expect(parts.count == 2 && parts[1].contains("TAGS") && parts[1].contains("ACL") && !parts[1].contains("KEY_EXPIRY"))
        let machine = try await CLI.run(["scope", "--endpoint", "db-1", "--format", "json"] + Self.window, db: db)
        #expect(!machine.stdout.contains("TAGS") && machine.stderr.contains("3 configuration changes"))
        // Outside the changes' window: nothing said.
        let quiet = try await CLI.run(["scope", "--endpoint", "db-1", "--from", "2026-11-01T10:02:00Z", "--to", "2026-11-01T11:00:00Z"], db: db)
        #expect(!quiet.stdout.contains("Configuration changes"))
        #expect(try await CLI.run(["scope", "--endpoint", "db-1", "--changes", "--flows"] + Self.window, db: db).status == 2)
    }

    @Test func diffAndCoverageMentionTheChangesOfTheirWindows() async throws {
        let dir = TempDir()
        let mixed = dir.path("c.db"), plain = dir.path("p.db")
        try await CLI.run(["ingest", Self.data("api.json")], db: mixed)
        try await CLI.run(["ingest", Self.data("network.jsonl")], db: plain)
        let window = ["--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z", "--format", "json"]
        let diff = try await CLI.run(["diff"] + window, db: mixed)
        #expect(diff.status == 0, "\(diff.stderr)")
        #expect(diff.stderr.contains("4 configuration changes from 2026-11-01T10:00:00Z to 2026-11-01T11:00:00Z may explain this"), "\(diff.stderr)")
        #expect(diff.stdout == (try await CLI.run(["diff"] + window, db: plain)).stdout)
        let coverage = try await CLI.run(["coverage", "--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z"], db: mixed)
        #expect(coverage.status == 0 && coverage.stderr.contains("6 configuration changes"), "\(coverage.stderr)")
        #expect(!(try await CLI.run(["diff"] + window, db: plain)).stderr.contains("configuration"))
    }

    @Test func flowAnswersAreTheSameWithAndWithoutChanges() async throws {
        let dir = TempDir()
        let mixed = dir.path("mixed.db"), plain = dir.path("plain.db")
        try await CLI.run(["ingest", Self.data("hec.json")], db: mixed)
        try await CLI.run(["ingest", Self.data("network.jsonl")], db: plain)
        for q in [["top", "--by", "pair"], ["top"], ["series", "--step", "1m"], ["flows", "--limit", "100"], ["scope", "--endpoint", "db-1"],
                  ["rollup", "--step", "1m", "--group-by", "kind,src,dst"], ["nodes"]] {
            let a = try await CLI.run(q + ["--format", "json"] + (q[0] == "nodes" ? [] : Self.window), db: mixed)
            let b = try await CLI.run(q + ["--format", "json"] + (q[0] == "nodes" ? [] : Self.window), db: plain)
            #expect(a.status == 0 && a.stdout == b.stdout, "\(q): \(a.stderr)")
        }
    }
}

/// `tailflow generate --changes`: configuration events between the messages, in every container.
@Suite(.ownThreads)
struct GenerateChangesTests {
    static let args = ["generate", "--nodes", "20", "--start", "2026-11-03T10:00:00Z", "--duration", "2h", "--change-interval", "5m"]
    static let window = ["--from", "2026-11-03T09:00:00Z", "--to", "2026-11-03T13:00:00Z"]

    @Test(arguments: ["jsonl", "api", "splunk", "elastic", "array", "concatenated", "logtail"])
    func eventsLandAndTheFlowsStayTheSame(_ container: String) async throws {
        let dir = TempDir()
        let mixed = dir.path("mixed.\(container)"), plain = dir.path("plain.\(container)")
        let g = try await CLI.run(Self.args + ["--changes", "--container", container, "-o", mixed])
        #expect(g.status == 0, "\(g.stderr)")
        try await CLI.run(Self.args + ["--container", container, "-o", plain])
        let count = try #require(g.stderr.split(separator: " ").firstIndex(of: "configuration").map { Int(g.stderr.split(separator: " ")[$0 - 1]) } ?? nil,
                                 "\(g.stderr)")
        #expect(count >= 10, "two hours at one change per 5 minutes on average")

        let mixedDB = dir.path("mixed.db"), plainDB = dir.path("plain.db")
        let a = try await CLI.run(["ingest", "--format", "json", mixed], db: mixedDB)
        let b = try await CLI.run(["ingest", "--format", "json", plain], db: plainDB)
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        let sa = try ChangesCommandTests.summary(a), sb = try ChangesCommandTests.summary(b)
        #expect(sa["changes"] as? Int == count && sa["storedChanges"] as? Int == count && sa["rejected"] as? Int == 0 && sa["skipped"] as? Int == 0)
        #expect(sa["storedRows"] as? Int == sb["storedRows"] as? Int && sb["changes"] as? Int == 0)
        for q in [["top", "--by", "pair"], ["series", "--step", "10m"], ["flows", "--limit", "50"]] {
            let x = try await CLI.run(q + ["--format", "json"] + Self.window, db: mixedDB)
            let y = try await CLI.run(q + ["--format", "json"] + Self.window, db: plainDB)
            #expect(x.status == 0 && x.stdout == y.stdout, "\(q)")
        }
        let changes = try ChangesCommandTests.json(try await CLI.run(["changes", "--format", "json"] + Self.window, db: mixedDB))
        #expect(changes.count == count)
        let actions = Set(changes.compactMap { $0["action"] as? String })
        #expect(actions.isSubset(of: ["UPDATE", "APPROVE", "DELETE"]) && actions.contains("UPDATE"))
        #expect(changes.allSatisfy { ($0["time"] as? String ?? "") >= "2026-11-03T10:00:00" && ($0["time"] as? String ?? "") < "2026-11-03T12:00:00" })
    }

    @Test func theSameOptionsGiveTheSameBytes() async throws {
        let one = try await CLI.run(Self.args + ["--changes"])
        let two = try await CLI.run(Self.args + ["--changes"])
        #expect(one.status == 0 && one.stdout == two.stdout && one.stdout.contains("\"eventGroupID\""))
    }
}
