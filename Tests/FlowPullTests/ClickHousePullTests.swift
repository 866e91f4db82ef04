import FlowModel
import Foundation
import Testing
import TestSupport

/// `tailflow pull` and `tailflow follow` into a ClickHouse store (issue 19): the real binary
/// against the stand-in API and a private `clickhouse-server`; the answers equal those of the same
/// pull into a SQLite file, and pulling or following again stores nothing twice.
@Suite(.ownThreads, .serialized, .enabled(if: ClickHouseServer.isInstalled, Comment(rawValue: ClickHouseServer.skipReason)))
struct ClickHousePullTests {
    /// The same question of both stores: the same bytes.
    static func expectSameAnswers(db: String, store: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
        let w = PullCommandTests.window
        for q in [["top"] + w, ["top", "--by", "pair"] + w, ["flows", "--limit", "500"] + w, ["changes"] + w, ["nodes"],
                  ["series", "--step", "10m"] + w, ["coverage"] + w] {
            let sqlite = try await CLI.run(q + ["--db", db, "--format", "json"])
            let clickhouse = try await CLI.run(q + ["--store", store, "--format", "json"])
            #expect(sqlite.status == 0 && clickhouse.status == 0, "\(q): \(sqlite.stderr) \(clickhouse.stderr)", sourceLocation: sourceLocation)
            #expect(clickhouse.stdout == sqlite.stdout && clickhouse.stderr == sqlite.stderr, "\(q.joined(separator: " ")) differs",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func pullAndFollowIntoClickHouseAnswerAsSQLite() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        try await PullCommandTests.withStandIn { api in
            let db = dir.path("pulled.db"), store = server.storeURL(database: "pulled")
            let sqlite = try await CLI.run(PullCommandTests.pullArgs(api, ["--chunk", "10m"]), db: db, env: PullCommandTests.keyEnv)
            #expect(sqlite.status == 0, "\(sqlite.stderr)")
            let pulled = try await CLI.run(PullCommandTests.pullArgs(api, ["--chunk", "10m", "--concurrency", "3", "--store", store]),
                                           env: PullCommandTests.keyEnv)
            #expect(pulled.status == 0, "\(pulled.stderr)")
            let s = PullCommandTests.summary(pulled)
            #expect(s["storedMessages"] as? Int == TestData.shared.messages.count, "\(pulled.stdout)")
            #expect(s["storedChanges"] as? Int == TestData.shared.changes.count, "\(pulled.stdout)")
            #expect(s["devices"] as? Int == 8)
            try await Self.expectSameAnswers(db: db, store: store)

            // Pulled again, with other chunks: nothing new.
            let again = try await CLI.run(PullCommandTests.pullArgs(api, ["--chunk", "25m", "--store", store]), env: PullCommandTests.keyEnv)
            #expect(again.status == 0, "\(again.stderr)")
            #expect(PullCommandTests.summary(again)["storedMessages"] as? Int == 0, "\(again.stdout)")
            #expect(PullCommandTests.summary(again)["storedChanges"] as? Int == 0, "\(again.stdout)")
            try await Self.expectSameAnswers(db: db, store: store)

            // follow: checkpoints kept in ClickHouse; a second follow from them stores nothing twice.
            let followed = server.storeURL(database: "followed")
            let f = try await CLI.run(FollowCommandTests.followArgs(api, ["--devices-every", "0", "--store", followed]), env: PullCommandTests.keyEnv)
            #expect(f.status == 0, "\(f.stderr)")
            #expect(f.stdout.contains(#""checkpoint":"2026-11-01T02:00:00Z""#), "\(f.stdout)")
            #expect(f.stdout.contains(#""configurationCheckpoint":"2026-11-01T02:00:00Z""#), "\(f.stdout)")
            let requests = api.requests("/logging/network")
            let second = try await CLI.run(FollowCommandTests.followArgs(api, ["--devices-every", "0", "--store", followed]), env: PullCommandTests.keyEnv)
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.stdout.contains(#""storedMessages":0"#), "\(second.stdout)")
            // From the checkpoint: only the overlap is fetched again, not the whole window.
            #expect(api.requests("/logging/network") - requests <= 3, "\(api.requests("/logging/network") - requests) requests")
            // The same follow into a SQLite file (nodes are numbered in the order a store first
            // meets them, so raw rows list alike when both stores were fed alike).
            let followedDB = dir.path("followed.db")
            let fs = try await CLI.run(FollowCommandTests.followArgs(api, ["--devices-every", "0"]), db: followedDB, env: PullCommandTests.keyEnv)
            #expect(fs.status == 0, "\(fs.stderr)")
            for target in [["--store", followed], ["--db", followedDB]] {
                let synced = try await CLI.run(["nodes", "sync", "--tailnet", StandInAPI.tailnet, "--api-url", api.url] + target, env: PullCommandTests.keyEnv)
                #expect(synced.status == 0 && synced.stdout == "synced 8 nodes\n", "\(synced.stdout) \(synced.stderr)")
            }
            try await Self.expectSameAnswers(db: followedDB, store: followed)
            // follow --retention prunes SQLite only: on ClickHouse it is refused.
            let pruning = try await CLI.run(FollowCommandTests.followArgs(api, ["--retention", "raw=1d", "--store", followed]), env: PullCommandTests.keyEnv)
            #expect(pruning.status == 1 && pruning.stderr.contains("not supported on the clickhouse backend yet: follow --retention"), "\(pruning.stderr)")
        }
    }
}
