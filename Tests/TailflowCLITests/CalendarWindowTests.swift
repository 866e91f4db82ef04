import Foundation
import Testing
import TestSupport

/// Calendar words for --from/--to and --tz: local midnights and Mondays, DST handled (SPEC §5).
@Suite(.ownThreads)
struct CalendarWindowTests {
    static func json(_ r: CLI.Result) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], "\(r.stderr)")
    }

    /// Europe/Berlin leaves summer time on 2026-10-25: that day has 25 hours and is one bucket.
    @Test func dailyBucketsFollowLocalMidnightAcrossTheDSTChange() async throws {
        let dir = TempDir()
        let db = dir.path("dst.db")
        let logs = dir.path("dst.jsonl")
        let gen = try await CLI.run(["generate", "--nodes", "8", "--rate", "0.2", "--start", "2026-10-24T20:00:00Z", "--duration", "30h",
                               "--output", logs, "--devices", dir.path("devices.json")])
        #expect(gen.status == 0, "\(gen.stderr)")
        #expect(try await CLI.run(["ingest", logs], db: db).status == 0)

        let berlin = ["--from", "2026-10-24", "--to", "2026-10-27", "--tz", "Europe/Berlin"]
        let days = try await Self.json(CLI.run(["series", "--step", "1d", "--format", "json"] + berlin, db: db))
        #expect(days.map { $0["time"] as? String } == ["2026-10-23T22:00:00Z", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"])
        // Each day's bytes are its hours' bytes: 25 of them on the 25th.
        let hours = try await Self.json(CLI.run(["series", "--step", "1h", "--format", "json"] + berlin, db: db))
        func hourBytes(from: String, to: String) -> Int {
            hours.filter { ($0["time"] as! String) >= from && ($0["time"] as! String) < to }.reduce(0) { $0 + ($1["bytes"] as! Int) }
        }
        #expect(hours.filter { ($0["time"] as! String) >= "2026-10-24T22:00:00Z" && ($0["time"] as! String) < "2026-10-25T23:00:00Z" }.count == 25)
        let want = [hourBytes(from: "2026-10-23T22:00:00Z", to: "2026-10-24T22:00:00Z"),
                    hourBytes(from: "2026-10-24T22:00:00Z", to: "2026-10-25T23:00:00Z"),
                    hourBytes(from: "2026-10-25T23:00:00Z", to: "2026-10-26T23:00:00Z")]
        #expect(want[1] > 0 && want[2] > 0 && want[0] > 0)
        #expect(days.map { $0["bytes"] as? Int } == want)
        // Rollups bucket the same way; the same total.
        let rollup = try await Self.json(CLI.run(["rollup", "--step", "1d", "--group-by", "kind", "--format", "json"] + berlin, db: db))
        #expect(Set(rollup.compactMap { $0["time"] as? String }) == ["2026-10-23T22:00:00Z", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"])
        #expect(rollup.reduce(0) { $0 + ($1["bytes"] as! Int) } == want.reduce(0, +))
        // UTC (the default) is epoch days.
        let utc = try await Self.json(CLI.run(["series", "--step", "1d", "--from", "2026-10-24", "--to", "2026-10-27", "--format", "json"], db: db))
        #expect(utc.map { $0["time"] as? String } == ["2026-10-24T00:00:00Z", "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z"])
        // Weeks start on Monday (2026-10-19 and 2026-10-26 are Mondays), in the zone.
        let weeks = try await Self.json(CLI.run(["series", "--step", "1w", "--format", "json"] + berlin, db: db))
        #expect(weeks.map { $0["time"] as? String } == ["2026-10-18T22:00:00Z", "2026-10-25T23:00:00Z"])
        #expect(weeks.reduce(0) { $0 + ($1["bytes"] as! Int) } == want.reduce(0, +))
    }

    @Test func calendarWordsNameWholePeriodsInTheZone() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        // today / yesterday / weeks and months, compared with what Foundation's calendar says now.
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "America/New_York")!
        cal.firstWeekday = 2
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        for (word, unit, back) in [("today", Calendar.Component.day, 0), ("yesterday", .day, 1), ("this-week", .weekOfYear, 0),
                                   ("last-week", .weekOfYear, 1), ("this-month", .month, 0), ("last-month", .month, 1)] {
            let asked = Date()
            let r = try await CLI.run(["series", "--step", "1h", "--from", word, "--to", word, "--tz", "America/New_York", "--format", "json"], db: db)
            #expect(r.status == 0, "\(word): \(r.stderr)")
            // A period that ended while the command ran has no single right answer: that word is skipped.
            if cal.dateInterval(of: unit, for: asked) != cal.dateInterval(of: unit, for: Date()) { continue }
            let start = cal.date(byAdding: unit, value: -back, to: cal.dateInterval(of: unit, for: asked)!.start)!
            let end = cal.date(byAdding: unit, value: 1, to: start)!
            let times = try Self.json(r).compactMap { $0["time"] as? String }
            #expect(times.first == f.string(from: start), "\(word)")
            #expect(times.last == f.string(from: end.addingTimeInterval(-3600)), "\(word)")
            let data = f.date(from: "2026-11-01T10:00:00Z")!
            let holdsData = start <= data && data < end
            #expect(r.stderr.contains("no data in [\(f.string(from: start)), \(f.string(from: end)))") == !holdsData, "\(word): \(r.stderr)")
        }
        let bad = try await CLI.run(["top", "--tz", "Mars/Olympus"], db: db)
        #expect(bad.status == 2 && bad.stderr.contains("--tz 'Mars/Olympus' is not a time zone"), "\(bad.stderr)")
        let word = try await CLI.run(["top", "--from", "last-fortnight"], db: db)
        #expect(word.status == 2 && word.stderr.contains("last-month"), "\(word.stderr)")
    }
}
