public import FlowModel

/// What tailflow needs from a store, in domain terms: no SQL, no tables, no GRDB.
///
/// The query layer reads through ``read(_:)`` (one consistent snapshot per
/// question); the write pipeline writes through ``write(durability:_:)`` (the
/// single writer, in batches). ``FlowStore`` implements it over SQLite; a second
/// implementation (the in-memory store of the tests, a ClickHouse backend) only
/// has to answer these calls.
///
/// For example:
/// ```swift
/// let store: any FlowStorage = try FlowStore(path: "tailflow.db")
/// try store.write(durability: .normal) { writer in
///     try writer.begin()
///     try writer.add(message)
///     try writer.commit()
/// }
/// let reporters = try store.read { try $0.reporters() }
/// ```
public protocol FlowStorage: AnyObject, Sendable {
    /// Runs `body` against one consistent snapshot of the store.
    ///
    /// - parameter body: Reads through the snapshot; the snapshot is valid only inside `body`.
    /// - throws: ``StoreError``, or what `body` throws.
    func read<T>(_ body: (any StoreSnapshot) throws -> T) throws -> T

    /// Runs `body` with the store's single writer.
    ///
    /// Only one writer runs at a time (across processes too, for SQLite). Work
    /// happens in batches: ``StoreWriter/begin()``, adds, ``StoreWriter/commit()``.
    ///
    /// - parameter durability: What a commit survives (see ``Durability``).
    /// - parameter body: Writes through the writer; a batch left open is rolled back.
    /// - throws: ``StoreError``, or what `body` throws.
    func write<T>(durability: Durability, _ body: (any StoreWriter) throws -> T) throws -> T

    /// Every known node, ordered by name then stable ID.
    ///
    /// - throws: ``StoreError``.
    func nodes() throws -> [NodeRecord]

    /// Recorded rejects, newest first, with their ``Reject/recorded`` time.
    ///
    /// - parameter limit: At most this many.
    /// - throws: ``StoreError``.
    func rejects(limit: Int) throws -> [Reject]

    /// The checkpoint of `tailnet` at `apiURL`, or nil before the first follow.
    ///
    /// - throws: ``StoreError``.
    func pullCheckpoint(apiURL: String, tailnet: String) throws -> PullCheckpoint?

    /// The checkpoint of one log type (`network` or `configuration`, SPEC §13) of `tailnet`
    /// at `apiURL`, or nil before the first follow. `network` is ``pullCheckpoint(apiURL:tailnet:)``.
    ///
    /// - throws: ``StoreError``.
    func pullCheckpoint(apiURL: String, tailnet: String, log: LogType) throws -> PullCheckpoint?

    /// Moves the checkpoint of one log type forward to `checkpoint` (never back).
    ///
    /// - throws: ``StoreError``.
    func advancePullCheckpoint(apiURL: String, tailnet: String, log: LogType, to checkpoint: Nanoseconds, at now: Nanoseconds) throws

    /// Moves the checkpoint forward to `checkpoint` (never back).
    ///
    /// Call it only after the data of every window before `checkpoint` is committed.
    ///
    /// - throws: ``StoreError``.
    func advancePullCheckpoint(apiURL: String, tailnet: String, to checkpoint: Nanoseconds, at now: Nanoseconds) throws

    /// Whether the store answers, and the schema it holds.
    ///
    /// - throws: ``StoreError`` when the store cannot be read.
    func health() throws -> StoreHealth
}

/// One consistent view of the store, for one question.
///
/// Not Sendable: a snapshot belongs to the ``FlowStorage/read(_:)`` call that made it.
public protocol StoreSnapshot {
    /// The node ids of every node with a stored message, ascending.
    func reporters() throws -> [Int64]

    /// Every node with its store id.
    func nodeEntries() throws -> [NodeEntry]

    /// Who owns each address now: (address id, node id) pairs, and the largest address id.
    func addressOwners() throws -> AddressOwners

