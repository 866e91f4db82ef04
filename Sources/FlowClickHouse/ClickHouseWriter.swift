import FlowModel
import FlowStore
import Foundation
import NIOCore

/// The ClickHouse store's writer: a batch is held in memory and written at ``commit()``.
///
/// Idempotency without unique keys: at commit the writer reads which of the batch's message
/// identities (window start, reporter, digest) the store holds already, in the batch's time range,
/// and inserts only the others (a message repeated inside the batch is stored once too). The
/// flow rows go in inserts of at most a million rows, cut at message boundaries, each one block
/// that ClickHouse commits whole; an insert that fails on the connection (it may have landed) is
/// retried after reading the identities again, so a retried insert adds nothing twice; then the
/// stored messages' rollups and sightings, summed here (``writeRollups(_:from:through:)``). Node facts
/// (idempotent: the latest report wins) are written before the rows; the reporters table is fed by
/// the rows' inserts themselves. One writer per database at a time, as with SQLite's writer lock
/// (two concurrent writers of the same input could still add a duplicate, which the Replacing
/// engine removes when it merges).
final class ClickHouseWriter: StoreWriter {
    let store: ClickHouseStore
    var client: ClickHouseClient { store.client }
    private(set) var isInBatch = false
    private(set) var stats = WriteStats()

    /// The batch, in the order it was given (node facts follow the order of reports): a message
    /// as its index in ``messages`` (each copy of a message retains each of its parts, and the
    /// commit went through half a dozen copies of a batch's messages).
    enum Item {
        case message(Int)
        case node(NodeInfo, at: Nanoseconds)
    }

    struct Identity: Hashable {
        var start: Int64
        var reporter: String
        var digest: Int64

        /// The window and digest only (equality still compares the reporter): hashing the
        /// reporter's text for every message was a tenth of the writer's `add`.
        func hash(into hasher: inout Hasher) {
            hasher.combine(start)
            hasher.combine(digest)
        }
    }

    var items: [Item] = []
    /// The batch's messages (each once) and their identities' digests.
    var messages: [FlowMessage] = []
    var digests: [Int64] = []
    var identities: Set<Identity> = []
    /// The flow rows' insert body, kept from one insert to the next (its pages stay mapped), and
    /// the Native encoder's list of each row's addresses, kept the same way.
    var body = ByteBuffer()
    var rowAddresses: [Int] = []
    var rejects: [Reject] = []
    /// What the store knows of each node (loaded at the first batch; one writer at a time).
    var known: [String: NodeState]?
    /// The store's id of each node (`node_ids`: 1, 2, 3… in the order the writer first met
    /// them, as SQLite numbers them), loaded at the first batch.
    var nodeIDs: [String: Int64]?
    var changes: [ConfigChange] = []
    var regions: [(DERPRegion, Nanoseconds)] = []

    /// The node-fact merge rules are the SQLite writer's (``NodeFacts``).
    typealias NodeState = NodeFacts

    init(_ store: ClickHouseStore) {
        self.store = store
    }

    func begin() throws {
        precondition(!isInBatch, "begin() inside a batch")
        isInBatch = true
    }

    @discardableResult
    func add(_ message: FlowMessage) throws -> Bool {
        try add(message, digest: message.digest)
    }

    /// ``add(_:)`` with the message identity given: a migration keeps the source's.
    @discardableResult
    func add(_ message: FlowMessage, digest: Int64) throws -> Bool {
        precondition(isInBatch, "add(_:) outside a batch")
        guard identities.insert(Identity(start: message.start, reporter: message.nodeID, digest: digest)).inserted else {
            stats.duplicates += 1
            return false
        }
        items.append(.message(messages.count))
        messages.append(message)
        digests.append(digest)
        // Whether it is new in the store is known at commit (the stats say it then).
        return true
    }

    func addReject(_ reject: Reject) throws {
        precondition(isInBatch, "addReject outside a batch")
        rejects.append(reject)
        stats.rejects += 1
    }

    /// Whether it is new is known at commit (the stats say it then); a record repeated inside
    /// the batch is stored once.
    func addChange(_ change: ConfigChange) throws -> Bool {
        precondition(isInBatch, "addChange outside a batch")
        guard !changes.contains(where: { $0.time == change.time && $0.identity == change.identity }) else {
            stats.duplicateChanges += 1
            return false
        }
        changes.append(change)
        return true
    }

