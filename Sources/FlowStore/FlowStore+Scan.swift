public import FlowModel
import GRDB
import GRDBSQLite

/// A stored message's header, as raw scans see it.
public struct MessageHeader: Sendable, Hashable {
    public var start: Nanoseconds
    public var end: Nanoseconds
    public var reporter: Int64
    public var digest: Int64
    /// When the log service received the message, to the millisecond; nil when unknown.
    /// Only ``StoreSnapshot/messageWindows(from:to:_:)`` reads it.
    public var logged: Nanoseconds?

    public init(start: Nanoseconds, end: Nanoseconds, reporter: Int64, digest: Int64, logged: Nanoseconds? = nil) {
        self.start = start
        self.end = end
        self.reporter = reporter
        self.digest = digest
        self.logged = logged
    }
}

/// What a stored message holds beside its header: its row count, and `logged` as stored (ms
/// after the window's end), for the readers that copy or hash the store's content.
struct StoredCounts {
    var rowCount: Int64
    var loggedMs: Int64?
}

/// The SQLite snapshot: one read transaction of the pool. Statements come from the
/// connection's statement cache (prepared once per connection, reused by every
/// question); rows are decoded in place, with no per-row allocation.
final class SQLiteSnapshot: StoreSnapshot {
    let db: Database

    init(_ db: Database) {
        self.db = db
    }

    func statement(_ sql: String) throws -> RawStatement {
        try RawStatement(cached: db, sql)
    }

    func reporters() throws -> [Int64] {
        let s = try statement("SELECT id FROM nodes WHERE last_report_ns IS NOT NULL ORDER BY id")
        defer { s.reset() }
        var out: [Int64] = []
        while try s.step() { out.append(s.int64(0)) }
        return out
    }

    func nodeEntries() throws -> [NodeEntry] {
        let s = try statement("SELECT id, stable_id, name, user, tags, addresses, last_report_ns IS NOT NULL, os, routes FROM nodes")
        defer { s.reset() }
        var out: [NodeEntry] = []
        while try s.step() {
            out.append(NodeEntry(id: s.int64(0), stableID: s.text(1) ?? "", name: s.text(2), user: s.text(3), os: s.text(7),
                                 tags: FlowStore.decodeArray(s.text(4)), addresses: FlowStore.decodeArray(s.text(5)),
                                 isReporter: s.int64(6) != 0, routes: FlowStore.decodeArray(s.text(8))))
        }
        return out
    }

    func derpRegions() throws -> [DERPRegion] {
        let s = try statement("SELECT region_id, code, name FROM derp_regions ORDER BY region_id")
        defer { s.reset() }
        var out: [DERPRegion] = []
        while try s.step() { out.append(DERPRegion(id: Int(s.int64(0)), code: s.text(1), name: s.text(2))) }
        return out
    }

    func addressOwners() throws -> AddressOwners {
        let maxID = try statement("SELECT coalesce(max(id), 0) FROM addresses")
        defer { maxID.reset() }
        let maxAddress = try maxID.step() ? maxID.int64(0) : 0
        let s = try statement("SELECT address, node FROM node_addresses")
        defer { s.reset() }
        var owners: [(address: Int64, node: Int64)] = []
        while try s.step() { owners.append((s.int64(0), s.int64(1))) }
        return AddressOwners(owners: owners, maxAddressID: maxAddress)
    }

    func addressID(_ ip: IPAddress) throws -> Int64? {
        let s = try statement(SQLiteSQL.selectAddress)
        defer { s.reset() }
        s.bind(1, ip.description)
        return try s.step() ? s.int64(0) : nil
    }

    func addressTexts(_ ids: [Int64]) throws -> [Int64: String] {
        var out: [Int64: String] = [:]
        let s = try statement("SELECT ip FROM addresses WHERE id = ?")
        for id in ids where id != 0 && out[id] == nil {
            s.bind(1, id)
            defer { s.reset() }
            if try s.step(), let text = s.text(0) { out[id] = text }
        }
        return out
    }

