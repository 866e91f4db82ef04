public import FlowModel
public import FlowStore
import Foundation

/// A second implementation of ``FlowStorage``, in memory: the test that the protocol is
/// enough for the query layer (the planner property tests run against it and SQLite).
///
/// Deliberately plain: rollups are not stored but summed from the messages when
/// scanned, so it also checks that the planner's rollup reads agree with raw rows.
public final class MemoryStore: FlowStorage, @unchecked Sendable {
    struct Node {
        var id: Int64
        var stableID: String
        var info: NodeInfo?
        var infoNs: Int64?
        var firstSeen: Int64?
        var lastSeen: Int64?
        var isReporter = false
    }

    struct Message {
        var header: MessageHeader
        var rows: [StoredRow]
    }

    struct MessageKey: Hashable, Comparable {
        var start: Int64
        var reporter: Int64
        var digest: Int64
        static func < (a: MessageKey, b: MessageKey) -> Bool { (a.start, a.reporter, a.digest) < (b.start, b.reporter, b.digest) }
    }

    /// Everything the store holds; a batch works on a copy and replaces it at commit.
    struct State {
        var nodes: [Node] = []
        var nodeIndex: [String: Int] = [:]
        var addresses: [String] = []
        var addressIndex: [String: Int64] = [:]
        /// Owner node and the time of the report that said so, by address id.
        var owners: [Int64: (node: Int64, infoNs: Int64)] = [:]
        var messages: [MessageKey: Message] = [:]
        var rejects: [Reject] = []
        var rejectKeys: Set<String> = []
        var checkpoints: [String: PullCheckpoint] = [:]
        /// Configuration changes by (time, identity).
        var changes: [ChangeKey: ConfigChange] = [:]

        mutating func node(_ stableID: String) -> Int {
            if let i = nodeIndex[stableID] { return i }
            nodes.append(Node(id: Int64(nodes.count + 1), stableID: stableID))
            nodeIndex[stableID] = nodes.count - 1
            return nodes.count - 1
        }

        mutating func address(_ ip: IPAddress) -> Int64 {
            let text = ip.description
            if let id = addressIndex[text] { return id }
            addresses.append(text)
            let id = Int64(addresses.count)
            addressIndex[text] = id
            return id
        }

        mutating func learn(_ info: NodeInfo, at t: Int64) {
            let i = node(info.nodeID)
            if let known = nodes[i].infoNs, t < known { return }
            nodes[i].info = info
            nodes[i].infoNs = t
            for ip in info.addresses {
                let a = address(ip)
                if let o = owners[a], t < o.infoNs { continue }
                owners[a] = (nodes[i].id, t)
            }
        }

        mutating func seen(_ i: Int, _ t: Int64) {
            nodes[i].firstSeen = min(nodes[i].firstSeen ?? t, t)
            nodes[i].lastSeen = max(nodes[i].lastSeen ?? t, t)
        }
    }

    struct ChangeKey: Hashable, Comparable {
        var time: Int64
        var identity: Int64
        static func < (a: ChangeKey, b: ChangeKey) -> Bool { (a.time, a.identity) < (b.time, b.identity) }
    }

    let lock = NSLock()
    var state = State() {
        didSet { index = nil }
    }
    /// Messages in key order, all and by reporter; rebuilt after a commit.
    var index: (all: [Message], byReporter: [Int64: [Message]])?

    public init() {}

    func withState<T>(_ body: (inout State) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }

    public func read<T>(_ body: (any StoreSnapshot) throws -> T) throws -> T {
        lock.lock()
        if index == nil {
            let all = state.messages.sorted { $0.key < $1.key }.map(\.value)
            index = (all: all, byReporter: Dictionary(grouping: all, by: \.header.reporter))
        }
        let snapshot = Snapshot(state, index!.all, index!.byReporter)
        lock.unlock()
        return try body(snapshot)
    }

    public func write<T>(durability: Durability, _ body: (any StoreWriter) throws -> T) throws -> T {
        let writer = Writer(self)
        defer { writer.rollback() }
        return try body(writer)
    }

    public func nodes() throws -> [NodeRecord] {
        withState { s in
            s.nodes.map { n in
                NodeRecord(nodeID: n.stableID, name: n.info?.name, os: n.info?.os, user: n.info?.user, tags: n.info?.tags ?? [],
                           addresses: n.info?.addresses.map(\.description) ?? [], isReporter: n.isReporter,
                           firstSeen: n.firstSeen, lastSeen: n.lastSeen)
            }.sorted { a, b in
                switch (a.name, b.name) {
                case let (x?, y?): x != y ? x < y : a.nodeID < b.nodeID
                case (nil, nil): a.nodeID < b.nodeID
                case (.some, nil): true
                case (nil, .some): false
                }
            }
        }
    }

