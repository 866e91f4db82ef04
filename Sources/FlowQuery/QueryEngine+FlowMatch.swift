import FlowModel
import FlowStore

/// `flows --match TEXT`, resolved before any row is read.
///
/// A row matches when the text (lowercased) is one of its ports, or is contained in the node
/// ID, name, user or a tag of its reporter or of the node either address belongs to, or in
/// either address. The nodes and addresses that match are found once, in the directory and
/// the `addresses` table; a row is then tested with two array lookups and a port compare
/// instead of lowercasing and searching texts (which took 95 s for 2 days of 100 nodes).
///
/// And the rows read are only those that can match: a reporter's rollup keys hold every
/// (kind, src, dst, proto, service port) of its rows per day, hour and minute, so a bucket
/// with no key that can match holds no matching row and its messages are never read. With
/// no hit anywhere, only day rollups are read.
struct FlowMatch {
    let needle: String
    /// The port the needle spells, if it does (`UInt16(needle)`, as the row test reads it).
    let port: UInt16?
    /// Per node id: the node's ID, name, user or a tag contains the needle.
    let nodes: [Bool]
    /// Per address id: the address contains the needle, or belongs to a node that matches.
    /// nil when the store cannot search its addresses: nothing is then pruned.
    let addresses: [Bool]?
    /// Address ids past the end of ``addresses`` (added after the directory was read) are tested by text.
    let directory: Directory

    init(_ needle: String, _ ctx: QueryContext) throws {
        self.needle = needle
        port = UInt16(needle)
        directory = ctx.directory
        let d = ctx.directory
        var nodes = [Bool](repeating: false, count: Int((d.nodes.keys.max() ?? 0) + 1))
        for n in d.nodes.values where n.id >= 0 {
            nodes[Int(n.id)] = n.stableID.lowercased().contains(needle) || (n.name?.lowercased().contains(needle) ?? false)
                || (n.user?.lowercased().contains(needle) ?? false) || n.tags.contains(where: { $0.lowercased().contains(needle) })
        }
        self.nodes = nodes
        // An address id without a text reads as "address#ID" (see Directory.addressText): a
        // needle that could match that is tested row by row.
        if !needle.contains("#"), let texts = try ctx.snapshot.addresses(containing: needle) {
            var addresses = [Bool](repeating: false, count: d.owner.count)
            for (id, n) in d.owner.enumerated() where n > 0 && Int(n) < nodes.count && nodes[Int(n)] { addresses[id] = true }
            for (id, text) in texts where id > 0 && Int(id) < addresses.count {
                addresses[Int(id)] = true
                d.texts[id] = text
            }
            self.addresses = addresses
        } else {
            addresses = nil
        }
    }

    func node(_ id: Int64) -> Bool {
        id >= 0 && id < nodes.count && nodes[Int(id)]
    }

    /// Whether address `a` (or the node it belongs to) matches; nil: not known here, test by text.
    @inline(__always)
    func address(_ a: Int64) -> Bool? {
        guard let addresses else { return nil }
        if a <= 0 { return false }
        return a < addresses.count ? addresses[Int(a)] : nil
    }

    /// Whether a row of `reporter` matches (the same answer as ``QueryEngine/matches(_:_:_:_:_:_:)``).
    func matches(_ ctx: QueryContext, _ reporter: Int64, _ src: Endpoint, _ dst: Endpoint, _ r: StoredRow) throws -> Bool {
        if let port, port == r.srcPort || port == r.dstPort { return true }
        if node(reporter) { return true }
        if let s = address(r.src), let t = address(r.dst) { return s || t }
        return try QueryEngine.matches(needle, ctx, .node(reporter), src, dst, r)
    }

    /// Whether a rollup key can hold a matching row: one of its addresses matches, or a row with
    /// its service port can have the needle's port at one end (the service port is the lower
    /// non-zero of the two, so it is non-zero and at most the needle's; equal ports are both it).
    @inline(__always)
    func canMatch(_ e: RollupEntry, _ addresses: [Bool]) -> Bool {
        if e.src > 0 && (e.src >= Int64(addresses.count) || addresses[Int(e.src)]) { return true }
        if e.dst > 0 && (e.dst >= Int64(addresses.count) || addresses[Int(e.dst)]) { return true }
        guard let port else { return false }
        if port == 0 { return true }
        if e.side == .neither { return e.port == port }
        return e.port != 0 && e.port <= port
    }

