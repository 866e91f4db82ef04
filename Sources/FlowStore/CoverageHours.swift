public import FlowModel
import GRDB
import GRDBSQLite

/// What `coverage` needs of one hour of messages (`coverage_hours`, schema/011_coverage_hours.sql):
/// per reporter its messages' count, the union of their windows and their `end − logged`
/// offsets; per conversation its first two reporters and when each first reported it. The
/// hour is that of the messages' window starts, `[hour, hour + 1 h)`.
///
/// It is a function of the hour's messages alone (``summarize(_:)``), so a question may
/// read it instead of the messages: the same answer, far fewer rows.
package struct CoverageHour: Equatable, Sendable {
    package struct Reporter: Equatable, Sendable {
        package var id: Int64
        /// Messages that start in the hour.
        package var messages: Int
        /// The union of the windows `[start, max(end, start)]`, in order: windows that overlap or
        /// touch are one (so the holes between are those of the windows one by one).
        package var windows: [(Nanoseconds, Nanoseconds)]
        /// `end − logged` of the messages that carry `logged`, ascending.
        package var offsets: [Int64]

        package static func == (a: Reporter, b: Reporter) -> Bool {
            a.id == b.id && a.messages == b.messages && a.offsets == b.offsets
                && a.windows.count == b.windows.count && zip(a.windows, b.windows).allSatisfy { $0 == $1 }
        }
    }

    /// A conversation (protocol and both `address:port` ends, the smaller end first; `rest` is
    /// aPort << 24 | bPort << 8 | proto) and its first two reporters in the hour, in key order
    /// (start, reporter, digest): as reading the hour's messages one by one finds them.
    package struct Sighting: Equatable, Sendable {
        package var a: Int64
        package var b: Int64
        package var rest: UInt64
        package var first: Int64
        package var firstAt: Nanoseconds
        /// 0 while no other reporter reported it.
        package var second: Int64
        package var secondAt: Nanoseconds
    }

    /// Ascending by id.
    package var reporters: [Reporter] = []
    /// Ascending by (a, b, rest).
    package var sightings: [Sighting] = []

    package static let version: UInt8 = 1
    package static let length: Nanoseconds = 3_600 * Timestamp.nanosPerSecond

    /// The conversation of a row, as coverage keys it; nil for a row that names none (not
    /// virtual, or an end without an address).
    @inline(__always)
    package static func conversation(_ r: RowEnds) -> (a: Int64, b: Int64, rest: UInt64)? {
        guard r.kind == .virtual, r.src != 0, r.dst != 0 else { return nil }
        if (r.src, r.srcPort) < (r.dst, r.dstPort) {
            return (r.src, r.dst, UInt64(r.srcPort) << 24 | UInt64(r.dstPort) << 8 | UInt64(r.proto))
        }
        return (r.dst, r.src, UInt64(r.dstPort) << 24 | UInt64(r.srcPort) << 8 | UInt64(r.proto))
    }

    /// Builds an hour's summary from its messages.
    ///
    /// - parameter read: Calls its argument with every message of the hour, in key order
    ///   (start, reporter, digest), with its packed rows.
    package static func summarize(_ read: ((MessageHeader, UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> CoverageHour {
        struct Key: Hashable, MixHashable {
            var a: Int64, b: Int64, rest: UInt64

            var mixedHash: UInt64 {
                mixBits((UInt64(bitPattern: a) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(bitPattern: b) &* 0xC2B2_AE3D_27D4_EB4F) ^ rest)
            }
        }
        // Each reporter's place in `reporters`, which is changed in place (a copy out of a
        // dictionary and back would copy its lists at every message).
        var place: [Int64: Int] = [:]
        var reporters: [Reporter] = []
        // Every row of the hour is looked up here: a multiply-xorshift table, not SipHash.
        var found = MixTable<Key, Int>()
        var sightings: [Sighting] = []
        var ends: [RowEnds] = []
        try read { h, packed in
            let window = (h.start, max(h.end, h.start))
            let p: Int
            if let known = place[h.reporter] {
                p = known
            } else {
                p = reporters.count
                place[h.reporter] = p
                reporters.append(Reporter(id: h.reporter, messages: 0, windows: [], offsets: []))
            }
            reporters[p].messages += 1
            if let last = reporters[p].windows.last, window.0 <= last.1 {
                reporters[p].windows[reporters[p].windows.count - 1].1 = max(last.1, window.1)
            } else {
                reporters[p].windows.append(window)
            }
            if let logged = h.logged { reporters[p].offsets.append(h.end - logged) }
            try RowCodec.decodeEnds(packed, into: &ends)
            for e in ends {
                guard let c = conversation(e) else { continue }
                let key = Key(a: c.a, b: c.b, rest: c.rest)
                guard let i = found.index(of: key).map({ found.values[$0] }) else {
                    found.insertNew(key, sightings.count)
                    sightings.append(Sighting(a: c.a, b: c.b, rest: c.rest, first: h.reporter, firstAt: h.start, second: 0, secondAt: 0))
                    continue
                }
                // As coverage's table of sightings takes them (messages come in key order).
                let s = sightings[i]
                if s.first == h.reporter {
                    if h.start < s.firstAt { sightings[i].firstAt = h.start }
                } else if s.second == 0 || s.second == h.reporter {
                    if s.second == 0 || h.start < s.secondAt { (sightings[i].second, sightings[i].secondAt) = (h.reporter, h.start) }
                }
            }
        }
        var out = CoverageHour()
        out.reporters = reporters.sorted { $0.id < $1.id }
        for i in out.reporters.indices { out.reporters[i].offsets.sort() }
        out.sightings = sightings.sorted { ($0.a, $0.b, $0.rest) < ($1.a, $1.b, $1.rest) }
        return out
    }

    /// The packed encoding: a version byte (1); the reporters' count, then per reporter its id
    /// (a delta from the previous one), messages, windows (count, then each start as a delta
    /// from the previous window's end, or the hour's start, and its length) and offsets (count,
    /// the first zig-zagged, then deltas); the sightings' count, then per sighting a, b (zig-zag
    /// deltas from the previous), rest, the first reporter and its time (from the hour's start),
    /// the second (0: none) and its time. Integers are LEB128 varints.
    package func encode(hour: Nanoseconds) -> [UInt8] {
        var out: [UInt8] = [Self.version]
        func put(_ v: Int64) { RowCodec.putVarint(UInt64(bitPattern: v).zigzagged, &out) }
        put(Int64(reporters.count))
        var prevID: Int64 = 0
        for r in reporters {
            put(r.id &- prevID)
            prevID = r.id
            put(Int64(r.messages))
            put(Int64(r.windows.count))
            var cursor = hour
            for (s, e) in r.windows {
                put(s &- cursor)
                put(e &- s)
                cursor = e
            }
            put(Int64(r.offsets.count))
            var prev: Int64 = 0
            for o in r.offsets {
                put(o &- prev)
                prev = o
            }
        }
        put(Int64(sightings.count))
        var (pa, pb): (Int64, Int64) = (0, 0)
        for s in sightings {
            put(s.a &- pa)
            put(s.b &- pb)
            (pa, pb) = (s.a, s.b)
            RowCodec.putVarint(s.rest, &out)
            put(s.first)
            put(s.firstAt &- hour)
            put(s.second)
            if s.second != 0 { put(s.secondAt &- hour) }
        }
        return out
    }

    package static func decode(_ blob: UnsafeRawBufferPointer, hour: Nanoseconds) throws -> CoverageHour {
        var r = try BlobReader(blob, version: version, what: "coverage hour")
        func get() throws -> Int64 { Int64(bitPattern: try r.varint().unzigzagged) }
        func count() throws -> Int {
            let n = try get()
            guard n >= 0, n <= blob.count else { throw StoreError(.sqlite, "coverage hour blob is corrupt") }
            return Int(n)
        }
        var out = CoverageHour()
        let reporters = try count()
        out.reporters.reserveCapacity(reporters)
        var id: Int64 = 0
        for _ in 0..<reporters {
            id = id &+ (try get())
            let messages = try get()
            // Values a question indexes or adds with: a damaged row must be an error, not a trap.
            guard id >= 0, messages >= 0, messages < 1 << 40 else { throw StoreError(.sqlite, "coverage hour blob is corrupt") }
            let windowCount = try count()
            var windows: [(Nanoseconds, Nanoseconds)] = []
            windows.reserveCapacity(windowCount)
            var cursor = hour
            for _ in 0..<windowCount {
                let s = cursor &+ (try get())
                let e = s &+ (try get())
                guard s <= e else { throw StoreError(.sqlite, "coverage hour blob is corrupt") }
                windows.append((s, e))
                cursor = e
            }
            let offsetCount = try count()
            var offsets: [Int64] = []
            offsets.reserveCapacity(offsetCount)
            var prev: Int64 = 0
            for _ in 0..<offsetCount {
                prev = prev &+ (try get())
                offsets.append(prev)
            }
            out.reporters.append(Reporter(id: id, messages: Int(messages), windows: windows, offsets: offsets))
        }
        let sightings = try count()
        out.sightings.reserveCapacity(sightings)
        var (a, b): (Int64, Int64) = (0, 0)
        for _ in 0..<sightings {
            a = a &+ (try get())
            b = b &+ (try get())
            let rest = try r.varint()
            let first = try get(), firstAt = hour &+ (try get())
            let second = try get()
            let secondAt = second != 0 ? hour &+ (try get()) : 0
            guard a >= 0, b >= 0, first >= 0, second >= 0 else { throw StoreError(.sqlite, "coverage hour blob is corrupt") }
            out.sightings.append(Sighting(a: a, b: b, rest: rest, first: first, firstAt: firstAt, second: second, secondAt: secondAt))
        }
        guard r.atEnd else { throw StoreError(.sqlite, "coverage hour blob is corrupt") }
        return out
    }

    /// The start of the hour a time falls in.
    @inline(__always)
    package static func hour(of t: Nanoseconds) -> Nanoseconds {
        Timestamp.floorDivMod(t, length).0 * length
    }
}

extension SQLiteSnapshot {
    /// The summaries kept of the hours starting in `[from, to)` (hour starts), ascending: `body(hour, summary)`.
    ///
    /// - parameter skippingDamaged: a row that does not decode is left out (a question then reads
    ///   that hour's messages: the cache is never the only copy) instead of an error (`check`).
    func coverageHours(from: Nanoseconds, to: Nanoseconds, skippingDamaged: Bool = false,
                       _ body: (Nanoseconds, CoverageHour) throws -> Void) throws {
        let s = try statement("SELECT hour, summary FROM coverage_hours WHERE hour >= ?1 AND hour < ?2 ORDER BY hour")
        s.bind(1, Timestamp.floorDivMod(from, Timestamp.nanosPerSecond).0)
        s.bind(2, Timestamp.floorDivMod(to + Timestamp.nanosPerSecond - 1, Timestamp.nanosPerSecond).0)
        defer { s.reset() }
        while try s.step() {
            let hour = s.int64(0) * Timestamp.nanosPerSecond
            let summary: CoverageHour
            do {
                summary = try CoverageHour.decode(s.blob(1), hour: hour)
            } catch where skippingDamaged {
                continue
            }
            try body(hour, summary)
        }
    }

    /// Whether any message starts in `[from, to)`.
    func hasMessages(from: Nanoseconds, to: Nanoseconds) throws -> Bool {
        // The groups of the minutes in range (schema/009); a group at either end may hold only
        // messages outside it.
        guard from < to else { return false }
        let (lo, hi) = MessageGroup.ids(from: from, to: to)
        let s = try RawStatement(db.sqliteConnection!, "SELECT id, body FROM message_groups WHERE id >= ?1 AND id < ?2")
        s.bind(1, lo)
        s.bind(2, hi)
        defer { s.reset() }
        var headers: [MessageGroup.Message] = []
        while try s.step() {
            let id = s.int64(0)
            let minute = MessageGroup.minute(ofID: id)
            if minute * MessageGroup.minuteNs >= from, (minute + 1) * MessageGroup.minuteNs <= to { return true }
            _ = try MessageGroup.decodeHeaders(s.blob(1), minute: minute, into: &headers)
            if headers.contains(where: { $0.start >= from && $0.start < to }) { return true }
        }
        return false
    }

    /// The summary of one hour computed from its messages.
    func summarizeHour(_ hour: Nanoseconds) throws -> CoverageHour {
        try CoverageHour.summarize { take in
            try messageWindowsAndPackedRows(from: hour, to: hour + CoverageHour.length, { _ in }, rows: take)
        }
    }

    /// The hours (starts) that have messages but no summary, ascending.
    func hoursWithoutSummary() throws -> [Nanoseconds] {
        guard let range = try timeRange() else { return [] }
        var kept: Set<Int64> = []
        let s = try statement("SELECT hour FROM coverage_hours")
        defer { s.reset() }
        while try s.step() { kept.insert(s.int64(0) * Timestamp.nanosPerSecond) }
        var out: [Nanoseconds] = []
        var hour = CoverageHour.hour(of: range.lowerBound)
        while hour <= range.upperBound {
            if kept.contains(hour) {
                hour += CoverageHour.length
            } else if try hasMessages(from: hour, to: hour + CoverageHour.length) {
                out.append(hour)
                hour += CoverageHour.length
            } else {
                // An empty stretch is stepped over in doubling spans, not hour by hour: one message
                // from a device without a clock (1970) beside this year's would be half a million
                // probes, each run, under the write lock.
                hour += try emptySpan(from: hour, through: range.upperBound)
            }
        }
        return out
    }

    /// The length of a stretch from `from` (whose first hour has no message) that holds no
    /// message: a whole number of hours, one at least, found with O(log n) probes.
    func emptySpan(from: Nanoseconds, through last: Nanoseconds) throws -> Nanoseconds {
        var span = CoverageHour.length
        while span < 1 << 60 {
            let (end, overflow) = from.addingReportingOverflow(2 * span)
            guard !overflow, end <= last, try !hasMessages(from: from, to: end) else { break }
            span *= 2
        }
        return span
    }
}

extension SQLiteSnapshot {
    /// Summarizes hours from the front of `todo` (removing them) for about `budget`, in the
    /// caller's write transaction; returns how many it stored.
    func summarize(_ todo: inout [Nanoseconds], for budget: Duration) throws -> Int {
        let put = try RawStatement(cached: db, "INSERT OR REPLACE INTO coverage_hours (hour, summary) VALUES (?, ?)")
        let clock = ContinuousClock()
        let start = clock.now
        var stored = 0
        while let hour = todo.first, clock.now - start < budget {
            todo.removeFirst()
            // Another writer may have summarized it, or pruned it, since the list was made.
            guard try hasMessages(from: hour, to: hour + CoverageHour.length) else { continue }
            put.bind(1, Timestamp.floorDivMod(hour, Timestamp.nanosPerSecond).0)
            put.bind(2, blob: try summarizeHour(hour).encode(hour: hour))
            defer { put.reset() }
            try put.run()
            stored += 1
        }
        return stored
    }
}

extension StoreSnapshot {
    /// The summaries of the hours of `[from, to)` (hour starts) that this store keeps: each hour
    /// kept is `body(hour, summary)`, ascending; returns the hours in the range that have
    /// messages and no summary (read them from the messages), or nil when this store keeps none.
    package func coverageHours(from: Nanoseconds, to: Nanoseconds, _ body: (Nanoseconds, CoverageHour) throws -> Void) throws -> [Nanoseconds]? {
        guard let sqlite = self as? SQLiteSnapshot else { return nil }
        var kept: Set<Nanoseconds> = []
        try sqlite.coverageHours(from: from, to: to, skippingDamaged: true) { hour, summary in
            kept.insert(hour)
            try body(hour, summary)
        }
        var missing: [Nanoseconds] = []
        var hour = from
        while hour < to {
            if !kept.contains(hour), try sqlite.hasMessages(from: hour, to: hour + CoverageHour.length) { missing.append(hour) }
            hour += CoverageHour.length
        }
        return missing
    }
}

extension FlowStore {
    /// Summarizes every hour that has messages and no summary (`coverage_hours`, schema/011),
    /// in write transactions of about `slice` each; returns how many hours it stored.
    ///
    /// Writers call it after they commit (`ingest`, `pull`): `coverage` then reads one row per
    /// hour instead of the hour's messages until a message of that hour is stored, changed or
    /// pruned (the writer and prune delete the hour's row in the same transaction).
    /// Only a process that holds no long-lived writer of this store may call it.
    @discardableResult
    package func refreshCoverageHours(slice: Duration = .milliseconds(250)) throws -> Int {
        var stored = 0
        var todo: [Nanoseconds]? = nil
        while true {
            let more: Bool = try sqlite {
                try pool.write { db in
                    let snapshot = SQLiteSnapshot(db)
                    if todo == nil { todo = try snapshot.hoursWithoutSummary() }
                    stored += try snapshot.summarize(&todo!, for: slice)
                    return !todo!.isEmpty
                }
            }
            if !more { return stored }
        }
    }

    /// Compares every kept hour summary with its messages; returns the hours that differ
    /// (`check --full`) and how many were compared.
    func checkCoverageHours(_ db: Database) throws -> (checked: Int, differ: [Nanoseconds]) {
        let snapshot = SQLiteSnapshot(db)
        var stored: [(Nanoseconds, CoverageHour)] = []
        do {
            try snapshot.coverageHours(from: .min / 2, to: .max / 2) { stored.append(($0, $1)) }
        } catch let e as StoreError where e.code == .sqlite {
            // A blob that does not decode differs from anything: find which, one at a time.
            stored = []
            var bad: [Nanoseconds] = []
            for hour in try Int64.fetchAll(db, sql: "SELECT hour FROM coverage_hours ORDER BY hour") {
                let h = hour * Timestamp.nanosPerSecond
                do {
                    try snapshot.coverageHours(from: h, to: h + 1) { stored.append(($0, $1)) }
                } catch {
                    bad.append(h)
                }
            }
            var differ = bad
            for (hour, summary) in stored where try snapshot.summarizeHour(hour) != summary { differ.append(hour) }
            return (stored.count + bad.count, differ.sorted())
        }
        var differ: [Nanoseconds] = []
        for (hour, summary) in stored where try snapshot.summarizeHour(hour) != summary { differ.append(hour) }
        return (stored.count, differ)
    }
}
