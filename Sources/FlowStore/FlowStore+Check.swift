import FlowModel
import FlowSchema
import GRDB
import Foundation

/// What `tailflow check` found.
public struct CheckReport: Sendable, Equatable, Codable {
    /// `PRAGMA quick_check` (or `integrity_check` with `full`): "ok", or SQLite's findings.
    public var integrity: [String] = []
    /// The applied migrations, and whether this tailflow knows exactly those.
    public var schemaVersion: [String] = []
    public var schemaCurrent = false
    /// Why the store was not opened for checking, when its schema is older or newer than
    /// this tailflow's (nil: it was opened). `integrity` is then empty: not checked.
    public var schemaProblem: String? = nil
    /// Rollup buckets compared with the sums of their raw rows, and those that differ.
    public var bucketsChecked = 0
    public var mismatches: [String] = []
    /// Buckets skipped because their raw rows were pruned.
    public var bucketsPruned = 0
    public var full = false
    /// Hour summaries of `coverage` (schema/011) compared with their messages (`full` only), and
    /// the hours whose summary differs (RFC 3339).
    public var coverageHoursChecked = 0
    public var coverageHoursDiffer: [String] = []
    /// Hour summaries of an older format: not compared, not a problem (a question reads those
    /// hours' messages, and the next refresh writes them in the current format).
    public var coverageHoursStale = 0
    public var seconds = 0.0

    /// Everything found wrong, one line each (empty: the store is sound).
    public var problems: [String] {
        var out: [String] = []
        if integrity != ["ok"] && schemaProblem == nil { out += integrity.prefix(20).map { "integrity: \($0)" } }
        if let schemaProblem {
            out.append("schema: \(schemaProblem) (applied: \(schemaVersion.last ?? "none"))")
        } else if !schemaCurrent {
            let known = Schema.migrations.map(\.name)
            out.append("schema: applied \(schemaVersion.joined(separator: ", ")); this tailflow knows \(known.joined(separator: ", "))")
        }
        out += mismatches.prefix(20).map { "rollup: \($0)" }
        if mismatches.count > 20 { out.append("rollup: \(mismatches.count - 20) more buckets differ from their raw rows") }
        out += coverageHoursDiffer.prefix(20).map { "coverage: the summary of the hour \($0) differs from its messages" }
        if coverageHoursDiffer.count > 20 { out.append("coverage: \(coverageHoursDiffer.count - 20) more hour summaries differ from their messages") }
        return out
    }

    public var isSound: Bool { problems.isEmpty }

    public init() {}
}

extension FlowStore {
    /// Verifies the store: SQLite's own check, the schema version, and that rollup buckets
    /// equal the sums of their raw flow rows (a sample, or every bucket with `full`).
    ///
    /// For example:
    /// ```swift
    /// let report = try FlowStore(path: "tailflow.db", access: .readOnly).check()
    /// if !report.isSound { print(report.problems) }
    /// ```
    ///
    /// - parameter full: `PRAGMA integrity_check` and every bucket of every level instead of a sample.
    /// - parameter samples: Buckets sampled per level (sample mode): half at random message times
    ///   (finding wrong or missing rollups), half at random rollup rows (finding rollups without rows).
    /// - throws: ``StoreError`` when the file cannot be read at all.
    public func check(full: Bool = false, samples: Int = 64) throws -> CheckReport {
        let t0 = ContinuousClock.now
        var report = CheckReport()
        report.full = full
        try sqlite {
            try pool.read { db in
                report.integrity = try String.fetchAll(db, sql: full ? "PRAGMA integrity_check(100)" : "PRAGMA quick_check(100)")
                report.schemaVersion = try Self.migrator.appliedIdentifiers(db).sorted()
                report.schemaCurrent = report.schemaVersion == Schema.migrations.map(\.name)
                guard report.integrity == ["ok"], report.schemaCurrent else { return }
                try checkRollups(db, full: full, samples: samples, &report)
                if full {
                    let (checked, differ, stale) = try checkCoverageHours(db)
                    report.coverageHoursChecked = checked
                    report.coverageHoursDiffer = differ
                    report.coverageHoursStale = stale
                }
            }
        }
        report.seconds = (ContinuousClock.now - t0).seconds
        return report
    }

    struct BucketID: Hashable {
        var step: Int64
        var reporter: Int64
        var bucket: Int64
    }

    struct EntryKey: Hashable {
        var kind: UInt8, src: Int64, dst: Int64, proto: UInt8, port: UInt16
    }

