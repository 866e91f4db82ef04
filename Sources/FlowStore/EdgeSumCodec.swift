public import FlowModel
import GRDB

/// One counted edge of a bucket (`edge_sums`, schema/010_edge_sums.sql): what `from` sent
/// to `to` in traffic of `kind`, counted from the side SPEC §3 says.
///
/// Endpoints are the query layer's raw values: a node is its negated `nodes.id`, an address
/// its `addresses.id`, `*` is 0.
public struct EdgeSum: Hashable, Sendable {
    public var kind: TrafficKind
    public var from: Int64
    public var to: Int64
    public var packets: Int64
    public var bytes: Int64

    public init(kind: TrafficKind, from: Int64, to: Int64, packets: Int64, bytes: Int64) {
        self.kind = kind
        self.from = from
        self.to = to
        self.packets = packets
        self.bytes = bytes
    }
}

/// The packed encoding of `edge_sums.sums`.
///
/// Format 1: one version byte (1), then per edge, sorted by (kind, from, to): a byte with
/// the kind, zig-zag varints of `from` as a delta from the previous edge's and of `to`,
/// then varints of packets and bytes.
package enum EdgeSumCodec {
    package static let version: UInt8 = 1

    /// Encodes edges, which must be sorted by (kind, from, to) and unique.
    package static func encode(_ edges: [EdgeSum]) -> [UInt8] {
        var out: [UInt8] = [version]
        out.reserveCapacity(edges.count * 8 + 1)
        var prev: Int64 = 0
        for e in edges {
            out.append(e.kind.rawValue)
            RowCodec.putVarint(UInt64(bitPattern: e.from &- prev).zigzagged, &out)
            RowCodec.putVarint(UInt64(bitPattern: e.to).zigzagged, &out)
            RowCodec.putVarint(UInt64(bitPattern: e.packets), &out)
            RowCodec.putVarint(UInt64(bitPattern: e.bytes), &out)
            prev = e.from
        }
        return out
    }

    /// Decodes a packed blob, calling `body` for each edge.
    @inline(__always)
    package static func decode(_ blob: UnsafeRawBufferPointer, _ body: (EdgeSum) throws -> Void) throws {
        var r = try BlobReader(blob, version: version, what: "edge sums")
        var from: Int64 = 0
        while !r.atEnd {
            guard let kind = TrafficKind(rawValue: r.byte()) else { throw StoreError(.sqlite, "edge sums blob is corrupt") }
            from = from &+ Int64(bitPattern: try r.varint().unzigzagged)
            let to = Int64(bitPattern: try r.varint().unzigzagged)
            let packets = Int64(bitPattern: try r.varint()), bytes = Int64(bitPattern: try r.varint())
            try body(EdgeSum(kind: kind, from: from, to: to, packets: packets, bytes: bytes))
        }
    }
}

extension FlowStore {
    /// Runs `body` in one write transaction, for refreshing `edge_sums` (schema/010): it gets a
    /// snapshot of the transaction, a function listing the (step, bucket) pairs of a day or more
    /// that have rollups but no edge sums counted under a resolution, and one storing a bucket's
    /// edges (sorted by kind, from, to) under a resolution.
    ///
    /// Only a process that holds no long-lived writer of this store may call it.
    package func updateEdgeSums<T>(_ body: (any StoreSnapshot, _ stale: (Int64) throws -> [(step: Int64, bucket: Int64)],
                                            _ put: (Int64, Int64, Int64, [EdgeSum]) throws -> Void) throws -> T) throws -> T {
        try sqlite {
            try pool.write { db in
                let snapshot = SQLiteSnapshot(db)
                guard try snapshot.edgeSumsKept() else {
                    return try body(snapshot, { _ in [] }, { _, _, _, _ in })
                }
                // The first and last bucket of each step, from each reporter's two ends of its
                // key range (a scan of the rollups would read every long bucket's sums).
                let range = try RawStatement(cached: db, """
                    SELECT min(lo), max(hi) FROM (SELECT
                        (SELECT bucket FROM rollups r WHERE r.step = ?1 AND r.reporter = n.id ORDER BY r.bucket ASC LIMIT 1) AS lo,
                        (SELECT bucket FROM rollups r WHERE r.step = ?1 AND r.reporter = n.id ORDER BY r.bucket DESC LIMIT 1) AS hi
                    FROM nodes n)
                    """)
                let kept = try RawStatement(cached: db, "SELECT bucket FROM edge_sums WHERE step = ?1 AND resolution = ?2")
                let put = try RawStatement(cached: db, "INSERT OR REPLACE INTO edge_sums (step, bucket, resolution, edges, sums) VALUES (?, ?, ?, ?, ?)")
                let coverage = try snapshot.levelCoverage()
                return try body(snapshot, { resolution in
                    var out: [(step: Int64, bucket: Int64)] = []
                    for step in RollupStep.all where step >= RollupStep.day {
                        range.bind(1, step)
                        defer { range.reset() }
                        guard try range.step(), let lo = range.optionalInt64(0), let hi = range.optionalInt64(1) else { continue }
                        kept.bind(1, step)
                        kept.bind(2, resolution)
                        defer { kept.reset() }
                        var have: Set<Int64> = []
                        while try kept.step() { have.insert(kept.int64(0)) }
                        // Every bucket between: one without rollups (a gap) counts as no edges.
                        // A bucket that ends after its level's mark (schema/012) is not complete yet: no question reads it.
                        let complete = coverage.latest(step)
                        for bucket in stride(from: lo, through: hi, by: Int(step)) where !have.contains(bucket) {
                            if complete != .max, (bucket + step) * Timestamp.nanosPerSecond > complete { break }
                            out.append((step, bucket))
                        }
                    }
                    return out
                }, { step, bucket, resolution, edges in
                    put.bind(1, step)
                    put.bind(2, bucket)
                    put.bind(3, resolution)
                    put.bind(4, Int64(edges.count))
                    put.bind(5, blob: EdgeSumCodec.encode(edges))
                    defer { put.reset() }
                    _ = try put.step()
                })
            }
        }
    }
}
