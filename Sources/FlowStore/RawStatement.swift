import GRDBSQLite
import GRDB

/// A prepared sqlite3 statement for the hot paths: bind → step → reset, no allocation.
///
/// Statements cannot cross threads; like GRDB's own `Statement` it is not Sendable.
///
/// The writer prepares its statements once and owns them; readers borrow statements
/// from GRDB's per-connection cache (``init(cached:_:)``), so a question prepares
/// nothing that an earlier question on the same connection prepared already.
final class RawStatement {
    let handle: OpaquePointer
    let connection: OpaquePointer
    let sql: String
    /// The cached GRDB statement that owns `handle` (nil: this object owns it).
    private let cached: Statement?

    init(_ connection: OpaquePointer, _ sql: String) throws {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            throw StoreError(.sqlite, "SQLite error \(rc): \(String(cString: sqlite3_errmsg(connection))) - while preparing `\(sql)`")
        }
        handle = stmt
        self.connection = connection
        self.sql = sql
        cached = nil
    }

    /// Borrows the statement of `sql` from the connection's statement cache
    /// (GRDB's `cachedStatement(sql:)`, prepared with `SQLITE_PREPARE_PERSISTENT`).
    init(cached db: Database, _ sql: String) throws {
        let statement: Statement
        do {
            statement = try db.cachedStatement(sql: sql)
        } catch {
            throw StoreError(.sqlite, "\(error)")
        }
        cached = statement
        handle = statement.sqliteStatement
        connection = db.sqliteConnection!
        self.sql = sql
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    deinit {
        if cached == nil { sqlite3_finalize(handle) }
    }

    @inline(__always)
    func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
    }

    @inline(__always)
    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
    }

    @inline(__always)
    func bind(_ index: Int32, _ value: String?) {
        guard let value else {
            sqlite3_bind_null(handle, index)
            return
        }
        sqlite3_bind_text(handle, index, value, -1, SQLITE_TRANSIENT_PTR)
    }

    @inline(__always)
    func bind(_ index: Int32, blob: [UInt8]) {
        _ = blob.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), SQLITE_TRANSIENT_PTR) }
    }

    /// Runs a statement that returns no rows; returns the number of rows changed.
    @discardableResult
    @inline(__always)
    func run() throws -> Int32 {
        defer { sqlite3_reset(handle) }
        let rc = sqlite3_step(handle)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw error(rc) }
        return sqlite3_changes(connection)
    }

    /// Steps once; returns true when a row is available (read it with `int64(_:)`), then call `reset()`.
    @inline(__always)
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw error(rc)
    }

    @inline(__always)
    func reset() {
        sqlite3_reset(handle)
    }

    @inline(__always)
    func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    @inline(__always)
    func optionalInt64(_ column: Int32) -> Int64? {
        sqlite3_column_type(handle, column) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, column)
    }

    @inline(__always)
    func text(_ column: Int32) -> String? {
        sqlite3_column_text(handle, column).map { String(cString: $0) }
    }

    /// The bytes of a blob column, valid until the next step or reset.
    @inline(__always)
    func blob(_ column: Int32) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: sqlite3_column_blob(handle, column), count: Int(sqlite3_column_bytes(handle, column)))
    }

    func error(_ rc: Int32) -> StoreError {
        .sqlite(rc, String(cString: sqlite3_errmsg(connection)), sql: sql)
    }
}

/// SQLite's SQLITE_TRANSIENT (copy the bound bytes), which Swift cannot import as a macro.
let SQLITE_TRANSIENT_PTR = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
