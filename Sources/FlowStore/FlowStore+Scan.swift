public import GRDB
public import FlowModel
import GRDBSQLite

/// One pre-aggregated observation: a rollup row, or one flow row of a message.
public struct Observation: Sendable {
    /// The bucket start (rollups) or the message's window start, ns since the epoch.
    public var time: Nanoseconds
    /// The observer: `nodes.id` of the reporting node.
    public var reporter: Int64
    public var kind: TrafficKind
    public var proto: UInt8
    /// The service port (see ``FlowRow/servicePort``).
    public var port: UInt16
    /// `addresses.id`, 0 = none.
    public var src: Int64
    public var dst: Int64
    public var counters: Counters
    /// The width of the bucket `time` starts (ns); 0 for a raw flow row, whose `time` is exact.
    public var span: Nanoseconds

    public init(time: Nanoseconds, reporter: Int64, kind: TrafficKind, proto: UInt8, port: UInt16, src: Int64, dst: Int64,
                counters: Counters, span: Nanoseconds = 0) {
        self.span = span
        self.time = time
        self.reporter = reporter
        self.kind = kind
        self.proto = proto
        self.port = port
        self.src = src
        self.dst = dst
        self.counters = counters
    }
}

/// A stored message's header, as raw scans see it.
public struct MessageHeader: Sendable, Hashable {
    public var start: Nanoseconds
    public var end: Nanoseconds
    public var reporter: Int64
    public var digest: Int64
}

/// Fast read paths over the store for the query layer: prepared sqlite3
/// statements and blob decoding in place, no per-row allocation.
///
/// Call them inside `pool.read { db in … }` so that a query sees one snapshot.
public enum StoreScan {
    /// Node ids of every reporting node.
    public static func reporters(_ db: Database) throws -> [Int64] {
        try Int64.fetchAll(db, sql: "SELECT id FROM nodes WHERE last_report_ns IS NOT NULL ORDER BY id")
    }

    /// Messages with `from <= start < to`, optionally of one reporter, in primary-key order
    /// (newest first when `descending`); `body` gets each flow row with its index in the message.
    public static func messages(_ db: Database, from: Nanoseconds, to: Nanoseconds, reporter: Int64? = nil,
                                descending: Bool = false,
                                _ body: (MessageHeader, Int, StoredRow) throws -> Bool) throws {
        let order = descending ? "DESC" : "ASC"
        let sql = reporter == nil
            ? "SELECT start_ns, duration_ns, reporter, digest, rows FROM messages WHERE start_ns >= ?1 AND start_ns < ?2 ORDER BY start_ns \(order), reporter \(order), digest \(order)"
            : "SELECT start_ns, duration_ns, reporter, digest, rows FROM messages WHERE reporter = ?3 AND start_ns >= ?1 AND start_ns < ?2 ORDER BY start_ns \(order), digest \(order)"
        let s = try RawStatement(db.sqliteConnection!, sql)
        s.bind(1, from)
        s.bind(2, to)
        if let reporter { s.bind(3, reporter) }
        defer { s.reset() }
        var keepGoing = true
        while keepGoing, try s.step() {
            let header = MessageHeader(start: s.int64(0), end: s.int64(0) + s.int64(1), reporter: s.int64(2), digest: s.int64(3))
            let blob = UnsafeRawBufferPointer(start: sqlite3_column_blob(s.handle, 4), count: Int(sqlite3_column_bytes(s.handle, 4)))
            var index = 0
            try RowCodec.decode(blob) { row in
                if keepGoing { keepGoing = try body(header, index, row) }
                index += 1
            }
        }
    }

    /// The text of some addresses, by id.
    public static func addressTexts(_ db: Database, ids: some Collection<Int64>) throws -> [Int64: String] {
        var out: [Int64: String] = [:]
        let s = try RawStatement(db.sqliteConnection!, "SELECT ip FROM addresses WHERE id = ?")
        for id in ids where id != 0 && out[id] == nil {
            s.bind(1, id)
            if try s.step(), let text = sqlite3_column_text(s.handle, 0) { out[id] = String(cString: text) }
            s.reset()
        }
        return out
    }
}

/// Reads packed rollup sums with one prepared statement, reused for every range.
public final class RollupScanner {
    let statement: RawStatement

    public init(_ db: Database) throws {
        statement = try RawStatement(db.sqliteConnection!, """
            SELECT bucket, sums FROM rollups WHERE step = ?1 AND reporter = ?2 AND bucket >= ?3 AND bucket < ?4
            """)
    }

    /// Rollup sums of one step and reporter with `fromBucket <= bucket < toBucket` (Unix seconds).
    public func scan(step: Int64, reporter: Int64, fromBucket: Int64, toBucket: Int64, _ body: (Observation) throws -> Void) throws {
        let s = statement
        s.bind(1, step)
        s.bind(2, reporter)
        s.bind(3, fromBucket)
        s.bind(4, toBucket)
        defer { s.reset() }
        while try s.step() {
            let time = s.int64(0) * Timestamp.nanosPerSecond
            let blob = UnsafeRawBufferPointer(start: sqlite3_column_blob(s.handle, 1), count: Int(sqlite3_column_bytes(s.handle, 1)))
            try RollupCodec.decode(blob) { e in
                try body(Observation(time: time, reporter: reporter, kind: e.kind, proto: e.proto, port: e.port,
                                     src: e.src, dst: e.dst, counters: e.counters, span: step * Timestamp.nanosPerSecond))
            }
        }
    }
}
