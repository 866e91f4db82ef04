import GRDBSQLite
import GRDB
import FlowModel
import Foundation

/// What a writer stored.
public struct WriteStats: Sendable, Equatable {
    /// Messages stored for the first time.
    public var messages = 0
    /// Flow rows of those messages.
    public var rows = 0
    /// Messages already in the store (or earlier in the same input): skipped.
    public var duplicates = 0
    /// Rejects recorded (a reject already recorded counts again but is stored once).
    public var rejects = 0
    /// Configuration audit log records stored for the first time, and those already stored.
    public var changes = 0
    public var duplicateChanges = 0

    public init() {}
}

/// The store's single writer: inserts messages with their rollups, node facts and rejects.
///
/// Work happens in batches: ``begin()``, any number of ``add(_:)``,
/// ``addReject(_:)`` and ``importNode(_:at:)``, then ``commit()``. Rollups and node
/// updates are aggregated in memory during a batch and written just before the
/// commit, in the same transaction as the rows they summarise, so a reader never
/// sees rows without their rollups, and a crash loses a whole batch or nothing.
///
/// The insert path uses prepared sqlite3 statements directly (see `RawStatement`).
final class FlowWriter: StoreWriter {
    let db: Database
    let sqlite: OpaquePointer
    /// A stored group of messages (schema/009_message_groups.sql), and writing one.
    let selectGroup: RawStatement
    let insertGroup: RawStatement
    let updateGroup: RawStatement
    let selectPartsInRange: RawStatement
    let selectRollup: RawStatement
    let insertRollup: RawStatement
    let updateRollup: RawStatement
    let deleteParts: RawStatement
    let selectAddress: RawStatement
    let insertAddress: RawStatement
    let selectNode: RawStatement
    let insertNode: RawStatement
    let updateNodeInfo: RawStatement
    let updateNodeSeen: RawStatement
    let upsertNodeAddress: RawStatement
    let insertReject: RawStatement
    let insertChange: RawStatement

    // The state `add(_:digest:)` touches for every message is not checked for exclusive access
    // at run time (`@exclusivity(unchecked)`): the writer is one thread's, no access to one of
    // these overlaps another, and the checks were a tenth of the writer's instructions (532,926
    // on 20,000 messages of the sparse file, each entered in the runtime's access set).
    @exclusivity(unchecked) var addressIDs = MixTable<IPAddress, Int64>()
    /// The nodes met so far, by stable ID (``NodeKey``: hashed with ``mixBits`` over its bytes, not SipHash).
    @exclusivity(unchecked) var nodes = MixTable<NodeKey, NodeState>()
    @exclusivity(unchecked) var minuteRollups = MixTable<RollupKey, Counters>()
    /// The groups of messages this batch adds to, with what they held before (``MessageGroup``).
    @exclusivity(unchecked) var groupIndex = MixTable<GroupID, Int>()
    @exclusivity(unchecked) var groups: [MessageGroup] = []
    @exclusivity(unchecked) var lastGroup: (id: Int64, index: Int) = (-1, -1)
    /// The largest key of `message_groups` when the batch began (nil: none stored): a group with
    /// a larger key is not stored, and is not looked for (``group(_:)``).
    @exclusivity(unchecked) var largestStoredGroup: Int64?
    @exclusivity(unchecked) var blob: [UInt8] = []
    @exclusivity(unchecked) var stored: [StoredRow] = []
    @exclusivity(unchecked) var inTransaction = false
    /// The hours whose messages this batch stored or changed: their `coverage_hours` rows go
    /// before the commit (``FlowWriter+CoverageHours``).
    @exclusivity(unchecked) var hoursTouched = HoursTouched()
    /// The hours whose coverage summaries this writer builds as it stores their messages
    /// (``CoverageBuilds``; `ingest`), and whether the batch under way is the run's last.
    @exclusivity(unchecked) var coverageBuilds = CoverageBuilds()
    var coverageBuildsFinishing = false
    /// Run after each commit, between transactions (the long-lived writer bounds the log there).
    var afterCommit: (() -> Void)?
    /// Whether ``commit()`` leaves the work that may follow it to the caller
    /// (``upkeepAfterCommit()``), which runs it once it has told the submitters, so that the
    /// server acknowledges a batch as soon as it is committed: ``afterCommit`` (the log's bound)
    /// and, for a writer that defers the longer levels, their fold of the hours the data has
    /// left (``FlowWriter+Fold``), in a transaction of its own.
    var defersUpkeep = false
    /// A commit's ``afterCommit`` not run yet.
    private var upkeepDue = false
    /// Whether a commit found hours to fold into the longer levels and left them to ``upkeepAfterCommit()``.
    var foldDue = false
    /// Truncations of the write-ahead log that failed (``WriteAheadLog``), and folds after commits that failed.
    var walBoundFailures = 0
    var foldFailures = 0
    /// The hours ``summarizeCoverageStep(budget:settledBefore:)`` has yet to summarize (nil: make the list).
    var coverageTodo: [Nanoseconds]?
    /// Whether the levels of a day and more lag behind (the server: see ``FlowWriter+Fold``), and by
    /// how much data time at least; nil: every commit completes them.
    var deferLongLevels: Nanoseconds?
    /// The wall clock (ns since the epoch) the mark of the longer levels is kept by; tests set their own.
    var clock: () -> Nanoseconds = { Int64(Date().timeIntervalSince1970 * 1e9) }
    /// The mark of the levels of a day and more in this batch (schema/012_rollup_marks.sql): they
    /// hold exactly the rows that start before it. nil: they are complete.
    var longMark: Nanoseconds?
    /// Whether ``longMark`` differs from the stored one.
    var longMarkChanged = false
    /// The latest message start stored before this batch, read when a mark must be made.
    var startedAfter: Nanoseconds?
    /// Background pruning under way (``pruneStep(_:now:budget:)``), and what the last one did.
    var pruner: Pruner?
    var lastPrune: PruneReport?
    /// The store's page size: ``FlowStore/pageSize`` unless the file was made with another
    /// (8 KiB before issue 20's 16 KiB).
    let pageSize: Int64
    /// How many of the store's pages make `bytes` (what `wal_autocheckpoint` counts).
    func pages(_ bytes: Int64) -> Int64 { bytes / pageSize }
    /// Whether a batch is open.
    var isInBatch: Bool { inTransaction }
    @exclusivity(unchecked) private(set) var stats = WriteStats()
    /// `TAILFLOW_TRACE`: how long the last commit's parts took (ns).
    var phases: [String: Int64] = [:]