    func importNode(_ info: NodeInfo, at t: Nanoseconds) throws {
        precondition(isInBatch, "importNode outside a batch")
        items.append(.node(info, at: t))
    }

    func importDERPRegion(_ region: DERPRegion, at t: Nanoseconds) throws {
        precondition(isInBatch, "importDERPRegion outside a batch")
        regions.append((region, t))
    }

    func rollback() {
        items.removeAll()
        messages.removeAll()
        digests.removeAll()
        identities.removeAll()
        rejects.removeAll()
        changes.removeAll()
        regions.removeAll()
        isInBatch = false
        // What the batch taught about nodes was not written: read it again next time.
        known = nil
        nodeIDs = nil
    }

    func commit() throws {
        precondition(isInBatch, "commit() outside a batch")
        let present = try storedIdentities(of: messages.indices)
        // The new messages, by index.
        var new: [Int] = []
        new.reserveCapacity(messages.count)
        var nodes = try knownNodes()
        var ids = try knownNodeIDs()
        var largest = ids.values.max() ?? 0
        var newIDs: [(String, Int64)] = []
        // A node's facts, and its id given the first time (one lookup a node of a message: two
        // were a tenth of the writer's commit).
        func state(_ id: String) -> NodeState {
            let s: NodeState
            if let known = nodes[id] {
                s = known
            } else {
                s = NodeState()
                nodes[id] = s
            }
            if s.storeID == nil {
                if let given = ids[id] {
                    s.storeID = given
                } else {
                    largest += 1
                    ids[id] = largest
                    newIDs.append((id, largest))
                    s.storeID = largest
                }
            }
            return s
        }
        for item in items {
            switch item {
            case .message(let i):
                let start = messages[i].start
                if !present.isEmpty, present.contains(Identity(start: start, reporter: messages[i].nodeID, digest: digests[i])) {
                    stats.duplicates += 1
                    continue
                }
                new.append(i)
                let reporter = state(messages[i].nodeID)
                reporter.seen(start)
                if let src = messages[i].srcNode {
                    let n = state(src.nodeID)
                    n.learn(src, at: start)
                    n.seen(start)
                }
                for dst in messages[i].dstNodes {
                    let n = state(dst.nodeID)
                    n.learn(dst, at: start)
                    n.seen(start)
                }
            case .node(let info, let t):
                state(info.nodeID).learn(info, at: t)
            }
        }
        known = nodes
        // The node tables' inserts (before the rows: a batch met again later is skipped, its facts
        // with it) run while the rows are sorted and encoded; the rows go once they have landed.
        let nodeWrites = nodeInserts(nodes, newIDs)
        nodeIDs = ids
        let pendingNodes = client.startAll(nodeWrites)
        try writeRows(new) { try self.land(pendingNodes, nodeWrites) }
        if !present.isEmpty {
            // The batch met messages already stored: perhaps an ingest repeated after a server died
            // between an insert's raw rows and its rollups. Make this time's rollups match its rows.
            if let lo = messages.lazy.map(\.start).min(), let hi = messages.lazy.map(\.start).max() {
                try ClickHouseRollups.reconcile(client, from: lo, through: hi)
            }
        }
        try writeRejects()
        try writeChanges()
        try writeRegions()
        stats.messages += new.count
        stats.rows += new.reduce(0) { $0 + messages[$1].rows.count }
        // The batch is freed on another thread: this one is the ingest's busiest (the next batch
        // waits for it), and freeing half a million rows' messages cost it a tenth of a second.
        let spent = (items, messages)
        items = []
        messages = []
        DispatchQueue.global(qos: .utility).async { withExtendedLifetime(spent) {} }
        digests.removeAll(keepingCapacity: true)
        // Kept: growing the set again from empty was a fifth of `add`.
        identities.removeAll(keepingCapacity: true)
        rejects.removeAll()
        changes.removeAll()
        regions.removeAll()
        isInBatch = false
    }

    // MARK: Reading what is stored

    /// The node ids given so far (the next is one more than the largest).
    func knownNodeIDs() throws -> [String: Int64] {
        if let nodeIDs { return nodeIDs }
        var ids: [String: Int64] = [:]
        for f in try client.rows("SELECT stable_id, min(id) FROM node_ids GROUP BY stable_id") where f.count == 2 {
            if let id = Int64(f[1]) { ids[f[0]] = id }
        }
        return ids
    }

