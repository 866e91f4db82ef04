import FlowModel

/// An hour's ``CoverageHour`` built while its messages are stored, in whatever order they
/// come: ``finish()`` equals ``CoverageHour/summarize(_:)`` of the same messages read back in
/// key order (start, reporter, digest).
///
/// The writer of `ingest` builds one for each hour that held no message when the run first
/// met it (``FlowWriter+CoverageHours``), so that the summary costs a look-up per row while
/// the input is still being decoded, instead of reading the hour back after the input.
///
/// Why the order does not matter: read in key order, a conversation's first reporter is the
/// one of its earliest message, ties broken by the smaller reporter id, and its second is the
/// first other reporter met after it; so the two are the two reporters with the smallest
/// (earliest time, id) among those that reported it, each with its earliest time. Those two
/// are kept as messages come (a reporter's earliest time only falls, so one that is not
/// among the two never needs to come back). Windows are merged and offsets sorted at the end.
struct CoverageHourBuilder {
    private typealias Key = CoverageHour.ConversationKey

    private var place: [Int64: Int] = [:]
    private var reporters: [CoverageHour.Reporter] = []
    /// Per reporter: whether a window came before the start of the one before it (its windows
    /// are then sorted and merged at the end; in order, each is merged as it comes).
    private var unordered: [Bool] = []
    private var found = MixTable<Key, Int>()
    private var sightings: [CoverageHour.Sighting] = []
    /// The reporter of the last message and its place (a reporter's messages mostly come together).
    private var last: (id: Int64, place: Int) = (0, -1)

    /// Adds one stored message: its reporter, window, `end − logged` (nil without `logged`),
    /// and its rows as stored.
    mutating func add(reporter: Int64, start: Nanoseconds, end: Nanoseconds, offset: Int64?, rows: [StoredRow]) {
        let p: Int
        if last.id == reporter, last.place >= 0 {
            p = last.place
        } else if let known = place[reporter] {
            p = known
        } else {
            p = reporters.count
            place[reporter] = p
            reporters.append(CoverageHour.Reporter(id: reporter, messages: 0, windows: [], offsets: []))
            unordered.append(false)
        }
        last = (reporter, p)
        reporters[p].messages += 1
        // Windows that overlap or touch are one whatever the order they come in: merging them
        // as they come keeps one entry per stretch of reports, not one per message.
        let window = (start, max(end, start))
        if let l = reporters[p].windows.last, window.0 >= l.0 {
            reporters[p].addInOrder(window)
        } else {
            if !reporters[p].windows.isEmpty { unordered[p] = true }
            reporters[p].windows.append(window)
        }
        if let offset { reporters[p].offsets.append(offset) }
        for r in rows {
            // As ``CoverageHour/conversation(_:)`` keys a row.
            guard r.kind == .virtual, r.src != 0, r.dst != 0 else { continue }
            let key = (r.src, r.srcPort) < (r.dst, r.dstPort)
                ? Key(a: r.src, b: r.dst, rest: UInt64(r.srcPort) << 24 | UInt64(r.dstPort) << 8 | UInt64(r.proto))
                : Key(a: r.dst, b: r.src, rest: UInt64(r.dstPort) << 24 | UInt64(r.srcPort) << 8 | UInt64(r.proto))
            guard let j = found.index(of: key) else {
                found.insertNew(key, sightings.count)
                sightings.append(CoverageHour.Sighting(a: key.a, b: key.b, rest: key.rest, first: reporter, firstAt: start,
                                                       second: 0, secondAt: 0))
                continue
            }
            Self.met(&sightings[j], by: reporter, at: start)
        }
    }

    /// Keeps the two reporters of a sighting with the smallest (earliest time, id).
    @inline(__always)
    static func met(_ s: inout CoverageHour.Sighting, by reporter: Int64, at t: Nanoseconds) {
        if s.first == reporter {
            if t < s.firstAt { s.firstAt = t }
        } else if s.second == reporter {
            if t < s.secondAt {
                s.secondAt = t
                if (s.secondAt, s.second) < (s.firstAt, s.first) {
                    swap(&s.first, &s.second)
                    swap(&s.firstAt, &s.secondAt)
                }
            }
        } else if (t, reporter) < (s.firstAt, s.first) {
            (s.second, s.secondAt) = (s.first, s.firstAt)
            (s.first, s.firstAt) = (reporter, t)
        } else if s.second == 0 || (t, reporter) < (s.secondAt, s.second) {
            (s.second, s.secondAt) = (reporter, t)
        }
    }

    /// The summary of the messages added.
    func finish() -> CoverageHour {
        var out = CoverageHour()
        let order = reporters.indices.sorted { reporters[$0].id < reporters[$1].id }
        out.reporters = order.map { reporters[$0] }
        for (i, p) in order.enumerated() {
            out.reporters[i].offsets.sort()
            guard unordered[p] else { continue }
            // The union of the windows, as reading them in order of their starts makes it.
            let windows = out.reporters[i].windows.sorted { $0.0 < $1.0 }
            out.reporters[i].windows.removeAll(keepingCapacity: true)
            for w in windows { out.reporters[i].addInOrder(w) }
        }
        out.sightings = sightings.sorted { ($0.a, $0.b, $0.rest) < ($1.a, $1.b, $1.rest) }
        return out
    }
}
