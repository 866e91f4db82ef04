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
}