    /// The identities among the batch's messages `indices` that the store holds.
    ///
    /// - parameter retries: `false` inside ``insert(_:)``'s own retry loop (its budget counts this read).
    func storedIdentities<C: Collection<Int>>(of indices: C, retries: Bool = true) throws -> Set<Identity> {
        var lo = Int64.max, hi = Int64.min
        for i in indices {
            lo = min(lo, messages[i].start)
            hi = max(hi, messages[i].start)
        }
        guard lo <= hi else { return [] }
        var present: Set<Identity> = []
        for f in try client.rows("SELECT DISTINCT start_ns, reporter, digest FROM flows WHERE start_ns >= \(lo) AND start_ns <= \(hi)",
                                 retries: retries) where f.count == 3 {
            if let s = Int64(f[0]), let d = Int64(f[2]) { present.insert(Identity(start: s, reporter: f[1], digest: d)) }
        }
        return present
    }

    func knownNodes() throws -> [String: NodeState] {
        if let known { return known }
        var nodes: [String: NodeState] = [:]
        for f in try client.rows("SELECT stable_id, max(info_ns) FROM nodes GROUP BY stable_id") where f.count == 2 {
            let s = NodeState()
            s.infoNs = Int64(f[1])
            nodes[f[0]] = s
        }
        return nodes
    }

    // MARK: Writing

    /// Waits for the node tables' inserts; after a connection failure sends them again, one by one
    /// with retries (each is idempotent: the latest report wins, ids and sightings repeat harmlessly).
    func land(_ pending: ClickHouseClient.PendingInserts, _ inserts: [(sql: String, data: [UInt8])]) throws {
        do {
            try pending.wait()
        } catch let e as ClickHouseError where e.kind == .connection {
            try client.backOff(after: e)
            for (sql, data) in inserts { try client.run(sql, data: data) }
        }
    }

    /// The node tables' inserts of a commit: the new node ids, then the facts, address claims and
    /// sightings of the nodes whose facts or seen range changed (marked written).
    func nodeInserts(_ nodes: [String: NodeState], _ newIDs: [(String, Int64)]) -> [(sql: String, data: [UInt8])] {
        var inserts: [(sql: String, data: [UInt8])] = []
        if !newIDs.isEmpty {
            var out = RowBinary()
            for (stable, id) in newIDs {
                out.string(stable)
                out.u64(UInt64(id))
            }
            inserts.append(("INSERT INTO node_ids (stable_id, id) FORMAT RowBinary", out.bytes))
        }
        var info = RowBinary(), addresses = RowBinary(), seen = RowBinary()
        var infos = 0, claims = 0, seens = 0
        // Ties of the same time: the later write wins, as SQLite's upsert does.
        let seq = UInt64(Date().timeIntervalSince1970 * 1e6)
        for (id, n) in nodes.sorted(by: { $0.key < $1.key }) {
            if n.infoDirty, let i = n.info, let t = n.infoNs {
                info.nodeInfo(id, i, at: t, seq: seq)
                infos += 1
                for a in i.addresses {
                    addresses.string(a.description)
                    addresses.string(id)
                    addresses.i64(t)
                    addresses.u64(seq)
                    claims += 1
                }
                n.infoDirty = false
            }
            if n.seenDirty, let first = n.firstSeen, let last = n.lastSeen {
                seen.string(id)
                seen.i64(first)
                seen.i64(last)
                seens += 1
                n.seenDirty = false
            }
        }
        if infos > 0 {
            inserts.append(("INSERT INTO nodes (stable_id, info_ns, seq, name, os, user, tags, addresses, has_routes, routes) FORMAT RowBinary",
                            info.bytes))
        }
        if claims > 0 { inserts.append(("INSERT INTO node_addresses (ip, node, info_ns, seq) FORMAT RowBinary", addresses.bytes)) }
        if seens > 0 { inserts.append(("INSERT INTO node_seen (stable_id, first_ns, last_ns) FORMAT RowBinary", seen.bytes)) }
        return inserts
    }

    /// The insert formats of flow rows (``encodeNative(_:_:_:into:addresses:)``, ``encode(_:_:_:into:)``, ``encodeJSON(_:)``).
    enum InsertFormat: String {
        case native = "Native", rowBinary = "RowBinary", json = "JSONEachRow"
    }