    public func rejects(limit: Int) throws -> [Reject] {
        withState { Array($0.rejects.reversed().prefix(limit)) }
    }

    public func pullCheckpoint(apiURL: String, tailnet: String) throws -> PullCheckpoint? {
        withState { $0.checkpoints[apiURL + " " + tailnet] }
    }

    public func advancePullCheckpoint(apiURL: String, tailnet: String, to checkpoint: Nanoseconds, at now: Nanoseconds) throws {
        withState { s in
            let key = apiURL + " " + tailnet
            if let c = s.checkpoints[key], c.checkpoint >= checkpoint { return }
            s.checkpoints[key] = PullCheckpoint(checkpoint: checkpoint, updated: now)
        }
    }

    public func pullCheckpoint(apiURL: String, tailnet: String, log: LogType) throws -> PullCheckpoint? {
        if log == .network { return try pullCheckpoint(apiURL: apiURL, tailnet: tailnet) }
        return withState { $0.checkpoints[apiURL + " " + tailnet + " " + log.rawValue] }
    }

    public func advancePullCheckpoint(apiURL: String, tailnet: String, log: LogType, to checkpoint: Nanoseconds, at now: Nanoseconds) throws {
        if log == .network { return try advancePullCheckpoint(apiURL: apiURL, tailnet: tailnet, to: checkpoint, at: now) }
        withState { s in
            let key = apiURL + " " + tailnet + " " + log.rawValue
            if let c = s.checkpoints[key], c.checkpoint >= checkpoint { return }
            s.checkpoints[key] = PullCheckpoint(checkpoint: checkpoint, updated: now)
        }
    }

    public func health() throws -> StoreHealth {
        StoreHealth(schemaVersion: ["memory"])
    }

    /// A copy of the state: a consistent snapshot by construction.
    final class Snapshot: StoreSnapshot {
        let state: State
        /// Messages in key order, all and by reporter.
        let ordered: [Message]
        let byReporter: [Int64: [Message]]

        init(_ state: State, _ ordered: [Message], _ byReporter: [Int64: [Message]]) {
            self.state = state
            self.ordered = ordered
            self.byReporter = byReporter
        }

        func reporters() throws -> [Int64] {
            state.nodes.filter(\.isReporter).map(\.id).sorted()
        }

        func nodeEntries() throws -> [NodeEntry] {
            state.nodes.map { n in
                NodeEntry(id: n.id, stableID: n.stableID, name: n.info?.name, user: n.info?.user, os: n.info?.os, tags: n.info?.tags ?? [],
                          addresses: n.info?.addresses.map(\.description) ?? [], isReporter: n.isReporter)
            }
        }

        func addressOwners() throws -> AddressOwners {
            AddressOwners(owners: state.owners.map { ($0.key, $0.value.node) }, maxAddressID: Int64(state.addresses.count))
        }

        func addressID(_ ip: IPAddress) throws -> Int64? {
            state.addressIndex[ip.description]
        }

        func addressTexts(_ ids: [Int64]) throws -> [Int64: String] {
            var out: [Int64: String] = [:]
            for id in ids where id > 0 && id <= state.addresses.count { out[id] = state.addresses[Int(id) - 1] }
            return out
        }

        func messages(from: Nanoseconds, to: Nanoseconds, reporter: Int64?, descending: Bool,
                      _ body: (MessageHeader, Int, StoredRow) throws -> Bool) throws {
            let selected = (reporter.map { byReporter[$0] ?? [] } ?? ordered).filter { $0.header.start >= from && $0.header.start < to }
            for m in descending ? selected.reversed() : selected {
                for (i, r) in m.rows.enumerated() {
                    guard try body(m.header, i, r) else { return }
                }
            }
        }

        func messageWindows(from: Nanoseconds, to: Nanoseconds, _ body: (MessageHeader) throws -> Void) throws {
            for m in ordered where m.header.start >= from && m.header.start < to { try body(m.header) }
        }

        struct RollupKey: Hashable {
            var bucket: Int64, kind: TrafficKind, src: Int64, dst: Int64, proto: UInt8, port: UInt16, side: ServiceSide
        }

