import FlowModel
import FlowStore
import Foundation

/// The store protocol's reads (``StoreSnapshot``) over ClickHouse SQL, so that every question
/// the ``QueryEngine`` answers works on this backend unchanged (the generic path; the questions
/// ``ClickHouseQueries`` pushes down do not come here).
///
/// Ids: SQLite's snapshot speaks in interned ids, ClickHouse stores texts. Nodes get the ids of
/// `node_ids` (1, 2, 3… in the order the writer first met them, as SQLite numbers them), so that
/// raw rows list in the same order and with the same cursors on both backends; addresses get ids
/// in this snapshot only: the owned ones 1…n (sorted), every other address the next free id when
/// a scan first meets it.
///
/// Big scans stream: a window is read in slices of at most ``sliceRows`` flow rows (planned from
/// per-minute counts), each slice one SELECT in RowBinary, so a day of rows is never held whole.
/// Rollups are read from the rollup tables (schema 003), summed by the server (one GROUP BY per
/// planner segment for all reporters, handed out reporter by reporter).
final class ClickHouseSnapshot: StoreSnapshot {
    let client: ClickHouseClient
    let directory: NodeDirectory
    /// Node id by stable ID, and back.
    var nodeIDs: [String: Int64] = [:]
    var stableIDs: [Int64: String] = [:]
    /// Address id by text, and back; ids above ``ownedAddresses`` are given as scans meet them.
    var addressIDs: [String: Int64] = [:]
    var texts: [Int64: String] = [:]
    let ownedAddresses: Int64
    /// The current rollup segment's sums, by reporter id (handed out once each).
    var rollupCache: (key: RollupKey, byReporter: [Int64: [(Int64, RollupEntry)]])?

    struct RollupKey: Equatable {
        var step: Int64
        var from: Int64
        var to: Int64
    }

    /// The most flow rows one slice of a scan reads (a slice is never cut inside a minute).
    static let sliceRows = 200_000

    /// - parameter directory: the node tables as the store read them (with the node ids and the DERP regions).
    init(_ client: ClickHouseClient, directory: NodeDirectory) throws {
        self.client = client
        self.directory = directory
        let ordinals = directory.ids
        // Ordered by id (then stable ID, should two writers have given one id twice); nodes the
        // table lacks (written before it existed) follow in stable-ID order.
        var next: Int64 = 1
        let known = ordinals.sorted { ($0.value, $0.key) < ($1.value, $1.key) }
        for (stable, _) in known where directory.nodes[stable] != nil {
            nodeIDs[stable] = next
            stableIDs[next] = stable
            next += 1
        }
        for stable in directory.nodes.keys.sorted() where nodeIDs[stable] == nil {
            nodeIDs[stable] = next
            stableIDs[next] = stable
            next += 1
        }
        var id: Int64 = 0
        for ip in directory.owners.keys.sorted() {
            id += 1
            addressIDs[ip] = id
            texts[id] = ip
        }
        ownedAddresses = id
    }

    // MARK: Ids

    /// The id of an address text ('' is 0, no address); a new one for an address first met.
    @inline(__always)
    func address(_ text: String) -> Int64 {
        if text.isEmpty { return 0 }
        if let id = addressIDs[text] { return id }
        let id = Int64(texts.count) + 1
        addressIDs[text] = id
        texts[id] = text
        return id
    }

    /// The id of a reporter's stable ID (a node the directory lacks gets the next id).
    @inline(__always)
    func node(_ stableID: String) -> Int64 {
        if let id = nodeIDs[stableID] { return id }
        let id = Int64(nodeIDs.count) + 1
        nodeIDs[stableID] = id
        stableIDs[id] = stableID
        return id
    }

    static func quote(_ s: String) -> String { ClickHouseClient.quote(s) }

    // MARK: StoreSnapshot

    func reporters() throws -> [Int64] {
        directory.nodes.values.filter(\.isReporter).compactMap { nodeIDs[$0.stableID] }.sorted()
    }

    func nodeEntries() throws -> [NodeEntry] {
        directory.nodes.values.map { n in
            NodeEntry(id: nodeIDs[n.stableID] ?? 0, stableID: n.stableID, name: n.name, user: n.user, os: n.os, tags: n.tags,
                      addresses: n.addresses, isReporter: n.isReporter, routes: n.routes)
        }
    }

    func addressOwners() throws -> AddressOwners {
        var owners: [(address: Int64, node: Int64)] = []
        for (ip, owner) in directory.owners {
            if let a = addressIDs[ip], let n = nodeIDs[owner] { owners.append((a, n)) }
        }
        return AddressOwners(owners: owners, maxAddressID: ownedAddresses)
    }

