import FlowModel
import Foundation
import Testing
import TestSupport

/// `tailflow follow`: checkpoints, restarts after SIGKILL, SIGTERM, network errors.
@Suite(.ownThreads, .serialized)
struct FollowCommandTests {
    static let since = "2026-11-01T00:00:00Z"
    static let until = "2026-11-01T02:00:00Z"
    static let minute: Nanoseconds = 60_000_000_000

    static func followArgs(_ api: StandInAPI, _ extra: [String] = []) -> [String] {
        ["follow", "--tailnet", StandInAPI.tailnet, "--api-url", api.url, "--since", since, "--until", until,
         "--chunk", "5m", "--concurrency", "2", "--poll", "100ms", "--overlap", "10m", "--lag", "0s", "--format", "json"] + extra
    }

    /// Waits until the store's checkpoint passes `after`, the process ends, or 60 s pass.
    static func waitForCheckpoint(_ db: String, after: Nanoseconds, while p: CLI.Running) async throws -> Nanoseconds? {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, p.isRunning {
            if let c = Dump.checkpoint(db), c > after { return c }
            try await Task.sleep(for: .milliseconds(10))
        }
        return Dump.checkpoint(db)
    }

    @Test func aFollowThatRejectedSomethingExitsThree() async throws {
        let dir = TempDir()
        try await PullCommandTests.withStandIn(TestData.shared.withReject()) { api in
            let db = dir.path("t.db")
            let r = try await CLI.run(Self.followArgs(api, ["--devices-every", "0"]), db: db, env: PullCommandTests.keyEnv)
            #expect(r.status == 3, "\(r.stderr)")
            #expect(r.stdout.contains(#""checkpoint":"2026-11-01T02:00:00Z""#), "\(r.stdout)")
            #expect(try Dump.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") == TestData.shared.messages.count)
        }
    }

    @Test func followKilledAndRestartedEndsWithExactlyTheDataOfAnUninterruptedRun() async throws {
        let dir = TempDir()
        let expected = try await PullCommandTests.reference(dir)
        try await PullCommandTests.withStandIn { api in
            let clean = dir.path("clean.db")
            let r = try await CLI.run(Self.followArgs(api), db: clean, env: PullCommandTests.keyEnv)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains(#""checkpoint":"2026-11-01T02:00:00Z""#), "\(r.stdout)")
            #expect(try Dump.of(clean) == expected)
            PullCommandTests.expectNoSecrets(r)

            // The answers from 01:05 on are held, so that the follow is killed half way for certain
            // (slow answers instead let a starved test see the whole follow end first).
            let start = Timestamp.parseRFC3339(Self.since)!
            api.holdAnswers(from: start + 65 * Self.minute)
            let killed = dir.path("killed.db")
            let p = try CLI.start(Self.followArgs(api), db: killed, env: PullCommandTests.keyEnv)
            let reached = try await Self.waitForCheckpoint(killed, after: start + 30 * Self.minute, while: p)
            try #require(p.isRunning, "follow finished before it could be killed")
            p.signal(SIGKILL)
            let dead = await p.result()
            #expect(dead.signalled)
            let checkpoint = try #require(Dump.checkpoint(killed))
            #expect(checkpoint >= reached ?? 0 && checkpoint < Timestamp.parseRFC3339(Self.until)!)
            // Everything before the checkpoint is committed.
            let committed = try Dump.messageCount(killed, to: checkpoint)
            #expect(committed == TestData.shared.messages.filter { $0.start < checkpoint }.count)

            api.holdAnswers(from: nil)
            let logBefore = api.log.count
            let again = try await CLI.run(Self.followArgs(api), db: killed, env: PullCommandTests.keyEnv)
            #expect(again.status == 0, "\(again.stderr)")
            // The restart resumed at checkpoint − overlap, not at --since.
            let starts = api.log.dropFirst(logBefore).filter { $0.contains("/logging/network") }.compactMap { line -> Nanoseconds? in
                guard let r = line.range(of: "start=") else { return nil }
                return Timestamp.parseRFC3339(String(line[r.upperBound...].prefix { $0 != "&" }))
            }
            #expect(starts.min() == checkpoint - 10 * Self.minute, "\(api.log.dropFirst(logBefore))")
            #expect(try Dump.of(killed) == Dump.of(clean))
        }
    }

    /// Messages that reach the API after their window was first fetched are picked up by the next run's overlap.
    @Test func theOverlapPicksUpLateMessages() async throws {
        let dir = TempDir()
        let expected = try await PullCommandTests.reference(dir)
        try await PullCommandTests.withStandIn { api in
            let start = Timestamp.parseRFC3339(Self.since)!
            let late = (start + 52 * Self.minute)..<(start + 60 * Self.minute)
            api.hide(late)
            let db = dir.path("t.db")
            var args = Self.followArgs(api)
            args[args.firstIndex(of: "--until")! + 1] = "2026-11-01T01:00:00Z"
            #expect(try await CLI.run(args, db: db, env: PullCommandTests.keyEnv).status == 0)
            let missing = TestData.shared.messages.filter { late.contains($0.start) }.count
            #expect(missing > 0)
            #expect(try Dump.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") == TestData.shared.messages.filter { $0.start < start + 60 * Self.minute }.count - missing)

            api.hide(nil)
            let r = try await CLI.run(Self.followArgs(api), db: db, env: PullCommandTests.keyEnv)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try Dump.of(db) == expected)
        }
    }