    final class NodeState: NodeFacts {
        let id: Int64
        @exclusivity(unchecked) var firstReport: Int64?
        @exclusivity(unchecked) var lastReport: Int64?

        init(id: Int64) {
            self.id = id
        }

        // Not inherited (a node state has an id). Said out loud because Swift 6.3's own stub
        // for an uninherited `package` initializer, in an internal subclass, warns "function
        // call causes an infinite recursion" at the class line.
        @available(*, unavailable)
        override init() { fatalError("a node state has an id") }

        func reported(_ t: Int64) {
            if firstReport.map({ t < $0 }) ?? true { firstReport = t; seenDirty = true }
            if lastReport.map({ t > $0 }) ?? true { lastReport = t; seenDirty = true }
        }
    }

    init(_ db: Database) throws {
        self.db = db
        sqlite = db.sqliteConnection!
        let pageSize = try RawStatement(sqlite, "PRAGMA page_size")
        self.pageSize = try pageSize.step() ? max(512, pageSize.int64(0)) : Int64(FlowStore.pageSize)
        pageSize.reset()
        selectGroup = try RawStatement(sqlite, "SELECT body FROM message_groups WHERE id = ?")
        // An INSERT of a new group, an UPDATE of one read in this transaction: never `INSERT OR
        // REPLACE`, which makes SQLite keep a statement journal, a temporary file that took a copy
        // of every page each group touched (2.2 GB written while ingesting into a 65 MB store).
        insertGroup = try RawStatement(sqlite, "INSERT OR IGNORE INTO message_groups (id, messages, row_count, body) VALUES (?1, ?2, ?3, ?4)")
        updateGroup = try RawStatement(sqlite, "UPDATE message_groups SET messages = ?2, row_count = ?3, body = ?4 WHERE id = ?1")
        selectPartsInRange = try RawStatement(sqlite, """
            SELECT bucket, part, entries FROM rollups WHERE step = ? AND reporter = ? AND bucket BETWEEN ? AND ? ORDER BY bucket, part
            """)
        selectRollup = try RawStatement(sqlite, "SELECT sums FROM rollups WHERE step = ? AND reporter = ? AND bucket = ? ORDER BY part")
        // As for groups: an insert or an update, never `OR REPLACE` (a statement journal per part).
        insertRollup = try RawStatement(sqlite, """
            INSERT OR IGNORE INTO rollups (step, reporter, bucket, part, entries, sums) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            """)
        updateRollup = try RawStatement(sqlite, """
            UPDATE rollups SET entries = ?5, sums = ?6 WHERE step = ?1 AND reporter = ?2 AND bucket = ?3 AND part = ?4
            """)
        deleteParts = try RawStatement(sqlite, "DELETE FROM rollups WHERE step = ? AND reporter = ? AND bucket = ? AND part > 0")
        selectAddress = try RawStatement(sqlite, SQLiteSQL.selectAddress)
        insertAddress = try RawStatement(sqlite, "INSERT INTO addresses (ip) VALUES (?)")
        selectNode = try RawStatement(sqlite, """
            SELECT id, info_ns, first_seen_ns, last_seen_ns, first_report_ns, last_report_ns FROM nodes WHERE stable_id = ?
            """)
        insertNode = try RawStatement(sqlite, "INSERT INTO nodes (stable_id) VALUES (?)")
        updateNodeInfo = try RawStatement(sqlite, """
            UPDATE nodes SET name = ?2, os = ?3, user = ?4, tags = ?5, addresses = ?6, info_ns = ?7, routes = coalesce(?8, routes)
            WHERE id = ?1 AND (info_ns IS NULL OR info_ns <= ?7)
            """)
        updateNodeSeen = try RawStatement(sqlite, """
            UPDATE nodes SET
                first_seen_ns = CASE WHEN ?2 IS NULL THEN first_seen_ns ELSE min(coalesce(first_seen_ns, ?2), ?2) END,
                last_seen_ns = CASE WHEN ?3 IS NULL THEN last_seen_ns ELSE max(coalesce(last_seen_ns, ?3), ?3) END,
                first_report_ns = CASE WHEN ?4 IS NULL THEN first_report_ns ELSE min(coalesce(first_report_ns, ?4), ?4) END,
                last_report_ns = CASE WHEN ?5 IS NULL THEN last_report_ns ELSE max(coalesce(last_report_ns, ?5), ?5) END
            WHERE id = ?1
            """)
        upsertNodeAddress = try RawStatement(sqlite, """
            INSERT INTO node_addresses (address, node, info_ns) VALUES (?1, ?2, ?3)
            ON CONFLICT (address) DO UPDATE SET node = excluded.node, info_ns = excluded.info_ns
            WHERE excluded.info_ns >= node_addresses.info_ns
            """)
        insertReject = try RawStatement(sqlite, """
            INSERT OR IGNORE INTO rejects (source, line, offset, reason, excerpt, recorded_ns) VALUES (?, ?, ?, ?, ?, ?)
            """)
        insertChange = try RawStatement(sqlite, """
            INSERT OR IGNORE INTO changes (time_ns, identity, event_group, origin, actor_id, actor_type, actor_login, actor_name,
                target_id, target_name, target_type, property, action, old, new, details, error, record)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
            """)
        blob.reserveCapacity(4096)
    }