    func addressID(_ ip: IPAddress) throws -> Int64? {
        let text = ip.description
        if let id = addressIDs[text] { return id }
        let q = Self.quote(text)
        let found = try client.rows("""
            SELECT (SELECT count() FROM (SELECT 1 FROM flows WHERE src = \(q) OR dst = \(q) LIMIT 1))
                 + (SELECT count() FROM (SELECT 1 FROM node_addresses WHERE ip = \(q) LIMIT 1))
            """)
        guard (found.first.flatMap { Int($0[0]) } ?? 0) > 0 else { return nil }
        return address(text)
    }

    func addressTexts(_ ids: [Int64]) throws -> [Int64: String] {
        var out: [Int64: String] = [:]
        for id in ids where id != 0 {
            if let t = texts[id] { out[id] = t }
        }
        return out
    }

    func messages(from: Nanoseconds, to: Nanoseconds, reporter: Int64?, descending: Bool,
                  _ body: (MessageHeader, Int, StoredRow) throws -> Bool) throws {
        if let reporter, stableIDs[reporter] == nil { return }
        try scan(from: from, to: to, reporter: reporter.flatMap { stableIDs[$0] }, descending: descending) { message in
            for (i, r) in message.rows.enumerated() where r.kind != Self.noRows {
                guard try body(message.header, i, r.row) else { return false }
            }
            return true
        }
    }

    func messageWindows(from: Nanoseconds, to: Nanoseconds, _ body: (MessageHeader) throws -> Void) throws {
        for slice in try slices(from: from, to: to, reporter: nil, descending: false) {
            let bytes = try client.run("""
                SELECT start_ns, any(end_ns), reporter, digest, any(logged_ms) FROM flows
                WHERE start_ns >= \(slice.from) AND start_ns < \(slice.to)
                GROUP BY start_ns, reporter, digest
                FORMAT RowBinary
                """)
            var r = RowBinaryReader(bytes)
            while !r.atEnd {
                let start = try r.i64(), end = try r.i64(), reporter = node(try r.string()), digest = try r.i64()
                let logged = try r.nullableI64()
                try body(MessageHeader(start: start, end: end, reporter: reporter, digest: digest,
                                       logged: logged.map { end + $0 * 1_000_000 }))
            }
        }
    }

    func messageWindowsAndRows(from: Nanoseconds, to: Nanoseconds, _ window: (MessageHeader) throws -> Void,
                               rows row: (MessageHeader, StoredRow) throws -> Void) throws {
        try scan(from: from, to: to, reporter: nil, descending: false) { message in
            try window(message.header)
            for r in message.rows where r.kind != Self.noRows { try row(message.header, r.row) }
            return true
        }
    }

    func rollups(step: Int64, reporter: Int64, fromBucket: Int64, toBucket: Int64,
                 _ body: (Int64, RollupEntry) throws -> Void) throws {
        let key = RollupKey(step: step, from: fromBucket, to: toBucket)
        if rollupCache?.key != key {
            rollupCache = (key, try sums(key))
        }
        // Read, not taken: a question may ask for a reporter's sums of one segment more than once
        // (the store protocol promises the same answer each time, as SQLite gives it).
        guard let entries = rollupCache?.byReporter[reporter] else { return }
        for (bucket, e) in entries { try body(bucket, e) }
    }

    /// One rollup segment summed by the server: every reporter's entries of `step`-second buckets.
    func sums(_ key: RollupKey) throws -> [Int64: [(Int64, RollupEntry)]] {
        // The level's table (days and longer: the day table, summed by the longer bucket).
        let bytes = try client.run("""
            SELECT reporter, intDiv(bucket, \(key.step)) * \(key.step) AS b, kind, proto, port, side, src, dst,
                   sum(tx_packets), sum(tx_bytes), sum(rx_packets), sum(rx_bytes)
            FROM \(ClickHouseRollups.table(key.step))
            WHERE bucket >= \(key.from) AND bucket < \(key.to)
            GROUP BY reporter, b, kind, proto, port, side, src, dst
            FORMAT RowBinary
            """)
        var out: [Int64: [(Int64, RollupEntry)]] = [:]
        var r = RowBinaryReader(bytes)
        while !r.atEnd {
            let reporter = node(try r.string())
            let bucket = try r.i64()
            let kind = TrafficKind(rawValue: try r.u8()) ?? .virtual
            let proto = try r.u8()
            let port = try r.u16()
            let side = ServiceSide(rawValue: try r.u8()) ?? .unknown
            let src = address(try r.string()), dst = address(try r.string())
            let counters = Counters(txPackets: try r.counter(), txBytes: try r.counter(), rxPackets: try r.counter(), rxBytes: try r.counter())
            out[reporter, default: []].append((bucket, RollupEntry(kind: kind, src: src, dst: dst, proto: proto, port: port, side: side,
                                                                   counters: counters)))
        }
        return out
    }

