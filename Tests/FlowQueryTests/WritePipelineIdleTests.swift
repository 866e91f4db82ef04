import Foundation
import FlowIngest
import FlowModel
import FlowStore
import MemoryStore
import Testing
import TestSupport

/// The server's write pipeline between submissions, on a store other than SQLite.
@Suite(.ownThreads)
struct WritePipelineIdleTests {
    /// The server policy folds the longer rollup levels when idle, which only the SQLite writer
    /// does. On any other writer (ClickHouse's in production, the in-memory one here) the fold
    /// never came due and never moved on: once the idle period had passed, the writing thread woke
    /// without waiting, a core busy for as long as the server received nothing. It must sleep.
    @Test func anIdleWriterOnAnotherStoreWaits() async throws {
        let body = try DecodedBody(bytes: Array("""
            {"nodeId":"n1","logged":"2026-11-01T10:00:05Z","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z",\
            "virtualTraffic":[{"proto":6,"src":"100.64.0.1:40000","dst":"100.64.0.2:443","txPkts":1,"txBytes":100}]}

            """.utf8), source: "one.jsonl")
        #expect(body.messages.count == 1)
        var policy = WritePolicy.server
        policy.idleFoldAfter = .milliseconds(10)
        let pipeline = WritePipeline(store: MemoryStore(), policy: policy)
        _ = try await pipeline.submit(body.messages)
        // Fifty idle periods: a waiting writer wakes a handful of times (its commit deadline, if
        // any), one that spins hundreds of thousands.
        try await Task.sleep(for: .milliseconds(500))
        let stats = try pipeline.finish()
        #expect(stats.messages == 1)
        #expect(stats.emptyWakeups < 20, "\(stats.emptyWakeups) wake-ups with nothing to do in half a second")
    }
}
