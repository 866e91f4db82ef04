import FlowModel
import Foundation
import GRDB

/// `schema/007_direction_and_labels.sql`: rebuilds stored rollup sums from the raw rows, so
/// that they carry which end held the service port (``ServiceSide``).
///
/// Per reporter, its messages are read in time order and summed per minute; each
/// finished bucket is passed up to the next level (hour, day, 2–16 days), so one bucket
/// per level is in memory at a time. A rebuilt bucket replaces the stored one only when
/// both hold the same sums once the side is set aside: then the raw rows were all there
/// (the sums are the same data, now with direction). Otherwise (raw rows pruned, a
/// bucket only partly covered) the stored sums stay as they are, side not recorded.
enum RollupRebuild {
    static let migration = "007_direction_and_labels"

    struct Key: Hashable {
        var kind: TrafficKind
        var src: Int64
        var dst: Int64
        var proto: UInt8
        var port: UInt16
        var side: ServiceSide

        var sideless: Key {
            var k = self
            k.side = .unknown
            return k
        }
    }

    /// What the rebuild did, for tests and the log.
    struct Stats: Equatable {
        var rebuilt = 0
        var kept = 0
    }

    @discardableResult
    static func run(_ db: Database) throws -> Stats {
        var stats = Stats()
        let reporters = try Int64.fetchAll(db, sql: "SELECT id FROM nodes ORDER BY id")
        for reporter in reporters {
            try rebuild(db, reporter: reporter, &stats)
        }
        return stats
    }

    /// One level's bucket in progress.
    struct Level {
        let step: Int64
        var bucket: Int64?
        var sums: [Key: Counters] = [:]
    }

    static func rebuild(_ db: Database, reporter: Int64, _ stats: inout Stats) throws {
        var levels = RollupStep.all.map { Level(step: $0) }
        // The raw rows as stored before schema/009 or after it (a store that ran this migration
        // again has them in groups).
        var stored: [(Int64, Data)] = []
        if try db.tableExists("messages") {
            for m in try Row.fetchAll(db, sql: "SELECT start_ns, rows FROM messages WHERE reporter = ? ORDER BY start_ns", arguments: [reporter]) {
                stored.append((m[0], m[1]))
            }
        } else {
            try SQLiteSnapshot(db).groupedMessages(from: .min, to: .max, reporter: reporter, descending: false, reporters: { _ in true }) { h, _, packed in
                stored.append((h.start, Data(packed)))
                return true
            }
        }
        var minute: [Key: Counters] = [:]
        var currentMinute: Int64?
        for m in stored {
            let start: Int64 = m.0
            let bucket = Timestamp.floorDivMod(start, 60 * Timestamp.nanosPerSecond).0 * 60
            if bucket != currentMinute, let b = currentMinute {
                try add(db, reporter: reporter, &levels, 0, bucket: b, minute, &stats)
                minute.removeAll(keepingCapacity: true)
            }
            currentMinute = bucket
            let blob: Data = m.1
            // Rows that cannot be read are left out: their buckets then differ from the stored
            // sums and keep them, so the upgrade never stops on one bad blob nor loses its sums.
            var rows: [StoredRow] = []
            guard (try? blob.withUnsafeBytes({ raw in try RowCodec.decode(raw) { rows.append($0) } })) != nil else { continue }
            for r in rows {
                minute[Key(kind: r.kind, src: r.src, dst: r.dst, proto: r.proto, port: r.servicePort, side: r.serviceSide), default: Counters()]
                    .add(Counters(txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes))
            }
        }
        if let b = currentMinute { try add(db, reporter: reporter, &levels, 0, bucket: b, minute, &stats) }
        for i in levels.indices { try finish(db, reporter: reporter, &levels, i, &stats) }
    }

    /// Adds one finished bucket of the level below (or raw minute sums) to level `i`.
    static func add(_ db: Database, reporter: Int64, _ levels: inout [Level], _ i: Int, bucket: Int64, _ sums: [Key: Counters],
                    _ stats: inout Stats) throws {
        let step = levels[i].step
        let b = bucket - ((bucket % step) + step) % step
        if let current = levels[i].bucket, current != b { try finish(db, reporter: reporter, &levels, i, &stats) }
        levels[i].bucket = b
        for (k, c) in sums { levels[i].sums[k, default: Counters()].add(c) }
    }

    /// Writes level `i`'s bucket in progress (when the stored one holds the same sums) and passes it up.
    static func finish(_ db: Database, reporter: Int64, _ levels: inout [Level], _ i: Int, _ stats: inout Stats) throws {
        guard let bucket = levels[i].bucket else { return }
        let step = levels[i].step
        let sums = levels[i].sums
        levels[i].bucket = nil
        levels[i].sums = [:]
        var stored: [Key: Counters] = [:]
        for blob in try Data.fetchAll(db, sql: "SELECT sums FROM rollups WHERE step = ? AND reporter = ? AND bucket = ?",
                                      arguments: [step, reporter, bucket]) {
            try blob.withUnsafeBytes { raw in
                try RollupCodec.decode(raw) { e in
                    stored[Key(kind: e.kind, src: e.src, dst: e.dst, proto: e.proto, port: e.port, side: .unknown), default: Counters()].add(e.counters)
                }
            }
        }
        var rebuilt: [Key: Counters] = [:]
        for (k, c) in sums { rebuilt[k.sideless, default: Counters()].add(c) }
        if rebuilt == stored {
            let entries = sums.map { k, c in
                RollupEntry(kind: k.kind, src: k.src, dst: k.dst, proto: k.proto, port: k.port, side: k.side, counters: c)
            }.sorted()
            var blob: [UInt8] = []
            RollupCodec.encode(entries, into: &blob)
            try db.execute(sql: "DELETE FROM rollups WHERE step = ? AND reporter = ? AND bucket = ?", arguments: [step, reporter, bucket])
            try db.execute(sql: "INSERT INTO rollups (step, reporter, bucket, part, entries, sums) VALUES (?, ?, ?, 0, ?, ?)",
                           arguments: [step, reporter, bucket, entries.count, Data(blob)])
            stats.rebuilt += 1
        } else {
            stats.kept += 1
        }
        if i + 1 < levels.count { try add(db, reporter: reporter, &levels, i + 1, bucket: bucket, sums, &stats) }
    }
}
