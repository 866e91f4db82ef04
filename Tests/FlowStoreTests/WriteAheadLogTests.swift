import Foundation
import FlowModel
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// The write-ahead log stays bounded under continuous load (issue 14, item 7): it grew to
/// 270 MB beside a 13 MB database under HEC load, because a passive checkpoint never caught
/// up with a writer that never paused.
@Suite(.ownThreads)
struct WriteAheadLogTests {
    static func walSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    @Test func aLongStreamOfCommitsKeepsTheLogUnderItsBound() async throws {
        let dir = TempDir()
        let path = dir.path("wal.db")
        let limit: Int64 = 2 << 20
        let store = try FlowStore(path: path, walLimit: limit)
        let writer = WritePipeline(store: store, policy: .server)
        // A reader asking questions all along, as the CLI or the query API does beside a server.
        let largest = try await Self.stream(into: writer, logOf: path, readers: [{ sendersDone in
            while !sendersDone() {
                _ = try await store.pool.read { try Int.fetchOne($0, sql: "SELECT coalesce(sum(messages), 0) FROM message_groups") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }])
        try writer.finish()
        let stored = try await store.pool.read { try Int.fetchOne($0, sql: "SELECT coalesce(sum(messages), 0) FROM message_groups") }
        #expect(stored == Self.senders * Self.perSender * 20)
        // The bound, plus what arrives between two checks of the checkpointer.
        #expect(largest <= limit + (8 << 20), "the log reached \(largest) bytes")
    }

    /// Four senders that never pause, as HEC clients under load (tens of MB of log in all), each
    /// submitting batches of 20 messages of 40 rows.
    static let senders = 4
    static let perSender = 80

    /// Runs the senders through `writer` with `readers` beside them (each told whether every
    /// sender is done, and running until then); returns the largest size of the log at `path`
    /// seen after a submission.
    static func stream(into writer: WritePipeline, logOf path: String,
                       readers: [@Sendable (_ sendersDone: @Sendable () -> Bool) async throws -> Void]) async throws -> Int64 {
        let largest = LargestSeen()
        let sending = LargestSeen()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for reader in readers { group.addTask { try await reader { sending.value != 0 } } }
            for s in 0..<senders {
                group.addTask {
                    for i in 0..<perSender {
                        let batch = (0..<20).map { k in Make.message(node: s * 10 + k % 10, at: Int64((i * 20 + k) * 5), rows: 40) }
                        _ = try await writer.submit(batch)
                        largest.see(walSize(path))
                    }
                }
            }
            for _ in 0..<senders { try await group.next() }
            sending.see(1)
            try await group.waitForAll()
        }
        return largest.value
    }
}

extension WriteAheadLogTests {
    /// Questions that overlap one another (a dashboard's, 300 ms each) hold an older snapshot at
    /// every commit, so the log never starts again from its beginning; past twice its bound the
    /// writer truncates it, waiting for those readers (review of dbfbb24: with passive checkpoints
    /// alone it grew without end).
    @Test func overlappingLongQuestionsDoNotLetTheLogGrowWithoutEnd() async throws {
        let dir = TempDir()
        let path = dir.path("wal-readers.db")
        let limit: Int64 = 2 << 20
        let store = try FlowStore(path: path, walLimit: limit)
        let writer = WritePipeline(store: store, policy: .server)
        // Two readers, 150 ms apart, each holding its snapshot for 300 ms and starting again.
        let largest = try await Self.stream(into: writer, logOf: path, readers: (0..<2).map { r in { sendersDone in
            try await Task.sleep(for: .milliseconds(150 * r))
            while !sendersDone() {
                try await store.pool.read { db in
                    _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM message_groups")
                    Thread.sleep(forTimeInterval: 0.3)
                }
            }
        } })
        let stats = try writer.finish()
        let stored = try await store.pool.read { try Int.fetchOne($0, sql: "SELECT coalesce(sum(messages), 0) FROM message_groups") }
        #expect(stored == Self.senders * Self.perSender * 20)
        // Passive checkpoints alone let this run's log reach about 57 MB. With the truncating
        // fallback it stays near twice the bound; a truncation that meets a reader slowed past its
        // half second (a loaded machine: a full test run on two cores) leaves one more commit's
        // frames for the next try, hence the margin, still half of what the bug grows to.
        #expect(largest <= 2 * limit + (24 << 20), "the log reached \(largest) bytes; \(stats.walBoundFailures) truncations failed")
    }
}

final class LargestSeen: @unchecked Sendable {
    private let lock = NSLock()
    private var largest: Int64 = 0
    func see(_ v: Int64) { lock.lock(); largest = max(largest, v); lock.unlock() }
    var value: Int64 { lock.lock(); defer { lock.unlock() }; return largest }
}
