import FlowModel
import FlowStore

/// Values by node id: an array for the usual ids (small integers from the store), a dictionary
/// for any other, so hot loops index instead of hashing.
struct ByNode<Value> {
    private(set) var dense: [Value]
    private var spill: [Int64: Value] = [:]
    let empty: Value
    /// The width it was made with.
    let width: Int
    /// Ids at or past this go to the dictionary.
    static var denseLimit: Int64 { 1 << 20 }

    init(width: Int, empty: Value) {
        dense = [Value](repeating: empty, count: max(0, min(width, Int(Self.denseLimit))))
        self.empty = empty
        self.width = width
    }

    subscript(_ id: Int64) -> Value {
        if id >= 0, id < dense.count { return dense[Int(id)] }
        return spill[id] ?? empty
    }

    @inline(__always)
    mutating func modify<R>(_ id: Int64, _ body: (inout Value) throws -> R) rethrows -> R {
        if id >= 0, id < Self.denseLimit {
            if id >= dense.count { dense.append(contentsOf: repeatElement(empty, count: Int(id) + 1 - dense.count)) }
            return try body(&dense[Int(id)])
        }
        var v = spill[id] ?? empty
        defer { spill[id] = v }
        return try body(&v)
    }

    /// The ids whose values pass `keep`, ascending.
    func ids(where keep: (Value) -> Bool) -> [Int64] {
        var out: [Int64] = []
        for i in dense.indices where keep(dense[i]) { out.append(Int64(i)) }
        for (id, v) in spill where keep(v) { out.append(id) }
        return out.sorted()
    }
}

extension Coverage {
    /// A conversation: protocol and both `address:port` ends, the smaller end first.
    struct Conversation: Equatable {
        var a: Int64
        var b: Int64
        /// aPort << 24 | bPort << 8 | proto.
        var rest: UInt64

        init(a: Int64, b: Int64, rest: UInt64) {
            (self.a, self.b, self.rest) = (a, b, rest)
        }

        @inline(__always)
        init(_ r: RowEnds) {
            if (r.src, r.srcPort) < (r.dst, r.dstPort) {
                (a, b, rest) = (r.src, r.dst, UInt64(r.srcPort) << 24 | UInt64(r.dstPort) << 8 | UInt64(r.proto))
            } else {
                (a, b, rest) = (r.dst, r.src, UInt64(r.dstPort) << 24 | UInt64(r.srcPort) << 8 | UInt64(r.proto))
            }
        }

        @inline(__always)
        var hash: UInt64 {
            var h = UInt64(bitPattern: a) &* 0x9E37_79B9_7F4A_7C15
            h = (h ^ (h >> 32) ^ UInt64(bitPattern: b)) &* 0xC2B2_AE3D_27D4_EB4F
            h = (h ^ (h >> 29) ^ rest) &* 0x1656_67B1_9E37_79F9
            return h ^ (h >> 32)
        }
    }

    /// The first two reporters of each conversation and when each first reported it, read from
    /// the window's virtual flow rows in key order (start, reporter, digest).
    struct Sightings {
        struct Entry {
            var key: Conversation
            /// The first reporter; `Int64.min` marks an empty slot.
            var first: Int64
            var firstAt: Nanoseconds
            /// The next other reporter, 0 while none.
            var second: Int64
            var secondAt: Nanoseconds
        }

        /// An open-addressing table (linear probing, at most half full).
        private var table: [Entry]
        private var count = 0
        private var shift: UInt64
        /// The conversations of each reporter's previous message (with virtual rows): a reporter
        /// seeing one again changes nothing (its first sighting is earlier), and most go on from
        /// window to window, so this short list spares most lookups in the large table.
        private var previous: ByNode<[Conversation]>
        /// The message being read, and the buffer its list goes into.
        private var current: [Conversation] = []
        private var previousOfCurrent: [Conversation] = []

        static let empty = Entry(key: Conversation(a: 0, b: 0, rest: 0), first: .min, firstAt: 0, second: 0, secondAt: 0)

        init(width: Int) {
            table = [Entry](repeating: Self.empty, count: 1 << 16)
            shift = 64 - 16
            previous = ByNode(width: width, empty: [])
            current.reserveCapacity(64)
            previousOfCurrent.reserveCapacity(64)
        }

        /// The conversations of a message's rows that count (virtual rows with both addresses),
        /// appended to `keys`.
        @inline(__always)
        static func conversations(_ rows: UnsafeBufferPointer<RowEnds>, into keys: inout [Conversation]) {
            for r in rows where r.kind == .virtual && r.src != 0 && r.dst != 0 { keys.append(Conversation(r)) }
        }

