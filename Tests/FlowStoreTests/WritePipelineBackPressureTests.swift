import Foundation
import FlowModel
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// `enqueue` holds at most ``WritePolicy/maxPendingRows`` rows in messages for the writer: those
/// queued and those the writer took and has not added yet. The writer takes up to a commit's
/// worth at once, so counting the queue alone let 1.5–2 times the bound be held while it was
/// behind (review of session 13's ingest changes).
@Suite(.ownThreads)
struct WritePipelineBackPressureTests {
    @Test func whatTheWriterTookCountsAgainstTheBound() async throws {
        let dir = TempDir()
        let path = dir.path("bp.db")
        let store = try FlowStore(path: path)
        var policy = WritePolicy.ingest
        policy.maxPendingRows = 4_000
        let pipeline = WritePipeline(store: store, policy: policy)
        var largest = 0
        // Messages are made much faster than stored: the writer stays behind all along.
        for i in 0..<150 {
            let batch = (0..<10).map { k in Make.message(node: k, at: Int64((i * 10 + k) * 5), rows: 40) }
            try pipeline.enqueue(batch)
            largest = max(largest, pipeline.backlogRows)
        }
        let stats = try pipeline.finish()
        #expect(stats.rows == 150 * 10 * 40)
        #expect(largest <= policy.maxPendingRows, "the writer held \(largest) rows at once")
        // The writer was behind: the bound was reached (else the test shows nothing).
        #expect(largest > policy.maxPendingRows / 2, "the writer held only \(largest) rows at once")
    }

    /// `waitWhileBehind` (where a chunked file's second decoding thread waits) returns when woken,
    /// by `wakeWaiters()` and by the writer adding, not at its timeout: a broken wake-up would
    /// only show as a slower ingest, never as a wrong answer.
    @Test func aThreadWaitingWhileTheWriterIsBehindIsWoken() async throws {
        let dir = TempDir()
        let path = dir.path("wake.db")
        let store = try FlowStore(path: path)
        // Another connection holds the write lock: the writer takes the batch and waits to begin.
        var held = Configuration()
        held.allowsUnsafeTransactions = true
        let holder = try DatabaseQueue(path: path, configuration: held)
        try holder.inDatabase { try $0.execute(sql: "BEGIN IMMEDIATE") }
        let pipeline = WritePipeline(store: store, policy: .ingest)
        try pipeline.enqueue((0..<10).map { Make.message(node: $0, at: Int64($0 * 5), rows: 40) })
        #expect(pipeline.backlogRows == 400)

        // On threads of their own, not tasks: under a loaded test run a task may wait minutes for
        // a thread, past the writer's 60 s wait for the lock (which also wakes the waiter).
        final class Result: @unchecked Sendable { var value: (behind: Bool, waited: Duration)? }
        @Sendable func waitWhile(_ act: @escaping @Sendable () -> Void) -> (behind: Bool, waited: Duration) {
            let result = Result(), done = DispatchSemaphore(value: 0)
            Thread {
                let start = ContinuousClock.now
                let behind = pipeline.waitWhileBehind(by: 0, timeout: .seconds(600))
                result.value = (behind, ContinuousClock.now - start)
                done.signal()
            }.start()
            Thread.sleep(forTimeInterval: 1)
            act()
            done.wait()
            return result.value!
        }
        let (woken, added) = await withCheckedContinuation { k in
            Thread {
                // Woken by wakeWaiters while still behind: it says so.
                let woken = waitWhile { pipeline.wakeWaiters() }
                // Woken by the writer's adding once the lock is gone: no longer behind.
                let added = waitWhile { try? holder.inDatabase { try $0.execute(sql: "ROLLBACK") } }
                k.resume(returning: (woken, added))
            }.start()
        }
        #expect(woken.behind && woken.waited < .seconds(300), "\(woken)")
        #expect(!added.behind && added.waited < .seconds(300), "\(added)")
        #expect(try pipeline.finish().rows == 400)
    }
}