    func timeRange() throws -> ClosedRange<Nanoseconds>? {
        let f = try client.rows("SELECT count(), min(start_ns), max(start_ns) FROM flows")
        guard let r = f.first, r.count == 3, r[0] != "0", let lo = Int64(r[1]), let hi = Int64(r[2]) else { return nil }
        return lo...hi
    }

    func changes(from: Nanoseconds, to: Nanoseconds, _ body: (ConfigChange) throws -> Bool) throws {
        let bytes = try client.run("""
            SELECT time_ns, event_group, origin, actor_id, actor_type, actor_login, actor_name, target_id, target_name,
                   target_type, property, action, old, new, details, error, record
            FROM changes WHERE time_ns >= \(from) AND time_ns < \(to)
            ORDER BY time_ns, identity
            LIMIT 1 BY time_ns, identity
            FORMAT RowBinary
            """)
        var r = RowBinaryReader(bytes)
        while !r.atEnd {
            let time = try r.i64()
            var v: [String?] = []
            for _ in 0..<10 { v.append(try r.nullableString()) }
            let action = try r.string()
            var w: [String?] = []
            for _ in 0..<4 { w.append(try r.nullableString()) }
            let record = try r.string()
            let c = ConfigChange(time: time, eventGroupID: v[0], origin: v[1], actorID: v[2], actorType: v[3], actorLogin: v[4],
                                 actorName: v[5], targetID: v[6], targetName: v[7], targetType: v[8], property: v[9],
                                 action: action, old: w[0], new: w[1], details: w[2], error: w[3], record: record)
            guard try body(c) else { return }
        }
    }

    func changeTimeRange() throws -> ClosedRange<Nanoseconds>? {
        let f = try client.rows("SELECT count(), min(time_ns), max(time_ns) FROM changes")
        guard let r = f.first, r.count == 3, r[0] != "0", let lo = Int64(r[1]), let hi = Int64(r[2]) else { return nil }
        return lo...hi
    }

    func levelCoverage() throws -> LevelCoverage { .complete }

    func derpRegions() throws -> [DERPRegion] {
        directory.derp
    }

    // MARK: Scanning

    /// The kind of the row that stands for a message without flow rows.
    static let noRows: UInt8 = 255

    struct Message {
        var header: MessageHeader
        var rows: [(kind: UInt8, row: StoredRow)]
    }

    /// A part of a scan's window: `[from, to)` holds at most about ``sliceRows`` rows.
    struct Slice {
        var from: Nanoseconds
        var to: Nanoseconds
    }

    /// The window cut at minute boundaries into slices of at most ``sliceRows`` rows (a minute
    /// holding more is one slice), in scan order.
    func slices(from: Nanoseconds, to: Nanoseconds, reporter: String?, descending: Bool) throws -> [Slice] {
        guard from < to else { return [] }
        let minute: Int64 = 60_000_000_000
        let only = reporter.map { " AND reporter = \(Self.quote($0))" } ?? ""
        let counts = try client.rows("""
            SELECT intDiv(start_ns, \(minute)) AS m, count() FROM flows
            WHERE start_ns >= \(from) AND start_ns < \(to)\(only) GROUP BY m ORDER BY m
            """).compactMap { f -> (Int64, Int)? in
            guard f.count == 2, let m = Int64(f[0]), let n = Int(f[1]) else { return nil }
            return (m, n)
        }
        // In scan order; the first slices are small (a page of the newest rows reads little), each
        // next one twice the size up to sliceRows. intDiv rounds towards zero: a slice edge is the
        // minute's start clamped to the window.
        var out: [Slice] = []
        var budget = Self.firstSliceRows, rows = 0
        var edge = descending ? to : from
        for (i, (m, n)) in (descending ? Array(counts.reversed()) : counts).enumerated() {
            if rows > 0 && rows + n > budget {
                let cut = max(from, min(to, (descending ? m + 1 : m) * minute))
                out.append(descending ? Slice(from: cut, to: edge) : Slice(from: edge, to: cut))
                edge = cut
                rows = 0
                budget = min(budget * 2, Self.sliceRows)
            }
            rows += n
            if i == counts.count - 1 { out.append(descending ? Slice(from: from, to: edge) : Slice(from: edge, to: to)) }
        }
        return out
    }

    /// The rows of a scan's first slice (each next one is twice as large, up to ``sliceRows``).
    static let firstSliceRows = 4_000