        /// Reads one message's conversations (``conversations(_:into:)``; messages come in key order).
        mutating func see(reporter: Int64, start: Nanoseconds, _ keys: ArraySlice<Conversation>) {
            current.removeAll(keepingCapacity: true)
            // Take the reporter's list, leaving it an emptied buffer (no allocation).
            previous.modify(reporter) { swap(&$0, &previousOfCurrent) }
            let before = previousOfCurrent
            // Just after the last conversation found in the previous message: a reporter lists
            // its conversations in much the same order from message to message.
            var next = 0
            for key in keys {
                current.append(key)
                if next < before.count, before[next] == key {
                    next += 1
                    continue
                }
                if before.count <= 64, let i = before.firstIndex(of: key) {
                    next = i + 1
                    continue
                }
                insert(key, reporter: reporter, at: start)
            }
            if current.isEmpty {
                // No virtual rows: the reporter keeps its list.
                previous.modify(reporter) { swap(&$0, &previousOfCurrent) }
            } else {
                previous.modify(reporter) { swap(&$0, &current) }
                // The list it replaces is the next message's buffer.
                swap(&current, &previousOfCurrent)
            }
        }

        /// Takes one sighting of an hour summary (``CoverageHour/Sighting``): the hours come in
        /// time order, and each conversation's first reporter before its second, so the table
        /// ends as reading the hours' messages one by one leaves it.
        mutating func sighted(_ key: Conversation, reporter: Int64, at start: Nanoseconds) {
            insert(key, reporter: reporter, at: start)
        }

        private mutating func insert(_ key: Conversation, reporter: Int64, at start: Nanoseconds) {
            let mask = table.count - 1
            var i = Int(truncatingIfNeeded: key.hash >> shift)
            while true {
                let e = table[i]
                if e.first == .min { break }
                if e.key == key {
                    if e.first == reporter {
                        if start < e.firstAt { table[i].firstAt = start }
                    } else if e.second == 0 || e.second == reporter {
                        if e.second == 0 || start < e.secondAt { (table[i].second, table[i].secondAt) = (reporter, start) }
                    }
                    return
                }
                i = (i + 1) & mask
            }
            table[i] = Entry(key: key, first: reporter, firstAt: start, second: 0, secondAt: 0)
            count += 1
            if count * 2 > table.count { grow() }
        }

        private mutating func grow() {
            let old = table
            table = [Entry](repeating: Self.empty, count: old.count * 2)
            shift -= 1
            let mask = table.count - 1
            for e in old where e.first != .min {
                var i = Int(truncatingIfNeeded: e.key.hash >> shift)
                while table[i].first != .min { i = (i + 1) & mask }
                table[i] = e
            }
        }

        /// Skew from peers (ns, per node): for each conversation that both ends report, first seen
        /// by both in `[from, to)`, the difference of the two ends' first windows; the median per node.
        func skews(from: Nanoseconds, to: Nanoseconds) -> [Int64: Double] {
            // Each node's samples in one flat list: counted first, then placed (no list per node).
            var counts = ByNode<Int>(width: previous.width, empty: 0)
            for s in table where s.first != .min && s.second != 0 {
                guard s.firstAt >= from, s.firstAt < to, s.secondAt >= from, s.secondAt < to else { continue }
                counts.modify(s.first) { $0 += 1 }
                counts.modify(s.second) { $0 += 1 }
            }
            let nodes = counts.ids { $0 > 0 }
            var next = ByNode<Int>(width: previous.width, empty: 0)
            var total = 0
            for n in nodes {
                next.modify(n) { $0 = total }
                total += counts[n]
            }
            var samples = [Int64](repeating: 0, count: total)
            for s in table where s.first != .min && s.second != 0 {
                guard s.firstAt >= from, s.firstAt < to, s.secondAt >= from, s.secondAt < to else { continue }
                next.modify(s.first) { i in
                    samples[i] = s.firstAt - s.secondAt
                    i += 1
                }
                next.modify(s.second) { i in
                    samples[i] = s.secondAt - s.firstAt
                    i += 1
                }
            }
            var out: [Int64: Double] = [:]
            var start = 0
            for n in nodes {
                var v = Array(samples[start..<start + counts[n]])
                out[n] = Coverage.median(&v)
                start += counts[n]
            }
            return out
        }
    }
}