    func close() {
        afterCommit = nil
        pruner = nil
        if inTransaction { rollback() }
    }

    // MARK: Transactions

    /// Starts a batch (an immediate transaction: it waits for other writers).
    func begin() throws {
        precondition(!inTransaction, "begin() inside a batch")
        try exec("BEGIN IMMEDIATE")
        inTransaction = true
        phases = [:]
        do {
            try loadMark()
            try checkCoverageBuilds()
            try loadGroupBound()
        } catch {
            rollback()
            throw error
        }
    }

    /// Writes the batch's rollups and node facts, then commits.
    func commit() throws {
        guard inTransaction else { return }
        do {
            let t0 = Trace.isOn ? Trace.now() : 0
            try flushGroups()
            let t1 = Trace.isOn ? Trace.now() : 0
            try flushRollups()
            let t2 = Trace.isOn ? Trace.now() : 0
            try flushNodes()
            try dropTouchedCoverageHours()
            try writeBuiltCoverage(all: coverageBuildsFinishing)
            let t3 = Trace.isOn ? Trace.now() : 0
            try exec("COMMIT")
            let t4 = Trace.isOn ? Trace.now() : 0
            inTransaction = false
            if defersUpkeep { upkeepDue = true } else { afterCommit?() }
            if Trace.isOn {
                let t5 = Trace.now()
                phases["groups"] = t1 - t0
                phases["rollups"] = t2 - t1
                phases["nodes"] = t3 - t2
                phases["sqlcommit"] = t4 - t3
                phases["after"] = t5 - t4
                phases["wal"] = WriteAheadLog.size(ofDatabaseAt: String(cString: sqlite3_db_filename(sqlite, "main")))
            }
        } catch {
            rollback()
            throw error
        }
    }

    /// Runs the work a commit left (``defersUpkeep``), between transactions: the fold of the
    /// longer levels when one is due (its transaction's commit runs ``afterCommit``), else
    /// ``afterCommit``. A fold that fails (a full disk) is left to a later commit, which finds
    /// the same hours to fold.
    func upkeepAfterCommit() {
        guard !inTransaction else { return }
        let t0 = Trace.isOn ? Trace.now() : 0
        let c0 = Trace.isOn ? Trace.cpu() : 0
        if foldDue {
            foldDue = false
            upkeepDue = false
            do {
                try foldFinishedHours()
            } catch {
                // The next commit finds the same hours to fold and tries again.
                foldFailures += 1
            }
        } else if upkeepDue {
            upkeepDue = false
            afterCommit?()
        } else {
            return
        }
        if Trace.isOn { Trace.record("{\"k\":\"up\",\"s\":\(t0),\"e\":\(Trace.now()),\"fold\":\(phases["fold"] ?? 0),\"foldcpu\":\(phases["foldcpu"] ?? 0),\"cpu\":\(Trace.cpu() - c0)}") }
    }

    /// Runs `body` in a write transaction of its own, between batches (the idle fold, `serve`
    /// filling the coverage summaries): committed with the work that follows every commit (the
    /// log's bound), rolled back on an error.
    func inOwnTransaction<T>(_ body: () throws -> T) throws -> T {
        try begin()
        do {
            let result = try body()
            try exec("COMMIT")
            inTransaction = false
            afterCommit?()
            return result
        } catch {
            rollback()
            throw error
        }
    }

    /// Abandons the batch. Caches are dropped: they may name rows that no longer exist.
    func rollback() {
        _ = sqlite3_exec(sqlite, "ROLLBACK", nil, nil, nil)
        inTransaction = false
        addressIDs.removeAll()
        nodes.removeAll()
        minuteRollups.removeAll()
        dropGroups()
        hoursTouched = HoursTouched()
        coverageBuilds.stop()
        longMark = nil
        longMarkChanged = false
    }

