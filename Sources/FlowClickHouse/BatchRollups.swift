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
/// for t in BatchRollups(messages, Array(messages.indices)).tables() { try client.run(t.insert, data: t.rows) }
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
    /// Per level, the rollup rows, and the sightings rows, in the table's order.
    private(set) var rollups: [[(key: Key, value: Sums)]] = Array(repeating: [], count: levels.count)
    private(set) var sightings: [[(key: Key, value: Sums)]] = Array(repeating: [], count: levels.count)

    /// Per level, the bucket being summed and its sums by key.
    private var summing: [(bucket: Int64, sums: [Key: Sums])] = Array(repeating: (Int64.min, [:]), count: levels.count)

    /// Sums `messages[order]` (each once; a message without rows, kind 255 in `flows`, is no key),
    /// reading the messages in place (copying each into a list of its own retained every part of it:
    /// a third of this work).
    ///
    /// Bucket by bucket in time order (the writer sorts a batch by window start; another order is
    /// sorted here): each level sums one bucket at a time in a small table, then appends its rows
    /// sorted, and hands them to the next level: small tables that stay in the cache, rather than
    /// one per level for the whole batch (hundreds of thousands of keys) sorted at the end.
    init(_ messages: [FlowMessage], _ order: [Int]) {
        var order = order
        if order.indices.dropFirst().contains(where: { messages[order[$0 - 1]].start > messages[order[$0]].start }) {
            order.sort { messages[$0].start < messages[$1].start }
        }
        // The texts first, so that keys hold ranks in the texts' byte order; each row's two
        // addresses are looked up once (-1: none), the last of each side remembered.
        var reporterIDs: [String: Int] = [:], addressIDs: [IPAddress: Int32] = [:]
        var reporters: [String] = [], addresses: [IPAddress] = []
        var rows = 0
        for index in order { rows += messages[index].rows.count }
        var messageReporter = [Int](repeating: 0, count: messages.count)
        var rowAddresses: [(src: Int32, dst: Int32)] = []
        rowAddresses.reserveCapacity(rows)
        var lastSrc: (address: IPAddress, id: Int32)?, lastDst: (address: IPAddress, id: Int32)?
        func id(_ a: IPAddress?, _ last: inout (address: IPAddress, id: Int32)?) -> Int32 {
            guard let a else { return -1 }
            if let l = last, l.address == a { return l.id }
            let i: Int32
            if let known = addressIDs[a] {
                i = known
            } else {
                i = Int32(addresses.count)
                addressIDs[a] = i
                addresses.append(a)
            }
            last = (a, i)
            return i
        }
        for index in order where !messages[index].rows.isEmpty {
            if let r = reporterIDs[messages[index].nodeID] {
                messageReporter[index] = r
            } else {
                messageReporter[index] = reporters.count
                reporterIDs[messages[index].nodeID] = reporters.count
                reporters.append(messages[index].nodeID)
            }
            for r in messages[index].rows { rowAddresses.append((id(r.src, &lastSrc), id(r.dst, &lastDst))) }
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
        var addressRank = [UInt64](repeating: 0, count: addresses.count)
        addressTexts.append([0])
        for (rank, id) in addressOrder.enumerated() {
            addressRank[id] = UInt64(rank + 1)
            var t = RowBinary()
            t.string(addressStrings[id])
            addressTexts.append(t.bytes)
        }

        var row = 0
        for index in order where !messages[index].rows.isEmpty {
            let start = messages[index].start
            let reporter = UInt64(reporterRank[messageReporter[index]]) << 40
            let bucket = start / (60 * Timestamp.nanosPerSecond) * 60
            if bucket != summing[0].bucket { close(0, next: bucket) }
            for r in messages[index].rows {
                let port = FlowRow.servicePort(r.srcPort, r.dstPort)
                let side: UInt64 = r.srcPort == r.dstPort ? 1 : port == r.dstPort ? 2 : 3
                let ids = rowAddresses[row]
                row += 1
                let src = ids.src < 0 ? 0 : addressRank[Int(ids.src)]
                let dst = ids.dst < 0 ? 0 : addressRank[Int(ids.dst)]
                let key = Key(bucket: bucket, b: reporter | side << 32 | src,
                              c: dst << 32 | UInt64(r.kind.rawValue) << 24 | UInt64(r.proto) << 16 | UInt64(port))
                let tx = r.txPackets != 0 || r.txBytes != 0, rx = r.rxPackets != 0 || r.rxBytes != 0
                let s = Sums(txPackets: UInt64(r.txPackets), txBytes: UInt64(r.txBytes), rxPackets: UInt64(r.rxPackets),
                             rxBytes: UInt64(r.rxBytes), txFirst: tx ? start : Self.noFirst, txLast: tx ? start : Self.noLast,
                             rxFirst: rx ? start : Self.noFirst, rxLast: rx ? start : Self.noLast)
                summing[0].sums[key, default: Sums()].add(s)
            }
        }
        for level in Self.levels.indices { close(level, next: Int64.min) }
    }

    /// Ends level `level`'s open bucket (when it has one) and opens `next`: the bucket's rows are
    /// appended sorted, with their sightings, and added to the next level's bucket that holds it
    /// (a minute lies inside one hour, an hour inside one day).
    private mutating func close(_ level: Int, next: Int64) {
        defer { summing[level].bucket = next }
        guard !summing[level].sums.isEmpty else { return }
        let done = summing[level].sums.sorted { Key.ordered($0.key, $1.key) }
        summing[level].sums.removeAll(keepingCapacity: true)
        rollups[level].append(contentsOf: done)
        var seen: [Key: Sums] = [:]
        seen.reserveCapacity(done.count)
        for (k, s) in done { seen[k.sightings, default: Sums()].add(s) }
        sightings[level].append(contentsOf: seen.sorted { Key.ordered($0.key, $1.key) })
        guard level + 1 < Self.levels.count else { return }
        let step = Self.levels[level + 1].step
        for (k, s) in done {
            let key = k.rebucketed(step)
            if key.bucket != summing[level + 1].bucket { close(level + 1, next: key.bucket) }
            summing[level + 1].sums[key, default: Sums()].add(s)
        }
    }

    /// Whether the batch holds no flow row.
    var isEmpty: Bool { rollups[0].isEmpty }

    /// The six inserts: each level's rollups, then each level's sightings, as RowBinary in the table's order.
    func tables() -> [(insert: String, rows: [UInt8])] {
        var out: [(String, [UInt8])] = []
        for (level, sums) in zip(Self.levels, rollups) {
            var rows = RowBinary()
            rows.bytes.reserveCapacity(sums.count * 80)
            for (k, s) in sums {
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
        for (level, seen) in zip(Self.levels, sightings) {
            var rows = RowBinary()
            rows.bytes.reserveCapacity(seen.count * 80)
            for (k, s) in seen {
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
