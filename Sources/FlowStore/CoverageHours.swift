package import FlowModel
import GRDB
import GRDBSQLite
import Foundation

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

        /// Adds a window that starts at or after the start of the last one: merged into it when
        /// they overlap or touch, appended otherwise (which keeps ``windows`` a union in order).
        @inline(__always)
        mutating func addInOrder(_ window: (Nanoseconds, Nanoseconds)) {
            if let last = windows.last, window.0 <= last.1 {
                windows[windows.count - 1].1 = max(last.1, window.1)
            } else {
                windows.append(window)
            }
        }
    }

    /// A conversation as a key of the hour's table of sightings (``conversation(_:)``'s triple).
    struct ConversationKey: Hashable, MixHashable {
        var a: Int64, b: Int64, rest: UInt64

        var mixedHash: UInt64 { mixedHash(seed: 0) }

        /// Seeded, each part mixed in turn (ports and protocols are the senders' choice; one xor of
        /// the seed into a sum of the parts would leave keys with equal sums colliding under every seed).
        @inline(__always)
        func mixedHash(seed: UInt64) -> UInt64 {
            mixBits(mixBits(mixBits(UInt64(bitPattern: a) ^ seed) ^ UInt64(bitPattern: b)) ^ rest)
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

    /// The format written; rows of an older one are stale (see ``encode(hour:)``).
    package static let version: UInt8 = 2
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
        // Each reporter's place in `reporters`, which is changed in place (a copy out of a
        // dictionary and back would copy its lists at every message).
        var place: [Int64: Int] = [:]
        var reporters: [Reporter] = []
        // Every row of the hour is looked up here: a multiply-xorshift table, not SipHash.
        var found = MixTable<ConversationKey, Int>()
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
            reporters[p].addInOrder(window)
            if let logged = h.logged { reporters[p].offsets.append(h.end - logged) }
            try RowCodec.decodeEnds(packed, into: &ends)
            for e in ends {
                guard let c = conversation(e) else { continue }
                let key = ConversationKey(a: c.a, b: c.b, rest: c.rest)
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

    /// The period the encoding expects between a reporter's messages (the log interval, as
    /// ``MessageGroup`` expects it): times are written as whole periods and what is left over.
    static let period: Nanoseconds = 5 * Timestamp.nanosPerSecond

    /// The packed encoding, format 2 (format 1, before issue 20, wrote every time as nanoseconds
    /// from the one before: a row of another format is stale, read from the messages until a
    /// refresh replaces it). Integers are LEB128 varints, unsigned unless
    /// said; a *grid* value is `q << 1 | (r != 0)` and then, when r ≠ 0, r zig-zagged, for `q·P + r`
    /// with q the nearest whole number of periods P (5 s); a *fine* value is `r << 2 | min(q, 3)`
    /// and then `q − 3` when q ≥ 3, for `q·P + r` with `0 ≤ r < P`.
    ///
    /// - A version byte (2), the reporters' count; per reporter, ascending: its id (minus the
    ///   previous id plus one), its messages, its windows' count and, when there are any, the
    ///   first window's start (ns after the hour's start), then for each further window its
    ///   start as a grid value after the previous start and the hole before it (from the
    ///   previous window's end) as a fine value, and the last window's length as a grid value;
    ///   its offsets' count and, when there are any, their unit (the greatest common divisor:
    ///   `logged` is kept in milliseconds, so 1,000,000), the first zig-zagged and the
    ///   differences, in units.
    /// - The sightings' count; per sighting, ascending by (a, b, rest): a minus the previous a;
    ///   b minus the previous b when a is the previous a, else b minus a; rest minus the
    ///   previous rest when (a, b) is the previous (a, b), else rest; the first reporter (its
    ///   place in the list above) and its time as a grid value after that reporter's first
    ///   window start; the second reporter's place plus one (0: none) and its time likewise.
    ///
    /// A reporter that sends every 5 s costs about 4 bytes a window (the hole, a few hundred
    /// microseconds of jitter) and 1 an offset; a sighting about 10 (format 1: 8, 3.6 and 22).
    package func encode(hour: Nanoseconds) -> [UInt8] {
        var out: [UInt8] = [Self.version]
        func put(_ v: UInt64) { RowCodec.putVarint(v, &out) }
        func put(_ v: Int) { RowCodec.putVarint(UInt64(v), &out) }
        // Nonnegative by construction (``summarize(_:)``): windows ascend, do not touch, and
        // start in the hour; a sighting's time is one of its reporter's message starts.
        // (Wrapping arithmetic: nothing here traps, whatever the times.)
        func grid(_ x: Int64) { grid(UInt64(bitPattern: x)) }
        // A window's length may exceed Int64.max (from 1678 to 2262): unsigned.
        func grid(_ u: UInt64) {
            let p = UInt64(Self.period)
            var (q, r) = (u / p, Int64(u % p))
            if r >= Self.period / 2 { (q, r) = (q + 1, r - Self.period) }
            put(q << 1 | (r != 0 ? 1 : 0))
            if r != 0 { put(UInt64(bitPattern: r).zigzagged) }
        }
        func fine(_ x: Int64) {
            let (q, r) = (x / Self.period, x % Self.period)
            put(UInt64(bitPattern: r) << 2 | UInt64(bitPattern: min(q, 3)) & 3)
            if q >= 3 { put(UInt64(bitPattern: q - 3)) }
        }
        put(reporters.count)
        var place: [Int64: Int] = [:]
        var firstStart: [Nanoseconds] = []
        var previousID: Int64 = -1
        for (i, r) in reporters.enumerated() {
            put(UInt64(bitPattern: r.id &- previousID &- 1))
            previousID = r.id
            place[r.id] = i
            firstStart.append(r.windows.first?.0 ?? hour)
            put(r.messages)
            put(r.windows.count)
            if let first = r.windows.first {
                put(UInt64(bitPattern: first.0 &- hour))
                for w in 1..<r.windows.count {
                    grid(r.windows[w].0 &- r.windows[w - 1].0)
                    fine(r.windows[w].0 &- r.windows[w - 1].1)
                }
                grid(UInt64(bitPattern: r.windows[r.windows.count - 1].1 &- r.windows[r.windows.count - 1].0))
            }
            put(r.offsets.count)
            if !r.offsets.isEmpty {
                var unit: UInt64 = 0
                for o in r.offsets { unit = Self.gcd(unit, o.magnitude) }
                let u = Int64(bitPattern: max(unit, 1) <= UInt64(Int64.max) ? max(unit, 1) : 1)
                put(UInt64(u))
                var previous = r.offsets[0] / u
                put(UInt64(bitPattern: previous).zigzagged)
                for o in r.offsets.dropFirst() {
                    put(UInt64(bitPattern: o / u &- previous))
                    previous = o / u
                }
            }
        }
        put(sightings.count)
        var (pa, pb, pr): (Int64, Int64, UInt64) = (0, 0, 0)
        for s in sightings {
            put(UInt64(bitPattern: s.a &- pa))
            put(UInt64(bitPattern: s.a == pa ? s.b &- pb : s.b &- s.a))
            put(s.a == pa && s.b == pb ? s.rest &- pr : s.rest)
            (pa, pb, pr) = (s.a, s.b, s.rest)
            // Every sighting's reporters are in the list (``summarize(_:)``).
            let f = place[s.first] ?? 0
            put(f)
            grid(s.firstAt &- (f < firstStart.count ? firstStart[f] : hour))
            if s.second != 0, let p = place[s.second] {
                put(p + 1)
                grid(s.secondAt &- firstStart[p])
            } else {
                put(0)
            }
        }
        return out
    }

    static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }

    /// Decodes a summary; a blob that is truncated, too long, of another format or with a value
    /// out of range is an error naming the hour (summaries come from files nobody vouches for:
    /// a case to import is a store), never a trap.
    package static func decode(_ blob: UnsafeRawBufferPointer, hour: Nanoseconds) throws -> CoverageHour {
        func corrupt(_ why: String) -> StoreError {
            StoreError(.corrupt, "the coverage summary of the hour \(Timestamp.formatRFC3339(hour)) is corrupt: \(why)")
        }
        guard blob.count >= 1, blob[0] == version else {
            throw corrupt(blob.isEmpty ? "it is empty" : "unknown format \(blob[0])")
        }
        var r = try BlobReader(blob, version: version, what: "coverage hour")
        func get() throws -> UInt64 {
            do { return try r.varint() } catch { throw corrupt("it is truncated") }
        }
        func count(_ what: String) throws -> Int {
            let n = try get()
            guard n <= UInt64(blob.count - r.offset) else { throw corrupt("\(n) \(what) in \(blob.count - r.offset) bytes") }
            return Int(n)
        }
        func add(_ a: Int64, _ b: Int64, _ what: String) throws -> Int64 {
            let (v, o) = a.addingReportingOverflow(b)
            guard !o else { throw corrupt("\(what) is out of range") }
            return v
        }
        func nonnegative(_ v: UInt64, _ what: String) throws -> Int64 {
            guard v <= UInt64(Int64.max) else { throw corrupt("\(what) is out of range") }
            return Int64(v)
        }
        func periods(_ q: UInt64, plus r: Int64, _ what: String) throws -> Int64 {
            guard q <= UInt64(Int64.max / period) else { throw corrupt("\(what) is out of range") }
            return try add(Int64(q) * period, r, what)
        }
        func grid(_ what: String) throws -> UInt64 {
            let v = try get()
            let r = v & 1 != 0 ? Int64(bitPattern: try get().unzigzagged) : 0
            let (qp, o) = (v >> 1).multipliedReportingOverflow(by: UInt64(period))
            guard !o else { throw corrupt("\(what) is out of range") }
            if r < 0 {
                guard qp >= r.magnitude else { throw corrupt("\(what) is negative") }
                return qp - r.magnitude
            }
            let (u, o2) = qp.addingReportingOverflow(UInt64(r))
            guard !o2 else { throw corrupt("\(what) is out of range") }
            return u
        }
        func fine(_ what: String) throws -> Int64 {
            let v = try get()
            guard v >> 2 < UInt64(period) else { throw corrupt("\(what) is out of range") }
            var q = v & 3
            if q == 3 {
                let more = try get()
                guard more <= UInt64(Int64.max) - 3 else { throw corrupt("\(what) is out of range") }
                q += more
            }
            return try periods(q, plus: Int64(v >> 2), what)
        }
        // The hour's last nanosecond (the last hour of Int64 ends with it).
        let (next, o) = hour.addingReportingOverflow(length)
        let last = o ? Int64.max : next - 1
        var out = CoverageHour()
        let reporters = try count("reporters")
        out.reporters.reserveCapacity(reporters)
        var id: Int64 = -1
        for _ in 0..<reporters {
            id = try add(id, try nonnegative(try get(), "a reporter id") , "a reporter id")
            id = try add(id, 1, "a reporter id")
            let messages = try get()
            // Values a question indexes or adds with: a damaged row must be an error, not a trap.
            guard messages < 1 << 40 else { throw corrupt("reporter #\(id) has \(messages) messages") }
            let windowCount = try count("windows")
            var windows: [(Nanoseconds, Nanoseconds)] = []
            windows.reserveCapacity(windowCount)
            if windowCount > 0 {
                var start = try add(hour, try nonnegative(try get(), "a window start"), "a window start")
                for _ in 1..<windowCount {
                    let next = try add(start, try nonnegative(try grid("a window start"), "a window start"), "a window start")
                    let windowEnd = try add(next, -(try fine("a hole")), "a window end")
                    guard windowEnd >= start else { throw corrupt("reporter #\(id) has a window that ends before it starts") }
                    windows.append((start, windowEnd))
                    start = next
                }
                // start + length ≤ Int64.max, the length unsigned (it may be more than Int64.max).
                let length = try grid("a window length")
                guard length <= UInt64(bitPattern: Int64.max &- start) else { throw corrupt("a window end is out of range") }
                windows.append((start, Int64(bitPattern: UInt64(bitPattern: start) &+ length)))
                guard windows[0].0 >= hour, start <= last else { throw corrupt("reporter #\(id) has a window that starts outside the hour") }
            }
            let offsetCount = try count("offsets")
            var offsets: [Int64] = []
            offsets.reserveCapacity(offsetCount)
            if offsetCount > 0 {
                let unit = try nonnegative(try get(), "an offset unit")
                guard unit > 0 else { throw corrupt("an offset unit is 0") }
                var scaled = Int64(bitPattern: try get().unzigzagged)
                for i in 0..<offsetCount {
                    if i > 0 { scaled = scaled &+ Int64(bitPattern: try get()) }
                    let (o, overflow) = scaled.multipliedReportingOverflow(by: unit)
                    guard !overflow else { throw corrupt("an offset is out of range") }
                    offsets.append(o)
                }
            }
            out.reporters.append(Reporter(id: id, messages: Int(messages), windows: windows, offsets: offsets))
        }
        let sightings = try count("sightings")
        out.sightings.reserveCapacity(sightings)
        func reporter(_ place: UInt64) throws -> (id: Int64, firstStart: Nanoseconds) {
            guard place < UInt64(out.reporters.count) else { throw corrupt("a sighting names reporter \(place) of \(out.reporters.count)") }
            guard let first = out.reporters[Int(place)].windows.first else {
                throw corrupt("a sighting names reporter \(place) of \(out.reporters.count), which has no window")
            }
            return (out.reporters[Int(place)].id, first.0)
        }
        func time(after start: Nanoseconds) throws -> Nanoseconds {
            let t = try add(start, try nonnegative(try grid("a sighting's time"), "a sighting's time"), "a sighting's time")
            guard t <= last else { throw corrupt("a sighting's time is outside the hour") }
            return t
        }
        var (a, b, rest): (Int64, Int64, UInt64) = (0, 0, 0)
        for _ in 0..<sightings {
            let na = try add(a, try nonnegative(try get(), "an address"), "an address")
            let nb = try add(na == a ? b : na, try nonnegative(try get(), "an address"), "an address")
            let v = try get()
            rest = na == a && nb == b ? rest &+ v : v
            (a, b) = (na, nb)
            let first = try reporter(try get())
            let firstAt = try time(after: first.firstStart)
            let secondPlace = try get()
            var (second, secondAt): (Int64, Nanoseconds) = (0, 0)
            if secondPlace > 0 {
                let s = try reporter(secondPlace - 1)
                (second, secondAt) = (s.id, try time(after: s.firstStart))
            }
            out.sightings.append(Sighting(a: a, b: b, rest: rest, first: first.id, firstAt: firstAt, second: second, secondAt: secondAt))
        }
        guard r.atEnd else { throw corrupt("\(blob.count - r.offset) bytes are left over") }
        return out
    }

    /// The hour of a row's key (Unix seconds): an error when out of range (a crafted row).
    static func hour(unixSeconds: Int64) throws -> Nanoseconds {
        let (hour, o) = unixSeconds.multipliedReportingOverflow(by: Timestamp.nanosPerSecond)
        guard !o else { throw StoreError(.corrupt, "a coverage summary's hour (\(unixSeconds) s) is out of range") }
        return hour
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
            let summary: CoverageHour
            let hour: Nanoseconds
            do {
                hour = try CoverageHour.hour(unixSeconds: s.int64(0))
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
        // Only rows of the current format count: a refresh replaces the others (INSERT OR REPLACE),
        // also those an older tailflow writes while this one runs.
        var kept: Set<Int64> = []
        let s = try statement("SELECT hour FROM coverage_hours WHERE substr(summary, 1, 1) = x'0\(CoverageHour.version)'")
        defer { s.reset() }
        while try s.step() {
            if let hour = try? CoverageHour.hour(unixSeconds: s.int64(0)) { kept.insert(hour) }
        }
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
    ///
    /// - parameter settledBefore: Only the hours that end by this time (`follow` between its
    ///   polls: the hours its next poll fetches again would lose their summary at once).
    @discardableResult
    package func refreshCoverageHours(slice: Duration = .milliseconds(250), settledBefore: Nanoseconds = .max) throws -> Int {
        var stored = 0
        var todo: [Nanoseconds]? = nil
        while true {
            let more: Bool = try sqlite {
                try pool.write { db in
                    let snapshot = SQLiteSnapshot(db)
                    if todo == nil { todo = try snapshot.hoursWithoutSummary().filter { $0 <= settledBefore - CoverageHour.length } }
                    stored += try snapshot.summarize(&todo!, for: slice)
                    return !todo!.isEmpty
                }
            }
            if !more { return stored }
        }
    }

    /// Compares every kept hour summary with its messages; returns how many were compared, the
    /// hours whose summary differs (RFC 3339; a row that does not decode differs from anything)
    /// and how many rows are of an older format (not compared: a question reads those hours'
    /// messages and the next refresh replaces them), for `check --full`.
    func checkCoverageHours(_ db: Database) throws -> (checked: Int, differ: [String], stale: Int) {
        let snapshot = SQLiteSnapshot(db)
        var (checked, stale) = (0, 0)
        var differ: [String] = []
        let rows = try Row.fetchCursor(db, sql: "SELECT hour, summary FROM coverage_hours ORDER BY hour")
        while let row = try rows.next() {
            let seconds: Int64 = row[0]
            let blob = (row[1] as Data?) ?? Data()
            if let format = blob.first, format > 0, format < CoverageHour.version {
                stale += 1
                continue
            }
            checked += 1
            guard let hour = try? CoverageHour.hour(unixSeconds: seconds) else {
                differ.append("\(seconds) s (out of range)")
                continue
            }
            let summary = try? blob.withUnsafeBytes { try CoverageHour.decode($0, hour: hour) }
            if try summary != snapshot.summarizeHour(hour) { differ.append(Timestamp.formatRFC3339(hour)) }
        }
        return (checked, differ, stale)
    }
}
