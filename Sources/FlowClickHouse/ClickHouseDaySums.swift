import FlowModel
import FlowQuery
import Foundation

/// Each day's counted edges resolved and summed once (schema 006, `day_sums`), so that `top` by
/// endpoint or pair over whole days reads a few rows a day, as SQLite's `edge_sums` does.
///
/// Filled by the question that finds a day without a current fill, never by the writer: a fill is
/// current when it was made under the same fingerprint of the node tables the question resolves
/// with (``fingerprint(_:)``) and the same signature of the day's rollup rows (``signature``).
/// Both are read with the question, so an owner change or a late message in a cached day is seen
/// by the next question, which fills that day again. Two questions may fill a day at once: each
/// fill has an id of its own and a reader takes one (the latest record), never two.
///
/// One server only: on a cluster (`?cluster=`) the questions resolve day rows at query time.
struct ClickHouseDaySums {
    let client: ClickHouseClient

    /// `TAILFLOW_CLICKHOUSE_DAY_SUMS=off`: questions resolve day rows at query time, as before
    /// schema 006 (to compare both paths on one store).
    static let enabled = ProcessInfo.processInfo.environment["TAILFLOW_CLICKHOUSE_DAY_SUMS"] != "off"

    /// Fills older than this many seconds may be dropped by a later fill (``cleanUp(keeping:)``):
    /// `TAILFLOW_CLICKHOUSE_DAY_SUMS_GRACE`, at least 60 (a fill's rows and its record are
    /// stamped in whole seconds, and a question reads a fill some time after finding it). Only
    /// `TAILFLOW_CLICKHOUSE_DAY_SUMS_TEST_GRACE`, for tests, may set less (down to 0).
    static let grace: Int = {
        let env = ProcessInfo.processInfo.environment
        if let test = env["TAILFLOW_CLICKHOUSE_DAY_SUMS_TEST_GRACE"].flatMap(Int.init) { return max(0, test) }
        return max(60, env["TAILFLOW_CLICKHOUSE_DAY_SUMS_GRACE"].flatMap(Int.init) ?? 600)
    }()

    /// The most days one fill's INSERT writes: each day is a partition of its own, and newer
    /// servers refuse an insert block of more than 100 partitions (`max_partitions_per_insert_block`).
    static let daysPerInsert = 100

    /// The day sums cannot answer this question (the server refused a fill or its lookup, e.g. a
    /// read-only user; or a fill's rows or record were not all there when read back): the answer
    /// is asked as without them (``ClickHouseQueries/daySummed(_:days:rest:_:)``).
    struct Unusable: Error {
        let why: String
    }

    /// A day's signature: summed over its `rollup_1d` rows, each row's counters (each times its
    /// own odd constant) times an odd mix of its kind, protocol, port and side, wrapping at 2⁶⁴.
    /// Linear in the counters, so unmerged rows of one key sum to the merged row's share and the
    /// signature is that of the day's sums, not of its parts; a row added with any counter not 0,
    /// or any counter changed, changes it (short of a 2⁻⁶⁴ coincidence). The reporter and the
    /// addresses (`src`, `dst`) are left out of the mix (hashing them cost the week's check 16 ms
    /// of server CPU instead of 10): a change that only moves counters from one reporter or
    /// address to another, leaving each (kind, proto, port, side)'s sums as they were, is not seen.
    /// The rollups only ever add rows (late messages, merges of equal keys), which this sees.
    static let signature = """
        (tx_packets * 11400714819323198485 + tx_bytes * 14029467366897019727 + rx_packets * 1609587929392839161 + rx_bytes * 9650029242287828579) \
        * (toUInt64(kind) * 2 + toUInt64(proto) * 8 + toUInt64(port) * 2048 + toUInt64(side) * 134217728 + 1)
        """

