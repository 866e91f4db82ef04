import Foundation
import Testing

/// `tailflow changes` and configuration events in `ingest`, through the real binary (SPEC §13).
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

    @Test func everyContainerTwiceStoresEachChangeOnce() throws {
        let dir = TempDir()
        let db = dir.path("c.db")
        var stored = 0
        for name in ["api.json", "mixed.jsonl", "mixed.jsonl.gz", "hec.json", "bulk.ndjson", "api.json"] {
            let r = try CLI.run(["ingest", "--format", "json", Self.data(name)], db: db)
            #expect(r.status == 0, "\(name): \(r.stderr)")
            let s = try Self.summary(r)
            #expect(s["changes"] as? Int == 6, "\(name)")
            stored += s["storedChanges"] as? Int ?? -1
        }
        #expect(stored == 6)
        let all = try Self.json(try CLI.run(["changes", "--format", "json"] + Self.window, db: db))
        #expect(all.count == 6)
        #expect(all.map { $0["action"] as? String } == ["UPDATE", "UPDATE", "APPROVE", "UPDATE", "UPDATE", "DELETE"])
    }

    @Test func jsonFieldsFiltersAndEveryFormat() throws {
        let dir = TempDir()
        let db = dir.path("c.db")
        try CLI.run(["ingest", Self.data("mixed.jsonl")], db: db)
        let r = try CLI.run(["changes", "--format", "json", "--target", "db-1"] + Self.window, db: db)
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

        let byActor = try Self.json(try CLI.run(["changes", "--format", "json", "--actor", "alice"] + Self.window, db: db))
        #expect(byActor.count == 2 && byActor.allSatisfy { $0["actorLogin"] as? String == "alice@example.com" })
        let byType = try Self.json(try CLI.run(["changes", "--format", "json", "--type", "tailnet"] + Self.window, db: db))
        #expect(byType.map { $0["property"] as? String } == ["ACL", "DNS_NAMESERVERS"])
        let byNode = try Self.json(try CLI.run(["changes", "--format", "json", "--target", "nCi4Lm8CNTRL"] + Self.window, db: db))
        #expect(byNode.map { $0["action"] as? String } == ["APPROVE", "DELETE"])

        let csv = try CLI.run(["changes", "--format", "csv"] + Self.window, db: db)
        let lines = csv.stdout.split(separator: "\r\n")
        #expect(lines.first == "time,action,origin,actorId,actorLogin,actorName,targetId,targetName,targetType,property,old,new,details,error")
        #expect(lines.count == 7)
        let nd = try CLI.run(["changes", "--format", "ndjson", "--limit", "2"] + Self.window, db: db)
        #expect(nd.stdout.split(separator: "\n").count == 2)
        #expect(nd.stderr.contains("showing 2 of 6"))
        let table = try CLI.run(["changes"] + Self.window, db: db)
        #expect(table.stdout.contains("KEY_EXPIRY_TIME") && table.stdout.contains("Tailscale"))

        // An empty window says where the changes are.
        let empty = try CLI.run(["changes", "--from", "2026-10-01", "--to", "2026-10-02"], db: db)
        #expect(empty.status == 0)
        #expect(empty.stderr.contains("2026-11-01T09:58:00.512Z"))
    }

    @Test func flowAnswersAreTheSameWithAndWithoutChanges() throws {
        let dir = TempDir()
        let mixed = dir.path("mixed.db"), plain = dir.path("plain.db")
        try CLI.run(["ingest", Self.data("hec.json")], db: mixed)
        try CLI.run(["ingest", Self.data("network.jsonl")], db: plain)
        for q in [["top", "--by", "pair"], ["top"], ["series", "--step", "1m"], ["flows", "--limit", "100"], ["scope", "--endpoint", "db-1"],
                  ["rollup", "--step", "1m", "--group-by", "kind,src,dst"], ["nodes"]] {
            let a = try CLI.run(q + ["--format", "json"] + (q[0] == "nodes" ? [] : Self.window), db: mixed)
            let b = try CLI.run(q + ["--format", "json"] + (q[0] == "nodes" ? [] : Self.window), db: plain)
            #expect(a.status == 0 && a.stdout == b.stdout, "\(q): \(a.stderr)")
        }
    }
}