        func rollups(step: Int64, reporter: Int64, fromBucket: Int64, toBucket: Int64,
                     _ body: (Int64, RollupEntry) throws -> Void) throws {
            var sums: [RollupKey: Counters] = [:]
            for m in byReporter[reporter] ?? [] {
                let bucket = Timestamp.floorDivMod(m.header.start, step * Timestamp.nanosPerSecond).0 * step
                guard bucket >= fromBucket, bucket < toBucket else { continue }
                for r in m.rows {
                    sums[RollupKey(bucket: bucket, kind: r.kind, src: r.src, dst: r.dst, proto: r.proto, port: r.servicePort,
                                   side: r.serviceSide),
                         default: Counters()].add(Counters(txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes))
                }
            }
            for (k, c) in sums {
                try body(k.bucket, RollupEntry(kind: k.kind, src: k.src, dst: k.dst, proto: k.proto, port: k.port, side: k.side, counters: c))
            }
        }

        func timeRange() throws -> ClosedRange<Nanoseconds>? {
            guard let first = ordered.first, let last = ordered.last else { return nil }
            return first.header.start...last.header.start
        }

        func changes(from: Nanoseconds, to: Nanoseconds, _ body: (ConfigChange) throws -> Bool) throws {
            for (k, c) in state.changes.sorted(by: { $0.key < $1.key }) where k.time >= from && k.time < to {
                guard try body(c) else { return }
            }
        }

        func changeTimeRange() throws -> ClosedRange<Nanoseconds>? {
            let times = state.changes.keys.map(\.time)
            guard let lo = times.min(), let hi = times.max() else { return nil }
            return lo...hi
        }
    }

    /// Batches work on a copy of the state that replaces the store's at commit.
    final class Writer: StoreWriter {
        let store: MemoryStore
        var batch: State?
        private(set) var stats = WriteStats()

        init(_ store: MemoryStore) {
            self.store = store
        }

        var isInBatch: Bool { batch != nil }

        func begin() throws {
            precondition(batch == nil, "begin() inside a batch")
            batch = store.withState { $0 }
        }

        func add(_ message: FlowMessage) throws -> Bool {
            try add(message, digest: message.digest)
        }

        func add(_ message: FlowMessage, digest: Int64) throws -> Bool {
            precondition(batch != nil, "add(_:) outside a batch")
            var s = batch!
            defer { batch = s }
            let reporter = s.node(message.nodeID)
            let key = MessageKey(start: message.start, reporter: s.nodes[reporter].id, digest: digest)
            // `logged` kept to the millisecond, as the SQLite store keeps it.
            let logged = message.logged.map { message.end + Timestamp.floorDivMod($0 &- message.end, 1_000_000).0 * 1_000_000 }
            if let stored = s.messages[key] {
                // A later copy may carry the `logged` time the first one lacked.
                if stored.header.logged == nil, let logged { s.messages[key]!.header.logged = logged }
                stats.duplicates += 1
                return false
            }
            let rows = message.rows.map { r in
                StoredRow(kind: r.kind, proto: r.proto, src: r.src.map { s.address($0) } ?? 0, srcPort: r.srcPort,
                          dst: r.dst.map { s.address($0) } ?? 0, dstPort: r.dstPort,
                          txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes)
            }
            s.messages[key] = Message(header: MessageHeader(start: message.start, end: message.end, reporter: key.reporter,
                                                            digest: digest, logged: logged), rows: rows)
            s.nodes[reporter].isReporter = true
            s.seen(reporter, message.start)
            if let src = message.srcNode {
                s.learn(src, at: message.start)
                s.seen(s.node(src.nodeID), message.start)
            }
            for dst in message.dstNodes {
                s.learn(dst, at: message.start)
                s.seen(s.node(dst.nodeID), message.start)
            }
            stats.messages += 1
            stats.rows += rows.count
            return true
        }

        func addReject(_ reject: Reject) throws {
            precondition(batch != nil, "addReject outside a batch")
            let key = "\(reject.location.source)\u{0}\(reject.location.offset)\u{0}\(reject.reason)"
            stats.rejects += 1
            guard batch!.rejectKeys.insert(key).inserted else { return }
            var r = reject
            r.recorded = Int64(Date().timeIntervalSince1970 * 1e9)
            batch!.rejects.append(r)
        }

        func addChange(_ change: ConfigChange) throws -> Bool {
            precondition(batch != nil, "addChange outside a batch")
            let key = ChangeKey(time: change.time, identity: change.identity)
            guard batch!.changes[key] == nil else {
                stats.duplicateChanges += 1
                return false
            }
            batch!.changes[key] = change
            stats.changes += 1
            return true
        }

        func importNode(_ info: NodeInfo, at t: Nanoseconds) throws {
            precondition(batch != nil, "importNode outside a batch")
            batch!.learn(info, at: t)
        }

        func commit() throws {
            guard let batch else { return }
            store.withState { $0 = batch }
            self.batch = nil
        }

        func rollback() {
            batch = nil
        }
    }
}
