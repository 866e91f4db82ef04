import FlowModel
import FlowStore

/// SPEC §3: each observation of a flow row is two directed edges, and each
/// edge X→Y is counted from exactly one side.
///
/// 1. observations by X itself (the sender), when X is a reporter;
/// 2. otherwise observations by Y (the receiver), when Y is a reporter;
/// 3. otherwise observations by anyone.
///
/// Physical rows are read as an edge from the reporter to the underlay `dst` (tx) and back (rx).
struct EdgeModel {
    let directory: Directory

    init(_ directory: Directory) {
        self.directory = directory
    }

    /// Calls `body(from, to, packets, bytes)` for each counted edge of the observation.
    @inline(__always)
    func edges(_ o: Observation, _ body: (Endpoint, Endpoint, Int64, Int64) throws -> Void) rethrows {
        let observer = Endpoint.node(o.reporter)
        let x: Endpoint
        let y = directory.endpoint(address: o.dst)
        if o.kind == .physical {
            x = observer
        } else {
            x = directory.endpoint(address: o.src)
        }
        if counted(x, y, observer) && (o.counters.txPackets != 0 || o.counters.txBytes != 0) {
            try body(x, y, o.counters.txPackets, o.counters.txBytes)
        }
        if counted(y, x, observer) && (o.counters.rxPackets != 0 || o.counters.rxBytes != 0) {
            try body(y, x, o.counters.rxPackets, o.counters.rxBytes)
        }
    }

    /// Whether `observer`'s observation of the edge `from`→`to` is the one that counts.
    @inline(__always)
    func counted(_ from: Endpoint, _ to: Endpoint, _ observer: Endpoint) -> Bool {
        if directory.isReporter(from) { return from == observer }
        if directory.isReporter(to) { return to == observer }
        return true
    }

    /// The reporters whose observations can count for edges between `a` and `b`
    /// (nil: any reporter's can). Used to read only the reports that matter.
    func observers(of a: Endpoint, _ b: Endpoint) -> Set<Int64>? {
        var set: Set<Int64> = []
        for (from, to) in [(a, b), (b, a)] {
            if directory.isReporter(from) { set.insert(from.nodeID!) } else if directory.isReporter(to) { set.insert(to.nodeID!) } else { return nil }
        }
        return set
    }
}