    /// The insert format of flow rows: Native (measured against RowBinary and JSONEachRow, see
    /// docs/clickhouse-performance.md); `TAILFLOW_CLICKHOUSE_INSERT_FORMAT=RowBinary` or
    /// `=JSONEachRow` chooses another, to measure again.
    static let insertFormat = InsertFormat(rawValue: ProcessInfo.processInfo.environment["TAILFLOW_CLICKHOUSE_INSERT_FORMAT"] ?? "") ?? .native

    static let insertRows = """
        INSERT INTO flows (\(flowColumns.map(\.name).joined(separator: ", "))) FORMAT \(insertFormat.rawValue)
        """

    /// The most rows in one insert: one block (a Native body is the block it holds; RowBinary rows are cut into
    /// blocks of max_insert_block_size, 1,048,576, so below it a RowBinary insert is one block too).
    static let rowsPerInsert = 1_000_000

    /// Inserts the raw rows of the batch's messages `new` (indices into ``messages``; marked
    /// `summed`, so that schema 005's views skip them), then their rollups and sightings (``BatchRollups``).
    ///
    /// The raw rows go first: should tailflow or the server die before the sums landed, running
    /// the ingest again meets these messages stored, and the writer's reconciliation then adds
    /// what the rollups lack (``commit()``). Rows go sorted in each table's order (the server
    /// then does not sort them; a shuffled block cost it three times as much).
    ///
    /// - parameter beforeRows: runs once before the first rows are sent (they are sorted and the
    ///   first insert encoded by then): the commit waits there for the node tables' inserts.
    func writeRows(_ new: [Int], beforeRows: @escaping () throws -> Void) throws {
        let order = new.sorted { a, b in
            if messages[a].start != messages[b].start { return messages[a].start < messages[b].start }
            if messages[a].nodeID != messages[b].nodeID {
                return messages[a].nodeID.utf8.lexicographicallyPrecedes(messages[b].nodeID.utf8)
            }
            return digests[a] < digests[b]
        }
        // The sums are worked out on a thread of their own while the server stores the raw rows.
        let sums = Summing(messages, order)
        defer { sums.wait() }
        if order.isEmpty { try beforeRows() }
        var start = 0
        while start < order.count {
            var end = start, rows = 0
            while end < order.count, end == start || rows + max(1, messages[order[end]].rows.count) <= Self.rowsPerInsert {
                rows += max(1, messages[order[end]].rows.count)
                end += 1
            }
            try insert(order[start..<end], before: start == 0 ? beforeRows : nil)
            start = end
        }
        guard let lo = order.first.map({ messages[$0].start }), let hi = order.last.map({ messages[$0].start }) else { return }
        try writeRollups(sums.wait(), from: lo, through: hi)
    }

    /// ``BatchRollups`` of a batch, as inserts, worked out on a thread of its own.
    final class Summing: @unchecked Sendable {
        private var tables: [(insert: String, rows: [UInt8])] = []
        private let done = DispatchSemaphore(value: 0)
        private var waited = false

        /// The sums of `messages[order]`.
        init(_ messages: [FlowMessage], _ order: [Int]) {
            let thread = Thread { [self] in
                tables = BatchRollups(messages, order).tables()
                done.signal()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }

        /// The inserts, once worked out (only the first call waits).
        @discardableResult
        func wait() -> [(insert: String, rows: [UInt8])] {
            if !waited {
                done.wait()
                waited = true
            }
            return tables
        }
    }

    /// Inserts the rollups and sightings (`tables`, ``BatchRollups/tables()``) of the messages this
    /// commit stored, whose window starts lie in `[lo, hi]`.
    ///
    /// An insert that fails on the connection may have landed: rather than sending sums twice,
    /// the writer then makes the rollups and sightings of that time equal to its raw rows
    /// (``ClickHouseRollups/reconcile(_:from:through:)``, which adds only what is missing).
    ///
    /// The six inserts go at once (``ClickHouseClient/runAll(_:)``): their order does not matter (each
    /// only adds to its table), and the reconciliation after a failure makes every level right.
    func writeRollups(_ tables: [(insert: String, rows: [UInt8])], from lo: Int64, through hi: Int64) throws {
        do {
            try client.runAll(tables.filter { !$0.rows.isEmpty }.map { ($0.insert, $0.rows) })
        } catch let e as ClickHouseError where e.kind == .connection {
            try client.backOff(after: e)
            try ClickHouseRollups.reconcile(client, from: lo, through: hi)
        }
    }

