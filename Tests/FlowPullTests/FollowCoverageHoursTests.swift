import FlowModel
import FlowPull
import FlowStore
import Foundation
import GRDB
import StoreDump
import Testing
import TestSupport

/// `follow` fills the hour summaries `coverage` reads (`coverage_hours`, schema/011), as ingest
/// and pull do: after each poll the hours its next poll does not fetch again, and when it stops
/// every hour.
@Suite(.ownThreads, .serialized)
struct FollowCoverageHoursTests {
    static let minute: Nanoseconds = 60_000_000_000

    /// Hours (Unix seconds) that hold a summary, and that hold a message.
    static func hours(_ db: String) throws -> (summarized: [Int64], withMessages: [Int64]) {
        try DatabaseQueue(path: db, configuration: StoreDump.readOnly).read { db in
            (try Int64.fetchAll(db, sql: "SELECT hour FROM coverage_hours ORDER BY hour"),
             try Int64.fetchAll(db, sql: "SELECT DISTINCT (id >> 24) / 60 * 3600 FROM message_groups ORDER BY 1"))
        }
    }

    /// While it follows: with the data's two hours fetched, the first hour (over before the
    /// checkpoint minus the overlap) is summarized, the second (fetched again at every poll) not.
    @Test func afterEachPollTheHoursItWillNotFetchAgain() async throws {
        let dir = TempDir()
        let db = dir.path("follow.db")
        try await PullCommandTests.withStandIn { api in
            let store = try FlowStore(path: db)
            let client = TailscaleAPI(APIConfiguration(baseURL: api.url, tailnet: StandInAPI.tailnet, credentials: .apiKey(StandInAPI.apiKey)))
            var options = FollowOptions(since: TestData.start)
            options.overlap = 10 * Self.minute
            options.lag = 0
            options.poll = .milliseconds(100)
            options.devicesEvery = nil
            options.chunkSize = 30 * Self.minute
            options.logs = [.network]
            let end = TestData.start + 2 * TestData.hour
            let follower = Follower(api: client, store: store, options: options, now: { end })
            let task = Task { try await follower.run() }
            let summarized = try await eventually(within: .seconds(600)) { try !Self.hours(db).summarized.isEmpty }
            // Two more polls: the second hour stays unsummarized while it is fetched again.
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            _ = try? await task.value
            try await client.shutdown()
            #expect(summarized)
            let (kept, withMessages) = try Self.hours(db)
            #expect(withMessages == [0, 1].map { (TestData.start + $0 * TestData.hour) / 1_000_000_000 })
            #expect(kept == [withMessages[0]], "\(kept)")
        }
    }

    /// The command: when it stops, every hour is summarized (as pull leaves them).
    @Test func theCommandLeavesEveryHourSummarized() async throws {
        let dir = TempDir()
        let db = dir.path("cli.db")
        try await PullCommandTests.withStandIn { api in
            let r = try await CLI.run(FollowCommandTests.followArgs(api), db: db, env: PullCommandTests.keyEnv)
            #expect(r.status == 0, "\(r.stderr)")
            let (kept, withMessages) = try Self.hours(db)
            #expect(withMessages.count == 2 && kept == withMessages, "\(kept) of \(withMessages)")
        }
    }
}
