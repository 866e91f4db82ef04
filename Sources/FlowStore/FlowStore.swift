import FlowModel
package import GRDB
import FlowSchema
import Foundation

/// The tailflow database: one SQLite file in WAL mode, with the schema of `schema/*.sql`.
///
/// It implements ``FlowStorage``, the store's whole interface; nothing of SQLite or
/// GRDB is visible outside this module.
///
/// For example:
/// ```swift
/// let store = try FlowStore(path: "tailflow.db")
/// let nodes = try store.nodes()
/// let range = try store.read { try $0.timeRange() }
/// ```
public final class FlowStore: FlowStorage {
    /// The page size of new databases. Messages pack their rows into blobs of a
    /// few hundred bytes; larger pages keep them on the page with their key.
    /// 16 KiB since issue 20 (8 KiB before; an older store keeps its own): a page ends
    /// with the part of a message group or rollup row that did not fit, so twice the page
    /// loses half the share, and rollup rows up to 4 KB (a day of one reporter's sums) stay
    /// off overflow pages, where a 3 KB row took an 8 KB page of its own. On the 1-day
    /// file of 1.51 M rows the store is 42.6 → 39.8 MB; the sparse file 59.1 → 57.9 MB.
    public static let pageSize = 16384
    /// How much of the file a reading connection maps (SQLite caps it at its own maximum, 2 GB by default).
    static let mmapSize: Int64 = 1 << 30

    /// The most the database file may grow to, from `TAILFLOW_MAX_DB_BYTES` (nil: no quota).
    ///
    /// A write that would grow the file past it fails as on a full disk (SQLite's
    /// `max_page_count`): the batch is rolled back, the store stays intact, `serve` answers
    /// 503. For operators who want a hard cap below the disk's size, and for the tests,
    /// which fill a store without a file system of their own.
    public static var sizeCap: Int64? {
        ProcessInfo.processInfo.environment["TAILFLOW_MAX_DB_BYTES"].flatMap { Int64($0) }.flatMap { $0 > 0 ? $0 : nil }
    }

    public let path: String
    /// Readers run concurrently with the single writer (WAL). Not API: tests that
    /// inspect the file's tables use it.
    package let pool: DatabasePool
    /// The bound of the write-ahead log under a long-lived writer.
    public let walLimit: Int64

