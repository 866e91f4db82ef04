public import FlowModel
import Foundation

/// How the write pipeline batches and commits: one object for `ingest`, `pull`,
/// `follow` and the server.
///
/// For example:
/// ```swift
/// var policy = WritePolicy.ingest
/// policy.rowsPerCommit = 100_000
/// let pipeline = WritePipeline(store: store, policy: policy)
/// ```
public struct WritePolicy: Sendable, Equatable {
    /// Commit once a batch holds this many flow rows (a single larger submission still goes whole).
    public var rowsPerCommit: Int
    /// Commit at least this often (seconds), so that readers see a long ingest advance.
    public var secondsPerCommit: Double
    /// What a commit survives.
    public var durability: Durability
    /// Back-pressure: at most this many rows wait for the writer. Beyond it,
    /// ``WritePipeline/enqueue(_:rejects:)`` blocks until the writer catches up and
    /// ``WritePipeline/submit(_:rejects:)`` is refused with
    /// ``WritePipeline/Failure/overloaded(retryAfter:)`` at once.
    public var maxPendingRows: Int
    /// Background retention (`serve`, `follow`): between batches the writer prunes what this
    /// policy no longer keeps, one short transaction at a time, checking every ``pruneInterval``.
    public var retention: RetentionPolicy?
    public var pruneInterval: Duration = .seconds(60)
    /// The server's: the levels of a day and more are not written at every commit but folded in
    /// from the hour level once the data has left an hour by this much (ns; see `FlowWriter+Fold`).
    /// nil: every commit writes every level.
    public var longLevelsLag: Nanoseconds?
    /// With ``longLevelsLag``: once the writer has received nothing for this long, it folds in the
    /// hour that holds the newest data as soon as the clock has left that hour by the lag
    /// (`FlowWriter.foldIdle()`), so that data that stops does not leave the longer levels behind.
    public var idleFoldAfter: Duration = .seconds(600)
    /// The server's: between batches the SQLite writer fills `coverage_hours` (schema/011) for
    /// the hours that ended more than ten minutes ago, 50 ms at a time, looking for such hours
    /// this often. nil: the writer leaves it to `ingest` and `pull` (which fill after they commit).
    public var summarizeCoverageEvery: Duration?
    /// Whether the SQLite writer builds `coverage_hours` for the hours this run fills while it
    /// stores their messages, writing each at the first commit of a batch that did not add to it
    /// and the rest at the last commit (`ingest`, `pull`: the refresh after the input then has
    /// only the hours that held messages before, or were met again after being written).
    public var buildsCoverage = false

    public init(rowsPerCommit: Int, secondsPerCommit: Double, durability: Durability, maxPendingRows: Int) {
        self.rowsPerCommit = rowsPerCommit
        self.secondsPerCommit = secondsPerCommit
        self.durability = durability
        self.maxPendingRows = maxPendingRows
    }

    /// Files, standard input, pulls: large transactions, `synchronous = NORMAL`
    /// (an interrupted run is completed by running it again: ingest is idempotent).
    public static let ingest: WritePolicy = {
        var policy = WritePolicy(rowsPerCommit: 500_000, secondsPerCommit: 2, durability: .normal, maxPendingRows: 250_000)
        policy.buildsCoverage = true
        return policy
    }()

    /// The receivers of `tailflow serve`: every submission is committed before it is
    /// acknowledged, durably; concurrent senders share a commit (group commit).
    /// Its commits write the levels of a day and more once per hour of data, ten minutes after it.
    public static let server: WritePolicy = {
        var policy = WritePolicy(rowsPerCommit: 250_000, secondsPerCommit: 2, durability: .full, maxPendingRows: 1_000_000)
        policy.longLevelsLag = 10 * 60 * Timestamp.nanosPerSecond
        policy.summarizeCoverageEvery = .seconds(300)
        return policy
    }()
}