    /// What the edge model reads besides the rollups, as the answers' owner table has it
    /// (``ClickHouseQueries/Context/ownersTable(_:)``): each owned address, its owner, and
    /// whether that owner reports. FNV-1a 64 over those lines in byte order.
    static func fingerprint(_ directory: NodeDirectory) -> UInt64 {
        var hash = NodeTablesCache.fnv1a([])
        for ip in directory.owners.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let owner = directory.owners[ip] ?? ""
            hash = NodeTablesCache.fnv1a((ip + "\t" + owner + "\t" + (directory.nodes[owner]?.isReporter == true ? "1" : "0") + "\n").utf8, from: hash)
        }
        return hash
    }

    /// The current fill of each of `days` (bucket starts, Unix seconds) under `directory`, filling
    /// the days that have none; 0 for a day without rollup rows. `filled` says whether it filled.
    ///
    /// A statement the server refuses (a read-only user may look up but not fill: code 164), and
    /// a fill not all there when read back, throw ``Unusable``; a connection error is thrown as is.
    func fills(days: [Int64], directory: NodeDirectory) throws -> (fills: [UInt64], filled: Bool) {
        do {
            return try lookUpOrFill(days: days, directory: directory)
        } catch let error as ClickHouseError {
            if case .server = error.kind { throw Unusable(why: error.description) }
            throw error
        }
    }

    private func lookUpOrFill(days: [Int64], directory: NodeDirectory) throws -> (fills: [UInt64], filled: Bool) {
        guard !days.isEmpty else { return ([], false) }
        let fp = Self.fingerprint(directory)
        let list = days.map(String.init).joined(separator: ", ")
        var found: [Int64: UInt64] = [:]
        for f in try client.rows("""
            SELECT bucket, f FROM (
                SELECT bucket, sum(\(Self.signature)) AS sig FROM rollup_1d WHERE bucket IN (\(list)) GROUP BY bucket
            ) ANY LEFT JOIN (
                SELECT bucket, sig, argMax(fill, (made, fill)) AS f FROM day_sums_fills
                WHERE fp = \(fp) AND rows > 0 AND bucket IN (\(list)) AND fill NOT IN (\(Self.tombstoned)) GROUP BY bucket, sig
            ) USING (bucket, sig)
            """) where f.count == 2 {
            if let day = Int64(f[0]), let fill = UInt64(f[1]) { found[day] = fill }
        }
        let missing = days.filter { found[$0] == 0 }
        if !missing.isEmpty {
            let made = try fill(missing, directory: directory, fp: fp)
            for (day, fill) in zip(missing, made) { found[day] = fill }
        }
        return (days.map { found[$0] ?? 0 }, !missing.isEmpty)
    }

    /// Fills `days` under `directory` (fingerprint `fp`): their sums, then each fill's record, whose
    /// signature is summed from the rows written. Returns the fills' ids, in the order of `days`.
    ///
    /// The rows go in with the client's retries off: an insert retried after it landed would add
    /// its rows twice under one id. A failed attempt is made again under new ids; what it may
    /// have left has no record, is never read and is dropped later (``cleanUp(keeping:)``).
    ///
    /// At most ``daysPerInsert`` days per INSERT. After the records, each fill is read back: its
    /// record there, for its day, with as many rows as the fill has (another question's clean-up
    /// could drop a fill's rows before its record is written); else ``Unusable`` is thrown.
    func fill(_ days: [Int64], directory: NodeDirectory, fp: UInt64) throws -> [UInt64] {
        if days.count > Self.daysPerInsert {
            return try stride(from: 0, to: days.count, by: Self.daysPerInsert).flatMap {
                try fill(Array(days[$0..<min($0 + Self.daysPerInsert, days.count)]), directory: directory, fp: fp)
            }
        }
        let owners = ClickHouseQueries.Context.ownersTable(directory)
        var attempt = 0
        while true {
            let ids = days.map { _ in UInt64.random(in: 1...(UInt64.max >> 1)) }
            let idList = ids.map(String.init).joined(separator: ", ")
            do {
                try client.run(Self.fillStatement(days, ids), retries: false, external: [owners])
                try client.run("""
                    INSERT INTO day_sums_fills (fp, bucket, sig, fill, rows, made)
                    SELECT \(fp), bucket, sum(sig), fill, count(), now() FROM day_sums
                    WHERE fill IN (\(idList)) GROUP BY bucket, fill
                    """)
                // Read back: (fill, bucket, rows) of each record (a retried insert may have left
                // two of one fill, alike), and each fill's row count.
                var records: [UInt64: (day: Int64, rows: UInt64)] = [:], counted: [UInt64: UInt64] = [:]
                for r in try client.rows("SELECT fill, bucket, rows FROM day_sums_fills WHERE fp = \(fp) AND fill IN (\(idList))") where r.count == 3 {
                    if let f = UInt64(r[0]), let d = Int64(r[1]), let n = UInt64(r[2]) { records[f] = (d, n) }
                }
                for r in try client.rows("SELECT fill, count() FROM day_sums WHERE fill IN (\(idList)) GROUP BY fill") where r.count == 2 {
                    if let f = UInt64(r[0]), let n = UInt64(r[1]) { counted[f] = n }
                }
                for (day, id) in zip(days, ids) {
                    guard let r = records[id], r.day == day, r.rows > 0, counted[id] == r.rows else {
                        throw Unusable(why: "the fill of day \(day) was not all there when read back")
                    }
                }
                return ids
            } catch let error as ClickHouseError where error.kind == .connection {
                attempt += 1
                if attempt >= 3 { throw error }
                try client.backOff(after: error)
            }
        }
    }

    /// The INSERT … SELECT that sums `days` (each under its id in `ids`) from `rollup_1d`, resolving
    /// the ends with the owners sent as `tf_owners` as the answers do (``ClickHouseQueries/countedRows(_:step:first:)``).
    ///
    /// Rows: level 0 a pair `a <= b` of one kind, `ab_*` its a→b and `ba_*` its b→a counters as
    /// `top --by pair` counts them; level 1 an endpoint `a` (`b` empty), `ab_*` what it sent and
    /// `ba_*` what it received as `top` counts them, `star` bit 0 set when a pair of it had traffic
    /// between `*` and `*`, bit 1 between `*` and another end (its label). Rollup rows of which no
    /// observation counts make one pair row of their kind with ends '' (no resolved end is empty)
    /// and no counters, so that every row's share of the signature (`sig`, on level 0) is kept.
    static func fillStatement(_ days: [Int64], _ ids: [UInt64]) -> String {
        let list = days.map(String.init).joined(separator: ", ")
        let traffic = "(abP != 0 OR abB != 0 OR baP != 0 OR baB != 0)"
        return """
            INSERT INTO day_sums (fill, bucket, level, kind, a, b, ab_packets, ab_bytes, ba_packets, ba_bytes, star, sig)
            SELECT transform(bucket, [\(list)], [\(ids.map(String.init).joined(separator: ", "))], toUInt64(0)) AS f, bucket,
                   r.1 AS lv, kind, r.2 AS ra, r.3 AS rb, sum(r.4), sum(r.5), sum(r.6), sum(r.7), groupBitOr(r.8), sum(r.9)
            FROM (
                SELECT bucket, kind,
                       toUInt8(\(traffic) AND a = '*' AND b = '*') + toUInt8(2 * (\(traffic) AND ((a = '*') != (b = '*')))) AS st,
                       arrayJoin([(toUInt8(0), a, b, abP, abB, baP, baB, toUInt8(0), s),
                                  (toUInt8(1), a, '', abP, abB, baP, baB, toUInt8(st), toUInt64(0)),
                                  (toUInt8(1), b, '', baP, baB, abP, abB, toUInt8(st), toUInt64(0))]) AS r
                FROM (
                    SELECT bucket, kind, a, b, sum(abP_) AS abP, sum(abB_) AS abB, sum(baP_) AS baP, sum(baB_) AS baB, sum(s_) AS s
                    FROM (
                        WITH if(xr, x = reporter, if(yr, y = reporter, 1)) AS fwd, if(yr, y = reporter, if(xr, x = reporter, 1)) AS rev
                        SELECT bucket, kind, fwd OR rev AS counted, x <= y AS forward,
                               if(counted, if(forward, x, y), '') AS a, if(counted, if(forward, y, x), '') AS b,
                               if(fwd AND forward, tx_bytes, 0) + if(rev AND y <= x, rx_bytes, 0) AS abB_,
                               if(fwd AND NOT forward, tx_bytes, 0) + if(rev AND NOT (y <= x), rx_bytes, 0) AS baB_,
                               if(fwd AND forward, tx_packets, 0) + if(rev AND y <= x, rx_packets, 0) AS abP_,
                               if(fwd AND NOT forward, tx_packets, 0) + if(rev AND NOT (y <= x), rx_packets, 0) AS baP_,
                               \(signature) AS s_
                        FROM (
                            SELECT bucket, reporter, kind, proto, port, side, tx_packets, tx_bytes, rx_packets, rx_bytes,
                                   if(kind = 3, reporter, if(src = '', '*', if(xo = '', src, xo))) AS x, if(dst = '', '*', if(yo = '', dst, yo)) AS y,
                                   kind = 3 OR (src != '' AND xrep = 1) AS xr, dst != '' AND yrep = 1 AS yr
                            FROM (SELECT * FROM (SELECT * FROM rollup_1d WHERE bucket IN (\(list)))
                                  ANY LEFT JOIN (SELECT ip AS src, o AS xo, rep AS xrep FROM tf_owners) USING src)
                            ANY LEFT JOIN (SELECT ip AS dst, o AS yo, rep AS yrep FROM tf_owners) USING dst
                        )
                    )
                    GROUP BY bucket, kind, a, b
                )
            )
            WHERE r.1 = 0 OR r.2 != ''
            GROUP BY bucket, lv, kind, ra, rb
            """
    }

    /// The fills given up (``cleanUp(keeping:current:)``): each has a tombstone, a record with no
    /// rows (`rows` 0, `fp` 0) made when it was given up. Readers do not take them.
    static let tombstoned = "SELECT fill FROM day_sums_fills WHERE rows = 0"

    /// Bounds what fills leave behind, in two steps a grace apart, so that a question that found a
    /// fill current reads it before its rows go:
    /// 1. fills older than ``grace`` seconds that are neither one of `current` (the fills the
    ///    caller found current or made) nor the newest of their day under `fp` (the fingerprint of
    ///    node tables the caller has found current) are given up: a tombstone record each, made now
    ///    (no question looks them up after that);
    /// 2. the rows of fills given up more than ``grace`` seconds ago, and of fills without any
    ///    record that are as old (a question died before writing it), are dropped (`DROP PARTITION`),
    ///    then those fills' records and tombstones are deleted.
    ///
    /// A question that took a fill before its tombstone reads it within the grace (at least 60 s).
    /// Best effort: a failure leaves them for the next fill.
    func cleanUp(keeping fp: UInt64, current: [UInt64]) {
        let old = "now() - \(Self.grace)"
        let keep = current.filter { $0 != 0 }.map(String.init)
        _ = try? client.run("""
            INSERT INTO day_sums_fills (fp, bucket, sig, fill, rows, made)
            SELECT 0, any(bucket), 0, fill, 0, now() FROM day_sums_fills
            WHERE rows > 0 AND made < \(old) AND fill NOT IN (\(Self.tombstoned)) AND fill NOT IN (\(keep.isEmpty ? "0" : keep.joined(separator: ", ")))
              AND (fp != \(fp) OR fill NOT IN (
                  SELECT argMax(fill, (made, fill)) FROM day_sums_fills WHERE fp = \(fp) AND rows > 0 AND fill NOT IN (\(Self.tombstoned)) GROUP BY bucket))
            GROUP BY fill
            """)
        guard let gone = try? client.rows("""
            SELECT p FROM (
                SELECT toUInt64(partition) AS p, max(modification_time) AS t FROM system.parts
                WHERE database = currentDatabase() AND table = 'day_sums' AND active GROUP BY partition
            ) WHERE p IN (SELECT fill FROM day_sums_fills WHERE rows = 0 AND made < \(old))
                 OR (t < \(old) AND p NOT IN (SELECT fill FROM day_sums_fills))
            """) else { return }
        var dropped: [String] = []
        for p in gone.compactMap({ $0.first.flatMap { UInt64($0) } }) {
            if (try? client.run("ALTER TABLE day_sums DROP PARTITION \(p)")) != nil { dropped.append(String(p)) }
        }
        if !dropped.isEmpty {
            _ = try? client.run("ALTER TABLE day_sums_fills DELETE WHERE fill IN (\(dropped.joined(separator: ", ")))")
        }
    }
}

