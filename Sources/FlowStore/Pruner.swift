public import FlowModel
import GRDBSQLite
import GRDB
import Foundation

/// What a prune did (or, dry, would do), per level.
public struct PruneReport: Sendable, Equatable, Codable {
    public struct Level: Sendable, Equatable, Codable {
        /// `raw`, `1m`, `1h`, `1d`, `2d`, … .
        public var level: String
        /// The keep period, as written.
        public var keep: String
        /// The level holds nothing before this time now (RFC 3339).
        public var keptFrom: String
        /// Raw level: messages and flow rows deleted; rollup levels: stored bucket rows deleted.
        public var messages: Int64 = 0
        public var flowRows: Int64 = 0
        public var buckets: Int64 = 0
    }

    public var dryRun: Bool
    public var levels: [Level] = []
    /// Write transactions used, and the longest one (ms).
    public var transactions = 0
    public var longestTransactionMs = 0.0
    /// Database pages released to the file system (incremental vacuum), and pages left free for reuse.
    public var pagesReturned: Int64 = 0
    public var freePages: Int64 = 0
    public var fileBytesBefore: Int64 = 0
    public var fileBytesAfter: Int64 = 0
    public var seconds = 0.0
    /// Whether the file can shrink (created with incremental auto-vacuum); if not, freed pages are only reused.
    public var shrinks = false

    public init(dryRun: Bool) {
        self.dryRun = dryRun
    }
}

/// Deletes what a ``RetentionPolicy`` no longer keeps, in small write transactions.
///
/// First every pruned level's `retention` row moves forward (so that questions stop
/// reading a range before its rows go), then the rows go, a few statements per
/// transaction, each transaction kept under ``budget``; at the end freed pages are
/// returned to the file system when the store was created with incremental
/// auto-vacuum (else SQLite reuses them for new rows).
final class Pruner {
    let writer: FlowWriter
    let policy: RetentionPolicy
    let now: Nanoseconds
    /// The longest a transaction should hold the writer.
    let budget: Duration
    var report: PruneReport
    /// Deletions still to run: each one DELETE statement over a bounded key range.
    var work: [Work] = []
    var planned = false
    /// Where each stored level's line is in ``report``'s levels (counts grow as rows go).
    var lineIndex: [Int64: Int] = [:]
    /// How long a transaction deletes before it commits (adapted to what whole transactions take).
    lazy var deleteBudget: Duration = budget / 4
    /// The raw time one DELETE covers (adapted as it runs).
    var rawSlice: Int64 = 60 * Timestamp.nanosPerSecond

    enum Work {
        /// Messages with start in [from, to).
        case raw(from: Int64, to: Int64)
        /// Rollup rows of one step and reporter with bucket in [from, to) (seconds).
        case rollup(step: Int64, reporter: Int64, from: Int64, to: Int64)
    }

    init(writer: FlowWriter, policy: RetentionPolicy, now: Nanoseconds, budget: Duration, dryRun: Bool) {
        self.writer = writer
        self.policy = policy
        self.now = now
        self.budget = budget
        report = PruneReport(dryRun: dryRun)
    }

    /// The stored levels (0: raw, else rollup steps) with the time before which each is pruned.
    func boundaries() -> [(stored: Int64, level: RetentionPolicy.Level, keptFrom: Int64)] {
        var out: [(Int64, RetentionPolicy.Level, Int64)] = []
        for level in RetentionPolicy.Level.allCases {
            guard let keep = policy.keep(level) else { continue }
            let cutoff = now &- keep
            for stored in level.stored {
                // Raw rows go by whole minutes, so that a minute rollup takes over exactly where they end.
                let align = (stored == 0 ? 60 : stored) * Timestamp.nanosPerSecond
                out.append((stored, level, Timestamp.bucketStart(cutoff, step: align)))
            }
        }
        return out
    }