    func messages(from: Nanoseconds, to: Nanoseconds, reporter: Int64?, descending: Bool,
                  _ body: (MessageHeader, Int, StoredRow) throws -> Bool) throws {
        try messages(from: from, to: to, reporter: reporter, descending: descending, reporters: { _ in true }, body)
    }

    func messages(from: Nanoseconds, to: Nanoseconds, descending: Bool, reporters wanted: (Int64) -> Bool,
                  _ body: (MessageHeader, Int, StoredRow) throws -> Bool) throws {
        try messages(from: from, to: to, reporter: nil, descending: descending, reporters: wanted, body)
    }

    func messages(from: Nanoseconds, to: Nanoseconds, reporter: Int64?, descending: Bool, reporters wanted: (Int64) -> Bool,
                  _ body: (MessageHeader, Int, StoredRow) throws -> Bool) throws {
        var keepGoing = true
        try groupedMessages(from: from, to: to, reporter: reporter, descending: descending, reporters: wanted) { header, _, packed in
            var index = 0
            try RowCodec.decode(packed) { row in
                if keepGoing { keepGoing = try body(header, index, row) }
                index += 1
            }
            return keepGoing
        }
    }

    /// Every stored message whose window starts in `[from, to)` (of `reporter`, or of the
    /// reporters `wanted` takes), in identity order (start, reporter, digest; reversed when
    /// `descending`), with its packed rows; `body` returns false to stop.
    ///
    /// Groups (schema/009_message_groups.sql) are read a minute at a time: the minute's groups of
    /// every reporter are copied out and their messages sorted, so that the order is the one a
    /// table keyed by message identity gave.
    func groupedMessages(from: Nanoseconds, to: Nanoseconds, reporter: Int64?, descending: Bool, reporters wanted: (Int64) -> Bool,
                         _ body: (MessageHeader, StoredCounts, UnsafeRawBufferPointer) throws -> Bool) throws {
        guard from < to else { return }
        let order = descending ? "DESC" : "ASC"
        let (lo, hi) = MessageGroup.ids(from: from, to: to)
        // A statement of its own, not the connection's cached one: a reader may read messages
        // again inside `body` (the cached statement would be reset under this loop).
        let s = try RawStatement(db.sqliteConnection!, reporter == nil
            ? "SELECT id, body FROM message_groups WHERE id >= ?1 AND id < ?2 ORDER BY id \(order)"
            : "SELECT id, body FROM message_groups WHERE (id & 16777215) = ?3 AND id >= ?1 AND id < ?2 ORDER BY id \(order)")
        s.bind(1, lo)
        s.bind(2, hi)
        if let reporter { s.bind(3, reporter) }
        defer { s.reset() }
        var buffer: [UInt8] = []
        var pending: [(header: MessageHeader, counts: StoredCounts, offset: Int, length: Int)] = []
        var headers: [MessageGroup.Message] = []
        var minute: Int64?
        func flush() throws -> Bool {
            defer {
                pending.removeAll(keepingCapacity: true)
                buffer.removeAll(keepingCapacity: true)
            }
            if descending {
                pending.sort { ($0.header.start, $0.header.reporter, $0.header.digest) > ($1.header.start, $1.header.reporter, $1.header.digest) }
            } else {
                pending.sort { ($0.header.start, $0.header.reporter, $0.header.digest) < ($1.header.start, $1.header.reporter, $1.header.digest) }
            }
            return try buffer.withUnsafeBytes { all in
                for p in pending {
                    guard try body(p.header, p.counts, UnsafeRawBufferPointer(rebasing: all[p.offset..<(p.offset + p.length)])) else { return false }
                }
                return true
            }
        }
        while try s.step() {
            let id = s.int64(0)
            let m = MessageGroup.minute(ofID: id)
            if m != minute {
                if minute != nil, try !flush() { return }
                minute = m
            }
            let r = MessageGroup.reporter(ofID: id)
            if !wanted(r) { continue }
            let blob = s.blob(1)
            let base = try MessageGroup.decodeHeaders(blob, minute: m, reporter: r, into: &headers)
            let at = buffer.count
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: blob[base..<blob.count]))
            for h in headers where h.start >= from && h.start < to {
                let end = h.start + h.duration
                pending.append((MessageHeader(start: h.start, end: end, reporter: r, digest: h.digest,
                                              logged: h.loggedMs.map { end + $0 * 1_000_000 }),
                                StoredCounts(rowCount: h.rowCount, loggedMs: h.loggedMs), at + h.offset, h.length))
            }
        }
        if minute != nil { _ = try flush() }
    }

    func addresses(containing text: String) throws -> [Int64: String]? {
        // instr() compares bytes: a prefilter; Swift's comparison decides.
        let s = try statement("SELECT id, ip FROM addresses WHERE instr(ip, ?1) > 0")
        s.bind(1, text)
        defer { s.reset() }
        var out: [Int64: String] = [:]
        while try s.step() {
            if let ip = s.text(1), ip.contains(text) { out[s.int64(0)] = ip }
        }
        return out
    }

    func messageWindows(from: Nanoseconds, to: Nanoseconds, _ body: (MessageHeader) throws -> Void) throws {
        guard from < to else { return }
        let (lo, hi) = MessageGroup.ids(from: from, to: to)
        let s = try RawStatement(db.sqliteConnection!, "SELECT id, body FROM message_groups WHERE id >= ?1 AND id < ?2")
        s.bind(1, lo)
        s.bind(2, hi)
        defer { s.reset() }
        var headers: [MessageGroup.Message] = []
        while try s.step() {
            let id = s.int64(0)
            let r = MessageGroup.reporter(ofID: id)
            _ = try MessageGroup.decodeHeaders(s.blob(1), minute: MessageGroup.minute(ofID: id), reporter: r, into: &headers)
            for h in headers where h.start >= from && h.start < to {
                let end = h.start + h.duration
                try body(MessageHeader(start: h.start, end: end, reporter: r, digest: h.digest, logged: h.loggedMs.map { end + $0 * 1_000_000 }))
            }
        }
    }

    func messageWindowsAndRows(from: Nanoseconds, to: Nanoseconds, _ window: (MessageHeader) throws -> Void,
                               rows row: (MessageHeader, StoredRow) throws -> Void) throws {
        try messageWindowsAndPackedRows(from: from, to: to, window) { header, packed in
            try RowCodec.decode(packed) { try row(header, $0) }
        }
    }

    func messageWindowsAndPackedRows(from: Nanoseconds, to: Nanoseconds, _ window: (MessageHeader) throws -> Void,
                                     rows: (MessageHeader, UnsafeRawBufferPointer) throws -> Void) throws {
        try groupedMessages(from: from, to: to, reporter: nil, descending: false, reporters: { _ in true }) { header, _, packed in
            try window(header)
            try rows(header, packed)
            return true
        }
    }

    func rollups(step: Int64, reporter: Int64, fromBucket: Int64, toBucket: Int64,
                 _ body: (Int64, RollupEntry) throws -> Void) throws {
        let s = try statement("SELECT bucket, sums FROM rollups WHERE step = ?1 AND reporter = ?2 AND bucket >= ?3 AND bucket < ?4")
        s.bind(1, step)
        s.bind(2, reporter)
        s.bind(3, fromBucket)
        s.bind(4, toBucket)
        defer { s.reset() }
        while try s.step() {
            let bucket = s.int64(0)
            try RollupCodec.decode(s.blob(1)) { try body(bucket, $0) }
        }
    }

    func edgeSums(step: Int64, fromBucket: Int64, toBucket: Int64, resolution: Int64,
                  _ body: (Int64, EdgeSum) throws -> Void) throws -> [Int64]? {
        guard try edgeSumsKept() else { return nil }
        let s = try statement("SELECT bucket, sums FROM edge_sums WHERE step = ?1 AND bucket >= ?2 AND bucket < ?3 AND resolution = ?4 ORDER BY bucket")
        s.bind(1, step)
        s.bind(2, fromBucket)
        s.bind(3, toBucket)
        s.bind(4, resolution)
        defer { s.reset() }
        var served: [Int64] = []
        while try s.step() {
            let bucket = s.int64(0)
            try EdgeSumCodec.decode(s.blob(1)) { try body(bucket, $0) }
            served.append(bucket)
        }
        return served
    }

    /// Whether `edge_sums` is kept up to date: its table and the three triggers that delete a
    /// bucket's row when its rollups change (a migration that rebuilt `rollups` would drop them).
    func edgeSumsKept() throws -> Bool {
        let s = try statement("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'rollups' AND name GLOB 'edge_sums_stale_on_*'")
        defer { s.reset() }
        return try s.step() && s.int64(0) == 3
    }

    func timeRange() throws -> ClosedRange<Nanoseconds>? {
        let s = try statement("SELECT (SELECT min(id) FROM message_groups), (SELECT max(id) FROM message_groups)")
        defer { s.reset() }
        guard try s.step(), let lo = s.optionalInt64(0), let hi = s.optionalInt64(1) else { return nil }
        // The earliest start of the first minute's groups, the latest of the last minute's.
        func starts(minute: Int64) throws -> [Nanoseconds] {
            let g = try statement("SELECT body FROM message_groups WHERE id >= ?1 AND id < ?2")
            g.bind(1, MessageGroup.firstID(minute: minute))
            g.bind(2, MessageGroup.firstID(minute: minute + 1))
            defer { g.reset() }
            var out: [Nanoseconds] = []
            var headers: [MessageGroup.Message] = []
            while try g.step() {
                _ = try MessageGroup.decodeHeaders(g.blob(0), minute: minute, into: &headers)
                out += headers.map(\.start)
            }
            return out
        }
        guard let first = try starts(minute: MessageGroup.minute(ofID: lo)).min(),
              let last = try starts(minute: MessageGroup.minute(ofID: hi)).max() else { return nil }
        return first...last
    }
}