    /// The id of an address, nil when no flow or node has it.
    func addressID(_ ip: IPAddress) throws -> Int64?

    /// The text of some addresses, by id (ids 0 and unknown ids are left out).
    func addressTexts(_ ids: [Int64]) throws -> [Int64: String]

    /// Messages with `from <= start < to`, optionally of one reporter, in key order
    /// (start, reporter, digest; newest first when `descending`).
    ///
    /// - parameter body: Gets each flow row with the message header and the row's
    ///   index in the message; returns false to stop the scan.
    func messages(from: Nanoseconds, to: Nanoseconds, reporter: Int64?, descending: Bool,
                  _ body: (MessageHeader, Int, StoredRow) throws -> Bool) throws

    /// ``messages(from:to:reporter:descending:_:)`` of all reporters that `wanted` accepts: the
    /// messages of the others are passed over before their rows are decoded.
    func messages(from: Nanoseconds, to: Nanoseconds, descending: Bool, reporters wanted: (Int64) -> Bool,
                  _ body: (MessageHeader, Int, StoredRow) throws -> Bool) throws

    /// The ids of the addresses whose text contains `text` (compared byte for byte), with
    /// their texts; nil when this store cannot search its addresses.
    func addresses(containing text: String) throws -> [Int64: String]?

    /// The windows of the messages with `from <= start < to`, all reporters, without their
    /// rows, each with its ``MessageHeader/logged`` time; in no particular order.
    ///
    /// - parameter body: Gets each message's header.
    func messageWindows(from: Nanoseconds, to: Nanoseconds, _ body: (MessageHeader) throws -> Void) throws

    /// ``messageWindows(from:to:_:)`` and ``messages(from:to:reporter:descending:_:)`` (all
    /// reporters, ascending) at once: `window` gets every message's header with its
    /// ``MessageHeader/logged`` time, in no particular order, and `row` gets every flow row in
    /// key order (start, reporter, digest). A backend that can read both in one pass does.
    func messageWindowsAndRows(from: Nanoseconds, to: Nanoseconds, _ window: (MessageHeader) throws -> Void,
                               rows row: (MessageHeader, StoredRow) throws -> Void) throws

    /// ``messageWindowsAndRows(from:to:_:rows:)`` with each message's rows still packed, in
    /// ``RowCodec``'s format (``RowCodec/decodeEnds(_:into:)`` reads what names each row's
    /// conversation): `window` gets every message's header with its ``MessageHeader/logged``
    /// time, in no particular order, and `rows` gets each message that has rows, in key order
    /// (start, reporter, digest), so that a reader can hand the decoding to another thread. The
    /// bytes are valid only during the call.
    func messageWindowsAndPackedRows(from: Nanoseconds, to: Nanoseconds, _ window: (MessageHeader) throws -> Void,
                                     rows: (MessageHeader, UnsafeRawBufferPointer) throws -> Void) throws

    /// The rollup sums of one step and reporter with `fromBucket <= bucket < toBucket`
    /// (bucket starts in Unix seconds).
    ///
    /// A key may come more than once for one bucket (a stored bucket may be in parts):
    /// callers sum.
    ///
    /// - parameter body: Gets the bucket start (Unix seconds) and one entry.
    func rollups(step: Int64, reporter: Int64, fromBucket: Int64, toBucket: Int64,
                 _ body: (Int64, RollupEntry) throws -> Void) throws

    /// The counted edge sums kept for buckets of `step` with `fromBucket <= bucket < toBucket`
    /// that were counted under `resolution` (schema/010_edge_sums.sql): `body(bucket, edge)`.
    ///
    /// - returns: The buckets served, ascending; nil when this store keeps no edge sums.
    func edgeSums(step: Int64, fromBucket: Int64, toBucket: Int64, resolution: Int64,
                  _ body: (Int64, EdgeSum) throws -> Void) throws -> [Int64]?

