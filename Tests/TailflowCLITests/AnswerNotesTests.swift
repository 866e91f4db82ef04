import Foundation
import Testing
import TestSupport

/// Answers that say what they left out (SPEC §5): a cut by a limit, a window without data,
/// an address never seen; and who opened each connection.
@Suite(.ownThreads)
struct AnswerNotesTests {
    static let all = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z", "--kind", "virtual,subnet,exit,physical"]

    @Test func aLimitedAnswerSaysHowManyRowsItLeftOut() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        let every = try await QueryCommandTests.json(CLI.run(["flows", "--limit", "100000", "--format", "json"] + Self.all, db: db))
        #expect(every.count > 3)
        let whole = try await CLI.run(["flows", "--limit", "100000", "--format", "json"] + Self.all, db: db)
        #expect(whole.stderr.isEmpty, "an answer not cut says nothing: \(whole.stderr)")

        let page = try await CLI.run(["flows", "--limit", "2", "--format", "json"] + Self.all, db: db)
        #expect(page.status == 0)
        #expect(try QueryCommandTests.json(page).count == 2)
        #expect(page.stderr == "tailflow: showing 2 of \(every.count) rows; --limit N or --after CURSOR for more\n")
        // After the cursor, the rest is counted from there.
        let cursor = try #require(try QueryCommandTests.json(page).last?["cursor"] as? String)
        let next = try await CLI.run(["flows", "--limit", "1", "--after", cursor, "--format", "json"] + Self.all, db: db)
        #expect(next.stderr.contains("showing 1 of \(every.count - 2) rows"), "\(next.stderr)")

        let scope = try await CLI.run(["scope", "--endpoint", "db-1", "--flows", "--limit", "1", "--format", "json"] + Self.all, db: db)
        let scopeAll = try await QueryCommandTests.json(CLI.run(["scope", "--endpoint", "db-1", "--flows", "--format", "json"] + Self.all, db: db))
        #expect(scopeAll.count > 1)
        #expect(scope.stderr.contains("showing 1 of \(scopeAll.count) rows; --limit N"), "\(scope.stderr)")

        let top = try await CLI.run(["top", "--limit", "2"] + Self.all, db: db)
        let topAll = try await QueryCommandTests.json(CLI.run(["top", "--limit", "1000", "--format", "json"] + Self.all, db: db))
        #expect(topAll.count > 2)
        #expect(top.stderr == "tailflow: showing 2 of \(topAll.count) rows; --limit N for more\n")
        #expect(top.stdout.split(separator: "\n").count == 3, "a header and two rows on stdout, the note on stderr")
    }

    @Test func anEmptyWindowSaysWhatTheStoreHolds() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        let rows = try await QueryCommandTests.json(CLI.run(["flows", "--limit", "100000", "--format", "json"] + Self.all, db: db))
        let first = try #require(rows.compactMap { $0["time"] as? String }.min())
        let last = try #require(rows.compactMap { $0["end"] as? String }.max())
        for command in [["top"], ["series", "--step", "1h"], ["rollup"], ["flows"], ["scope", "--endpoint", "db-1"]] {
            let r = try await CLI.run(command + ["--from", "2026-10-01", "--to", "2026-10-02", "--format", "json"], db: db)
            #expect(r.status == 0, "\(command): \(r.stderr)")
            #expect(r.stderr.contains("no data in [2026-10-01T00:00:00Z, 2026-10-02T00:00:00Z); the store holds \(first) … \(last)"),
                    "\(command): \(r.stderr) (rows span \(first) … \(last))")
        }
        // A window with data but nothing matching the filters is not "no data".
        let filtered = try await CLI.run(["top", "--proto", "132"] + Self.all, db: db)
        #expect(filtered.status == 0 && !filtered.stderr.contains("no data"), "\(filtered.stderr)")
        // An empty store says so.
        let empty = dir.path("empty.db")
        try await CLI.run(["nodes", "import", Fixtures.path("tiny/devices.json")], db: empty)
        let none = try await CLI.run(["top"], db: empty)
        #expect(none.status == 0 && none.stderr.contains("the store holds no flow logs yet"), "\(none.stderr)")
    }

    @Test func anAddressNeverSeenIsAnEmptyAnswerNotAUsageError() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        for command in [["scope"], ["scope", "--flows"], ["top"], ["flows"], ["series"]] {
            let r = try await CLI.run(command + ["--endpoint", "203.0.113.99", "--format", "json"] + Self.all, db: db)
            #expect(r.status == 0, "\(command): \(r.stderr)")
            if command != ["series"] { #expect(try QueryCommandTests.json(r).isEmpty, "\(command)") }
            #expect(r.stderr.contains("no flow or node in this store has the address 203.0.113.99"), "\(command): \(r.stderr)")
        }
        let v6 = try await CLI.run(["scope", "--endpoint", "2001:DB8::1", "--format", "json"] + Self.all, db: db)
        #expect(v6.status == 0 && v6.stderr.contains("2001:db8::1"), "\(v6.stderr)")
        let series = try await QueryCommandTests.json(CLI.run(["series", "--edge", "203.0.113.99,db-1", "--format", "json"] + Self.all, db: db))
        #expect(!series.isEmpty && series.allSatisfy { $0["bytes"] as? Int == 0 })
        // A seen address still answers; a name that resolves to nothing stays a usage error.
        let seen = try await CLI.run(["scope", "--endpoint", "203.0.113.7", "--format", "json"] + Self.all, db: db)
        #expect(seen.status == 0 && !seen.stderr.contains("no flow or node"))
        let typo = try await CLI.run(["scope", "--endpoint", "db-9"] + Self.all, db: db)
        #expect(typo.status == 2 && typo.stderr.contains("unknown endpoint 'db-9'"), "\(typo.stderr)")
    }

    @Test func flowRowsSayWhichEndOpenedTheConnection() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        let rows = try await QueryCommandTests.json(CLI.run(["flows", "--limit", "100000", "--format", "json"] + Self.all, db: db))
        // alice-laptop:51000 → db-1:5432, reported by both ends.
        let postgres = rows.filter { $0["srcPort"] as? Int == 5432 || $0["dstPort"] as? Int == 5432 }
        #expect(postgres.count >= 2)
        for r in postgres {
            let expected = r["dstPort"] as? Int == 5432 ? "src" : "dst"
            #expect(r["initiator"] as? String == expected, "\(r)")
        }
        for r in rows {
            let s = r["srcPort"] as! Int, d = r["dstPort"] as! Int
            let service = s == 0 ? d : d == 0 ? s : min(s, d)
            let expected: String? = s == d ? nil : (service == d ? "src" : "dst")
            #expect(r["initiator"] as? String == expected, "\(r)")
            #expect(r.keys.contains("initiator"))
        }
        // The field comes last in every machine form.
        let csv = try await CLI.run(["flows", "--limit", "1", "--format", "csv"] + Self.all, db: db)
        #expect(csv.stdout.split(separator: "\r\n").first?.hasSuffix(",cursor,initiator") == true, "\(csv.stdout)")
    }
}