    /// Records the new boundaries (never moving one back) and lists the deletions.
    func plan() throws {
        planned = true
        let previous = try levelCoverage()
        var records: [(Int64, Int64, String)] = []
        let mark = try writer.storedMark()
        for (stored, level, b) in boundaries() {
            var cut = b
            // The day bucket that holds the mark of the longer levels (schema/012_rollup_marks.sql)
            // has only the rows before it: its hours stay, and so do all after it, until a writer has
            // folded them in, so that questions over that day can still be answered exactly.
            if stored == 3600, let mark { cut = min(cut, Timestamp.bucketStart(mark, step: RollupStep.day * Timestamp.nanosPerSecond)) }
            let keptFrom = max(cut, previous.keptFrom[stored] ?? .min)
            let keep = DurationText.format(policy.keep(level)!)
            var line = PruneReport.Level(level: stored == 0 ? "raw" : DurationText.format(stored * Timestamp.nanosPerSecond),
                                         keep: keep, keptFrom: Timestamp.formatRFC3339(keptFrom))
            lineIndex[stored] = report.levels.count
            // Planning only finds where each level's rows begin (one index probe each): a prune
            // counts what it deletes as it deletes it, so that no scan of everything to go holds
            // the writer first (a server's acknowledgements wait for it). A dry run counts.
            let dry = report.dryRun
            if stored == 0 {
                // Whole minutes of groups (schema/009): the raw level's cut is on a minute.
                let s = try RawStatement(writer.sqlite, dry
                    ? "SELECT min(id), coalesce(sum(messages), 0), coalesce(sum(row_count), 0) FROM message_groups WHERE id < ?"
                    : "SELECT min(id), 0, 0 FROM message_groups WHERE id < ?")
                s.bind(1, MessageGroup.firstID(minute: Timestamp.floorDivMod(keptFrom, MessageGroup.minuteNs).0))
                defer { s.reset() }
                if try s.step(), let first = s.optionalInt64(0) {
                    let lo = MessageGroup.minute(ofID: first) * MessageGroup.minuteNs
                    line.messages = s.int64(1)
                    line.flowRows = s.int64(2)
                    // One item, deleted in slices whose length adapts to the budget (``step()``).
                    work.append(.raw(from: lo, to: keptFrom))
                }
            } else {
                let bucketLimit = Timestamp.floorDivMod(keptFrom, Timestamp.nanosPerSecond).0
                let count = try RawStatement(writer.sqlite, dry
                    ? "SELECT min(bucket), count(*) FROM rollups WHERE step = ?1 AND reporter = ?2 AND bucket < ?3"
                    : "SELECT min(bucket), 0 FROM rollups WHERE step = ?1 AND reporter = ?2 AND bucket < ?3")
                // Six hours of minute buckets (360 rows a reporter) per statement, 15 days of hours; days in one.
                let slice = stored == 60 ? Int64(6 * 3600) : stored == 3600 ? Int64(15 * 86_400) : Int64.max / 4
                for reporter in try reporters() {
                    count.bind(1, stored)
                    count.bind(2, reporter)
                    count.bind(3, bucketLimit)
                    defer { count.reset() }
                    guard try count.step(), let lo = count.optionalInt64(0) else { continue }
                    line.buckets += count.int64(1)
                    var t = lo
                    while t < bucketLimit {
                        let next = t > bucketLimit - slice ? bucketLimit : t + slice
                        work.append(.rollup(step: stored, reporter: reporter, from: t, to: next))
                        t = next
                    }
                }
            }
            report.levels.append(line)
            if keptFrom != previous.keptFrom[stored] { records.append((stored, keptFrom, keep)) }
        }
        guard !report.dryRun, !records.isEmpty else { return }
        try transaction {
            let s = try RawStatement(writer.sqlite, """
                INSERT INTO retention (level, kept_from_ns, policy, pruned_ns) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT (level) DO UPDATE SET kept_from_ns = max(kept_from_ns, excluded.kept_from_ns),
                    policy = excluded.policy, pruned_ns = excluded.pruned_ns
                """)
            for (level, keptFrom, keep) in records {
                s.bind(1, level)
                s.bind(2, keptFrom)
                s.bind(3, keep)
                s.bind(4, Int64(Date().timeIntervalSince1970 * 1e9))
                try s.run()
            }
        }
    }

    func levelCoverage() throws -> LevelCoverage {
        let s = try RawStatement(writer.sqlite, "SELECT level, kept_from_ns, policy FROM retention")
        defer { s.reset() }
        var out = LevelCoverage()
        while try s.step() {
            out.keptFrom[s.int64(0)] = s.int64(1)
            out.policy[s.int64(0)] = s.text(2)
        }
        return out
    }

    func reporters() throws -> [Int64] {
        let s = try RawStatement(writer.sqlite, "SELECT id FROM nodes WHERE last_report_ns IS NOT NULL ORDER BY id")
        defer { s.reset() }
        var out: [Int64] = []
        while try s.step() { out.append(s.int64(0)) }
        return out
    }