    @Test func sigtermStopsAfterTheCurrentCommit() async throws {
        let dir = TempDir()
        try await PullCommandTests.withStandIn { api in
            api.delayAnswers(.milliseconds(200))
            let db = dir.path("t.db")
            var args = Self.followArgs(api, ["--concurrency", "1"])
            args.removeSubrange(args.firstIndex(of: "--until")!...args.firstIndex(of: "--until")! + 1)  // follow forever
            let p = try CLI.start(args, db: db, env: PullCommandTests.keyEnv)
            let start = Timestamp.parseRFC3339(Self.since)!
            _ = try await Self.waitForCheckpoint(db, after: start + 10 * Self.minute, while: p)
            try #require(p.isRunning)
            p.signal(SIGTERM)
            let r = await p.result()
            #expect(r.status == 0 && !r.signalled, "\(r.stderr)")
            let checkpoint = try #require(Dump.checkpoint(db))
            #expect(r.stdout.contains(#""checkpoint":"\#(Timestamp.formatRFC3339(checkpoint))""#), "\(r.stdout)")
            let committed = try Dump.messageCount(db, to: checkpoint)
            #expect(committed == TestData.shared.messages.filter { $0.start < checkpoint }.count)
        }
    }

    @Test func followSurvivesAnOutageAndCatchesUp() async throws {
        let dir = TempDir()
        let expected = try await PullCommandTests.reference(dir)
        try await PullCommandTests.withStandIn { api in
            api.always(.status(503, retryAfter: nil))
            let db = dir.path("t.db")
            let p = try CLI.start(Self.followArgs(api, ["--retries", "1", "--backoff", "10ms", "--devices-every", "1h"]),
                                  db: db, env: PullCommandTests.keyEnv)
            // Let a few polls fail, then end the outage.
            let deadline = ContinuousClock.now + .seconds(60)
            while api.requests(" 503") < 6, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(p.isRunning)
            api.always(nil)
            let r = await p.result()
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stderr.contains("poll failed, trying again"), "\(r.stderr)")
            let summary = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
            #expect((summary["failedPolls"] as? Int ?? 0) >= 1, "\(r.stdout)")
            // The device list is synced once the outage ends, too.
            #expect(try Dump.of(db) == expected)
        }
    }

    @Test func eachLogHasItsOwnCheckpointAndAForbiddenOneIsLeftOut() async throws {
        let dir = TempDir()
        try await PullCommandTests.withStandIn { api in
            let db = dir.path("both.db")
            let r = try await CLI.run(Self.followArgs(api, ["--devices-every", "0"]), db: db, env: PullCommandTests.keyEnv)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains(#""checkpoint":"2026-11-01T02:00:00Z""#) && r.stdout.contains(#""configurationCheckpoint":"2026-11-01T02:00:00Z""#), "\(r.stdout)")
            #expect(try Dump.count(db, "SELECT count(*) FROM changes") == TestData.shared.changes.count)
            #expect(try Dump.count(db, "SELECT count(*) FROM log_checkpoints WHERE log_type = 'configuration'") == 1)

            // A second follow from the checkpoints fetches only the overlap, and stores nothing twice.
            let before = api.requests("/logging/configuration")
            let again = try await CLI.run(Self.followArgs(api, ["--devices-every", "0"]), db: db, env: PullCommandTests.keyEnv)
            #expect(again.status == 0 && again.stdout.contains(#""storedChanges":0"#), "\(again.stdout)")
            #expect(api.requests("/logging/configuration") - before <= 3)

            api.forbidConfiguration()
            let network = dir.path("network.db")
            let f = try await CLI.run(Self.followArgs(api, ["--devices-every", "0"]), db: network, env: PullCommandTests.keyEnv)
            #expect(f.status == 0, "\(f.stderr)")
            #expect(f.stderr.contains("configuration log was not followed") && f.stderr.contains("logs:configuration:read"), "\(f.stderr)")
            #expect(f.stdout.contains(#""checkpoint":"2026-11-01T02:00:00Z""#) && f.stdout.contains(#""configurationCheckpoint":null"#), "\(f.stdout)")
            #expect(try Dump.count(network, "SELECT coalesce(sum(messages), 0) FROM message_groups") == TestData.shared.messages.count)
            PullCommandTests.expectNoSecrets(f)
        }
    }
}