    /// Every message of the window (optionally of one reporter) in key order (start, reporter
    /// id, digest; newest first when `descending`), its rows in their order; `body` returns false
    /// to stop.
    func scan(from: Nanoseconds, to: Nanoseconds, reporter: String?, descending: Bool, _ body: (Message) throws -> Bool) throws {
        let only = reporter.map { " AND reporter = \(Self.quote($0))" } ?? ""
        for slice in try slices(from: from, to: to, reporter: reporter, descending: descending) {
            let bytes = try client.run("""
                SELECT start_ns, end_ns, reporter, digest, row, kind, proto, src, src_port, dst, dst_port,
                       tx_packets, tx_bytes, rx_packets, rx_bytes, logged_ms
                FROM flows WHERE start_ns >= \(slice.from) AND start_ns < \(slice.to)\(only)
                FORMAT RowBinary
                """)
            var messages: [Message] = []
            var index: [MessageHeader: Int] = [:]
            var rows: [[(UInt32, UInt8, StoredRow)]] = []
            var r = RowBinaryReader(bytes)
            while !r.atEnd {
                let start = try r.i64(), end = try r.i64(), rep = node(try r.string()), digest = try r.i64()
                let row = try r.u32(), kind = try r.u8(), proto = try r.u8()
                let src = address(try r.string()), srcPort = try r.u16(), dst = address(try r.string()), dstPort = try r.u16()
                let txP = try r.counter(), txB = try r.counter(), rxP = try r.counter(), rxB = try r.counter()
                let logged = try r.nullableI64()
                let key = MessageHeader(start: start, end: end, reporter: rep, digest: digest)
                let i: Int
                if let known = index[key] {
                    i = known
                } else {
                    i = messages.count
                    index[key] = i
                    messages.append(Message(header: MessageHeader(start: start, end: end, reporter: rep, digest: digest,
                                                                  logged: logged.map { end + $0 * 1_000_000 }), rows: []))
                    rows.append([])
                }
                rows[i].append((row, kind, StoredRow(kind: TrafficKind(rawValue: kind) ?? .virtual, proto: proto, src: src, srcPort: srcPort,
                                                     dst: dst, dstPort: dstPort, txPackets: txP, txBytes: txB, rxPackets: rxP, rxBytes: rxB)))
            }
            var order = Array(messages.indices)
            order.sort { a, b in
                let x = messages[a].header, y = messages[b].header
                let less = (x.start, x.reporter, x.digest) < (y.start, y.reporter, y.digest)
                return descending ? !less && (x.start, x.reporter, x.digest) != (y.start, y.reporter, y.digest) : less
            }
            for i in order {
                // Rows in their order; a row a second writer added twice is read once.
                var parts = rows[i]
                parts.sort { $0.0 < $1.0 }
                var message = messages[i]
                var last: UInt32?
                for (n, kind, row) in parts where n != last {
                    message.rows.append((kind, row))
                    last = n
                }
                guard try body(message) else { return }
            }
        }
    }
}

/// Reads ClickHouse's RowBinary output: little-endian integers, strings as a LEB128 length and
/// their bytes, Nullable as a null flag byte then the value.
struct RowBinaryReader {
    let bytes: [UInt8]
    var at = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var atEnd: Bool { at >= bytes.count }

    struct Truncated: Error, CustomStringConvertible {
        var description: String { "clickhouse answered a truncated RowBinary row" }
    }

    @inline(__always) mutating func need(_ n: Int) throws {
        if at + n > bytes.count { throw Truncated() }
    }

    @inline(__always) mutating func u8() throws -> UInt8 {
        try need(1)
        defer { at += 1 }
        return bytes[at]
    }

    @inline(__always) mutating func u16() throws -> UInt16 {
        try need(2)
        defer { at += 2 }
        return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    @inline(__always) mutating func u32() throws -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[at + i]) << (8 * UInt32(i)) }
        at += 4
        return v
    }

    @inline(__always) mutating func u64() throws -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
        at += 8
        return v
    }

    @inline(__always) mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }

    /// A UInt64 counter as tailflow's Int64 (saturating, as SQLite's sums do).
    @inline(__always) mutating func counter() throws -> Int64 {
        let v = try u64()
        return v > UInt64(Int64.max) ? .max : Int64(v)
    }

    mutating func string() throws -> String {
        var n: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = try u8()
            n |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { break }
            shift += 7
            if shift > 63 { throw Truncated() }
        }
        try need(Int(n))
        defer { at += Int(n) }
        return String(decoding: bytes[at..<at + Int(n)], as: UTF8.self)
    }

    mutating func nullableI64() throws -> Int64? {
        try u8() == 0 ? try i64() : nil
    }

    mutating func nullableString() throws -> String? {
        try u8() == 0 ? try string() : nil
    }
}