    /// The parts of `[from, to)` in which `reporter`'s rows can match, oldest first: found from
    /// its day, then hour, then minute rollups (each read only inside what the coarser one left).
    /// Time a level no longer holds (pruned) stays in.
    func candidates(_ ctx: QueryContext, reporter: Int64, from: Nanoseconds, to: Nanoseconds,
                    kinds: UInt8, proto: Int) throws -> [(Nanoseconds, Nanoseconds)] {
        guard let addresses, !node(reporter) else { return [(from, to)] }
        var ranges = [(from, to)]
        for level in [RollupStep.day, 3600, 60] {
            let size = level * Timestamp.nanosPerSecond
            let kept = ctx.coverage.earliest(level)
            var next: [(Nanoseconds, Nanoseconds)] = []
            func add(_ a: Nanoseconds, _ b: Nanoseconds) {
                guard a < b else { return }
                if let last = next.last, last.1 >= a { next[next.count - 1].1 = max(last.1, b) } else { next.append((a, b)) }
            }
            // A level that lags (schema/012_rollup_marks.sql) holds nothing of the time after its
            // mark, and the bucket holding the mark only the rows before it: keep that time in.
            let complete = ctx.coverage.latest(level)
            for (a, b) in ranges {
                // Buckets starting before the level's kept time may be partly pruned: keep that time in.
                let firstKept = Planner.ceilAlign(max(a, kept), size)
                if a < firstKept { add(a, min(b, firstKept)) }
                guard firstKept < b else { continue }
                let end = b
                let b = complete < end ? max(firstKept, Timestamp.bucketStart(complete, step: size)) : end
                defer { add(b, end) }
                guard firstKept < b else { continue }
                var hits: [Int64] = []
                try ctx.snapshot.rollups(step: level, reporter: reporter, fromBucket: Timestamp.bucketStart(max(a, firstKept), step: size) / Timestamp.nanosPerSecond,
                                         toBucket: Planner.ceilAlign(b, size) / Timestamp.nanosPerSecond) { bucket, e in
                    guard hits.last != bucket, kinds & (1 << e.kind.rawValue) != 0, proto < 0 || proto == Int(e.proto) else { return }
                    if canMatch(e, addresses) { hits.append(bucket) }
                }
                // A bucket may come in parts, so a bucket can be found twice, out of order.
                for bucket in Set(hits).sorted() {
                    let start = bucket * Timestamp.nanosPerSecond
                    add(max(a, firstKept, start), min(b, start + size))
                }
            }
            ranges = next
            if ranges.isEmpty { break }
        }
        return ranges
    }

    /// Every time span of `[from, to)` in which some reporter's rows can match, newest first,
    /// each with the reporters whose rows can (nil: all of them).
    func spans(_ ctx: QueryContext, from: Nanoseconds, to: Nanoseconds, kinds: UInt8, proto: Int) throws
        -> [(from: Nanoseconds, to: Nanoseconds, reporters: Set<Int64>?)] {
        guard addresses != nil, from < to else { return [(from, to, nil)] }
        let reporters = try ctx.snapshot.reporters()
        // Boundaries where some reporter's candidate time begins (+1) or ends (-1).
        var events: [(time: Nanoseconds, reporter: Int64, begins: Bool)] = []
        for r in reporters {
            for (a, b) in try candidates(ctx, reporter: r, from: from, to: to, kinds: kinds, proto: proto) {
                events.append((a, r, true))
                events.append((b, r, false))
            }
        }
        guard !events.isEmpty else { return [] }
        events.sort { $0.time < $1.time }
        var out: [(from: Nanoseconds, to: Nanoseconds, reporters: Set<Int64>?)] = []
        var open: Set<Int64> = []
        var i = 0
        while i < events.count {
            let t = events[i].time
            while i < events.count, events[i].time == t {
                if events[i].begins { open.insert(events[i].reporter) } else { open.remove(events[i].reporter) }
                i += 1
            }
            guard i < events.count, !open.isEmpty else { continue }
            let next = events[i].time
            if let last = out.last, last.to == t, last.reporters == open {
                out[out.count - 1].to = next
            } else {
                out.append((t, next, open))
            }
        }
        return out.reversed().map { ($0.from, $0.to, $0.reporters?.count == reporters.count ? nil : $0.reporters) }
    }
}
