import FlowStore
import Foundation
import Testing
import TestSupport

/// A long ingest under observation: readers, and SIGKILL.
@Suite(.ownThreads, .serialized)
struct CrashSafetyTests {
    static let messages = 40_000

    static func bigInput(_ dir: TempDir) throws -> String {
        let path = dir.path("big.jsonl")
        try Synthetic.jsonl(count: messages).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func readersSeeConsistentDataDuringALongIngest() throws {
        let dir = TempDir()
        let input = try Self.bigInput(dir)
        let db = dir.path("t.db")
        _ = try FlowStore(path: db)  // Creates the store (questions such as `nodes` no longer do).
        let p = CLI.start(["ingest", "--commit-rows", "5000", input], db: db)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        var snapshots: Set<Int> = []
        while p.isRunning {
            let t = try Dump.totals(db)
            // Every committed batch carries its rollups: rows and each rollup step agree.
            for step in t.steps { #expect(step == t.raw, "at \(t.messages) messages") }
            snapshots.insert(t.messages)
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(p.terminationStatus == 0)
        let final = try Dump.totals(db)
        #expect(final.messages == Self.messages)
        #expect(snapshots.contains { $0 > 0 && $0 < Self.messages }, "no intermediate commit was observed: \(snapshots.sorted())")
    }

    @Test func sigkillMidIngestThenRerunEqualsACleanRun() async throws {
        let dir = TempDir()
        let input = try Self.bigInput(dir)
        let clean = dir.path("clean.db")
        #expect(try await CLI.run(["ingest", input], db: clean).status == 0)

        let killed = dir.path("killed.db")
        let p = CLI.start(["ingest", "--commit-rows", "5000", input], db: killed)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Watched, and killed the moment a commit is seen, on a thread of its own: a wait on the
        // tests' two-thread pool could wake only after the ingest had ended (CI, 2026-11-30).
        let ingest = p
        let committed = try await offThePool { () -> Int in
            let deadline = Date().addingTimeInterval(120)
            while ingest.isRunning, Date() < deadline {
                if FileManager.default.fileExists(atPath: killed), let t = try? Dump.totals(killed), t.messages > 0 {
                    kill(ingest.processIdentifier, SIGKILL)
                    ingest.waitUntilExit()
                    return t.messages
                }
                Thread.sleep(forTimeInterval: 0.005)
            }
            return 0
        }
        try #require(committed > 0, "ingest finished before it could be killed")
        #expect(p.terminationReason == .uncaughtSignal)

        // The store opens, is intact, and holds whole batches only.
        let after = try Dump.totals(killed)
        #expect(after.messages >= committed && after.messages < Self.messages)
        for step in after.steps { #expect(step == after.raw) }
        let check = try await CLI.run(["nodes", "--format", "json"], db: killed)
        #expect(check.status == 0)

        let rerun = try await CLI.run(["ingest", "--format", "json", input], db: killed)
        #expect(rerun.status == 0)
        #expect(rerun.stdout.contains(#""duplicates":\#(after.messages)"#), "\(rerun.stdout)")
        #expect(try Dump.of(killed) == Dump.of(clean))
    }
}
