import FlowModel
import FlowQuery
import FlowStore

/// The rollup tables of schema 003 (`rollup_1m`, `rollup_1h`, `rollup_1d`, SummingMergeTree written
/// by the writer beside the raw rows since schema 005, before it by materialized views over
/// `flows`) as the questions read them and as the writer repairs them.
///
/// Reads follow SQLite's planner (``Planner``): whole buckets of the window from the coarsest
/// level that fits, the ragged edges from raw rows; the 2-, 4-, 8- and 16-day levels read the day
/// table (a day bucket lies inside one bucket of each). Rollup rows carry the raw endpoints, the
/// reporter, the kind, the service port and its side, so the edge model runs on them unchanged;
/// SummingMergeTree merges lazily, and every reader sums (`sum(...) GROUP BY`), so unmerged rows
/// of one key add up to the same answer.
enum ClickHouseRollups {
    /// The service port of a raw row (the lower non-zero of its two ports), as SQLite's rollup key has it.
    static let port = "if(src_port = 0, dst_port, if(dst_port = 0, src_port, least(src_port, dst_port)))"
    /// Which end held the service port (1 both, 2 dst, 3 src), given `port`.
    static let side = "toUInt8(if(src_port = dst_port, 1, if(port = dst_port, 2, 3)))"

    /// The kind of the row that stands for a message without flow rows (no rollup key).
    static let noRows = 255

    /// The table that holds `step`-second buckets (a day or more: the day table).
    static func table(_ step: Int64) -> String {
        step < 3600 ? "rollup_1m" : step < RollupStep.day ? "rollup_1h" : "rollup_1d"
    }

    /// Flow rows of `window` as rollup keys with their counters, `start_ns, reporter, kind, proto,
    /// port, side, src, dst, tx_packets, tx_bytes, rx_packets, rx_bytes, span` (`start_ns` is a rollup
    /// row's bucket start and `span` its length in ns, 0 for a raw row; the 2- to 16-day levels are
    /// day rows, each with a day's span: with the level's span, a day's row stood for a bucket
    /// reaching past the window, and `scope` reported a last sighting after the window's end): the planner's rollup
    /// segments from the rollup tables, the rest from raw rows, as one `UNION ALL`. Sums over it
    /// equal sums over the raw rows alone.
    ///
    /// - parameter step: the answer's bucket width, when bucketed (only levels dividing it are used).
    /// - parameter first: the first answer bucket's start: levels whose buckets do not align to it are not used.
    /// - parameter conditions: filters on the row's columns (kind, proto), applied to each part.
    /// - parameter prewhere: a selective filter each part tests first (`PREWHERE`; one server only).
    /// - parameter raw: raw rows only (questions that need each row's own window start).
    /// - parameter below: only levels finer than this many seconds.
    /// - parameter withoutDays: leaves out the segments read from the day table (``dayBuckets(_:)``
    ///   lists their days), and gives "" when nothing else is left.
    static func source(_ window: TimeWindow, step: Nanoseconds? = nil, first: Nanoseconds? = nil,
                       conditions: [String], prewhere: String? = nil, raw: Bool = false, below finest: Int64? = nil,
                       withoutDays: Bool = false) -> String {
        var below = finest
        if raw {
            below = RollupStep.all[0]
        } else if let first, let unaligned = RollupStep.all.first(where: { first % ($0 * Timestamp.nanosPerSecond) != 0 }) {
            below = min(below ?? unaligned, unaligned)
        }
        let segments = window.from < window.to ? Planner.plan(window, step: step, below: below) : []
        let extra = conditions.map { " AND " + $0 }.joined()
        let pre = prewhere.map { "PREWHERE \($0) " } ?? ""
        var parts: [String] = []
        for segment in segments {
            switch segment {
            case .rollup(let s, _, _) where withoutDays && s >= RollupStep.day:
                continue
            case .rollup(let s, let from, let to):
                parts.append("""
                    SELECT bucket * 1000000000 AS start_ns, reporter, kind, proto, port, side, src, dst, tx_packets, tx_bytes, rx_packets, rx_bytes,
                           bucket - bucket + \(min(s, RollupStep.day) * Timestamp.nanosPerSecond) AS span
                    FROM \(table(s)) \(pre)WHERE bucket >= \(from / Timestamp.nanosPerSecond) AND bucket < \(to / Timestamp.nanosPerSecond)\(extra)
                    """)
            case .raw(let from, let to), .missing(let from, let to):
                parts.append(rawPart(from, to, extra, prewhere: prewhere))
            }
        }
        if parts.isEmpty && !withoutDays { parts.append(rawPart(window.from, window.to, extra, prewhere: prewhere)) }
        return parts.joined(separator: "\nUNION ALL\n")
    }