    func exec(_ sql: String) throws {
        let rc = sqlite3_exec(sqlite, sql, nil, nil, nil)
        guard rc == SQLITE_OK else {
            throw StoreError.sqlite(rc, String(cString: sqlite3_errmsg(sqlite)), sql: sql)
        }
    }

    // MARK: Messages

    /// Stores a message unless an identical one is stored already; returns whether it was new.
    @discardableResult
    func add(_ message: FlowMessage) throws -> Bool {
        try add(message, digest: message.digest)
    }

    /// ``add(_:)`` with the message identity given: copies between stores keep the stored one.
    @discardableResult
    func add(_ message: FlowMessage, digest: Int64) throws -> Bool {
        try withUnsafePointer(to: message) { try add(at: $0, digest: digest) }
    }

    /// ``add(_:digest:)`` of the message at `m`, read in place: a message handed over by value
    /// was a copy (a retain and a release of each of its parts, and of its nodes' facts).
    func add(at m: UnsafePointer<FlowMessage>, digest: Int64) throws -> Bool {
        precondition(inTransaction, "add(_:) outside a batch")
        let message = UnsafeMessage(m)
        // What the decoders reject (SPEC §1): differences of times the store keeps beside each other
        // must fit, or they would trap here or be stored as a group no reader accepts.
        func invalid() -> StoreError {
            StoreError(.invalidMessage, "message of \(message.nodeID) at \(Timestamp.formatRFC3339(message.start)): its end or logged time is before its start or more than 100 years from it")
        }
        guard let duration = Timestamp.apart(message.end, from: message.start), duration >= 0 else { throw invalid() }
        // Milliseconds after the window's end, rounded down (negative when logged before it ended).
        var loggedMs: Int64?
        if let logged = message.logged {
            guard let offset = Timestamp.apart(logged, from: message.end) else { throw invalid() }
            loggedMs = Timestamp.floorDivMod(offset, 1_000_000).0
        }
        let reporter = try node(message.nodeID)
        // The rows as stored, built in a local array (the writer's, swapped out and back in): each
        // access to a property of this class is an exclusivity check, a tenth of the writer when
        // made per row. Rows of a message mostly repeat their addresses: the last ids are kept here.
        var stored: [StoredRow] = []
        swap(&stored, &self.stored)
        defer { swap(&stored, &self.stored) }
        stored.removeAll(keepingCapacity: true)
        var lastSrc: (ip: IPAddress, id: Int64)?, lastDst: (ip: IPAddress, id: Int64)?
        for r in message.rows {
            var src: Int64 = 0, dst: Int64 = 0
            if let ip = r.src {
                if let last = lastSrc, last.ip == ip { src = last.id } else { src = try addressID(ip); lastSrc = (ip, src) }
            }
            if let ip = r.dst {
                if let last = lastDst, last.ip == ip { dst = last.id } else { dst = try addressID(ip); lastDst = (ip, dst) }
            }
            stored.append(StoredRow(kind: r.kind, proto: r.proto, src: src, srcPort: r.srcPort, dst: dst, dstPort: r.dstPort,
                                    txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes))
        }
        // The key holds 24 bits of reporter (schema/009).
        guard reporter.id <= MessageGroup.reporterMask else {
            throw StoreError(.sqlite, "the store holds more than \(MessageGroup.reporterMask) nodes; message groups cannot name node #\(reporter.id)")
        }
        let g = try group(MessageGroup.id(start: message.start, reporter: reporter.id))
        if let i = groups[g].index(start: message.start, digest: digest) {
            stats.duplicates += 1
            // The stored copy may lack the `logged` time this one carries (streamed first, pulled later).
            if loggedMs != nil, groups[g].messages[i].loggedMs == nil {
                groups[g].messages[i].loggedMs = loggedMs
                groups[g].dirty = true
                hoursTouched.add(message.start)
                leaveCoverage(message.start)
            }
            return false
        }
        groups[g].append(start: message.start, duration: duration, digest: digest, loggedMs: loggedMs, encoding: stored)
        stats.messages += 1
        stats.rows += stored.count
        hoursTouched.add(message.start)
        try buildCoverage(reporter: reporter.id, start: message.start, end: message.end, loggedMs: loggedMs, rows: stored)

        reporter.reported(message.start)
        reporter.seen(message.start)
        if let src = message.srcNode {
            let n = src.pointee.nodeID == message.nodeID ? reporter : try node(src.pointee.nodeID)
            n.learn(at: src, message.start)
            n.seen(message.start)
        }
        try m.pointee.dstNodes.withUnsafeBufferPointer { dsts in
            for i in dsts.indices {
                let dst = dsts.baseAddress! + i
                let n = try node(dst.pointee.nodeID)
                n.learn(at: dst, message.start)
                n.seen(message.start)
            }
        }
        let minute = Timestamp.floorDivMod(message.start, 60 * Timestamp.nanosPerSecond).0 * 60
        // One access to the table for all the rows (a mutating call), not one per row.
        minuteRollups.add(stored, bucket: minute, reporter: reporter.id)
        return true
    }