/// The fills a question last found current, per day, under one fingerprint: the next question
/// asks its answer with them at once, while it looks the current fills up (``ClickHouseDaySums/fills(days:directory:)``),
/// and asks again only should they differ. Kept beside ``NodeTablesCache`` (in memory, and in a
/// file `….days` for commands), read and written as that cache's file is: a key line (which
/// store, which binary), a seal, and taken only when it is a regular file of this user's that no
/// one else may write, opened without following a link nor blocking on a FIFO
/// (``NodeTablesCache/ownContents(_:)``). What the file says is never taken on trust anyway: an
/// answer asked with fills that are not the current ones is thrown away, so a stale or altered
/// file costs a wasted answer, not a wrong one.
final class KeptFills: @unchecked Sendable {
    private let lock = NSLock()
    private var memory: (fp: UInt64, fills: [Int64: UInt64])?
    private var loaded = false
    let file: URL?
    /// The file's first line: ``NodeTablesCache/key`` under a name of its own.
    let key: [String]

    init(file: URL?, key: [String]) {
        self.file = file
        self.key = ["tailflow day fills 1"] + key.dropFirst()
    }

    /// The kept fill of each of `days` under `fp`; nil unless every day has one.
    func fills(_ fp: UInt64, _ days: [Int64]) -> [UInt64]? {
        lock.lock()
        defer { lock.unlock() }
        if !loaded {
            loaded = true
            if let file, let body = NodeTablesCache.readSealed(file) {
                let rows = TabSeparated.parse(Array(body))
                if rows.first == key {
                    var fills: [Int64: UInt64] = [:]
                    var kept: UInt64?
                    for f in rows.dropFirst() {
                        guard f.count == 3, let p = UInt64(f[0]), let day = Int64(f[1]), let fill = UInt64(f[2]), kept == nil || kept == p else { continue }
                        kept = p
                        fills[day] = fill
                    }
                    if let kept { memory = (kept, fills) }
                }
            }
        }
        guard let memory, memory.fp == fp else { return nil }
        let out = days.compactMap { memory.fills[$0] }
        return out.count == days.count ? out : nil
    }

    /// Keeps `fills` as the current fills of `days` under `fp` (with those of other days under it).
    func keep(_ fp: UInt64, _ days: [Int64], _ fills: [UInt64]) {
        let text: String? = lock.withLock {
            var all = memory?.fp == fp ? memory!.fills : [:]
            for (day, fill) in zip(days, fills) { all[day] = fill }
            if memory?.fp == fp, memory!.fills == all { return nil }
            memory = (fp, all)
            loaded = true
            return key.map(TabSeparated.escape).joined(separator: "\t") + "\n"
                + all.sorted { $0.key < $1.key }.map { "\(fp)\t\($0.key)\t\($0.value)\n" }.joined()
        }
        guard let text, let file else { return }
        NodeTablesCache.writeSealed(text, to: file)
    }
}
