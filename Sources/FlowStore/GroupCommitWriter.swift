public import FlowModel
import Foundation
import GRDB
import GRDBSQLite

/// Input that could not be stored, to be recorded with a submission.
public struct NewReject: Sendable {
    public var source: String
    public var line: Int?
    public var offset: Int64
    public var reason: String
    public var excerpt: String

    public init(source: String, line: Int?, offset: Int64, reason: String, excerpt: String) {
        self.source = source
        self.line = line
        self.offset = offset
        self.reason = reason
        self.excerpt = excerpt
    }
}

/// The store's single writer for concurrent senders: submissions that arrive while a
/// commit runs are written together in the next transaction (group commit).
///
/// ``submit(_:rejects:)`` returns only once its messages are committed — durably:
/// the writer runs with `synchronous = FULL`, so an acknowledged message survives a
/// crash of the process or of the machine. Memory is bounded: when more than
/// `maxPendingRows` flow rows wait for a commit, a submission is refused with
/// ``Failure/overloaded(retryAfter:)`` at once instead of queueing.
///
/// For example:
/// ```swift
/// let writer = try GroupCommitWriter(store: store)
/// let isNew = try await writer.submit(messages)   // one Bool per message: false when already stored
/// writer.shutdown()                               // finishes the commits in flight
/// ```
public final class GroupCommitWriter: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// The writer is behind: try again after this many seconds.
        case overloaded(retryAfter: Int)
        /// The writer was shut down.
        case stopped
        /// The store failed (disk full, I/O error); nothing of the submission was stored.
        case store(String)

        public var description: String {
            switch self {
            case .overloaded(let s): "the writer is behind; retry after \(s) s"
            case .stopped: "the writer is shutting down"
            case .store(let why): "the store failed: \(why)"
            }
        }
    }

    /// Counters for metrics.
    public struct Stats: Sendable {
        public var commits = 0
        public var messages = 0
        public var rows = 0
        public var duplicates = 0
        public var rejects = 0
        public var refused = 0
        public var pendingRows = 0
        public var commitSeconds = 0.0

        public init() {}
    }

    struct Submission {
        var messages: [FlowMessage]
        var rejects: [NewReject]
        var rows: Int
        var continuation: CheckedContinuation<[Bool], any Error>
    }

    let store: FlowStore
    /// Refuse submissions while more than this many rows wait.
    public let maxPendingRows: Int
    /// At most this many rows in one transaction (a single larger submission still goes whole).
    public let maxRowsPerCommit: Int
    private let condition = NSCondition()
    private var pending: [Submission] = []
    private var pendingRows = 0
    private var stopping = false
    private var finished = false
    private var statsValue = Stats()
    private let done = DispatchSemaphore(value: 0)

    /// The write-ahead log is kept under about this size (see ``WriteAheadLog``).
    public let walLimit: Int64

    /// Starts the writing thread; the store's writer connection belongs to it until ``shutdown()``.
    public init(store: FlowStore, maxPendingRows: Int = 1_000_000, maxRowsPerCommit: Int = 250_000,
                walLimit: Int64 = WriteAheadLog.limit) {
        self.store = store
        self.walLimit = walLimit
        self.maxPendingRows = maxPendingRows
        self.maxRowsPerCommit = maxRowsPerCommit
        let thread = Thread { [self] in run() }
        thread.name = "tailflow-writer"
        thread.stackSize = 8 << 20
        thread.start()
    }

    public var stats: Stats {
        condition.lock()
        defer { condition.unlock() }
        var s = statsValue
        s.pendingRows = pendingRows
        return s
    }

    /// Whether more than 80% of `maxPendingRows` wait: what health checks report as unhealthy.
    public var isBehind: Bool { stats.pendingRows > maxPendingRows * 8 / 10 }

    /// Stores messages and rejects; returns, per message, whether it was new (false: already stored).
    ///
    /// - throws: ``Failure``.
    public func submit(_ messages: [FlowMessage], rejects: [NewReject] = []) async throws -> [Bool] {
        let rows = messages.reduce(0) { $0 + $1.rows.count }
        return try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            defer { condition.unlock() }
            if stopping {
                continuation.resume(throwing: Failure.stopped)
                return
            }
            if pendingRows > 0, pendingRows + rows > maxPendingRows {
                statsValue.refused += 1
                continuation.resume(throwing: Failure.overloaded(retryAfter: 1))
                return
            }
            pending.append(Submission(messages: messages, rejects: rejects, rows: rows, continuation: continuation))
            pendingRows += rows
            condition.signal()
        }
    }

    /// Refuses new submissions, commits those already accepted, and releases the writer.
    public func shutdown() {
        condition.lock()
        let wasStopping = stopping
        stopping = true
        condition.signal()
        condition.unlock()
        if !wasStopping { done.wait() }
    }

    // MARK: The writing thread

    private func run() {
        defer { done.signal() }
        let checkpointer = Checkpointer(path: store.path)
        defer { checkpointer.stop() }
        do {
            try store.withWriter { writer in
                try writer.exec("PRAGMA synchronous = FULL")
                // The checkpointer copies the log into the database on the other core; the
                // writer checkpoints itself only if the log reaches 256 MiB all the same.
                try writer.exec("PRAGMA wal_autocheckpoint = 32768")
                // A log that SQLite restarts is cut back to the bound, not left at its largest size.
                try writer.exec("PRAGMA journal_size_limit = \(walLimit)")
                while let group = take() {
                    commit(group, writer)
                    WriteAheadLog.bound(path: store.path, limit: walLimit, exec: writer.exec)
                }
            }
        } catch {
            fail(all: Failure.store("\(error)"))
        }
    }

    /// Waits for work; returns the submissions of the next transaction, or nil when stopped and drained.
    private func take() -> [Submission]? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !stopping { condition.wait() }
        if pending.isEmpty { return nil }
        var rows = 0
        var n = 0
        while n < pending.count, n == 0 || rows + pending[n].rows <= maxRowsPerCommit {
            rows += pending[n].rows
            n += 1
        }
        let group = Array(pending[0..<n])
        pending.removeFirst(n)
        return group
    }

    private func commit(_ group: [Submission], _ writer: FlowWriter) {
        let started = ContinuousClock.now
        let rows = group.reduce(0) { $0 + $1.rows }
        var results: [[Bool]] = []
        results.reserveCapacity(group.count)
        let before = writer.stats
        do {
            try writer.begin()
            for s in group {
                var flags: [Bool] = []
                flags.reserveCapacity(s.messages.count)
                for m in s.messages { flags.append(try writer.add(m)) }
                for r in s.rejects {
                    try writer.addReject(source: r.source, line: r.line, offset: r.offset, reason: r.reason, excerpt: r.excerpt)
                }
                results.append(flags)
            }
            try writer.commit()
        } catch {
            writer.rollback()
            condition.lock()
            pendingRows -= rows
            condition.unlock()
            for s in group { s.continuation.resume(throwing: Failure.store("\(error)")) }
            return
        }
        let after = writer.stats
        condition.lock()
        pendingRows -= rows
        statsValue.commits += 1
        statsValue.messages += after.messages - before.messages
        statsValue.rows += after.rows - before.rows
        statsValue.duplicates += after.duplicates - before.duplicates
        statsValue.rejects += after.rejects - before.rejects
        let elapsed = ContinuousClock.now - started
        statsValue.commitSeconds += elapsed.seconds
        condition.unlock()
        for (s, flags) in zip(group, results) { s.continuation.resume(returning: flags) }
    }

    /// Copies committed pages from the write-ahead log into the database file, twice a
    /// second, from its own connection and thread, so that the writer's commits do not pay for it.
    final class Checkpointer: @unchecked Sendable {
        private let condition = NSCondition()
        private var stopped = false
        private let finished = DispatchSemaphore(value: 0)

        init(path: String) {
            let thread = Thread { [self] in
                defer { finished.signal() }
                var config = Configuration()
                config.busyMode = .timeout(1)
                guard let queue = try? DatabaseQueue(path: path, configuration: config) else { return }
                while true {
                    condition.lock()
                    if !stopped { _ = condition.wait(until: Date().addingTimeInterval(0.5)) }
                    let stop = stopped
                    condition.unlock()
                    if stop { return }
                    try? queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(PASSIVE)") }
                }
            }
            thread.name = "tailflow-checkpointer"
            thread.start()
        }

        func stop() {
            condition.lock()
            stopped = true
            condition.signal()
            condition.unlock()
            finished.wait()
        }
    }

    private func fail(all error: Failure) {
        condition.lock()
        let waiting = pending
        pending.removeAll()
        pendingRows = 0
        stopping = true
        condition.unlock()
        for s in waiting { s.continuation.resume(throwing: error) }
    }
}