/// The one way data enters a store: submissions queue, one writer thread stores
/// them in batches and commits as the ``WritePolicy`` says.
///
/// Two ways in, one pipeline:
/// - ``enqueue(_:rejects:)`` hands work over and returns (blocking only while the
///   writer is ``WritePolicy/maxPendingRows`` behind): decoding and writing run on
///   both cores; ``finish()`` commits the rest. `ingest`, `pull` and `follow` use it
///   through ``Ingester``.
/// - ``submit(_:rejects:)`` returns once its messages are committed: the server
///   acknowledges a request only then. Submissions that arrive while a commit runs
///   are written together in the next transaction (group commit).
///
/// For example:
/// ```swift
/// let pipeline = WritePipeline(store: store, policy: .server)
/// let isNew = try await pipeline.submit(messages)   // one Bool per message: false when already stored
/// let totals = try pipeline.finish()                // commits what was accepted, stops the writer
/// ```
package final class WritePipeline: @unchecked Sendable {
    package enum Failure: Error, CustomStringConvertible, Sendable {
        /// The writer is behind: try again after this many seconds.
        case overloaded(retryAfter: Int)
        /// The pipeline was finished.
        case stopped
        /// The store failed (I/O error); nothing of the submission was stored.
        case store(String)
        /// The disk is full: nothing of the submission was stored; writing resumes once space returns.
        case diskFull(String)
        /// Another process held the store's write lock past ``FlowStore/lockWait``: nothing of
        /// the submission was stored; writing resumes once the lock is free.
        case locked(String)

        package var description: String {
            switch self {
            case .overloaded(let s): "the writer is behind; retry after \(s) s"
            case .stopped: "the writer is shutting down"
            case .store(let why): "the store failed: \(why)"
            case .diskFull(let why): "the disk is full: \(why)"
            case .locked(let why): "the store is locked: \(why)"
            }
        }
    }

    /// Counters, for metrics and summaries.
    package struct Stats: Sendable, Equatable {
        package var commits = 0
        /// Messages stored for the first time, and their rows.
        package var messages = 0
        package var rows = 0
        /// Messages already stored: skipped.
        package var duplicates = 0
        /// Configuration audit log records stored for the first time, and those already stored.
        package var changes = 0
        package var duplicateChanges = 0
        package var rejects = 0
        /// Submissions refused because the writer was behind.
        package var refused = 0
        /// Rows waiting for the writer now.
        package var pendingRows = 0
        package var commitSeconds = 0.0
        /// Background prune transactions that failed (retried at the next interval).
        package var pruneFailures = 0
        /// Truncations of the write-ahead log past twice its bound that failed (readers held it), and
        /// folds of the longer levels after commits that failed (each retried after the next commit).
        package var walBoundFailures = 0
        package var foldFailures = 0
        /// Times the writer woke with nothing to take (a commit, prune or fold falling due): a few a
        /// minute at most; a writer that wakes without waiting would count thousands a second.
        package var emptyWakeups = 0

        package init() {}
    }

    struct Submission {
        var messages: [FlowMessage]
        /// The messages' identities, worked out on the submitter's thread (the writer's is the
        /// busier one); empty when the store works them out itself.
        var digests: [Int64]
        var rejects: [Reject]
        var changes: [ConfigChange] = []
        var rows: Int
        /// Resumed after the commit that holds the submission (nil: nobody waits), with
        /// whether each message, then each change, was new.
        var continuation: CheckedContinuation<[Bool], any Error>?
        /// Whether the submitter's thread frees it once stored (``spent``): one that waits for the
        /// commit, or that enqueued it saying it has the time (``enqueue(_:digests:rejects:changes:freedHere:)``).
        var freedBySubmitter = false
        /// When it was queued (``Trace/now()``), for `TAILFLOW_TRACE`.
        var queuedAt: Int64 = Trace.isOn ? Trace.now() : 0
    }

    package let store: any FlowStorage
    package let policy: WritePolicy
    private let condition = NSCondition()
    private var pending: [Submission] = []
    /// Submissions the writer has stored whose submitters waited for them (`serve`): released by
    /// the next submitter, so that freeing their messages costs the submitter's thread, not the
    /// writer's (the busier one there). Enqueued work is freed by the writer (`ingest`: its
    /// decoding thread is the busier one).
    private var spent: [Submission] = []
    /// Rows queued for the writer.
    private var pendingRows = 0
    /// Rows the writer took whose submitters wait for the commit.
    private var committingRows = 0
    /// Rows the writer took and has not added yet (it takes up to a commit's worth at once).
    private var takenRows = 0
    /// Threads waiting for the writer to add what it took (``enqueue(_:digests:rejects:changes:freedHere:)``,
    /// ``waitWhileBehind(by:timeout:)``): the writer wakes them after each submission it adds, only
    /// when there are any (a few hundred wake-ups for a day's file).
    private var waiters = 0
    private var stopping = false
    /// The store's failure: every later submission fails with it.
    private var failure: (any Error)?
    private var statsValue = Stats()
    private let done = DispatchSemaphore(value: 0)
    private var finished = false

    /// Starts the writing thread; the store's writer belongs to it until ``finish()``.
    ///
    /// - parameter store: The store to write.
    /// - parameter policy: Batch size, commit interval, durability and back-pressure.
    package init(store: any FlowStorage, policy: WritePolicy) {
        self.store = store
        self.policy = policy
        let thread = Thread { [self] in run() }
        thread.name = "tailflow-writer"
        thread.stackSize = 8 << 20
        thread.start()
    }

    package var stats: Stats {
        condition.lock()
        defer { condition.unlock() }
        var s = statsValue
        s.pendingRows = pendingRows + committingRows
        return s
    }

    /// Rows queued or taken by the writer and not yet added to its batch: how far behind the writer is
    /// (a chunked file's second decoding thread waits while it is far behind, see `Ingester`).
    package var backlogRows: Int {
        condition.lock()
        defer { condition.unlock() }
        return pendingRows + takenRows
    }

    /// Waits, at most `timeout`, while ``backlogRows`` is more than `rows`, and returns whether it
    /// still is. The writer wakes the waiter each time it adds a submission, and so does
    /// ``wakeWaiters()``: the caller looks again whether it should wait on (a chunked file's second
    /// decoding thread waits here on two cores, see `Ingester`).
    package func waitWhileBehind(by rows: Int, timeout: Duration) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard pendingRows + takenRows > rows, !stopping else { return false }
        waiters += 1
        _ = condition.wait(until: Date().addingTimeInterval(timeout.seconds))
        waiters -= 1
        return pendingRows + takenRows > rows && !stopping
    }

    /// Wakes the threads in ``waitWhileBehind(by:timeout:)`` (a decoder that stops).
    package func wakeWaiters() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Whether more than 80% of ``WritePolicy/maxPendingRows`` wait: what health checks report as unhealthy.
    package var isBehind: Bool { stats.pendingRows > policy.maxPendingRows * 8 / 10 }

    /// Stores messages and rejects and returns once they are committed: per message,
    /// whether it was new (false: already stored).
    ///
    /// - parameter messages: Messages to store.
    /// - parameter rejects: Input that could not be stored, recorded in the same transaction.
    /// - throws: ``Failure``: ``Failure/overloaded(retryAfter:)`` at once when the writer is behind.
    package func submit(_ messages: [FlowMessage], rejects: [Reject] = []) async throws -> [Bool] {
        try await submit(messages, rejects: rejects, changes: []).messages
    }

    /// Stores messages, configuration audit log records and rejects and returns once they
    /// are committed: per message and per change, whether it was new (false: already stored).
    ///
    /// - throws: ``Failure``: ``Failure/overloaded(retryAfter:)`` at once when the writer is behind.
    package func submit(_ messages: [FlowMessage], rejects: [Reject] = [],
                       changes: [ConfigChange]) async throws -> (messages: [Bool], changes: [Bool]) {
        // A change weighs as one row in the back-pressure accounting.
        let rows = messages.reduce(0) { $0 + $1.rows.count } + changes.count
        let digests = identities(of: messages)
        releaseSpent()
        let flags: [Bool] = try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            defer { condition.unlock() }
            if let failure {
                continuation.resume(throwing: Failure.store("\(failure)"))
                return
            }
            if stopping {
                continuation.resume(throwing: Failure.stopped)
                return
            }
            let waiting = pendingRows + committingRows
            if waiting > 0, waiting + rows > policy.maxPendingRows {
                statsValue.refused += 1
                continuation.resume(throwing: Failure.overloaded(retryAfter: 1))
                return
            }
            pending.append(Submission(messages: messages, digests: digests, rejects: rejects, changes: changes, rows: rows,
                                      continuation: continuation, freedBySubmitter: true))
            pendingRows += rows
            condition.broadcast()
        }
        return (Array(flags[..<messages.count]), Array(flags[messages.count...]))
    }

    /// Hands messages and rejects to the writer without waiting for their commit;
    /// blocks while ``WritePolicy/maxPendingRows`` rows wait already.
    ///
    /// - throws: the store's error once a commit failed; ``Failure/stopped`` after ``finish()``.
    ///
    /// - parameter digests: The messages' identities when the caller worked them out on another
    ///   thread (the decoding threads of a chunked file); empty: the writer works them out.
    /// - parameter freedHere: Whether the messages, once stored, are freed by a later call from this
    ///   thread rather than by the writer: true when this thread has time to spare (it waits for
    ///   decoding threads), false when it decodes, the busier of the two.
    package func enqueue(_ messages: [FlowMessage], digests: [Int64] = [], rejects: [Reject] = [], changes: [ConfigChange] = [],
                         freedHere: Bool = false) throws {
        precondition(digests.isEmpty || digests.count == messages.count, "one identity per message")
        let rows = messages.reduce(0) { $0 + $1.rows.count } + changes.count
        // No identities worked out here: the thread that enqueues decodes, the busier of the two.
        releaseSpent()
        condition.lock()
        defer { condition.unlock() }
        // What the writer took and has not added counts too: it takes up to a commit's worth at
        // once. This bounds the rows waiting, not the messages alive: the group being added lives
        // until the writer lets go of it, so up to one group more may be held.
        while failure == nil, !stopping, pendingRows + takenRows > 0, pendingRows + takenRows + rows > policy.maxPendingRows {
            waiters += 1
            condition.wait()
            waiters -= 1
        }
        if let failure { throw failure }
        if stopping { throw Failure.stopped }
        pending.append(Submission(messages: messages, digests: digests, rejects: rejects, changes: changes,
                                  rows: rows, continuation: nil, freedBySubmitter: freedHere))
        pendingRows += rows
        condition.broadcast()
    }

    /// Frees what the writer has stored, on the calling thread.
    private func releaseSpent() {
        condition.lock()
        var garbage: [Submission] = []
        swap(&garbage, &spent)
        condition.unlock()
        withExtendedLifetime(garbage) {}
    }

    /// The identities of `messages`, worked out on the submitter's thread.
    private func identities(of messages: [FlowMessage]) -> [Int64] {
        messages.map(\.digest)
    }

    /// Refuses new work, commits what was accepted, stops the writer and returns the totals.
    ///
    /// - throws: the store's error when a commit failed (work enqueued since is not stored).
    @discardableResult
    package func finish() throws -> Stats {
        condition.lock()
        stopping = true
        condition.broadcast()
        let wait = !finished
        finished = true
        condition.unlock()
        if wait { done.wait() }
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        return statsValue
    }

    // MARK: The writing thread

    private func run() {
        defer { done.signal() }
        do {
            try store.write(durability: policy.durability) { writer in
                let sqliteWriter = writer as? FlowWriter
                sqliteWriter?.deferLongLevels = policy.longLevelsLag
                sqliteWriter?.coverageBuilds.on = policy.buildsCoverage
                // The log's upkeep after a commit waits until its submitters are told.
                sqliteWriter?.defersUpkeep = true
                var batchRows = 0
                var batchStarted = ContinuousClock.now
                var waiting: [(CheckedContinuation<[Bool], any Error>, [Bool])] = []
                var waitingRows = 0
                var before = writer.stats
                var tracedAcked: Int64 = 0
                // When an idle fold of the longer levels is due (nil: none pending): some time after
                // the last commit (or the start), later if the hour of the newest data has not ended by then.
                // Only a SQLite writer defers (and so folds): another backend's would never move it.
                let idleFolds = policy.longLevelsLag != nil && sqliteWriter != nil
                var nextIdleFold: ContinuousClock.Instant? = idleFolds ? ContinuousClock.now + policy.idleFoldAfter : nil
                func commit() throws {
                    let t0 = ContinuousClock.now
                    try writer.commit()
                    let after = writer.stats
                    condition.lock()
                    statsValue.commits += 1
                    statsValue.messages += after.messages - before.messages
                    statsValue.rows += after.rows - before.rows
                    statsValue.duplicates += after.duplicates - before.duplicates
                    statsValue.changes += after.changes - before.changes
                    statsValue.duplicateChanges += after.duplicateChanges - before.duplicateChanges
                    statsValue.rejects += after.rejects - before.rejects
                    statsValue.commitSeconds += (ContinuousClock.now - t0).seconds
                    // The upkeep after the previous commit.
                    statsValue.walBoundFailures = sqliteWriter?.walBoundFailures ?? 0
                    statsValue.foldFailures = sqliteWriter?.foldFailures ?? 0
                    committingRows -= waitingRows
                    condition.unlock()
                    before = after
                    if idleFolds { nextIdleFold = ContinuousClock.now + policy.idleFoldAfter }
                    batchRows = 0
                    waitingRows = 0
                    for (c, flags) in waiting { c.resume(returning: flags) }
                    waiting.removeAll()
                    if Trace.isOn { tracedAcked = Trace.now() }
                    sqliteWriter?.upkeepAfterCommit()
                }
                // When the next step of filling the coverage summaries is due (nil: never).
                var nextSummary: ContinuousClock.Instant? = sqliteWriter == nil ? nil
                    : policy.summarizeCoverageEvery.map { ContinuousClock.now + $0 }
                func summarizeIfDue() {
                    guard let sqliteWriter, let every = policy.summarizeCoverageEvery, let due = nextSummary,
                          !writer.isInBatch, ContinuousClock.now >= due else { return }
                    do {
                        let more = try sqliteWriter.summarizeCoverageStep(
                            budget: .milliseconds(50), settledBefore: sqliteWriter.clock() - 600 * Timestamp.nanosPerSecond)
                        nextSummary = more ? ContinuousClock.now : ContinuousClock.now + every
                    } catch {
                        // A cache: a failed step (a full disk) is tried again later; coverage reads messages meanwhile.
                        nextSummary = ContinuousClock.now + every
                    }
                }
                var pruning = false
                var nextPrune = ContinuousClock.now
                func foldIfIdle() {
                    guard let sqliteWriter, let due = nextIdleFold, !writer.isInBatch, ContinuousClock.now >= due else { return }
                    do {
                        if let retry = try sqliteWriter.foldIdle() {
                            let wait = Double(retry - sqliteWriter.clock()) / 1e9
                            nextIdleFold = ContinuousClock.now + .milliseconds(Int64(max(1, min(wait, 86_400)) * 1000))
                        } else {
                            nextIdleFold = nil
                        }
                    } catch {
                        // A failed fold (a full disk) is tried again later; the next commit would fold too.
                        nextIdleFold = ContinuousClock.now + policy.idleFoldAfter
                    }
                }
                /// One prune transaction when due: between batches, so submissions wait at most one.
                func pruneIfDue() {
                    guard let retention = policy.retention, !writer.isInBatch, ContinuousClock.now >= nextPrune else { return }
                    do {
                        pruning = try writer.pruneStep(retention, now: Int64(Date().timeIntervalSince1970 * 1e9), budget: .milliseconds(50))
                    } catch {
                        // A failed prune (a full disk) is retried at the next interval; writing goes on.
                        pruning = false
                        condition.lock()
                        statsValue.pruneFailures += 1
                        condition.unlock()
                    }
                    nextPrune = pruning ? ContinuousClock.now : ContinuousClock.now + policy.pruneInterval
                }
                while true {
                    pruneIfDue()
                    foldIfIdle()
                    summarizeIfDue()
                    var deadline = writer.isInBatch ? batchStarted + .seconds(policy.secondsPerCommit)
                        : policy.retention == nil ? nil : nextPrune
                    if !writer.isInBatch, let fold = nextIdleFold { deadline = min(deadline ?? fold, fold) }
                    if !writer.isInBatch, let summary = nextSummary { deadline = min(deadline ?? summary, summary) }
                    guard var group = take(until: deadline) else { break }
                    let tracedTake = Trace.isOn ? Trace.now() : 0
                    let tracedCPU = Trace.isOn ? Trace.cpu() : 0
                    if group.isEmpty {  // the batch's time is up, or a prune is due
                        condition.lock()
                        statsValue.emptyWakeups += 1
                        condition.unlock()
                        if writer.isInBatch { try commit() }
                        continue
                    }
                    var applied = 0
                    let enqueued = group.contains(where: { $0.continuation == nil })
                    waitingRows += group.reduce(0) { $0 + ($1.continuation == nil ? 0 : $1.rows) }
                    do {
                        if !writer.isInBatch {
                            try writer.begin()
                            batchStarted = ContinuousClock.now
                        }
                        for s in group {
                            var flags: [Bool] = []
                            flags.reserveCapacity(s.continuation == nil ? 0 : s.messages.count + s.changes.count)
                            // By index: a message bound to a loop variable is a copy (a retain of each of its parts).
                            try s.messages.withUnsafeBufferPointer { messages in
                                for i in messages.indices {
                                    let isNew: Bool
                                    if let sqliteWriter {
                                        // The concrete writer, given the message's address: a call through the
                                        // protocol, or by value, passes a copy (a retain and release of each part).
                                        isNew = try sqliteWriter.add(at: messages.baseAddress! + i, digest: s.digests.isEmpty ? messages[i].digest : s.digests[i])
                                    } else if !s.digests.isEmpty {
                                        isNew = try writer.add(messages[i], digest: s.digests[i])
                                    } else {
                                        isNew = try writer.add(messages[i])
                                    }
                                    if s.continuation != nil { flags.append(isNew) }
                                }
                            }
                            for c in s.changes {
                                let isNew = try writer.addChange(c)
                                if s.continuation != nil { flags.append(isNew) }
                            }
                            for r in s.rejects { try writer.addReject(r) }
                            batchRows += s.rows
                            condition.lock()
                            takenRows -= s.rows
                            if waiters > 0 { condition.broadcast() }
                            condition.unlock()
                            if let c = s.continuation { waiting.append((c, flags)) }
                            applied += 1
                        }
                        // Work someone waits for is freed by the next submitter (`serve`: its writer is
                        // the busier thread), and so is work enqueued by a thread that waits for decoding
                        // threads (a chunked file: freeing it was 8% of the writer); other enqueued work
                        // here (`ingest` of one decoding thread: that thread is the busier one).
                        // The writer lets go of them before the commit: held to its end, the submitter
                        // had often freed `spent` before, and the writer freed the messages after all.
                        let tracedOldest = Trace.isOn ? group.map(\.queuedAt).min() ?? 0 : 0
                        let groupRows = Trace.isOn ? group.reduce(0) { $0 + $1.rows } : 0, groupCount = group.count
                        if group.contains(where: \.freedBySubmitter) {
                            condition.lock()
                            spent.append(contentsOf: group)
                            condition.unlock()
                            group = []
                        }
                        // Nobody waits for commits of enqueued work: they batch by size and time.
                        if !waiting.isEmpty || batchRows >= policy.rowsPerCommit
                            || ContinuousClock.now - batchStarted >= .seconds(policy.secondsPerCommit) {
                            let tracedAdded = Trace.isOn ? Trace.now() : 0
                            try commit()
                            if Trace.isOn {
                                let oldest = tracedOldest
                                let p = sqliteWriter?.phases ?? [:]
                                let phases = p.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
                                Trace.record("{\"k\":\"c\",\"oldest\":\(oldest),\"take\":\(tracedTake),\"added\":\(tracedAdded),\"done\":\(tracedAcked),\"upkept\":\(Trace.now()),\"cpu\":\(Trace.cpu() - tracedCPU),\"subs\":\(groupCount),\"rows\":\(groupRows),\"pending\":\(stats.pendingRows)\(phases.isEmpty ? "" : ","+phases)}")
                            }
                        }
                    } catch {
                        condition.lock()
                        takenRows = 0
                        if waiters > 0 { condition.broadcast() }
                        condition.unlock()
                        writer.rollback()
                        let why: Failure = switch (error as? StoreError)?.code {
                        case .diskFull: .diskFull("\(error)")
                        case .locked: .locked("\(error)")
                        default: .store("\(error)")
                        }
                        // Everything of the batch was rolled back: tell every waiting submitter.
                        for (c, _) in waiting { c.resume(throwing: why) }
                        waiting.removeAll()
                        for s in group.dropFirst(applied) { s.continuation?.resume(throwing: why) }
                        condition.lock()
                        committingRows -= waitingRows
                        condition.unlock()
                        waitingRows = 0
                        batchRows = 0
                        before = writer.stats
                        // A submitter that waits is told and may retry; enqueued work has nobody
                        // to tell but `finish()`, so the pipeline stops.
                        if enqueued { throw error }
                    }
                }
                // The summaries still being built go with the last commit (or one of their own).
                sqliteWriter?.finishCoverageBuilds()
                if writer.isInBatch { try commit() }
            }
        } catch {
            fail(error)
        }
    }

    /// Waits for work until `deadline`; returns the submissions of the next step
    /// (empty when the deadline passed first), or nil when stopped and drained.
    private func take(until deadline: ContinuousClock.Instant?) -> [Submission]? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !stopping {
            if !spent.isEmpty {
                // Idle: free what was stored now, rather than keep it until the next submission.
                var garbage: [Submission] = []
                swap(&garbage, &spent)
                condition.unlock()
                garbage.removeAll()
                condition.lock()
                continue
            }
            if let deadline {
                let left = deadline - ContinuousClock.now
                if left <= .zero { return [] }
                _ = condition.wait(until: Date().addingTimeInterval(left.seconds))
            } else {
                condition.wait()
            }
        }
        if pending.isEmpty { return nil }
        var rows = 0
        var n = 0
        while n < pending.count, n == 0 || rows + pending[n].rows <= policy.rowsPerCommit {
            rows += pending[n].rows
            n += 1
        }
        let group = Array(pending[0..<n])
        pending.removeFirst(n)
        pendingRows -= rows
        takenRows += rows
        // Rows whose senders wait stay counted until their commit.
        committingRows += group.reduce(0) { $0 + ($1.continuation == nil ? 0 : $1.rows) }
        condition.broadcast()
        return group
    }

    private func fail(_ error: any Error) {
        condition.lock()
        let waiting = pending
        pending.removeAll()
        pendingRows = 0
        committingRows = 0
        takenRows = 0
        failure = error
        stopping = true
        condition.broadcast()
        condition.unlock()
        for s in waiting { s.continuation?.resume(throwing: Failure.store("\(error)")) }
    }
}
