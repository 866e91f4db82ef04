public import FlowModel
public import FlowStore
import Foundation

/// The store over ClickHouse (SPEC §12): `--store clickhouse://[user@]host:port/database`.
///
/// Writes go through ``write(durability:_:)`` like SQLite's (so `tailflow ingest` is the same
/// code); questions do not read through ``read(_:)`` but are answered by ClickHouse SQL
/// (``ClickHouseQueries``), which applies the edge model and node resolution on the server.
///
/// For example:
/// ```swift
/// let store = try ClickHouseStore(url: try ClickHouseURL("clickhouse://127.0.0.1:8123/flows"), password: nil, create: true)
/// let summary = try Ingester(store: store).ingest(paths: ["day.jsonl"])
/// ```
public final class ClickHouseStore: FlowStorage, @unchecked Sendable {
    public let client: ClickHouseClient
    /// The schema migrations the store holds.
    public let schemaVersion: [String]

    /// Opens the store; with `create`, makes the database and applies the missing migrations.
    ///
    /// - throws: ``ClickHouseError``: the server cannot be reached or refuses, the store is
    ///   missing (without `create`), or its schema is newer than this binary knows.
    public init(client: ClickHouseClient, create: Bool) throws {
        self.client = client
        schemaVersion = try ClickHouseSchema.prepare(client, create: create)
    }

    public convenience init(url: ClickHouseURL, password: String?, create: Bool) throws {
        try self.init(client: ClickHouseClient(url: url, password: password), create: create)
    }

    public func read<T>(_ body: (any StoreSnapshot) throws -> T) throws -> T {
        throw ClickHouseUnsupported("this question")
    }

    public func write<T>(durability: Durability, _ body: (any StoreWriter) throws -> T) throws -> T {
        let writer = ClickHouseWriter(self)
        defer { if writer.isInBatch { writer.rollback() } }
        return try body(writer)
    }

    public func nodes() throws -> [NodeRecord] {
        try directory().records
    }

    /// Every node with its latest facts, the reporters and the address owners.
    public func directory() throws -> NodeDirectory {
        try NodeDirectory(client)
    }

    public func rejects(limit: Int) throws -> [Reject] {
        // One row per (source, offset, reason), the first recording; newest first.
        try client.rows("""
            SELECT source, line, offset, reason, excerpt, min(recorded_ns) AS recorded
            FROM rejects GROUP BY source, offset, reason, line, excerpt
            ORDER BY recorded DESC, source DESC, offset DESC LIMIT \(max(0, limit))
            """).map { f in
            Reject(location: SourceLocation(source: f[0], line: Int(f[1]).flatMap { $0 < 0 ? nil : $0 }, offset: Int64(f[2]) ?? 0),
                   reason: f[3], excerpt: f[4], recorded: Int64(f[5]) ?? 0)
        }
    }

    public func pullCheckpoint(apiURL: String, tailnet: String) throws -> PullCheckpoint? {
        throw ClickHouseUnsupported("pull and follow checkpoints")
    }

    public func pullCheckpoint(apiURL: String, tailnet: String, log: LogType) throws -> PullCheckpoint? {
        throw ClickHouseUnsupported("pull and follow checkpoints")
    }

    public func advancePullCheckpoint(apiURL: String, tailnet: String, log: LogType, to checkpoint: Nanoseconds, at now: Nanoseconds) throws {
        throw ClickHouseUnsupported("pull and follow checkpoints")
    }

    public func advancePullCheckpoint(apiURL: String, tailnet: String, to checkpoint: Nanoseconds, at now: Nanoseconds) throws {
        throw ClickHouseUnsupported("pull and follow checkpoints")
    }

    public func health() throws -> StoreHealth {
        try client.run("SELECT 1")
        return StoreHealth(schemaVersion: schemaVersion)
    }
}