    /// One write transaction: deletions for at most a quarter of ``budget`` (less after a transaction
    /// that overran it: the commit and a last statement take the rest). Returns whether work remains.
    func step() throws -> Bool {
        if !planned { try plan() }
        if report.dryRun { work.removeAll() }
        guard !work.isEmpty else { return false }
        // The groups of the minutes that start in [from, to): whole minutes, as the raw level's cut is.
        let deleteRaw = try RawStatement(writer.sqlite, "DELETE FROM message_groups WHERE id >= ?1 AND id < ?2 RETURNING messages, row_count")
        let deleteRollup = try RawStatement(writer.sqlite, "DELETE FROM rollups WHERE step = ?1 AND reporter = ?2 AND bucket >= ?3 AND bucket < ?4")
        // The hours the deleted messages started in summarize messages no longer there (schema/011).
        let deleteCoverageHours = try RawStatement(writer.sqlite, "DELETE FROM coverage_hours WHERE hour >= ?1 AND hour <= ?2")
        let took = try transaction {
            let t0 = ContinuousClock.now
            while let item = work.first, ContinuousClock.now - t0 < deleteBudget {
                switch item {
                case .raw(let from, let to):
                    // A slice of raw time, resized so that one takes about a tenth of the budget.
                    let end = to - from > rawSlice ? from + rawSlice : to
                    let s0 = ContinuousClock.now
                    deleteRaw.bind(1, MessageGroup.firstID(minute: Timestamp.floorDivMod(from, MessageGroup.minuteNs).0))
                    deleteRaw.bind(2, MessageGroup.firstID(minute: Timestamp.floorDivMod(end, MessageGroup.minuteNs).0))
                    var messages: Int64 = 0, rows: Int64 = 0
                    do {
                        while try deleteRaw.step() {
                            messages += deleteRaw.int64(0)
                            rows += deleteRaw.int64(1)
                        }
                    } catch {
                        deleteRaw.reset()
                        throw error
                    }
                    deleteRaw.reset()
                    deleteCoverageHours.bind(1, Timestamp.floorDivMod(from, CoverageHour.length).0 * 3_600)
                    deleteCoverageHours.bind(2, Timestamp.floorDivMod(end - 1, CoverageHour.length).0 * 3_600)
                    try deleteCoverageHours.run()
                    if let i = lineIndex[0] {
                        report.levels[i].messages += messages
                        report.levels[i].flowRows += rows
                    }
                    let took = ContinuousClock.now - s0
                    if took > budget / 10 { rawSlice = max(rawSlice / 2, Timestamp.nanosPerSecond) }
                    if took < budget / 40 { rawSlice = min(rawSlice * 2, 3600 * Timestamp.nanosPerSecond) }
                    if end == to { work.removeFirst() } else { work[0] = .raw(from: end, to: to) }
                    continue
                case .rollup(let step, let reporter, let from, let to):
                    work.removeFirst()
                    deleteRollup.bind(1, step)
                    deleteRollup.bind(2, reporter)
                    deleteRollup.bind(3, from)
                    deleteRollup.bind(4, to)
                    let deleted = try deleteRollup.run()
                    if let i = lineIndex[step] { report.levels[i].buckets += Int64(deleted) }
                }
            }
        }
        // The commit writes every page the deletions freed or changed, and that can cost more
        // than the deletions themselves: the whole transaction is what must fit the budget.
        if took > budget {
            deleteBudget = max(deleteBudget / 2, .microseconds(500))
            rawSlice = max(rawSlice / 2, Timestamp.nanosPerSecond)
        } else if took < budget / 2 {
            deleteBudget = min(deleteBudget * 5 / 4, budget / 4)
        }
        return !work.isEmpty
    }

    /// Returns up to `pages` free pages to the file system (one short transaction), when the
    /// store can shrink; returns how many it returned.
    func vacuumStep(pages: Int64 = 256) throws -> Int64 {
        guard try pragma("auto_vacuum") == 2 else { return 0 }
        let free = try pragma("freelist_count")
        guard free > 0 else { return 0 }
        let t0 = ContinuousClock.now
        try relaxed { try writer.exec("PRAGMA incremental_vacuum(\(min(free, pages)))") }
        note(ContinuousClock.now - t0, "vacuum")
        report.pagesReturned += min(free, pages)
        return min(free, pages)
    }

    func pragma(_ name: String) throws -> Int64 {
        let s = try RawStatement(writer.sqlite, "PRAGMA \(name)")
        defer { s.reset() }
        return try s.step() ? s.int64(0) : 0
    }

