import FlowModel
import Foundation
package import GRDB

/// One stored row of `message_groups` (schema/009_message_groups.sql): every message one
/// reporter sent whose window starts in one minute, in identity order (start, digest).
///
/// The key is one integer, ``id(minute:reporter:)``: the minute (Unix minutes) times 2^24 plus
/// the reporter, so the table is clustered by time and then reporter, and a range of minutes is
/// one range of keys.
///
/// Format 1 of `body`: one version byte (1); a varint, the number of messages; per message, in
/// order, its header: the start as a zig-zag varint of the difference from the previous
/// message's start plus five seconds (from the minute's start for the first), the duration as a
/// zig-zag varint of its difference from five seconds, a varint holding the row count shifted
/// left by two, bit 1 set when `logged` is known and bit 0 when the digest needs more than 48
/// bits; the digest (six bytes little-endian, or a zig-zag varint when wide); `logged` (a
/// zig-zag varint, ms after the window's end) when known; the length of the packed rows. Then
/// every message's packed rows (``RowCodec``, unchanged), one after another, so that a reader of
/// windows alone (coverage) never touches them and a reader of rows gets each message's own blob.
struct MessageGroup {
    static let version: UInt8 = 1
    static let reporterBits: Int64 = 24
    static let reporterMask: Int64 = (1 << 24) - 1
    static let minuteNs: Int64 = 60 * Timestamp.nanosPerSecond
    static let period: Int64 = 5 * Timestamp.nanosPerSecond

    struct Message {
        var start: Nanoseconds
        var duration: Nanoseconds
        var digest: Int64
        var rowCount: Int64
        /// ms after the window's end; nil when unknown.
        var loggedMs: Int64?
        /// Where its packed rows lie in ``rows``.
        var offset: Int
        var length: Int
    }

    var messages: [Message] = []
    /// The packed rows of every message, in the order they were added.
    var rows: [UInt8] = []
    /// Whether it differs from what is stored.
    var dirty = false
    /// Whether the store holds it (the writer read it): written back with an UPDATE, else inserted.
    var isStored = false

    /// The key of the group of `reporter` that holds a window starting at `start`.
    static func id(start: Nanoseconds, reporter: Int64) -> Int64 {
        id(minute: Timestamp.floorDivMod(start, minuteNs).0, reporter: reporter)
    }

    static func id(minute: Int64, reporter: Int64) -> Int64 { minute << reporterBits | reporter }

    /// The first key of the groups of minute `minute` (Unix minutes).
    static func firstID(minute: Int64) -> Int64 { minute << reporterBits }

    /// The key range of the groups that may hold windows starting in `[from, to)`.
    static func ids(from: Nanoseconds, to: Nanoseconds) -> (lo: Int64, hi: Int64) {
        let first = Timestamp.floorDivMod(from, minuteNs).0
        let last = Timestamp.floorDivMod(to - 1, minuteNs).0
        return (firstID(minute: first), firstID(minute: last + 1))
    }

    static func minute(ofID id: Int64) -> Int64 { id >> reporterBits }
    static func reporter(ofID id: Int64) -> Int64 { id & reporterMask }

    /// Whether a message with this identity is in the group; its index.
    func index(start: Nanoseconds, digest: Int64) -> Int? {
        messages.firstIndex { $0.start == start && $0.digest == digest }
    }

    mutating func append(start: Nanoseconds, duration: Nanoseconds, digest: Int64, rowCount: Int64, loggedMs: Int64?,
                         packed: UnsafeRawBufferPointer) {
        messages.append(Message(start: start, duration: duration, digest: digest, rowCount: rowCount, loggedMs: loggedMs,
                                offset: rows.count, length: packed.count))
        rows.append(contentsOf: packed)
        dirty = true
    }