extension SQLiteSnapshot {
    func changes(from: Nanoseconds, to: Nanoseconds, _ body: (ConfigChange) throws -> Bool) throws {
        let s = try statement("""
            SELECT time_ns, event_group, origin, actor_id, actor_type, actor_login, actor_name, target_id, target_name,
                   target_type, property, action, old, new, details, error, record
            FROM changes WHERE time_ns >= ?1 AND time_ns < ?2 ORDER BY time_ns, identity
            """)
        s.bind(1, from)
        s.bind(2, to)
        defer { s.reset() }
        while try s.step() {
            let c = ConfigChange(time: s.int64(0), eventGroupID: s.text(1), origin: s.text(2),
                                 actorID: s.text(3), actorType: s.text(4), actorLogin: s.text(5), actorName: s.text(6),
                                 targetID: s.text(7), targetName: s.text(8), targetType: s.text(9), property: s.text(10),
                                 action: s.text(11) ?? "", old: s.text(12), new: s.text(13), details: s.text(14),
                                 error: s.text(15), record: s.text(16) ?? "")
            guard try body(c) else { return }
        }
    }

    func changeTimeRange() throws -> ClosedRange<Nanoseconds>? {
        let s = try statement("SELECT min(time_ns), max(time_ns) FROM changes")
        defer { s.reset() }
        guard try s.step(), let lo = s.optionalInt64(0), let hi = s.optionalInt64(1) else { return nil }
        return lo...hi
    }

    func levelCoverage() throws -> LevelCoverage {
        let s = try statement("SELECT level, kept_from_ns, policy FROM retention")
        defer { s.reset() }
        var out = LevelCoverage()
        while try s.step() {
            out.keptFrom[s.int64(0)] = s.int64(1)
            out.policy[s.int64(0)] = s.text(2) ?? ""
        }
        let marks = try statement("SELECT level, complete_to_ns FROM rollup_marks")
        defer { marks.reset() }
        while try marks.step() { out.completeTo[marks.int64(0)] = marks.int64(1) }
        return out
    }
}

/// SQL shared by the reader and the writer.
enum SQLiteSQL {
    static let selectAddress = "SELECT id FROM addresses WHERE ip = ?"
}