    /// The parts of a message ``add(at:digest:)`` reads, through its address.
    struct UnsafeMessage {
        let m: UnsafePointer<FlowMessage>
        init(_ m: UnsafePointer<FlowMessage>) { self.m = m }
        var nodeID: String { m.pointee.nodeID }
        var start: Nanoseconds { m.pointee.start }
        var end: Nanoseconds { m.pointee.end }
        var logged: Nanoseconds? { m.pointee.logged }
        var rows: [FlowRow] { m.pointee.rows }
        /// The source node's facts in place (an optional's payload is at its start), nil without one.
        var srcNode: UnsafePointer<NodeInfo>? {
            guard let p = m.pointer(to: \.srcNode), p.pointee?.nodeID != nil else { return nil }
            return UnsafeRawPointer(p).assumingMemoryBound(to: NodeInfo.self)
        }
    }

    /// Records input that could not be stored; the same reject recorded again is stored once.
    func addReject(_ reject: Reject) throws {
        precondition(inTransaction, "addReject outside a batch")
        insertReject.bind(1, reject.location.source)
        insertReject.bind(2, reject.location.line.map { Int64($0) })
        insertReject.bind(3, reject.location.offset)
        insertReject.bind(4, reject.reason)
        insertReject.bind(5, reject.excerpt.isEmpty ? nil : reject.excerpt)
        // A reject copied from another store (import, export) keeps when it was first recorded.
        insertReject.bind(6, reject.recorded ?? Int64(Date().timeIntervalSince1970 * 1e9))
        try insertReject.run()
        stats.rejects += 1
    }

    /// Stores a configuration audit log record unless it is stored already; returns whether it was new.
    @discardableResult
    func addChange(_ c: ConfigChange) throws -> Bool {
        try addChange(c, identity: c.identity)
    }

    /// ``addChange(_:)`` with the identity given: copies between stores keep the stored one.
    @discardableResult
    func addChange(_ c: ConfigChange, identity: Int64) throws -> Bool {
        precondition(inTransaction, "addChange outside a batch")
        let values: [String?] = [c.eventGroupID, c.origin, c.actorID, c.actorType, c.actorLogin, c.actorName,
                                 c.targetID, c.targetName, c.targetType, c.property, c.action, c.old, c.new,
                                 c.details, c.error, c.record]
        insertChange.bind(1, c.time)
        insertChange.bind(2, identity)
        for (i, v) in values.enumerated() { insertChange.bind(Int32(i + 3), v) }
        guard try insertChange.run() == 1 else {
            stats.duplicateChanges += 1
            return false
        }
        stats.changes += 1
        return true
    }

    /// Records what a device list says about a node, as known at time `t`.
    func importNode(_ info: NodeInfo, at t: Nanoseconds) throws {
        precondition(inTransaction, "importNode outside a batch")
        try node(info.nodeID).learn(info, at: t)
    }

    func importDERPRegion(_ region: DERPRegion, at t: Nanoseconds) throws {
        precondition(inTransaction, "importDERPRegion outside a batch")
        try db.execute(sql: "INSERT OR REPLACE INTO derp_regions (region_id, code, name, imported_ns) VALUES (?, ?, ?, ?)",
                       arguments: [region.id, region.code, region.name, t])
    }

    // MARK: Interning

    func addressID(_ ip: IPAddress) throws -> Int64 {
        if let id = addressIDs.lookUp(ip) { return id }
        let text = ip.description
        selectAddress.bind(1, text)
        defer { selectAddress.reset() }
        let id: Int64
        if try selectAddress.step() {
            id = selectAddress.int64(0)
        } else {
            insertAddress.bind(1, text)
            try insertAddress.run()
            id = sqlite3_last_insert_rowid(sqlite)
        }
        addressIDs.insertNew(ip, id)
        return id
    }

    func node(_ stableID: String) throws -> NodeState {
        let key = NodeKey(stableID)
        if let state = nodes.lookUp(key) { return state }
        selectNode.bind(1, stableID)
        defer { selectNode.reset() }
        let state: NodeState
        if try selectNode.step() {
            state = NodeState(id: selectNode.int64(0))
            state.infoNs = selectNode.optionalInt64(1)
            state.firstSeen = selectNode.optionalInt64(2)
            state.lastSeen = selectNode.optionalInt64(3)
            state.firstReport = selectNode.optionalInt64(4)
            state.lastReport = selectNode.optionalInt64(5)
        } else {
            insertNode.bind(1, stableID)
            try insertNode.run()
            state = NodeState(id: sqlite3_last_insert_rowid(sqlite))
        }
        nodes.insertNew(key, state)
        return state
    }

    /// A node's stable ID as the key of ``nodes``: hashed over its UTF-8 bytes eight at a time with
    /// ``mixBits``, from ``hashSeed`` (a `[String: NodeState]` hashed every ID of every message with
    /// SipHash: 8% of the writer's instructions while ingesting).
    struct NodeKey: MixHashable {
        let id: String

        @inline(__always)
        init(_ id: String) { self.id = id }

        /// Equal when the bytes are: `String`'s `==` takes canonically equivalent spellings as
        /// equal ("\u{e9}" and "e\u{301}") while the hash reads bytes, and SQLite's `stable_id = ?`
        /// compares bytes: two such IDs are two nodes.
        @inline(__always)
        static func == (a: NodeKey, b: NodeKey) -> Bool {
            // One `memcmp` where both are contiguous (native and small strings are): the generic
            // `elementsEqual` of two UTF-8 views, byte by byte, was 14% of the writer's instructions.
            let equal = a.id.utf8.withContiguousStorageIfAvailable { x in
                b.id.utf8.withContiguousStorageIfAvailable { y in
                    x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
                }
            }
            return (equal ?? nil) ?? a.id.utf8.elementsEqual(b.id.utf8)
        }