    /// Appends a message whose rows are encoded straight into ``rows`` (``RowCodec``), not packed
    /// into a blob of their own first and copied.
    mutating func append(start: Nanoseconds, duration: Nanoseconds, digest: Int64, loggedMs: Int64?, encoding stored: [StoredRow]) {
        // Room for a few at once (grown one by one, a new group's array was reallocated four
        // times on the way to a minute's 12 windows of five seconds).
        if messages.isEmpty { messages.reserveCapacity(4) }
        let offset = rows.count
        RowCodec.encode(stored, into: &rows)
        messages.append(Message(start: start, duration: duration, digest: digest, rowCount: Int64(stored.count), loggedMs: loggedMs,
                                offset: offset, length: rows.count - offset))
        dirty = true
    }

    mutating func append(start: Nanoseconds, duration: Nanoseconds, digest: Int64, rowCount: Int64, loggedMs: Int64?,
                         packed: [UInt8]) {
        packed.withUnsafeBytes { append(start: start, duration: duration, digest: digest, rowCount: rowCount, loggedMs: loggedMs, packed: $0) }
    }

    /// Encodes the group (messages sorted by identity) into `out`; the minute is the group's.
    func encode(minute: Int64, into out: inout [UInt8]) {
        var order = Array(messages.indices)
        order.sort { (messages[$0].start, messages[$0].digest) < (messages[$1].start, messages[$1].digest) }
        out.append(Self.version)
        RowCodec.putVarint(UInt64(messages.count), &out)
        var previous = minute * Self.minuteNs - Self.period
        for i in order {
            let m = messages[i]
            RowCodec.putVarint(UInt64(bitPattern: m.start &- previous &- Self.period).zigzagged, &out)
            previous = m.start
            RowCodec.putVarint(UInt64(bitPattern: m.duration &- Self.period).zigzagged, &out)
            let wide = m.digest < 0 || m.digest >= 1 << 48
            RowCodec.putVarint(UInt64(bitPattern: m.rowCount) << 2 | (m.loggedMs == nil ? 0 : 2) | (wide ? 1 : 0), &out)
            if wide {
                RowCodec.putVarint(UInt64(bitPattern: m.digest).zigzagged, &out)
            } else {
                for shift in stride(from: 0, to: 48, by: 8) { out.append(UInt8(truncatingIfNeeded: m.digest >> Int64(shift))) }
            }
            if let logged = m.loggedMs { RowCodec.putVarint(UInt64(bitPattern: logged).zigzagged, &out) }
            RowCodec.putVarint(UInt64(m.length), &out)
        }
        rows.withUnsafeBytes { all in
            for i in order {
                let m = messages[i]
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: all[m.offset..<(m.offset + m.length)]))
            }
        }
    }

    /// Decodes a stored group's headers; the packed rows of message `i` are
    /// `blob[rowsStart + headers[i].offset ..< … + length]`.
    static func decodeHeaders(_ blob: UnsafeRawBufferPointer, minute: Int64, reporter: Int64? = nil, into out: inout [Message]) throws -> Int {
        out.removeAll(keepingCapacity: true)
        // A group may come from a file nobody vouches for (a case to import): every value is
        // checked before it is used, and a bad one is an error naming the group, never a trap.
        func corrupt(_ why: String) -> StoreError {
            let (start, overflow) = minute.multipliedReportingOverflow(by: minuteNs)
            let which = overflow ? "minute \(minute)" : Timestamp.formatRFC3339(start)
            return StoreError(.corrupt, "the message group of \(which)\(reporter.map { " (reporter #\($0))" } ?? "") is corrupt: \(why)")
        }
        let (base, o1) = minute.multipliedReportingOverflow(by: minuteNs)
        let (next, o2) = (minute &+ 1).multipliedReportingOverflow(by: minuteNs)
        guard !o1, !o2, minute < Int64.max else { throw corrupt("its minute is out of range") }
        guard blob.count >= 1, blob[0] == version else { throw corrupt("unknown format") }
        var r = try BlobReader(blob, version: version, what: "message group")
        let n = Int(truncatingIfNeeded: try r.varint())
        guard n >= 0, n <= blob.count else { throw corrupt("\(n) messages in \(blob.count) bytes") }
        out.reserveCapacity(n)
        var previous = base &- period
        var offset = 0
        for _ in 0..<n {
            let start = previous &+ period &+ Int64(bitPattern: try r.varint().unzigzagged)
            guard start >= base, start < next else { throw corrupt("a message starts outside the minute") }
            previous = start
            let duration = period &+ Int64(bitPattern: try r.varint().unzigzagged)
            let (end, o3) = start.addingReportingOverflow(duration)
            guard !o3 else { throw corrupt("a message's duration is out of range") }
            let flags = try r.varint()
            let digest: Int64
            if flags & 1 != 0 {
                digest = Int64(bitPattern: try r.varint().unzigzagged)
            } else {
                guard r.offset <= blob.count - 6 else { throw corrupt("it ends inside a digest") }
                var d: Int64 = 0
                for k in 0..<6 { d |= Int64(blob[r.offset + k]) << Int64(8 * k) }
                r.offset += 6
                digest = d
            }
            let logged: Int64? = flags & 2 != 0 ? Int64(bitPattern: try r.varint().unzigzagged) : nil
            if let logged {
                let (ns, o4) = logged.multipliedReportingOverflow(by: 1_000_000)
                let (_, o5) = end.addingReportingOverflow(ns)
                guard !o4, !o5 else { throw corrupt("a message's logged time is out of range") }
            }
            let length = Int(truncatingIfNeeded: try r.varint())
            guard length >= 0, length <= blob.count - r.offset - offset else { throw corrupt("a message's rows run past its end") }
            out.append(Message(start: start, duration: duration, digest: digest, rowCount: Int64(bitPattern: flags >> 2),
                               loggedMs: logged, offset: offset, length: length))
            offset += length
        }
        guard r.offset + offset == blob.count else { throw corrupt("\(blob.count - r.offset - offset) bytes more than its messages hold") }
        return r.offset
    }

    /// A stored group, decoded whole (to add messages to it).
    static func decode(_ blob: UnsafeRawBufferPointer, minute: Int64) throws -> MessageGroup {
        var g = MessageGroup()
        let base = try decodeHeaders(blob, minute: minute, into: &g.messages)
        g.rows = Array(UnsafeRawBufferPointer(rebasing: blob[base..<blob.count]))
        return g
    }
}

extension MessageGroup {
    static let migration = "009_message_groups"

    /// `schema/009_message_groups.sql` on a store that has `messages`: every message moves into the
    /// group of its reporter and minute, unchanged (identity, duration, row count, `logged`, packed
    /// rows byte for byte); then the table and its index go. One minute is in memory at a time.
    static func migrate(_ db: Database) throws {
        guard try db.tableExists("messages") else { return }
        let insert = try db.makeStatement(sql: "INSERT INTO message_groups (id, messages, row_count, body) VALUES (?, ?, ?, ?)")
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT start_ns, reporter, digest, duration_ns, row_count, logged_ms, rows FROM messages ORDER BY start_ns, reporter, digest
            """)
        var current: [Int64: MessageGroup] = [:]
        var minute: Int64?
        var body: [UInt8] = []
        func flush() throws {
            guard let minute else { return }
            for id in current.keys.sorted() {
                let g = current[id]!
                body.removeAll(keepingCapacity: true)
                g.encode(minute: minute, into: &body)
                try insert.execute(arguments: [id, g.messages.count, g.messages.reduce(0) { $0 &+ $1.rowCount }, Data(body)])
            }
            current.removeAll(keepingCapacity: true)
        }
        while let r = try cursor.next() {
            let start: Int64 = r[0], reporter: Int64 = r[1]
            let m = Timestamp.floorDivMod(start, minuteNs).0
            if m != minute {
                try flush()
                minute = m
            }
            let rows = r[6] as Data
            rows.withUnsafeBytes { packed in
                current[id(minute: m, reporter: reporter), default: MessageGroup()]
                    .append(start: start, duration: r[3], digest: r[2], rowCount: r[4], loggedMs: r[5], packed: packed)
            }
        }
        try flush()
        try db.execute(sql: "DROP INDEX IF EXISTS messages_by_reporter")
        try db.execute(sql: "DROP TABLE messages")
    }
}

/// A stored message as the `messages` table held it before schema/009: for tests and tools that
/// look at, or damage, what a store holds.
package struct StoredMessageRecord: Equatable, Sendable {
    package var start: Int64
    package var reporter: Int64
    package var digest: Int64
    package var duration: Int64
    package var rowCount: Int64
    package var loggedMs: Int64?
    package var rows: [UInt8]

    package init(start: Int64, reporter: Int64, digest: Int64, duration: Int64, rowCount: Int64, loggedMs: Int64?, rows: [UInt8]) {
        self.start = start
        self.reporter = reporter
        self.digest = digest
        self.duration = duration
        self.rowCount = rowCount
        self.loggedMs = loggedMs
        self.rows = rows
    }
}

extension FlowStore {
    /// Every stored message whose window starts in `[from, to)`, in key order (start, reporter, digest).
    package static func storedMessages(_ db: Database, from: Int64 = .min, to: Int64 = .max) throws -> [StoredMessageRecord] {
        var out: [StoredMessageRecord] = []
        try SQLiteSnapshot(db).groupedMessages(from: from, to: to, reporter: nil, descending: false, reporters: { _ in true }) { h, info, packed in
            out.append(StoredMessageRecord(start: h.start, reporter: h.reporter, digest: h.digest, duration: h.end - h.start,
                                           rowCount: info.rowCount, loggedMs: info.loggedMs, rows: Array(packed)))
            return true
        }
        return out
    }

    /// How many messages are stored (with a window starting in `[from, to)`).
    package static func storedMessageCount(_ db: Database, from: Int64 = .min, to: Int64 = .max) throws -> Int {
        if from == .min, to == .max { return try Int.fetchOne(db, sql: "SELECT coalesce(sum(messages), 0) FROM message_groups") ?? 0 }
        return try storedMessages(db, from: from, to: to).count
    }

    /// Rewrites the stored messages `change` keeps (returns nil to delete one, or another
    /// record), in place: tests that damage or thin out a store.
    package static func rewriteStoredMessages(_ db: Database, _ change: (StoredMessageRecord) throws -> StoredMessageRecord?) throws {
        let all = try storedMessages(db)
        try db.execute(sql: "DELETE FROM message_groups")
        try insertStoredMessages(db, try all.compactMap(change))
    }

    /// Adds messages to the stored groups as they are (no identity check: tests that store what a
    /// writer never would).
    package static func insertStoredMessages(_ db: Database, _ records: [StoredMessageRecord]) throws {
        var groups: [Int64: MessageGroup] = [:]
        for id in Set(records.map { MessageGroup.id(start: $0.start, reporter: $0.reporter) }) {
            if let body = try Data.fetchOne(db, sql: "SELECT body FROM message_groups WHERE id = ?", arguments: [id]) {
                groups[id] = try body.withUnsafeBytes { try MessageGroup.decode($0, minute: MessageGroup.minute(ofID: id)) }
            } else {
                groups[id] = MessageGroup()
            }
        }
        for r in records {
            groups[MessageGroup.id(start: r.start, reporter: r.reporter)]!.append(
                start: r.start, duration: r.duration, digest: r.digest, rowCount: r.rowCount, loggedMs: r.loggedMs, packed: r.rows)
        }
        var body: [UInt8] = []
        for (id, g) in groups {
            body.removeAll()
            g.encode(minute: MessageGroup.minute(ofID: id), into: &body)
            try db.execute(sql: "INSERT OR REPLACE INTO message_groups (id, messages, row_count, body) VALUES (?, ?, ?, ?)",
                           arguments: [id, g.messages.count, g.messages.reduce(0) { $0 &+ $1.rowCount }, Data(body)])
        }
    }
}
