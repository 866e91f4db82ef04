public import FlowModel
public import FlowStore
public import FlowQuery
public import FlowFormat
import Foundation

/// The store over ClickHouse (SPEC §12): `--store clickhouse://[user@]host:port/database`.
///
/// Writes go through ``write(durability:_:)`` like SQLite's (so `tailflow ingest` is the same
/// code); the questions ``ClickHouseQueries`` pushes down are answered by ClickHouse SQL, which
/// applies the edge model and node resolution on the server; every other question reads through
/// ``read(_:)`` (``ClickHouseSnapshot``) with the same ``QueryEngine`` as SQLite.
///
/// For example:
/// ```swift
/// let store = try ClickHouseStore(url: try ClickHouseURL("clickhouse://127.0.0.1:8123/flows"), password: nil, create: true)
/// let summary = try Ingester(store: store).ingest(paths: ["day.jsonl"])
/// ```
public final class ClickHouseStore: FlowStorage, @unchecked Sendable {
    public let client: ClickHouseClient
    /// The schema migrations the store holds, once checked (a store opened to read is checked
    /// by its first use, in the same request as that use's first reads).
    private let checked = Checked()

    final class Checked: @unchecked Sendable {
        let lock = NSLock()
        var applied: [String]?
    }

    /// Opens the store; with `create`, makes the database and applies the missing migrations.
    /// Without, the store is checked (it exists, its schema is one this binary reads, it is laid
    /// out as the URL says) by its first use, with that use's first reads: a question then asks
    /// the server one thing fewer. Every use checks first; none reads an unchecked store.
    ///
    /// - throws: ``ClickHouseError``: the server cannot be reached or refuses, or (with `create`)
    ///   the schema is newer than this binary knows.
    ///
    /// - parameter sharesNodeTables: every use after the first takes the node tables the first
    ///   read (``prelude(window:)``), instead of reading them again: for a command that answers
    ///   from one view of the nodes (the CLI's reading commands; `scope` reads them twice at once,
    ///   for its peers and for the window's configuration changes). Not for a long-running server,
    ///   whose questions must see the nodes as they are when each starts.
    public init(client: ClickHouseClient, create: Bool, sharesNodeTables: Bool = false) throws {
        self.client = client
        self.sharesNodeTables = sharesNodeTables
        // Kept in memory for a long-running server, and in a file for commands (each a process
        // of its own); a command without the file reads the tables as before (no version to ask).
        let cache = client.url.cluster == nil ? NodeTablesCache(client) : nil
        nodeTables = sharesNodeTables && cache?.file == nil ? nil : cache
        keptFills = nodeTables.map { KeptFills(file: $0.file?.deletingPathExtension().appendingPathExtension("days"), key: $0.key) }
        if create { checked.applied = try ClickHouseSchema.prepare(client, create: true) }
    }

    /// Whether uses after the first share its node tables (see ``init(client:create:sharesNodeTables:)``).
    public let sharesNodeTables: Bool
    /// The first use's node tables, once it has started reading them (``sharesNodeTables``).
    private let shared = SharedDirectory()

    final class SharedDirectory: @unchecked Sendable {
        let lock = NSLock()
        var started = false
        let done = DispatchSemaphore(value: 0)
        var result: Result<(NodeDirectory, String?), any Error>?

        /// True for the first caller, who must ``publish(_:)``; the others then ``value()``.
        func claim() -> Bool {
            lock.withLock {
                defer { started = true }
                return !started
            }
        }

        func publish(_ r: Result<(NodeDirectory, String?), any Error>) {
            result = r
            done.signal()
        }

        func value() throws -> (NodeDirectory, String?) {
            done.wait()
            done.signal()
            return try result!.get()
        }
    }

    /// The schema migrations the store holds.
    ///
    /// - throws: ``ClickHouseError`` (kind `.store`): no store there, or one this binary cannot read.
    public func schemaVersion() throws -> [String] {
        try verified()
    }

    /// Checks the store once (``ClickHouseSchema/check(_:)``); the migrations it holds.
    @discardableResult
    func verified() throws -> [String] {
        checked.lock.lock()
        defer { checked.lock.unlock() }
        if let applied = checked.applied { return applied }
        let applied = try ClickHouseSchema.check(client)
        checked.applied = applied
        return applied
    }

    /// What a use reads first, with the store's check when it is still due, in one request: the
    /// node tables, and whether `window` holds any flow row (nil without a window); and the node
    /// tables' version they were read at (``NodeTablesCache``; nil on a cluster).
    ///
    /// On one server the node tables come from ``nodeTables`` while the server's version of them
    /// is the one kept: the request then asks only that version (and the window), not the tables.
    ///
    /// - throws: the check's ``ClickHouseError`` (as ``verified()`` words it), or the server's.
    func prelude(window: TimeWindow? = nil) throws -> Prelude {
        guard sharesNodeTables else { return try read(window: window) }
        if shared.claim() {
            let result = Result { try read(window: window) }
            shared.publish(result.map { ($0.directory, $0.version) })
            return try result.get()
        }
        // The first use's node tables (it checked the store); this use's window, if any, on its own.
        let (directory, version) = try shared.value()
        guard let window else { return Prelude(directory: directory, windowHasData: nil, version: version) }
        let any = try client.rows("SELECT count() FROM (SELECT 1 FROM flows WHERE start_ns >= \(window.from) AND start_ns < \(window.to) LIMIT 1)")
        return Prelude(directory: directory, windowHasData: any.first?.first.map { $0 != "0" } ?? false, version: version)
    }