        var mixedHash: UInt64 { mixedHash(seed: 0) }

        @inline(__always)
        func mixedHash(seed: UInt64) -> UInt64 {
            id.utf8.withContiguousStorageIfAvailable { Self.hash(UnsafeRawBufferPointer($0), seed: seed) }
                ?? Array(id.utf8).withUnsafeBytes { Self.hash($0, seed: seed) }
        }

        @inline(__always)
        static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
            var h = seed ^ UInt64(truncatingIfNeeded: bytes.count) &* 0x9E37_79B9_7F4A_7C15
            var i = 0
            while i + 8 <= bytes.count {
                h = mixBits(h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            return mixBits(h ^ tail)
        }
    }

    // MARK: Groups of messages

    /// Reads the largest stored group key (``largestStoredGroup``), at the start of a batch: the
    /// groups of a run's new minutes are then not looked for one by one (15,524 look-ups for
    /// 100,000 messages of a day's file, each a statement that found nothing).
    func loadGroupBound() throws {
        let s = try RawStatement(sqlite, "SELECT max(id) FROM message_groups")
        defer { s.reset() }
        largestStoredGroup = try s.step() ? s.optionalInt64(0) : nil
    }

    struct GroupID: Hashable, MixHashable {
        var id: Int64
        var mixedHash: UInt64 { mixBits(UInt64(bitPattern: id) &* 0x9E37_79B9_7F4A_7C15) }
    }

    /// The index in ``groups`` of the group `id`, read from the store when this batch first adds to it.
    @inline(__always)
    func group(_ id: Int64) throws -> Int {
        if lastGroup.id == id { return lastGroup.index }
        let index: Int
        if let i = groupIndex.lookUp(GroupID(id: id)) {
            index = i
        } else {
            var g = MessageGroup()
            if let bound = largestStoredGroup, id <= bound {
                selectGroup.bind(1, id)
                defer { selectGroup.reset() }
                if try selectGroup.step() {
                    g = try MessageGroup.decode(selectGroup.blob(0), minute: MessageGroup.minute(ofID: id))
                    g.isStored = true
                }
            }
            index = groups.count
            groups.append(g)
            groupIndex.insertNew(GroupID(id: id), index)
        }
        lastGroup = (id, index)
        return index
    }

    /// Writes the groups this batch changed, in key order: the table's pages then fill as an
    /// append does (written in the order the batch met them, a minute's groups went in by
    /// reporter out of order and split half-full pages: 15% of the table's pages unused on a
    /// dense day, against 11% in key order).
    func flushGroups() throws {
        defer { dropGroups() }
        var order: [(id: Int64, index: Int)] = []
        order.reserveCapacity(groups.count)
        for j in groupIndex.indices where groups[groupIndex.values[j]].dirty {
            order.append((groupIndex.keys[j].id, groupIndex.values[j]))
        }
        order.sort { $0.id < $1.id }
        for (id, g) in order {
            blob.removeAll(keepingCapacity: true)
            groups[g].encode(minute: MessageGroup.minute(ofID: id), into: &blob)
            let rows = groups[g].messages.reduce(0) { $0 &+ $1.rowCount }
            let messages = Int64(groups[g].messages.count)
            func write(_ statement: RawStatement) throws -> Bool {
                statement.bind(1, id)
                statement.bind(2, messages)
                statement.bind(3, rows)
                statement.bind(4, blob: blob)
                return try statement.run() == 1
            }
            // A stored group is updated (inserted should it be gone: nothing is lost). A group the
            // writer found unstored is inserted; if a row is there after all, updating it would
            // replace its messages with this batch's alone: the batch fails and rolls back instead.
            if groups[g].isStored {
                if try !write(updateGroup), try !write(insertGroup) { throw StoreError(.sqlite, "the message group \(id) was neither updated nor inserted") }
            } else if try !write(insertGroup) {
                throw StoreError(.sqlite, "the message group \(id) is stored already, though this batch did not find it")
            }
        }
    }

    func dropGroups() {
        groupIndex.removeAll()
        groups.removeAll(keepingCapacity: true)
        lastGroup = (-1, -1)
    }

    // MARK: Flushing a batch

    func flushRollups() throws {
        // First the stored hours the longer levels lag behind by (all of them for a writer that
        // does not defer), so that the mark this batch's rows are split by is the new one.
        try advanceMark()
        defer { minuteRollups.removeAll() }
        if !minuteRollups.isEmpty {
            // Level by level, each summing the one below; only two levels are alive at a time.
            var current = MixTable<RollupKey, Counters>(capacity: minuteRollups.count)
            swap(&current, &minuteRollups)
            // The hour buckets at or after the mark stay out of the longer levels (a fold adds them).
            let markBucket = longMark.map { Timestamp.floorDivMod($0, Timestamp.nanosPerSecond).0 }
            for (i, step) in RollupStep.all.enumerated() {
                try writeRollups(step: step, current)
                guard i + 1 < RollupStep.all.count else { break }
                let coarser = RollupStep.all[i + 1]
                var next = MixTable<RollupKey, Counters>(capacity: current.count / 2)
                for j in current.indices {
                    if coarser == RollupStep.day, let markBucket, current.keys[j].bucket >= markBucket { continue }
                    let c = current.values[j]
                    next.update(current.keys[j].rebucketed(coarser), default: Counters()) { $0.add(c) }
                }
                if next.isEmpty { break }
                current = next
            }
        }
        try storeMark()
    }