    /// Inserts one block, the batch's messages `order` (indices into ``messages``); after a
    /// connection error, inserts what did not land.
    ///
    /// The client's one budget of retries bounds the insert and the reads of what landed together:
    /// nested budgets kept an ingest against a server that stays down retrying for minutes (up to
    /// attempts² connection attempts, each up to the connect timeout).
    ///
    /// - parameter before: runs once, after the first encoding and before it is sent.
    func insert(_ order: ArraySlice<Int>, before: (() throws -> Void)? = nil) throws {
        var pending = order
        var before = before
        while !pending.isEmpty {
            do {
                switch Self.insertFormat {
                case .json:
                    let rows = Self.encodeJSON(pending.map { (messages[$0], digests[$0]) })
                    try before?()
                    before = nil
                    try client.run(Self.insertRows, data: rows, retries: false)
                case .rowBinary:
                    Self.encode(messages, digests, pending, into: &body)
                    try before?()
                    before = nil
                    try client.insert(Self.insertRows, rows: body, retries: false)
                case .native:
                    Self.encodeNative(messages, digests, pending, into: &body, addresses: &rowAddresses)
                    try before?()
                    before = nil
                    try client.insert(Self.insertRows, rows: body, retries: false)
                }
                break
            } catch let e as ClickHouseError where e.kind == .connection {
                try client.backOff(after: e)
                // Whatever landed stays; the rest goes again.
                while true {
                    do {
                        let present = try storedIdentities(of: pending, retries: false)
                        pending = ArraySlice(pending.filter {
                            !present.contains(Identity(start: messages[$0].start, reporter: messages[$0].nodeID, digest: digests[$0]))
                        })
                        break
                    } catch let e as ClickHouseError where e.kind == .connection {
                        try client.backOff(after: e)
                    }
                }
            }
        }
    }