    /// What ``prelude(window:)`` gives.
    struct Prelude: Sendable {
        var directory: NodeDirectory
        var windowHasData: Bool?
        /// The node tables' version (``NodeTablesCache``) read before them; nil on a cluster.
        var version: String?
    }

    /// The node tables kept from an earlier question (one server only; see ``NodeTablesCache``).
    let nodeTables: NodeTablesCache?
    /// The day sums' fills found current by an earlier question (``KeptFills``), beside ``nodeTables``.
    let keptFills: KeptFills?

    /// The node tables as kept from an earlier read, with their version, if any: what a question
    /// may start its answer with while its prelude checks that they are still the server's.
    func keptDirectory() -> (version: String, directory: NodeDirectory)? {
        guard let entry = nodeTables?.entry() else { return nil }
        return (entry.version, NodeDirectory(entry.tables))
    }

    /// ``prelude(window:)``'s reads: one request (two when the kept node tables are not the server's).
    private func read(window: TimeWindow?) throws -> Prelude {
        let due = { checked.lock.lock(); defer { checked.lock.unlock() }; return checked.applied == nil }()
        var selects = TaggedSelects()
        var version: String?
        var tables: [String: [[String]]] = [:]
        if let cache = nodeTables {
            // The version and the window first; the tables only when the version is not the kept one.
            NodeTablesCache.addVersion(to: &selects, database: client.url.database)
            if let window { Self.addWindow(to: &selects, window) }
            let light: [String: [[String]]]
            do {
                light = try selects.run(client)
            } catch let e as ClickHouseError where due {
                try verified()
                throw e
            }
            version = NodeTablesCache.version(light)
            if let version, let kept = cache.entry(), kept.version == version {
                tables = kept.tables
            } else {
                var full = TaggedSelects()
                ClickHouseSchema.addCheck(to: &full, database: client.url.database)
                NodeDirectory.add(to: &full)
                do {
                    tables = try full.run(client)
                } catch let e as ClickHouseError where due {
                    try verified()
                    throw e
                }
                if let version { cache.keep(version, tables) }
            }
            tables["w"] = light["w"]
        } else {
            if due { ClickHouseSchema.addCheck(to: &selects, database: client.url.database) }
            NodeDirectory.add(to: &selects)
            if let window { Self.addWindow(to: &selects, window) }
            do {
                tables = try selects.run(client)
            } catch let e as ClickHouseError where due {
                // A store missing or older than the tables read: the check says so in its own words.
                try verified()
                throw e
            }
        }
        if due {
            let applied = try ClickHouseSchema.verify(client, tables)
            checked.lock.lock()
            checked.applied = applied
            checked.lock.unlock()
        }
        return Prelude(directory: NodeDirectory(tables), windowHasData: window.map { _ in tables["w"]?.first?.first.map { $0 != "0" } ?? false },
                       version: version)
    }

    /// Whether `window` holds any flow row (tag `w`).
    private static func addWindow(to selects: inout TaggedSelects, _ window: TimeWindow) {
        selects.add("w", ["toString(count())"],
                    "FROM (SELECT 1 FROM flows WHERE start_ns >= \(window.from) AND start_ns < \(window.to) LIMIT 1)")
    }

    public convenience init(url: ClickHouseURL, password: String?, create: Bool) throws {
        try self.init(client: ClickHouseClient(url: url, password: password), create: create)
    }

    /// Runs `body` against a snapshot read by ClickHouse SQL (``ClickHouseSnapshot``): the
    /// generic path of every question ``ClickHouseQueries`` does not push down.
    ///
    /// ClickHouse has no read transactions: a snapshot sees the nodes as they were when it was
    /// made, and the rows of each scan as they are when the scan reads them.
    public func read<T>(_ body: (any StoreSnapshot) throws -> T) throws -> T {
        try body(try ClickHouseSnapshot(client, directory: try prelude().directory))
    }

    public func write<T>(durability: Durability, _ body: (any StoreWriter) throws -> T) throws -> T {
        try verified()
        let writer = ClickHouseWriter(self)
        defer { if writer.isInBatch { writer.rollback() } }
        return try body(writer)
    }

    public func nodes() throws -> [NodeRecord] {
        try directory().records
    }

    /// Every node with its latest facts, the reporters and the address owners.
    public func directory() throws -> NodeDirectory {
        try prelude().directory
    }