    /// The earliest and latest message window start, nil for an empty store.
    func timeRange() throws -> ClosedRange<Nanoseconds>?

    /// Configuration audit log records with `from <= time < to`, in time order
    /// (then identity), oldest first.
    ///
    /// - parameter body: Gets each change; returns false to stop the scan.
    func changes(from: Nanoseconds, to: Nanoseconds, _ body: (ConfigChange) throws -> Bool) throws

    /// The earliest and latest stored change time, nil when there is none.
    func changeTimeRange() throws -> ClosedRange<Nanoseconds>?

    /// What each level still holds after pruning (see ``LevelCoverage``).
    func levelCoverage() throws -> LevelCoverage

    /// The DERP relay regions imported (`tailflow derp import`), by region id.
    func derpRegions() throws -> [DERPRegion]
}

extension StoreSnapshot {
    /// All reporters' messages, filtered after decoding.
    public func messages(from: Nanoseconds, to: Nanoseconds, descending: Bool, reporters wanted: (Int64) -> Bool,
                         _ body: (MessageHeader, Int, StoredRow) throws -> Bool) throws {
        try messages(from: from, to: to, reporter: nil, descending: descending) { h, i, r in
            wanted(h.reporter) ? try body(h, i, r) : true
        }
    }

    /// A store that keeps no edge sums says so.
    public func edgeSums(step: Int64, fromBucket: Int64, toBucket: Int64, resolution: Int64,
                         _ body: (Int64, EdgeSum) throws -> Void) throws -> [Int64]? { nil }

    /// A store that cannot search its addresses says so.
    public func addresses(containing text: String) throws -> [Int64: String]? { nil }

    /// Two scans: the windows, then the rows.
    public func messageWindowsAndRows(from: Nanoseconds, to: Nanoseconds, _ window: (MessageHeader) throws -> Void,
                                      rows row: (MessageHeader, StoredRow) throws -> Void) throws {
        try messageWindows(from: from, to: to, window)
        try messages(from: from, to: to, reporter: nil, descending: false) { h, _, r in
            try row(h, r)
            return true
        }
    }

    /// ``messageWindowsAndRows(from:to:_:rows:)``, each message's rows (they come one message
    /// after another, in key order) packed.
    public func messageWindowsAndPackedRows(from: Nanoseconds, to: Nanoseconds, _ window: (MessageHeader) throws -> Void,
                                            rows: (MessageHeader, UnsafeRawBufferPointer) throws -> Void) throws {
        var message: MessageHeader? = nil
        var gathered: [StoredRow] = []
        var packed: [UInt8] = []
        func flush() throws {
            if let m = message, !gathered.isEmpty {
                packed.removeAll(keepingCapacity: true)
                RowCodec.encode(gathered, into: &packed)
                try packed.withUnsafeBytes { try rows(m, $0) }
            }
            gathered.removeAll(keepingCapacity: true)
        }
        try messageWindowsAndRows(from: from, to: to, window) { h, r in
            if let m = message, m.start == h.start, m.reporter == h.reporter, m.digest == h.digest {} else {
                try flush()
                message = h
            }
            gathered.append(r)
        }
        try flush()
    }

    /// A store that cannot prune holds every level completely.
    public func levelCoverage() throws -> LevelCoverage { .complete }

    /// A store that keeps no DERP map knows no regions.
    public func derpRegions() throws -> [DERPRegion] { [] }
}

