public import GRDB
import FlowSchema
import Foundation

/// The tailflow database: one SQLite file in WAL mode, with the schema of `schema/*.sql`.
///
/// For example:
/// ```swift
/// let store = try FlowStore(path: "tailflow.db")
/// let count = try store.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM messages") }
/// ```
public final class FlowStore: Sendable {
    /// The page size of new databases. Messages pack their rows into blobs of a
    /// few hundred bytes; larger pages keep them on the page with their key.
    public static let pageSize = 8192

    public let path: String
    /// Readers run concurrently with the single writer (WAL).
    public let pool: DatabasePool

    /// The migrations this binary knows, in order.
    public static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in Schema.migrations {
            migrator.registerMigration(migration.name) { db in
                try db.execute(sql: migration.sql)
            }
        }
        return migrator
    }

    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    ///
    /// - throws: ``StoreError`` with code `.schemaTooNew` when the file was
    ///   written by a newer tailflow, `.notATailflowStore` when it holds other tables.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(60)
        config.prepareDatabase { db in
            // Only effective while the file is still empty, i.e. when it is created.
            try db.execute(sql: "PRAGMA page_size = \(FlowStore.pageSize)")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // The writer keeps recent index and rollup pages hot; a question scans
            // each page once, where a big cache only costs fresh memory to fault in.
            try db.execute(sql: db.configuration.readonly ? "PRAGMA cache_size = -8192" : "PRAGMA cache_size = -32768")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Self.migrate(pool, path: path)
        } catch let error as DatabaseError {
            throw StoreError(error.resultCode == .SQLITE_NOTADB ? .notATailflowStore : .sqlite,
                             error.resultCode == .SQLITE_NOTADB ? "not a tailflow store (not an SQLite database)" : "\(error)",
                             path: path)
        }
    }

    static func migrate(_ pool: DatabasePool, path: String) throws {
        let migrator = Self.migrator
        try pool.read { db in
            let applied = try migrator.appliedIdentifiers(db)
            let known = Set(Schema.migrations.map(\.name))
            if let unknown = applied.subtracting(known).sorted().last {
                throw StoreError(.schemaTooNew,
                                 "the database schema is newer than this tailflow knows (migration \(unknown)); upgrade tailflow to open it",
                                 path: path)
            }
            if applied.isEmpty {
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'")
                if !tables.isEmpty {
                    throw StoreError(.notATailflowStore,
                                     "not a tailflow store: it holds other tables (\(tables.prefix(3).joined(separator: ", ")))",
                                     path: path)
                }
            }
        }
        try migrator.migrate(pool)
    }

    /// The identifiers of the applied migrations, in order.
    public func schemaVersion() throws -> [String] {
        try pool.read { try Self.migrator.appliedIdentifiers($0).sorted() }
    }

    /// Runs `body` with the store's single writer. Only one writer runs at a time
    /// (across processes too: SQLite's lock, waited for up to a minute).
    public func withWriter<T>(_ body: (FlowWriter) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            let writer = try FlowWriter(db)
            defer { writer.close() }
            return try body(writer)
        }
    }
}