    @discardableResult
    func transaction(_ body: () throws -> Void) throws -> Duration {
        let t0 = ContinuousClock.now
        try relaxed {
            try writer.exec("BEGIN IMMEDIATE")
            do {
                try body()
                try writer.exec("COMMIT")
            } catch {
                _ = sqlite3_exec(writer.sqlite, "ROLLBACK", nil, nil, nil)
                throw error
            }
        }
        let took = ContinuousClock.now - t0
        note(took, "\(work.first.map { "\($0)" } ?? "-")")
        return took
    }

    /// Runs `body` with commits that do not wait for the disk (`synchronous = NORMAL`), whatever
    /// the writer's durability. A prune need not survive a power loss: its cut is recorded
    /// first and a lost deletion is done again by the next prune; and in WAL mode a later durable
    /// commit (the server's next batch) syncs the log with these transactions in it, in order.
    /// So a server's acknowledgements wait for a prune step's deletions, not for its sync.
    func relaxed(_ body: () throws -> Void) throws {
        let previous = try pragma("synchronous")
        if previous > 1 { try writer.exec("PRAGMA synchronous = NORMAL") }
        defer { if previous > 1 { try? writer.exec("PRAGMA synchronous = \(previous)") } }
        try body()
    }

    func note(_ d: Duration, _ what: String = "") {
        report.transactions += 1
        report.longestTransactionMs = max(report.longestTransactionMs, d.seconds * 1000)
    }
}

extension FlowStore {
    /// Deletes what `policy` no longer keeps, in small transactions, and returns freed space.
    ///
    /// For example:
    /// ```swift
    /// let report = try store.prune(try RetentionPolicy.parse("raw=30d,1m=90d"), now: TimeWindow.now())
    /// ```
    ///
    /// - parameter policy: Keep periods per level; levels without one are not touched.
    /// - parameter now: The time keep periods count back from.
    /// - parameter dryRun: Only count what would go.
    /// - parameter budget: The longest a write transaction may hold the writer.
    /// - throws: ``StoreError``.
    public func prune(_ policy: RetentionPolicy, now: Nanoseconds, dryRun: Bool = false,
                      budget: Duration = .milliseconds(50)) throws -> PruneReport {
        let t0 = ContinuousClock.now
        let before = fileBytes()
        var report = try withWriter { writer in
            let pruner = Pruner(writer: writer, policy: policy, now: now, budget: budget, dryRun: dryRun)
            while try pruner.step() {}
            if !dryRun {
                while try pruner.vacuumStep() > 0 {}
            }
            pruner.report.shrinks = try pruner.pragma("auto_vacuum") == 2
            pruner.report.freePages = try pruner.pragma("freelist_count")
            return pruner.report
        }
        if !dryRun { try checkpoint() }
        report.fileBytesBefore = before
        report.fileBytesAfter = fileBytes()
        report.seconds = (ContinuousClock.now - t0).seconds
        return report
    }

    /// Rewrites a store created without incremental auto-vacuum so that pruning can shrink it
    /// from then on (`VACUUM`: holds the writer for the whole rewrite, needs free space as large
    /// as the store). Does nothing to a store that can shrink already.
    package func convertToIncrementalVacuum() throws {
        try sqlite {
            try pool.writeWithoutTransaction { db in
                guard try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") != 2 else { return }
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                try db.execute(sql: "VACUUM")
            }
        }
    }

    /// The size of the database file with its write-ahead log.
    func fileBytes() -> Int64 {
        [path, path + "-wal"].reduce(0) { sum, p in
            sum + ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int).map(Int64.init) ?? 0)
        }
    }

    /// Copies the write-ahead log into the database and truncates it (when no reader holds it).
    func checkpoint() throws {
        try sqlite { try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") } }
    }
}

extension FlowWriter {
    /// One step of background pruning between batches (the server's and `follow`'s writer):
    /// one short transaction. Returns whether work remains; a new policy or time starts afresh.
    func pruneStep(_ policy: RetentionPolicy, now: Nanoseconds, budget: Duration) throws -> Bool {
        precondition(!inTransaction, "pruning inside a batch")
        // Pruned messages would still be in the summaries being built.
        coverageBuilds.stop()
        if pruner == nil { pruner = Pruner(writer: self, policy: policy, now: now, budget: budget, dryRun: false) }
        if try pruner!.step() { return true }
        if try pruner!.vacuumStep(pages: 256) > 0 { return true }
        lastPrune = pruner!.report
        pruner = nil
        return false
    }
}
