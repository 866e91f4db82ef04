import FlowModel
import Foundation
import GRDB
import StoreDump
import Testing
import TestSupport

/// The retention settings that had no test (issue 16): `serve`'s `retention` configuration-file
/// key, and `prune --vacuum` on a store created before incremental auto-vacuum (the file shrinks).
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct RetentionSettingsTests {
    static let hour: Int64 = 3600 * Timestamp.nanosPerSecond

    /// Three hours of a generated 10-node tailnet, starting `daysAgo` days before now (hour-aligned).
    static func oldStore(_ dir: TempDir, daysAgo: Int64, name: String = "old") async throws -> (db: String, from: Int64, to: Int64) {
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        let from = Timestamp.bucketStart(now - daysAgo * 24 * hour, step: hour)
        let file = dir.path("\(name).jsonl"), db = dir.path("\(name).db")
        let g = try await CLI.run(["generate", "--nodes", "10", "--duration", "3h", "--rate", "0.5", "--start", Timestamp.formatRFC3339(from), "-o", file])
        #expect(g.status == 0, "\(g.stderr)")
        let i = try await CLI.run(["ingest", "--quiet", file], db: db)
        #expect(i.status == 0, "\(i.stderr)")
        return (db, from, from + 3 * hour)
    }

    @Test func serveAppliesTheRetentionOfItsConfigurationFile() async throws {
        let dir = TempDir()
        let (db, from, to) = try await Self.oldStore(dir, daysAgo: 10)
        let window = ["--from", Timestamp.formatRFC3339(from), "--to", Timestamp.formatRFC3339(to), "--format", "json"]
        let before = try await CLI.run(["top", "--by", "pair", "--limit", "1000"] + window, db: db)
        #expect(try StoreDump.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") > 0)

        let config = dir.path("serve.json")
        try Data(#"{"hec-token": "T1-hec", "read-token": "T4-read", "retention": "raw=7d,1m=8d"}"#.utf8).write(to: URL(fileURLWithPath: config))
        let server = try await ServeProcess.started(db: db, ["--config", config])
        // The writer prunes in the background from its start: the raw rows and minute buckets go.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline,
              (try? StoreDump.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups")) != 0
                || (try? StoreDump.count(db, "SELECT count(*) FROM rollups WHERE step = 60")) != 0 {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(server.stop() == 0)
        #expect(try StoreDump.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") == 0)
        #expect(try StoreDump.count(db, "SELECT count(*) FROM rollups WHERE step = 60") == 0)
        #expect(try StoreDump.count(db, "SELECT count(*) FROM retention WHERE (level = 0 AND policy = '1w') OR (level = 60 AND policy = '8d')") == 2)
        // Hours are kept: the same answer, now from them, and it says so.
        let after = try await CLI.run(["top", "--by", "pair", "--limit", "1000"] + window, db: db)
        #expect(after.status == 0 && after.stdout == before.stdout, "\(after.stderr)")
        #expect(after.stderr.contains("were pruned"), "\(after.stderr)")

        // A policy the file gets wrong is a usage error naming the file's key.
        try Data(#"{"hec-token": "T1-hec", "retention": "raw=soon"}"#.utf8).write(to: URL(fileURLWithPath: config))
        let bad = try await CLI.run(["serve", "--db", db, "--listen", "127.0.0.1:0", "--allow-weak-tokens", "--config", config])
        #expect(bad.status == 2 && bad.stderr.contains("retention"), "\(bad.stderr)")
    }

    @Test func pruneVacuumRewritesAnOlderStoreOnceSoThatItShrinks() async throws {
        let dir = TempDir()
        let (db, from, to) = try await Self.oldStore(dir, daysAgo: 10)
        // A store as an earlier tailflow created it: no incremental auto-vacuum.
        try await DatabaseQueue(path: db).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA auto_vacuum = NONE")
            try db.execute(sql: "VACUUM")
        }
        #expect(try StoreDump.count(db, "PRAGMA auto_vacuum") == 0)
        let copy = dir.path("copy.db")
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: db + suffix) {
            try FileManager.default.copyItem(atPath: db + suffix, toPath: copy + suffix)
        }
        func size(_ path: String) -> Int64 {
            [path, path + "-wal"].reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int).map(Int64.init) ?? 0) }
        }

        // Without --vacuum: freed pages are reused, the file does not shrink, and the summary says so.
        let plain = try await CLI.run(["prune", "--raw", "7d", "--format", "json"], db: copy)
        #expect(plain.status == 0, "\(plain.stderr)")
        let p = (try? JSONSerialization.jsonObject(with: Data(plain.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(p["shrinks"] as? Bool == false, "\(plain.stdout)")
        #expect(try StoreDump.count(copy, "PRAGMA freelist_count") > 0, "freed pages stay in the file")

        // With --vacuum: rewritten once with incremental auto-vacuum, then the prune returns its pages.
        let before = size(db)
        let vacuumed = try await CLI.run(["prune", "--raw", "7d", "--vacuum", "--format", "json"], db: db)
        #expect(vacuumed.status == 0, "\(vacuumed.stderr)")
        let v = (try? JSONSerialization.jsonObject(with: Data(vacuumed.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(v["shrinks"] as? Bool == true, "\(vacuumed.stdout)")
        #expect(try StoreDump.count(db, "PRAGMA auto_vacuum") == 2)
        #expect(try StoreDump.count(db, "PRAGMA freelist_count") == 0)
        let after = size(db)
        // The raw rows were most of the file: it shrinks to well under half (measured: see the README).
        #expect(after * 2 < before, "\(before) -> \(after) bytes")
        #expect(after < size(copy), "the vacuumed store is smaller than the one that only reuses its pages")
        print("prune --vacuum: \(before) -> \(after) bytes; without --vacuum: \(size(copy)) bytes")
        // Both answer the same, and both pass check.
        let window = ["--from", Timestamp.formatRFC3339(from), "--to", Timestamp.formatRFC3339(to), "--format", "json"]
        #expect(try await CLI.run(["top"] + window, db: db).stdout == CLI.run(["top"] + window, db: copy).stdout)
        #expect(try await CLI.run(["check", "--full"], db: db).status == 0)
    }
}