    /// The migrations this binary knows, in order.
    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in Schema.migrations {
            migrator.registerMigration(migration.name) { db in
                try db.execute(sql: migration.sql)
                // Data, not schema: sums that gain a field are rebuilt from the raw rows.
                if migration.name == RollupRebuild.migration { try RollupRebuild.run(db) }
                if migration.name == MessageGroup.migration { try MessageGroup.migrate(db) }
            }
        }
        return migrator
    }

    /// The migrations applied to the store at `path`, read without opening it as a store
    /// (so also for a file an older or newer tailflow wrote); nil when that cannot be read.
    package static func appliedMigrations(path: String) -> [String]? {
        var configuration = Configuration()
        configuration.readonly = true
        guard let queue = try? DatabaseQueue(path: path, configuration: configuration) else { return nil }
        return try? queue.read { db in
            guard try db.tableExists("grdb_migrations") else { return [] }
            return try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
        }
    }

    /// How a store is opened.
    public enum Access: Sendable {
        /// Creates the store when missing and brings its schema up to date: the
        /// commands that write (ingest, nodes import/sync, pull, follow, serve).
        case readWrite
        /// Never creates, migrates or writes anything: the questions. A missing
        /// file is an error, and a read-only file (or directory) is fine.
        case readOnly
    }

    /// How long a connection waits for another's lock (a second tailflow writing, a backup, a
    /// `sqlite3` shell) before its statement fails with ``StoreError/Code/locked``: 60 s, or
    /// `TAILFLOW_LOCK_WAIT` (a duration from `1ms` to `24h`: `90s`, `10m`). A value that is not
    /// one is said once on stderr, and the default taken.
    public static let lockWait: LockWait = {
        let set = ProcessInfo.processInfo.environment["TAILFLOW_LOCK_WAIT"] ?? ""
        guard !set.isEmpty else { return LockWait(seconds: 60, text: "60s") }
        if let ns = DurationText.parse(set), ns >= 1_000_000, ns <= 86_400_000_000_000 {
            return LockWait(seconds: Double(ns) / 1e9, text: set)
        }
        FileHandle.standardError.write(Data("tailflow: TAILFLOW_LOCK_WAIT=\(set) is not a duration from 1ms to 24h (such as 90s or 10m); waiting 60s\n".utf8))
        return LockWait(seconds: 60, text: "60s")
    }()

    /// ``lockWait``: seconds, and as the user wrote it.
    public struct LockWait: Sendable {
        public let seconds: Double
        public let text: String
    }

    /// Opens the store at `path`: creating it and bringing its schema up to date
    /// (``Access/readWrite``), or only reading it (``Access/readOnly``).
    ///
    /// For example:
    /// ```swift
    /// let store = try FlowStore(path: "tailflow.db")                      // ingest
    /// let readOnly = try FlowStore(path: "tailflow.db", access: .readOnly) // questions
    /// ```
    ///
    /// - parameter path: The database file.
    /// - parameter access: Whether to create and migrate (the default) or only read.
    /// - throws: ``StoreError`` with code `.noStore` when reading a missing file,
    ///   `.schemaTooNew` when the file was written by a newer tailflow,
    ///   `.schemaTooOld` when reading a file an older tailflow wrote (any writing
    ///   command upgrades it), `.notATailflowStore` when it holds other tables.
    /// - parameter walLimit: A long-lived writer (``Durability/full``) keeps the write-ahead
    ///   log under about this size (see ``WriteAheadLog``).
    public init(path: String, access: Access = .readWrite, walLimit: Int64 = WriteAheadLog.limit) throws {
        self.path = path
        self.walLimit = walLimit
        var config = Configuration()
        config.busyMode = .timeout(Self.lockWait.seconds)
        let readOnly = access == .readOnly
        config.readonly = readOnly
        config.prepareDatabase { db in
            if !db.configuration.readonly {
                // Only effective while the file is still empty, i.e. when it is created.
                try db.execute(sql: "PRAGMA page_size = \(FlowStore.pageSize)")
                // Also only while empty: pruning can then return freed pages to the file system
                // (`PRAGMA incremental_vacuum`) instead of only reusing them.
                try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // A quota (TAILFLOW_MAX_DB_BYTES): past it a write fails as on a full disk.
                if let cap = FlowStore.sizeCap {
                    let page = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? Int64(FlowStore.pageSize)
                    try db.execute(sql: "PRAGMA max_page_count = \(max(1, cap / max(1, page)))")
                }
            }
            // The writer keeps recent index and rollup pages hot; a question scans
            // each page once, where a big cache only costs fresh memory to fault in.
            try db.execute(sql: db.configuration.readonly ? "PRAGMA cache_size = -8192" : "PRAGMA cache_size = -32768")
            // Readers map the file: a scan then reads pages where the kernel holds them instead
            // of copying each into SQLite's cache (a tenth of a day's rollup scan was that copy).
            if db.configuration.readonly { try db.execute(sql: "PRAGMA mmap_size = \(FlowStore.mmapSize)") }
        }
        do {
            if readOnly {
                pool = try Self.openReadOnly(path: path, config)
                try Self.checkSchema(pool, path: path, readOnly: true)
            } else {
                pool = try DatabasePool(path: path, configuration: config)
                try Self.migrate(pool, path: path)
            }
        } catch let error as DatabaseError {
            if error.resultCode == .SQLITE_NOTADB {
                throw StoreError(.notATailflowStore, "not a tailflow store (not an SQLite database)", path: path)
            }
            throw StoreError.sqlite(error.extendedResultCode.rawValue, error.message ?? "\(error)", sql: error.sql, path: path)
        } catch var error as StoreError where error.path == nil {
            error.path = path
            throw error
        }
    }

    /// Opens an existing file for reading only.
    ///
    /// A WAL database needs its shared-memory file (`-shm`); where that cannot be
    /// created (a read-only directory) and no write-ahead log is pending, the file
    /// is opened as immutable instead, which needs neither.
    static func openReadOnly(path: String, _ config: Configuration) throws -> DatabasePool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw StoreError(.noStore, "no tailflow store at \(path)")
        }
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            // Opening is lazy: read once so that a missing `-shm` shows here.
            _ = try pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }
            return pool
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN || error.resultCode == .SQLITE_READONLY {
            let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
            guard wal == 0 else { throw error }
            let uri = "file:" + (path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path) + "?immutable=1"
            let pool = try DatabasePool(path: uri, configuration: config)
            _ = try pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }
            return pool
        }
    }

    static func migrate(_ pool: DatabasePool, path: String) throws {
        try checkSchema(pool, path: path, readOnly: false)
        try migrator.migrate(pool)
    }

    /// Refuses a schema this tailflow does not know, and files that are not stores.
    static func checkSchema(_ pool: DatabasePool, path: String, readOnly: Bool) throws {
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
                if readOnly {
                    throw StoreError(.noStore, "no tailflow store at \(path) (the file holds no tailflow schema)")
                }
            }
            if readOnly, let missing = known.subtracting(applied).sorted().first {
                throw StoreError(.schemaTooOld,
                                 "the store was written by an older tailflow (migration \(missing) not applied); any writing command, such as `tailflow ingest` with no new input, upgrades it",
                                 path: path)
            }
        }
    }

    /// The identifiers of the applied migrations, in order.
    ///
    /// - throws: ``StoreError`` when the file cannot be read.
    public func schemaVersion() throws -> [String] {
        try health().schemaVersion
    }

    public func health() throws -> StoreHealth {
        try sqlite { try pool.read { StoreHealth(schemaVersion: try Self.migrator.appliedIdentifiers($0).sorted()) } }
    }

    public func read<T>(_ body: (any StoreSnapshot) throws -> T) throws -> T {
        try sqlite { try pool.read { try body(SQLiteSnapshot($0)) } }
    }

    /// Runs `body` with the store's single writer; see ``FlowStorage/write(durability:_:)``.
    ///
    /// With ``Durability/full`` the writer is meant to live long (the server's): a
    /// separate connection copies the write-ahead log into the database twice a
    /// second, so that commits do not pay for checkpoints.
    public func write<T>(durability: Durability, _ body: (any StoreWriter) throws -> T) throws -> T {
        try withWriter(durability: durability, body)
    }

    /// ``write(durability:_:)`` with the concrete writer, for this module's own callers.
    func withWriter<T>(durability: Durability = .normal, _ body: (FlowWriter) throws -> T) throws -> T {
        let checkpointer = durability == .full ? Checkpointer(path: path) : nil
        defer { checkpointer?.stop() }
        return try sqlite {
            try pool.writeWithoutTransaction { db in
                // The writer references only node and address ids it has just read or inserted itself
                // (its caches are dropped on rollback), and nothing deletes nodes or addresses, so
                // SQLite's foreign key checks could never fail here. They cost a lookup per message
                // and per rollup row: about a quarter of a message insert.
                try db.execute(sql: "PRAGMA foreign_keys = OFF")
                defer { try? db.execute(sql: "PRAGMA foreign_keys = ON") }
                let writer = try FlowWriter(db)
                defer {
                    writer.close()
                    if durability == .full {
                        try? writer.exec("PRAGMA synchronous = NORMAL")
                        try? writer.exec("PRAGMA wal_autocheckpoint = 1000")
                    }
                }
                if durability == .full {
                    try writer.exec("PRAGMA synchronous = FULL")
                    // The checkpointer copies the log into the database on the other core; the
                    // writer checkpoints itself only if the log reaches 256 MiB all the same.
                    try writer.exec("PRAGMA wal_autocheckpoint = \(writer.pages(256 << 20))")
                    // A log that SQLite restarts is cut back to the bound, not left at its largest size.
                    try writer.exec("PRAGMA journal_size_limit = \(walLimit)")
                    let path = self.path, limit = walLimit
                    writer.afterCommit = { [unowned writer] in
                        if !WriteAheadLog.bound(path: path, limit: limit, sqlite: writer.sqlite) { writer.walBoundFailures += 1 }
                    }
                }
                return try body(writer)
            }
        }
    }

    /// Runs `body`, turning GRDB's errors into ``StoreError``s that name the file.
    func sqlite<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            throw StoreError.sqlite(error.extendedResultCode.rawValue, error.message ?? "\(error)", sql: error.sql, path: path)
        } catch var error as StoreError where error.path == nil {
            error.path = path
            throw error
        }
    }
}