    /// Merges one level's sums into their stored buckets, in primary-key order.
    ///
    /// The sums are grouped by (reporter, bucket) in one flat array (no array per group),
    /// and what is stored of a run of nearby buckets of one reporter is read with one
    /// range query instead of one query per bucket: most buckets of a batch are new.
    func writeRollups(step: Int64, _ sums: MixTable<RollupKey, Counters>) throws {
        var groups = MixTable<BucketKey, Int>(capacity: sums.count / 4)
        var groupOf: [Int32] = []
        groupOf.reserveCapacity(sums.count)
        for k in sums.keys {
            let g = groups.update(BucketKey(reporter: k.reporter, bucket: k.bucket), default: 0) { $0 += 1 }
            groupOf.append(Int32(truncatingIfNeeded: g))
        }
        var start = [Int](repeating: 0, count: groups.count + 1)
        for g in groups.indices { start[g + 1] = start[g] + groups.values[g] }
        var fill = start
        var entries = [RollupEntry](repeating: RollupEntry(kind: .virtual, src: 0, dst: 0, proto: 0, port: 0, side: .unknown, counters: Counters()),
                                    count: sums.count)
        for j in sums.indices {
            let g = Int(groupOf[j])
            let k = sums.keys[j]
            entries[fill[g]] = RollupEntry(kind: TrafficKind(rawValue: k.kind) ?? .virtual, src: k.src, dst: k.dst, proto: k.proto,
                                           port: k.port, side: k.side, counters: sums.values[j])
            fill[g] += 1
        }
        let order = groups.indices.sorted {
            (groups.keys[$0].reporter, groups.keys[$0].bucket) < (groups.keys[$1].reporter, groups.keys[$1].bucket)
        }
        var found: [(bucket: Int64, parts: StoredParts)] = []
        var i = 0
        while i < order.count {
            // A run of one reporter's buckets, each at most 8 steps after the one before:
            // the range read covers at most 8 buckets per bucket written.
            let first = groups.keys[order[i]]
            var j = i + 1
            while j < order.count, groups.keys[order[j]].reporter == first.reporter,
                  groups.keys[order[j]].bucket - groups.keys[order[j - 1]].bucket <= 8 * step {
                j += 1
            }
            try storedParts(step: step, reporter: first.reporter, from: first.bucket, to: groups.keys[order[j - 1]].bucket, into: &found)
            var f = 0
            for k in i..<j {
                let g = order[k]
                let key = groups.keys[g]
                while f < found.count, found[f].bucket < key.bucket { f += 1 }
                let stored = f < found.count && found[f].bucket == key.bucket ? found[f].parts : StoredParts()
                var group = Array(entries[start[g]..<start[g + 1]])
                group.sort()
                try mergeRollup(step: step, key, group, stored: stored)
            }
            i = j
        }
    }

    struct BucketKey: Hashable, MixHashable {
        var reporter: Int64
        var bucket: Int64

        var mixedHash: UInt64 { mixedHash(seed: 0) }

        /// Seeded: the bucket is a message's time, which its sender chooses.
        @inline(__always)
        func mixedHash(seed: UInt64) -> UInt64 {
            mixBits(mixBits(UInt64(bitPattern: reporter) ^ seed) ^ UInt64(bitPattern: bucket))
        }
    }

    /// What one (step, reporter, bucket) holds: how many parts, the last part's number,
    /// the keys of part 0 and of the parts added since.
    struct StoredParts {
        var count = 0
        var last: Int64 = -1
        var baseEntries: Int64 = 0
        var addedEntries: Int64 = 0

        mutating func add(part: Int64, entries: Int64) {
            if part == 0 { baseEntries = entries } else { addedEntries += entries }
            last = part
            count += 1
        }
    }

    /// Reads the parts stored for one reporter's buckets `from`...`to` of a step, in bucket order.
    func storedParts(step: Int64, reporter: Int64, from: Int64, to: Int64, into found: inout [(bucket: Int64, parts: StoredParts)]) throws {
        found.removeAll(keepingCapacity: true)
        selectPartsInRange.bind(1, step)
        selectPartsInRange.bind(2, reporter)
        selectPartsInRange.bind(3, from)
        selectPartsInRange.bind(4, to)
        defer { selectPartsInRange.reset() }
        while try selectPartsInRange.step() {
            let bucket = selectPartsInRange.int64(0)
            if found.last?.bucket != bucket { found.append((bucket, StoredParts())) }
            found[found.count - 1].parts.add(part: selectPartsInRange.int64(1), entries: selectPartsInRange.int64(2))
        }
    }