    func checkRollups(_ db: Database, full: Bool, samples: Int, _ report: inout CheckReport) throws {
        let snapshot = SQLiteSnapshot(db)
        let rawFrom = try snapshot.levelCoverage().earliest(0)  // samples are drawn from raw-kept time
        var buckets: Set<BucketID> = []
        if full {
            for row in try Row.fetchAll(db, sql: "SELECT DISTINCT step, reporter, bucket FROM rollups") {
                buckets.insert(BucketID(step: row[0], reporter: row[1], bucket: row[2]))
            }
            // And every minute that has raw rows, so that a bucket missing altogether is found.
            for id in try Int64.fetchAll(db, sql: "SELECT id FROM message_groups") {
                buckets.insert(BucketID(step: 60, reporter: MessageGroup.reporter(ofID: id), bucket: MessageGroup.minute(ofID: id) * 60))
            }
        } else if let range = try snapshot.timeRange() {
            var rng = SystemRandomNumberGenerator()
            let reporters = try snapshot.reporters()
            let lo = max(range.lowerBound, rawFrom)
            for _ in 0..<samples where lo <= range.upperBound {
                // A random message: its bucket at every level.
                let t = Int64.random(in: lo...range.upperBound, using: &rng)
                var first: MessageHeader?
                try snapshot.groupedMessages(from: t, to: .max, reporter: nil, descending: false, reporters: { _ in true }) { h, _, _ in
                    first = h
                    return false
                }
                if let first {
                    for step in RollupStep.all {
                        buckets.insert(BucketID(step: step, reporter: first.reporter,
                                                bucket: Timestamp.floorDivMod(first.start, step * Timestamp.nanosPerSecond).0 * step))
                    }
                }
                // A random stored bucket at every level.
                guard let reporter = reporters.randomElement(using: &rng) else { continue }
                for step in RollupStep.all {
                    let b = Timestamp.floorDivMod(Int64.random(in: lo...range.upperBound, using: &rng), Timestamp.nanosPerSecond).0
                    if let bucket = try Int64.fetchOne(db, sql: "SELECT bucket FROM rollups WHERE step = ? AND reporter = ? AND bucket >= ? ORDER BY bucket LIMIT 1",
                                                      arguments: [step, reporter, b - b % step]) {
                        buckets.insert(BucketID(step: step, reporter: reporter, bucket: bucket))
                    }
                }
            }
        }
        let coverage = try snapshot.levelCoverage()
        for b in buckets.sorted(by: { ($0.step, $0.reporter, $0.bucket) < ($1.step, $1.reporter, $1.bucket) }) {
            let from = b.bucket * Timestamp.nanosPerSecond
            // Each level is compared with the one below it (minute buckets with raw rows): each
            // comparison reads one bucket's worth, and together they vouch for every level.
            let finer = RollupStep.all.last { $0 < b.step } ?? 0
            guard from >= coverage.earliest(finer), from >= coverage.earliest(b.step) else {
                report.bucketsPruned += 1
                continue
            }
            var stored: [EntryKey: Counters] = [:]
            try snapshot.rollups(step: b.step, reporter: b.reporter, fromBucket: b.bucket, toBucket: b.bucket + 1) { _, e in
                stored[EntryKey(kind: e.kind.rawValue, src: e.src, dst: e.dst, proto: e.proto, port: e.port), default: Counters()].add(e.counters)
            }
            var raw: [EntryKey: Counters] = [:]
            // A level that lags behind the one below it (schema/012_rollup_marks.sql) holds only
            // the rows before its mark: it is compared with what the finer level holds before it.
            var to = from + b.step * Timestamp.nanosPerSecond
            if coverage.latest(b.step) < coverage.latest(finer) { to = max(from, min(to, coverage.latest(b.step))) }
            if finer == 0 {
                try snapshot.messages(from: from, to: to, reporter: b.reporter, descending: false) { _, _, r in
                    raw[EntryKey(kind: r.kind.rawValue, src: r.src, dst: r.dst, proto: r.proto, port: r.servicePort), default: Counters()].add(
                        Counters(txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes))
                    return true
                }
            } else {
                try snapshot.rollups(step: finer, reporter: b.reporter, fromBucket: b.bucket, toBucket: to / Timestamp.nanosPerSecond) { _, e in
                    raw[EntryKey(kind: e.kind.rawValue, src: e.src, dst: e.dst, proto: e.proto, port: e.port), default: Counters()].add(e.counters)
                }
            }
            report.bucketsChecked += 1
            if stored != raw {
                let stable = try String.fetchOne(db, sql: "SELECT stable_id FROM nodes WHERE id = ?", arguments: [b.reporter]) ?? "#\(b.reporter)"
                let below = finer == 0 ? "its raw rows" : "its \(DurationText.format(finer * Timestamp.nanosPerSecond)) buckets"
                let missing = raw.keys.filter { stored[$0] == nil }.count, extra = stored.keys.filter { raw[$0] == nil }.count
                let differ = raw.keys.filter { stored[$0] != nil && stored[$0] != raw[$0] }.count
                report.mismatches.append("the \(DurationText.format(b.step * Timestamp.nanosPerSecond)) bucket \(Timestamp.formatRFC3339(from)) of reporter \(stable): "
                    + "\(differ) sums differ from \(below), \(missing) keys missing, \(extra) keys not in \(below)")
            }
        }
    }

    /// Copies the store, consistently, to a new file while it may be written.
    ///
    /// The copy is one read transaction's snapshot (`VACUUM INTO`), so writers go on
    /// meanwhile; it is written beside `target` and renamed into place once complete.
    ///
    /// - parameter target: The new file; an existing file is an error unless `replace`.
    /// - returns: The copy's size in bytes.
    /// - throws: ``StoreError``.
    @discardableResult
    public func backup(to target: String, replace: Bool = false) throws -> Int64 {
        let fm = FileManager.default
        if fm.fileExists(atPath: target), !replace {
            throw StoreError(.sqlite, "\(target) exists already; choose another name or remove it (nothing was written)", path: path)
        }
        let temporary = target + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: temporary)
        do {
            try sqlite { try pool.unsafeRead { try $0.execute(sql: "VACUUM INTO ?", arguments: [temporary]) } }
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw error
        }
        if replace { try? fm.removeItem(atPath: target) }
        do {
            try fm.moveItem(atPath: temporary, toPath: target)
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw StoreError(.sqlite, "cannot move the copy into place at \(target): \(error.localizedDescription)", path: path)
        }
        return ((try? fm.attributesOfItem(atPath: target)[.size] as? Int).map(Int64.init)) ?? 0
    }
}