    /// The days (bucket starts, Unix seconds) of `window` that the planner reads from the day
    /// table (its day and 2- to 16-day levels), for a question without a step.
    static func dayBuckets(_ window: TimeWindow) -> [Int64] {
        guard window.from < window.to else { return [] }
        var days: [Int64] = []
        for case .rollup(let s, let from, let to) in Planner.plan(window, step: nil, below: nil) where s >= RollupStep.day {
            var day = Int64(from / Timestamp.nanosPerSecond)
            while day < Int64(to / Timestamp.nanosPerSecond) {
                days.append(day)
                day += RollupStep.day
            }
        }
        return days
    }

    // `span` is computed from a column, not a constant: a constant column read through a
    // Distributed table under UNION ALL is refused by ClickHouse 18.16 (code 171, "Cannot convert
    // column span because it is non constant in source stream but must be constant in result").
    static func rawPart(_ from: Nanoseconds, _ to: Nanoseconds, _ extra: String, prewhere: String? = nil) -> String {
        """
        SELECT start_ns, reporter, kind, proto, \(port) AS port, \(side) AS side, src, dst, tx_packets, tx_bytes, rx_packets, rx_bytes,
               start_ns - start_ns AS span
        FROM flows \(prewhere.map { "PREWHERE \($0) " } ?? "")WHERE start_ns >= \(from) AND start_ns < \(to)\(extra)
        """
    }

    // MARK: Repair

    /// Makes the rollups of the minutes, hours and days holding `[from, through]` (ns) equal to
    /// the raw rows there: each level gets the difference between what it should hold (the raw
    /// rows for minutes, the minute rollups for hours, the hour rollups for days) and what it holds,
    /// key by key, as rows to add (a negative difference as its two's complement, which the sums
    /// wrap back to the exact value). Nothing is inserted where they agree, so running it again
    /// adds nothing.
    ///
    /// The writer inserts the rollups after the raw rows (``ClickHouseWriter/writeRollups(_:from:through:)``),
    /// not atomically with them: a run that dies between the two leaves the raw rows without their
    /// sums, and an insert of sums that failed on the connection may or may not have landed. The
    /// writer calls this after such a failed insert and for every batch that met messages already
    /// stored (an ingest repeated after such a failure).
    static func reconcile(_ client: ClickHouseClient, from: Nanoseconds, through: Nanoseconds) throws {
        guard from <= through else { return }
        let minute = 60 * Timestamp.nanosPerSecond
        var lo = Timestamp.bucketStart(from, step: minute), hi = Timestamp.bucketStart(through, step: minute) + minute
        try client.run(reconcileStatement(table: "rollup_1m", expected: """
            SELECT intDiv(start_ns, \(minute)) * 60 AS kb, reporter, kind, proto, \(port) AS port, \(side) AS side, src, dst,
                   toInt64(tx_packets) AS tp, toInt64(tx_bytes) AS tb, toInt64(rx_packets) AS rp, toInt64(rx_bytes) AS rb
            FROM flows WHERE start_ns >= \(lo) AND start_ns < \(hi) AND kind != \(noRows)
            """, from: lo, to: hi))
        for (step, finer) in [(Int64(3600), "rollup_1m"), (RollupStep.day, "rollup_1h")] {
            let size = step * Timestamp.nanosPerSecond
            lo = Timestamp.bucketStart(lo, step: size)
            hi = Timestamp.bucketStart(hi - 1, step: size) + size
            try client.run(reconcileStatement(table: table(step), expected: """
                SELECT intDiv(bucket, \(step)) * \(step) AS kb, reporter, kind, proto, port, side, src, dst,
                       toInt64(tx_packets) AS tp, toInt64(tx_bytes) AS tb, toInt64(rx_packets) AS rp, toInt64(rx_bytes) AS rb
                FROM \(finer) WHERE bucket >= \(lo / Timestamp.nanosPerSecond) AND bucket < \(hi / Timestamp.nanosPerSecond)
                """, from: lo, to: hi))
        }
        try refillSightings(client, from: from, through: through)
    }