/// The store's single writer: messages with their rollups, node facts and rejects, in batches.
///
/// A batch is ``begin()``, any number of ``add(_:)``, ``addReject(_:)`` and
/// ``importNode(_:at:)``, then ``commit()``. A reader never sees part of a batch.
public protocol StoreWriter: AnyObject {
    /// Starts a batch (waits for other writers).
    func begin() throws
    /// Stores a message unless an identical one is stored already; returns whether it was new.
    @discardableResult
    func add(_ message: FlowMessage) throws -> Bool
    /// ``add(_:)`` with the message's identity given: its ``FlowMessage/digest`` worked out
    /// already (by the write pipeline's submitter, whose thread is the less busy one), or a
    /// source store's (a migration keeps it). Every writer stores the message under `digest`
    /// (no default: one that worked it out again would lose a migrated message's identity).
    @discardableResult
    func add(_ message: FlowMessage, digest: Int64) throws -> Bool
    /// Records input that could not be stored; the same reject recorded again is stored once.
    func addReject(_ reject: Reject) throws
    /// Stores a configuration audit log record unless one with the same
    /// ``ConfigChange/identity`` and time is stored already; returns whether it was new.
    @discardableResult
    func addChange(_ change: ConfigChange) throws -> Bool
    /// Records what a device list says about a node, as known at time `t`.
    func importNode(_ info: NodeInfo, at t: Nanoseconds) throws
    /// Records a DERP relay region (a region imported again replaces what was known).
    func importDERPRegion(_ region: DERPRegion, at t: Nanoseconds) throws
    /// Makes the batch visible and durable (as the writer's ``Durability`` says).
    func commit() throws
    /// Abandons the batch.
    func rollback()
    /// Whether a batch is open.
    var isInBatch: Bool { get }
    /// What this writer stored so far.
    var stats: WriteStats { get }
    /// One short transaction of background pruning to `policy` (between batches, never in one):
    /// returns whether work remains. A store that cannot prune does nothing.
    func pruneStep(_ policy: RetentionPolicy, now: Nanoseconds, budget: Duration) throws -> Bool
}

extension StoreWriter {
    public func pruneStep(_ policy: RetentionPolicy, now: Nanoseconds, budget: Duration) throws -> Bool { false }
}

extension StoreWriter {
    public func importDERPRegion(_ region: DERPRegion, at t: Nanoseconds) throws {
        throw StoreError(.sqlite, "this store keeps no DERP map")
    }
}

/// What a commit survives.
public enum Durability: String, Sendable, Codable {
    /// A commit survives a crash of the process; a power loss may lose the last
    /// commits, never corrupt the store (SQLite `synchronous = NORMAL` in WAL mode).
    /// For `ingest`, `pull` and `follow`: their input can be read again.
    case normal
    /// A commit survives a crash of the machine (`synchronous = FULL`): for the
    /// server, whose senders forget what they were told is stored.
    case full
}

/// A node as queries see it: the store's id with what is known about it.
public struct NodeEntry: Sendable, Equatable {
    public var id: Int64
    public var stableID: String
    public var name: String?
    public var user: String?
    public var os: String?
    public var tags: [String]
    public var addresses: [String]
    public var isReporter: Bool
    /// The subnet routes it carries (CIDR prefixes, from a device list).
    public var routes: [String]

    public init(id: Int64, stableID: String, name: String?, user: String?, os: String?, tags: [String], addresses: [String],
                isReporter: Bool, routes: [String] = []) {
        self.routes = routes
        self.id = id
        self.stableID = stableID
        self.name = name
        self.user = user
        self.os = os
        self.tags = tags
        self.addresses = addresses
        self.isReporter = isReporter
    }
}

/// Which node owns each address now.
public struct AddressOwners: Sendable {
    /// (address id, node id) pairs.
    public var owners: [(address: Int64, node: Int64)]
    /// The largest address id in the store (0 when there is none).
    public var maxAddressID: Int64

    public init(owners: [(address: Int64, node: Int64)], maxAddressID: Int64) {
        self.owners = owners
        self.maxAddressID = maxAddressID
    }
}

/// A store's answer to a health check.
public struct StoreHealth: Sendable, Equatable {
    /// The schema's applied migrations, in order.
    public var schemaVersion: [String]

    public init(schemaVersion: [String]) {
        self.schemaVersion = schemaVersion
    }
}