    public func rejects(limit: Int) throws -> [Reject] {
        try verified()
        // One row per (source, offset, reason), the first recording; newest first.
        return try client.rows("""
            SELECT source, line, offset, reason, excerpt, min(recorded_ns) AS recorded
            FROM rejects GROUP BY source, offset, reason, line, excerpt
            ORDER BY recorded DESC, source DESC, offset DESC LIMIT \(max(0, limit))
            """).map { f in
            Reject(location: SourceLocation(source: f[0], line: Int(f[1]).flatMap { $0 < 0 ? nil : $0 }, offset: Int64(f[2]) ?? 0),
                   reason: f[3], excerpt: f[4], recorded: Int64(f[5]) ?? 0)
        }
    }

    public func pullCheckpoint(apiURL: String, tailnet: String) throws -> PullCheckpoint? {
        try pullCheckpoint(apiURL: apiURL, tailnet: tailnet, log: .network)
    }

    public func pullCheckpoint(apiURL: String, tailnet: String, log: LogType) throws -> PullCheckpoint? {
        try verified()
        // The largest checkpoint wins (a checkpoint never moves back), with its time.
        let f = try client.rows("""
            SELECT count(), max(checkpoint_ns), argMax(updated_ns, (checkpoint_ns, updated_ns)) FROM pull_checkpoints
            WHERE api_url = \(ClickHouseClient.quote(apiURL)) AND tailnet = \(ClickHouseClient.quote(tailnet))
              AND log_type = \(ClickHouseClient.quote(log.rawValue))
            """)
        guard let r = f.first, r.count == 3, r[0] != "0", let checkpoint = Int64(r[1]), let updated = Int64(r[2]) else { return nil }
        return PullCheckpoint(checkpoint: checkpoint, updated: updated)
    }

    public func advancePullCheckpoint(apiURL: String, tailnet: String, log: LogType, to checkpoint: Nanoseconds, at now: Nanoseconds) throws {
        // Never back: a smaller checkpoint is not recorded (and readers take the largest anyway).
        if let current = try pullCheckpoint(apiURL: apiURL, tailnet: tailnet, log: log), current.checkpoint >= checkpoint { return }
        try client.run("""
            INSERT INTO pull_checkpoints (api_url, tailnet, log_type, checkpoint_ns, updated_ns) VALUES \
            (\(ClickHouseClient.quote(apiURL)), \(ClickHouseClient.quote(tailnet)), \(ClickHouseClient.quote(log.rawValue)), \(checkpoint), \(now))
            """)
    }

    public func advancePullCheckpoint(apiURL: String, tailnet: String, to checkpoint: Nanoseconds, at now: Nanoseconds) throws {
        try advancePullCheckpoint(apiURL: apiURL, tailnet: tailnet, log: .network, to: checkpoint, at: now)
    }

    public func health() throws -> StoreHealth {
        let applied = try verified()
        try client.run("SELECT 1")
        return StoreHealth(schemaVersion: applied)
    }
}

extension ClickHouseStore {
    /// The store's id of each node (`node_ids`; raw rows list in this order within a window start).
    package func nodeIDs() throws -> [String: Int64] {
        try ClickHouseSnapshot(client, directory: try prelude().directory).nodeIDs
    }

    /// Gives nodes the ids another store gave them, so that raw rows list (and their cursors read)
    /// as there: a node the store has no id for gets its source id, or the next free one when that
    /// is taken. For `tailflow migrate`, before the messages.
    ///
    /// - parameter ids: stable ID and id in the source, by ascending id.
    package func adoptNodeIDs(_ ids: [(String, Int64)]) throws {
        try verified()
        var known: [String: Int64] = [:]
        for f in try client.rows("SELECT stable_id, min(id) FROM node_ids GROUP BY stable_id") where f.count == 2 {
            if let id = Int64(f[1]) { known[f[0]] = id }
        }
        var used = Set(known.values)
        var largest = known.values.max() ?? 0
        var out = RowBinary(), count = 0
        for (stable, id) in ids where known[stable] == nil {
            let chosen = used.contains(id) || id <= 0 ? largest + 1 : id
            used.insert(chosen)
            known[stable] = chosen
            largest = max(largest, chosen)
            out.string(stable)
            out.u64(UInt64(chosen))
            count += 1
        }
        if count > 0 { try client.run("INSERT INTO node_ids (stable_id, id) FORMAT RowBinary", data: out.bytes) }
    }
}

extension ClickHouseStore: AnswersQuestions {
    /// The questions ``ClickHouseQueries`` answers as ClickHouse SQL; nil for the rest, which the
    /// ``QueryEngine`` answers over ``read(_:)``.
    public func pushedDown(_ question: Question) throws -> Report? {
        do {
            return try ClickHouseQueries(store: self).pushedDown(question)
        } catch is ClickHouseUnsupported {
            return nil
        }
    }
}