    /// Adds sorted `entries` to the stored sums of one (step, reporter, bucket), whose parts are `stored`.
    ///
    /// Few new keys next to many stored ones are appended as a new part (cheap: the
    /// stored blob is not rewritten); once the added parts reach a quarter of part 0's
    /// keys, or 64 parts, everything is merged back into part 0. So a reader decodes at
    /// most a quarter more keys than a fully merged bucket holds, and a writer that
    /// commits often (the server) rewrites a big bucket once per many commits.
    func mergeRollup(step: Int64, _ g: BucketKey, _ entries: [RollupEntry], stored: StoredParts) throws {
        let parts = stored.count
        let addedEntries = Int64(entries.count) + stored.addedEntries
        if parts > 0, stored.last < 64, addedEntries * 4 <= stored.baseEntries {
            try writePart(step: step, g, part: stored.last + 1, isStored: false, entries)
            return
        }
        // Merge every part and the new entries into part 0.
        var merged = entries
        if parts > 0 {
            selectRollup.bind(1, step)
            selectRollup.bind(2, g.reporter)
            selectRollup.bind(3, g.bucket)
            do {
                while try selectRollup.step() {
                    var stored: [RollupEntry] = []
                    let blob = UnsafeRawBufferPointer(start: sqlite3_column_blob(selectRollup.handle, 0),
                                                      count: Int(sqlite3_column_bytes(selectRollup.handle, 0)))
                    try RollupCodec.decode(blob) { stored.append($0) }
                    merged = Self.merge(stored, merged)
                }
            } catch {
                selectRollup.reset()
                throw error
            }
            selectRollup.reset()
            if parts > 1 {
                deleteParts.bind(1, step)
                deleteParts.bind(2, g.reporter)
                deleteParts.bind(3, g.bucket)
                try deleteParts.run()
            }
        }
        try writePart(step: step, g, part: 0, isStored: parts > 0, merged)
    }

    /// Writes one part: updated when `isStored` (inserted should it not be there), else inserted.
    func writePart(step: Int64, _ g: BucketKey, part: Int64, isStored: Bool, _ entries: [RollupEntry]) throws {
        blob.removeAll(keepingCapacity: true)
        RollupCodec.encode(entries, into: &blob)
        func write(_ statement: RawStatement) throws -> Bool {
            statement.bind(1, step)
            statement.bind(2, g.reporter)
            statement.bind(3, g.bucket)
            statement.bind(4, part)
            statement.bind(5, Int64(entries.count))
            statement.bind(6, blob: blob)
            return try statement.run() == 1
        }
        let (first, second) = isStored ? (updateRollup, insertRollup) : (insertRollup, updateRollup)
        if try !write(first), try !write(second) {
            throw StoreError(.sqlite, "the rollup part \(part) of reporter \(g.reporter) at \(g.bucket) was neither inserted nor updated")
        }
    }

    /// Merges two key-sorted runs, adding the counters of equal keys.
    static func merge(_ a: [RollupEntry], _ b: [RollupEntry]) -> [RollupEntry] {
        var out: [RollupEntry] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i] < b[j]) {
                out.append(a[i])
                i += 1
            } else if i == a.count || b[j] < a[i] {
                out.append(b[j])
                j += 1
            } else {
                var e = a[i]
                e.counters.add(b[j].counters)
                out.append(e)
                i += 1
                j += 1
            }
        }
        return out
    }

    func flushNodes() throws {
        for n in nodes.values where n.infoDirty || n.seenDirty {
            if n.infoDirty, let info = n.info, let t = n.infoNs {
                updateNodeInfo.bind(1, n.id)
                updateNodeInfo.bind(2, info.name)
                updateNodeInfo.bind(3, info.os)
                updateNodeInfo.bind(4, info.user)
                updateNodeInfo.bind(5, info.tags.isEmpty ? nil : JSONText.array(info.tags))
                updateNodeInfo.bind(6, info.addresses.isEmpty ? nil : JSONText.array(info.addresses.map(\.description)))
                updateNodeInfo.bind(7, t)
                updateNodeInfo.bind(8, info.routes.map { JSONText.array($0) })
                if try updateNodeInfo.run() == 1 {
                    for ip in info.addresses {
                        upsertNodeAddress.bind(1, try addressID(ip))
                        upsertNodeAddress.bind(2, n.id)
                        upsertNodeAddress.bind(3, t)
                        try upsertNodeAddress.run()
                    }
                }
                n.infoDirty = false
            }
            if n.seenDirty {
                updateNodeSeen.bind(1, n.id)
                updateNodeSeen.bind(2, n.firstSeen)
                updateNodeSeen.bind(3, n.lastSeen)
                updateNodeSeen.bind(4, n.firstReport)
                updateNodeSeen.bind(5, n.lastReport)
                try updateNodeSeen.run()
                n.seenDirty = false
            }
        }
    }
}

extension MixTable where Key == RollupKey, Value == Counters {
    /// Adds stored rows to the sums of one (bucket, reporter).
    @inline(__always)
    mutating func add(_ rows: [StoredRow], bucket: Int64, reporter: Int64) {
        for r in rows {
            let key = RollupKey(bucket: bucket, reporter: reporter, src: r.src, dst: r.dst,
                                kind: r.kind.rawValue, proto: r.proto, port: r.servicePort, side: r.serviceSide)
            update(key, default: Counters()) {
                $0.add(Counters(txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes))
            }
        }
    }
}