    /// The flow rows of `messages[order]` as RowBinary, written into `out` (cleared first: its
    /// storage serves one insert after another).
    ///
    /// Straight into the buffer's memory, room made per message for its rows at their longest;
    /// each address's text once per insert (a few hundred distinct ones; formatting one, IPv6
    /// especially, cost more than the rest of its row, and a row's address is most often the
    /// previous row's), each message's header once and copied for its other rows.
    static func encode<C: Collection<Int>>(_ messages: [FlowMessage], _ digests: [Int64], _ order: C, into out: inout ByteBuffer) {
        out.clear()
        var rows = 0
        for i in order { rows += max(1, messages[i].rows.count) }
        out.reserveCapacity(rows * 112)
        // Each address's RowBinary text (length byte and text), one after another, by its offset << 8 | its size.
        var texts: [UInt8] = []
        var spans: [IPAddress: Int] = [:]
        func span(_ a: IPAddress) -> Int {
            if let s = spans[a] { return s }
            let t = a.description.utf8
            precondition(t.count < 128 && t.count + 1 <= maxAddressBytes, "an address's text longer than the room made for it")
            let s = texts.count << 8 | (t.count + 1)
            texts.append(UInt8(t.count))
            texts.append(contentsOf: t)
            spans[a] = s
            return s
        }
        // Per row of a message: its source's and destination's spans (-1: no address).
        var rowSpans: [(src: Int, dst: Int)] = []
        var lastSrc: (IPAddress, Int)?, lastDst: (IPAddress, Int)?
        var head = RowBinary()
        for i in order {
            // The parts used, not a copy of the message (a retain of each of its parts).
            let rows = messages[i].rows, end = messages[i].end
            // Milliseconds after the window's end, rounded down (as SQLite's store keeps it).
            let logged = messages[i].logged.map { Timestamp.floorDivMod($0 &- end, 1_000_000).0 }
            rowSpans.removeAll(keepingCapacity: true)
            for r in rows {
                var s = -1, d = -1
                if let a = r.src {
                    if let l = lastSrc, l.0 == a { s = l.1 } else { s = span(a); lastSrc = (a, s) }
                }
                if let a = r.dst {
                    if let l = lastDst, l.0 == a { d = l.1 } else { d = span(a); lastDst = (a, d) }
                }
                rowSpans.append((s, d))
            }
            head.bytes.removeAll(keepingCapacity: true)
            head.i64(messages[i].start)
            head.i64(end)
            head.string(messages[i].nodeID)
            head.i64(digests[i])
            let room = max(1, rows.count) * (head.bytes.count + fixedRowBytes + 2 * maxAddressBytes)
            _ = texts.withUnsafeBytes { texts in
                head.bytes.withUnsafeBytes { head in
                    out.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { buffer in
                        let p = buffer.baseAddress!
                        var o = 0
                        @inline(__always) func u8(_ v: UInt8) { p.storeBytes(of: v, toByteOffset: o, as: UInt8.self); o += 1 }
                        @inline(__always) func u16(_ v: UInt16) { p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt16.self); o += 2 }
                        @inline(__always) func u32(_ v: UInt32) { p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self); o += 4 }
                        @inline(__always) func u64(_ v: UInt64) { p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self); o += 8 }
                        @inline(__always) func address(_ s: Int) {
                            if s < 0 { return u8(0) }
                            let n = s & 0xff
                            (p + o).copyMemory(from: texts.baseAddress! + (s >> 8), byteCount: n)
                            o += n
                        }
                        @inline(__always) func header(_ row: UInt32) {
                            (p + o).copyMemory(from: head.baseAddress!, byteCount: head.count)
                            o += head.count
                            u32(row)
                        }
                        @inline(__always) func tail() {
                            if let logged {
                                u8(0)
                                u64(UInt64(bitPattern: logged))
                            } else {
                                u8(1)
                            }
                            u8(1)  // summed: by this writer, not by schema 005's views
                        }
                        if rows.isEmpty {
                            header(0)
                            u8(255)
                            u8(0)
                            u8(0)  // src ""
                            u16(0)
                            u8(0)  // dst ""
                            u16(0)
                            for _ in 0..<4 { u64(0) }
                            tail()
                            return o
                        }
                        for (n, r) in rows.enumerated() {
                            header(UInt32(n))
                            u8(r.kind.rawValue)
                            u8(r.proto)
                            address(rowSpans[n].src)
                            u16(r.srcPort)
                            address(rowSpans[n].dst)
                            u16(r.dstPort)
                            u64(UInt64(r.txPackets))
                            u64(UInt64(r.txBytes))
                            u64(UInt64(r.rxPackets))
                            u64(UInt64(r.rxBytes))
                            tail()
                        }
                        return o
                    }
                }
            }
        }
    }

    /// A row's bytes besides its header and addresses: row, kind, proto, ports, counters, logged_ms, summed.
    static let fixedRowBytes = 4 + 1 + 1 + 2 + 2 + 32 + 9 + 1
    /// The room made for an address's text: its length byte and at most 45 characters (IPv4-mapped IPv6).
    static let maxAddressBytes = 47

    /// The rows as JSONEachRow (the format RowBinary was measured against).
    static func encodeJSON(_ messages: [(FlowMessage, Int64)]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(messages.reduce(0) { $0 + max(1, $1.0.rows.count) } * 260)
        func text(_ s: String) {
            out.append(0x22)
            for b in s.utf8 {
                switch b {
                case 0x22, 0x5c: out.append(0x5c); out.append(b)
                case ..<0x20: out.append(contentsOf: Array(String(format: "\\u%04x", b).utf8))
                default: out.append(b)
                }
            }
            out.append(0x22)
        }
        func number<T: BinaryInteger>(_ v: T) { out.append(contentsOf: String(v).utf8) }
        for (m, digest) in messages {
            let logged = m.logged.map { Timestamp.floorDivMod($0 &- m.end, 1_000_000).0 }
            func row(_ i: Int, _ kind: UInt8, _ proto: UInt8, _ src: String, _ sp: UInt16, _ dst: String, _ dp: UInt16, _ c: [Int64]) {
                out.append(contentsOf: Array("{\"start_ns\":".utf8)); number(m.start)
                out.append(contentsOf: Array(",\"end_ns\":".utf8)); number(m.end)
                out.append(contentsOf: Array(",\"reporter\":".utf8)); text(m.nodeID)
                out.append(contentsOf: Array(",\"digest\":".utf8)); number(digest)
                out.append(contentsOf: Array(",\"row\":".utf8)); number(i)
                out.append(contentsOf: Array(",\"kind\":".utf8)); number(kind)
                out.append(contentsOf: Array(",\"proto\":".utf8)); number(proto)
                out.append(contentsOf: Array(",\"src\":".utf8)); text(src)
                out.append(contentsOf: Array(",\"src_port\":".utf8)); number(sp)
                out.append(contentsOf: Array(",\"dst\":".utf8)); text(dst)
                out.append(contentsOf: Array(",\"dst_port\":".utf8)); number(dp)
                for (name, v) in zip(["tx_packets", "tx_bytes", "rx_packets", "rx_bytes"], c) {
                    out.append(contentsOf: Array(",\"\(name)\":".utf8)); number(v)
                }
                out.append(contentsOf: Array(",\"logged_ms\":".utf8))
                if let logged { number(logged) } else { out.append(contentsOf: Array("null".utf8)) }
                out.append(contentsOf: Array(",\"summed\":1}\n".utf8))
            }
            if m.rows.isEmpty {
                row(0, 255, 0, "", 0, "", 0, [0, 0, 0, 0])
                continue
            }
            for (i, r) in m.rows.enumerated() {
                row(i, r.kind.rawValue, r.proto, r.src?.description ?? "", r.srcPort, r.dst?.description ?? "", r.dstPort,
                    [r.txPackets, r.txBytes, r.rxPackets, r.rxBytes])
            }
        }
        return out
    }

    /// The batch's configuration changes the store does not hold yet (read back by identity, as
    /// messages are: a retried insert adds nothing twice).
    func writeChanges() throws {
        guard let lo = changes.map(\.time).min(), let hi = changes.map(\.time).max() else { return }
        struct Key: Hashable {
            var time: Int64
            var identity: Int64
        }
        var present: Set<Key> = []
        for f in try client.rows("SELECT DISTINCT time_ns, identity FROM changes WHERE time_ns >= \(lo) AND time_ns <= \(hi)") where f.count == 2 {
            if let t = Int64(f[0]), let i = Int64(f[1]) { present.insert(Key(time: t, identity: i)) }
        }
        var out = RowBinary()
        var count = 0
        for c in changes {
            guard !present.contains(Key(time: c.time, identity: c.identity)) else {
                stats.duplicateChanges += 1
                continue
            }
            out.i64(c.time)
            out.i64(c.identity)
            for v in [c.eventGroupID, c.origin, c.actorID, c.actorType, c.actorLogin, c.actorName, c.targetID, c.targetName,
                      c.targetType, c.property] {
                out.nullableString(v)
            }
            out.string(c.action)
            for v in [c.old, c.new, c.details, c.error] { out.nullableString(v) }
            out.string(c.record)
            count += 1
        }
        guard count > 0 else { return }
        try client.run("""
            INSERT INTO changes (time_ns, identity, event_group, origin, actor_id, actor_type, actor_login, actor_name, target_id, \
            target_name, target_type, property, action, old, new, details, error, record) FORMAT RowBinary
            """, data: out.bytes)
        stats.changes += count
    }

    func writeRegions() throws {
        guard !regions.isEmpty else { return }
        var out = RowBinary()
        for (r, t) in regions {
            out.i64(Int64(r.id))
            out.nullableString(r.code)
            out.nullableString(r.name)
            out.i64(t)
        }
        try client.run("INSERT INTO derp_regions (region_id, code, name, imported_ns) FORMAT RowBinary", data: out.bytes)
    }

    func writeRejects() throws {
        guard !rejects.isEmpty else { return }
        var out = RowBinary()
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        for r in rejects {
            out.string(r.location.source)
            out.i64(r.location.offset)
            out.string(r.reason)
            out.i64(r.location.line.map { Int64($0) } ?? -1)
            out.string(r.excerpt)
            out.i64(r.recorded ?? now)  // a reject copied from another store keeps when it was first recorded
        }
        try client.run("INSERT INTO rejects (source, offset, reason, line, excerpt, recorded_ns) FORMAT RowBinary", data: out.bytes)
    }
}

extension RowBinary {
    /// One `node_info` row: a node's reported facts at `t`; `seq` orders writes of the same `t`.
    /// The writer and `migrate` both write it, so its columns are spelled once.
    mutating func nodeInfo(_ stableID: String, _ i: NodeInfo, at t: Int64, seq: UInt64) {
        string(stableID)
        i64(t)
        u64(seq)
        string(i.name ?? "")
        string(i.os ?? "")
        string(i.user ?? "")
        strings(i.tags)
        strings(i.addresses.map(\.description))
        u8(i.routes == nil ? 0 : 1)
        strings(i.routes ?? [])
    }
}
