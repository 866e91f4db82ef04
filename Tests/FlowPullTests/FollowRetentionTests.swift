import FlowModel
import Foundation
import Testing
import TestSupport

/// `tailflow follow --retention` (issue 16): after each poll the follower prunes what the policy
/// no longer keeps; questions over the pruned time still answer exactly from the rollups kept.
@Suite(.ownThreads, .serialized)
struct FollowRetentionTests {
    @Test func followPrunesToItsRetentionAfterEachPoll() async throws {
        let dir = TempDir()
        try await PullCommandTests.withStandIn { api in
            // The stand-in's data is of 2026-11-01: older than a week whenever this runs.
            let clean = dir.path("clean.db"), kept = dir.path("kept.db")
            let r = try await CLI.run(FollowCommandTests.followArgs(api), db: clean, env: PullCommandTests.keyEnv)
            #expect(r.status == 0, "\(r.stderr)")
            let f = try await CLI.run(FollowCommandTests.followArgs(api, ["--retention", "raw=7d,1m=7d"]), db: kept, env: PullCommandTests.keyEnv)
            #expect(f.status == 0, "\(f.stderr)")
            #expect(try Dump.count(clean, "SELECT coalesce(sum(messages), 0) FROM message_groups") == TestData.shared.messages.count)
            #expect(try Dump.count(kept, "SELECT coalesce(sum(messages), 0) FROM message_groups") == 0)
            #expect(try Dump.count(kept, "SELECT count(*) FROM rollups WHERE step = 60") == 0)
            #expect(try Dump.count(kept, "SELECT count(*) FROM rollups WHERE step = 3600") > 0)
            #expect(try Dump.count(kept, "SELECT count(*) FROM retention WHERE level = 0 AND policy = '1w'") == 1)
            // The same answers, from the hours kept.
            let window = ["--from", FollowCommandTests.since, "--to", FollowCommandTests.until, "--format", "json"]
            for q in [["top"], ["top", "--by", "pair"], ["series", "--step", "1h"]] {
                let a = try await CLI.run(q + window, db: clean), b = try await CLI.run(q + window, db: kept)
                #expect(a.status == 0 && b.status == 0 && a.stdout == b.stdout, "\(q): \(b.stderr)")
            }
            // A policy it cannot read is a usage error.
            let bad = try await CLI.run(FollowCommandTests.followArgs(api, ["--retention", "raw=soon"]), db: kept, env: PullCommandTests.keyEnv)
            #expect(bad.status == 2 && bad.stderr.contains("--retention"), "\(bad.stderr)")
        }
    }
}