    /// Inserts again the first and last sightings (schema 004) of the minutes holding
    /// `[from, through]` from the raw rows there (one scan), then those minutes' hours and days
    /// from the minute table. Min and max are idempotent: rows already written change nothing,
    /// rows missing (a run that died between an insert's raw rows and its sightings) are added.
    static func refillSightings(_ client: ClickHouseClient, from: Nanoseconds, through: Nanoseconds) throws {
        guard from <= through else { return }
        let minute = 60 * Timestamp.nanosPerSecond
        let lo = Timestamp.bucketStart(from, step: minute), hi = Timestamp.bucketStart(through, step: minute) + minute
        let columns = "(bucket, reporter, kind, proto, src, dst, tx_first, tx_last, rx_first, rx_last)"
        try client.run("""
            INSERT INTO sightings_1m \(columns)
            SELECT intDiv(start_ns, \(minute)) * 60 AS b, reporter, kind, proto, src, dst,
                   minState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(\(ClickHouseQueries.noFirst)))),
                   maxState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(\(ClickHouseQueries.noLast)))),
                   minState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(\(ClickHouseQueries.noFirst)))),
                   maxState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(\(ClickHouseQueries.noLast))))
            FROM flows WHERE start_ns >= \(lo) AND start_ns < \(hi) AND kind != \(noRows)
            GROUP BY b, reporter, kind, proto, src, dst
            """)
        for (table, step) in [("sightings_1h", Int64(3600)), ("sightings_1d", RollupStep.day)] {
            try client.run("""
                INSERT INTO \(table) \(columns)
                SELECT intDiv(bucket, \(step)) * \(step) AS b, reporter, kind, proto, src, dst,
                       minMergeState(tx_first), maxMergeState(tx_last), minMergeState(rx_first), maxMergeState(rx_last)
                FROM sightings_1m WHERE bucket >= \(lo / Timestamp.nanosPerSecond) AND bucket < \(hi / Timestamp.nanosPerSecond)
                GROUP BY b, reporter, kind, proto, src, dst
                """)
        }
    }

    /// Inserts into `table` the difference, per key, between `expected` (rows `kb, reporter, kind,
    /// proto, port, side, src, dst, tp, tb, rp, rb`) and what `table` holds in `[from, to)`.
    static func reconcileStatement(table: String, expected: String, from: Nanoseconds, to: Nanoseconds) -> String {
        """
        INSERT INTO \(table) (bucket, reporter, kind, proto, port, side, src, dst, tx_packets, tx_bytes, rx_packets, rx_bytes)
        SELECT kb, reporter, kind, proto, port, side, src, dst,
               toUInt64(sum(tp)) AS dtp, toUInt64(sum(tb)) AS dtb, toUInt64(sum(rp)) AS drp, toUInt64(sum(rb)) AS drb
        FROM (
            \(expected)
            UNION ALL
            SELECT bucket AS kb, reporter, kind, proto, port, side, src, dst,
                   -toInt64(tx_packets) AS tp, -toInt64(tx_bytes) AS tb, -toInt64(rx_packets) AS rp, -toInt64(rx_bytes) AS rb
            FROM \(table) WHERE bucket >= \(from / Timestamp.nanosPerSecond) AND bucket < \(to / Timestamp.nanosPerSecond)
        )
        GROUP BY kb, reporter, kind, proto, port, side, src, dst
        HAVING dtp != 0 OR dtb != 0 OR drp != 0 OR drb != 0
        """
    }
}
