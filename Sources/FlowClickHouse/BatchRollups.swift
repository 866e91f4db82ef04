import FlowModel

/// The rollup rows (schema 003) and first and last sightings (schema 004) of a batch of new
/// messages, summed by tailflow's writer and inserted beside their raw rows (schema 005: no
/// materialized views over `flows` feed them any more).
///
/// Each table gets the rows its view computed from the same raw rows (the same buckets, keys,
/// sums and sentinels: ``ClickHouseRollups/reconcile(_:from:through:)`` finds nothing to add after
/// them), sorted in the table's order, so that the server neither aggregates nor sorts them (the
/// views did both per insert: 80 % of the server's insert work, measured on 500,000-row blocks).
///
/// For example:
/// ```swift
/// for t in BatchRollups(messages).tables() { try client.run(t.insert, data: t.rows) }
/// ```
struct BatchRollups {
    /// A rollup key with its text columns as ranks (their order is the texts' byte order):
    /// `b` = reporter << 40 | side << 32 | src, `c` = dst << 32 | kind << 24 | proto << 16 | port.
    /// A sightings key is one with port and side 0.
    struct Key: Hashable {
        var bucket: Int64
        var b: UInt64
        var c: UInt64

        var reporter: Int { Int(b >> 40) }
        var side: UInt8 { UInt8(truncatingIfNeeded: b >> 32) }
        var src: Int { Int(b & 0xffff_ffff) }
        var dst: Int { Int(c >> 32) }
        var kind: UInt8 { UInt8(truncatingIfNeeded: c >> 24) }
        var proto: UInt8 { UInt8(truncatingIfNeeded: c >> 16) }
        var port: UInt16 { UInt16(truncatingIfNeeded: c) }

        /// The sightings key: without the service port and its side.
        var sightings: Key { Key(bucket: bucket, b: b & ~(0xff << 32), c: c & ~0xffff) }

        func rebucketed(_ step: Int64) -> Key { Key(bucket: bucket / step * step, b: b, c: c) }

        /// The tables' order: bucket, reporter, kind, proto, port, side, src, dst.
        static func ordered(_ x: Key, _ y: Key) -> Bool {
            if x.bucket != y.bucket { return x.bucket < y.bucket }
            if x.reporter != y.reporter { return x.reporter < y.reporter }
            if x.c & 0xffff_ffff != y.c & 0xffff_ffff { return x.c & 0xffff_ffff < y.c & 0xffff_ffff }  // kind, proto, port
            if x.side != y.side { return x.side < y.side }
            if x.src != y.src { return x.src < y.src }
            return x.dst < y.dst
        }
    }

    /// A key's four counters summed (wrapping, as ClickHouse's UInt64 sums) and, per direction,
    /// the earliest and latest window start of its rows with that direction's counters not both
    /// zero (sentinels otherwise, as schema 004's views write them).
    struct Sums {
        var txPackets: UInt64 = 0, txBytes: UInt64 = 0, rxPackets: UInt64 = 0, rxBytes: UInt64 = 0
        var txFirst = noFirst, txLast = noLast, rxFirst = noFirst, rxLast = noLast

        mutating func add(_ o: Sums) {
            txPackets &+= o.txPackets
            txBytes &+= o.txBytes
            rxPackets &+= o.rxPackets
            rxBytes &+= o.rxBytes
            txFirst = min(txFirst, o.txFirst)
            txLast = max(txLast, o.txLast)
            rxFirst = min(rxFirst, o.rxFirst)
            rxLast = max(rxLast, o.rxLast)
        }
    }

    static let noFirst = Int64.max
    static let noLast = -Int64.max

    /// The levels: table suffix and bucket length in seconds.
    static let levels: [(name: String, step: Int64)] = [("1m", 60), ("1h", 3600), ("1d", 86_400)]

    /// Each reporter's and each address's text as a RowBinary string, by rank ("" is the no-address rank 0).
    private(set) var reporterTexts: [[UInt8]] = []
    private(set) var addressTexts: [[UInt8]] = []
    /// Per level, the rollup sums by key.
    private(set) var rollups: [[Key: Sums]] = []

    /// Sums `messages` (each once; a message without rows, kind 255 in `flows`, is no key).
    init(_ messages: [(FlowMessage, Int64)]) {
        // The texts first, so that keys hold ranks in the texts' byte order.
        var reporterIDs: [String: Int] = [:], addressIDs: [IPAddress: Int] = [:]
        var reporters: [String] = [], addresses: [IPAddress] = []
        var rows = 0
        for (m, _) in messages where !m.rows.isEmpty {
            rows += m.rows.count
            if reporterIDs[m.nodeID] == nil {
                reporterIDs[m.nodeID] = reporters.count
                reporters.append(m.nodeID)
            }
            for r in m.rows {
                if let a = r.src, addressIDs[a] == nil {
                    addressIDs[a] = addresses.count
                    addresses.append(a)
                }
                if let a = r.dst, addressIDs[a] == nil {
                    addressIDs[a] = addresses.count
                    addresses.append(a)
                }
            }
        }
        let reporterOrder = reporters.indices.sorted { reporters[$0].utf8.lexicographicallyPrecedes(reporters[$1].utf8) }
        let addressStrings = addresses.map(\.description)
        // Rank 0 is "" (no address), the least text.
        let addressOrder = addresses.indices.sorted { addressStrings[$0].utf8.lexicographicallyPrecedes(addressStrings[$1].utf8) }
        var reporterRank = [Int](repeating: 0, count: reporters.count)
        for (rank, id) in reporterOrder.enumerated() {
            reporterRank[id] = rank
            var t = RowBinary()
            t.string(reporters[id])
            reporterTexts.append(t.bytes)
        }
        var addressRank = [Int](repeating: 0, count: addresses.count)
        addressTexts.append([0])
        for (rank, id) in addressOrder.enumerated() {
            addressRank[id] = rank + 1
            var t = RowBinary()
            t.string(addressStrings[id])
            addressTexts.append(t.bytes)
        }

        var minutes: [Key: Sums] = [:]
        minutes.reserveCapacity(rows)
        for (m, _) in messages where !m.rows.isEmpty {
            let reporter = UInt64(reporterRank[reporterIDs[m.nodeID]!]) << 40
            let bucket = m.start / (60 * Timestamp.nanosPerSecond) * 60
            for r in m.rows {
                let port = FlowRow.servicePort(r.srcPort, r.dstPort)
                let side: UInt64 = r.srcPort == r.dstPort ? 1 : port == r.dstPort ? 2 : 3
                let src = r.src.map { UInt64(addressRank[addressIDs[$0]!]) } ?? 0
                let dst = r.dst.map { UInt64(addressRank[addressIDs[$0]!]) } ?? 0
                let key = Key(bucket: bucket, b: reporter | side << 32 | src,
                              c: dst << 32 | UInt64(r.kind.rawValue) << 24 | UInt64(r.proto) << 16 | UInt64(port))
                let tx = r.txPackets != 0 || r.txBytes != 0, rx = r.rxPackets != 0 || r.rxBytes != 0
                let s = Sums(txPackets: UInt64(r.txPackets), txBytes: UInt64(r.txBytes), rxPackets: UInt64(r.rxPackets),
                             rxBytes: UInt64(r.rxBytes), txFirst: tx ? m.start : Self.noFirst, txLast: tx ? m.start : Self.noLast,
                             rxFirst: rx ? m.start : Self.noFirst, rxLast: rx ? m.start : Self.noLast)
                minutes[key, default: Sums()].add(s)
            }
        }
        rollups = [minutes]
        // Each longer level from the one before (a minute lies inside one hour, an hour inside one day).
        for level in Self.levels.dropFirst() {
            var next: [Key: Sums] = [:]
            for (k, s) in rollups[rollups.count - 1] { next[k.rebucketed(level.step), default: Sums()].add(s) }
            rollups.append(next)
        }
    }

    /// Whether the batch holds no flow row.
    var isEmpty: Bool { rollups.first?.isEmpty ?? true }

    /// The six inserts: each level's rollups, then each level's sightings, as RowBinary in the table's order.
    func tables() -> [(insert: String, rows: [UInt8])] {
        var out: [(String, [UInt8])] = []
        for (level, sums) in zip(Self.levels, rollups) {
            var rows = RowBinary()
            rows.bytes.reserveCapacity(sums.count * 80)
            for k in sums.keys.sorted(by: Key.ordered) {
                let s = sums[k]!
                rows.i64(k.bucket)
                rows.bytes.append(contentsOf: reporterTexts[k.reporter])
                rows.u8(k.kind)
                rows.u8(k.proto)
                rows.u16(k.port)
                rows.u8(k.side)
                rows.bytes.append(contentsOf: addressTexts[k.src])
                rows.bytes.append(contentsOf: addressTexts[k.dst])
                rows.u64(s.txPackets)
                rows.u64(s.txBytes)
                rows.u64(s.rxPackets)
                rows.u64(s.rxBytes)
            }
            out.append(("""
                INSERT INTO rollup_\(level.name) (bucket, reporter, kind, proto, port, side, src, dst, \
                tx_packets, tx_bytes, rx_packets, rx_bytes) FORMAT RowBinary
                """, rows.bytes))
        }
        for (level, sums) in zip(Self.levels, rollups) {
            var seen: [Key: Sums] = [:]
            seen.reserveCapacity(sums.count)
            for (k, s) in sums { seen[k.sightings, default: Sums()].add(s) }
            var rows = RowBinary()
            rows.bytes.reserveCapacity(seen.count * 80)
            for k in seen.keys.sorted(by: Key.ordered) {
                let s = seen[k]!
                rows.i64(k.bucket)
                rows.bytes.append(contentsOf: reporterTexts[k.reporter])
                rows.u8(k.kind)
                rows.u8(k.proto)
                rows.bytes.append(contentsOf: addressTexts[k.src])
                rows.bytes.append(contentsOf: addressTexts[k.dst])
                // A min or max state of Int64: a flag that it holds a value, then the value.
                rows.u8(1)
                rows.i64(s.txFirst)
                rows.u8(1)
                rows.i64(s.txLast)
                rows.u8(1)
                rows.i64(s.rxFirst)
                rows.u8(1)
                rows.i64(s.rxLast)
            }
            out.append(("""
                INSERT INTO sightings_\(level.name) (bucket, reporter, kind, proto, src, dst, \
                tx_first, tx_last, rx_first, rx_last) FORMAT RowBinary
                """, rows.bytes))
        }
        return out
    }
}
