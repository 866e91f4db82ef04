/// A failure of the store, with what was being done.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The database was written by a newer tailflow.
        case schemaTooNew = "schema too new"
        /// SQLite reported an error.
        case sqlite
        /// The file is not a tailflow database.
        case notATailflowStore = "not a tailflow store"
        /// Reading a store that does not exist (questions never create one).
        case noStore = "no store"
        /// Reading, without upgrading, a store an older tailflow wrote.
        case schemaTooOld = "schema too old"
        /// The disk (or SQLite's page limit) is full: the interrupted batch was rolled back.
        case diskFull = "disk full"
        /// The database file is damaged.
        case corrupt
        /// The file or its directory cannot be written.
        case readOnly = "read-only"
        /// The operating system reported an I/O error.
        case io = "I/O error"
        /// A message the decoders would have rejected, handed to the store by a library caller.
        case invalidMessage = "invalid message"
        /// Another connection held the store's write lock past ``FlowStore/lockWait``: nothing
        /// of the interrupted batch was stored.
        case locked
    }

    public var code: Code
    public var message: String
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    /// An error SQLite reported with result code `rc`, told in the user's terms: what
    /// happened to the data and what to do (the SQLite text kept in parentheses).
    package static func sqlite(_ rc: Int32, _ message: String, sql: String? = nil, path: String? = nil) -> StoreError {
        let detail = "SQLite error \(rc): \(message)" + (sql.map { " - while executing `\($0)`" } ?? "")
        switch rc & 0xff {
        case 13:  // SQLITE_FULL
            return StoreError(.diskFull, "the disk is full (\(detail)); the interrupted batch was rolled back and the store is"
                + " intact: free space (or move the store to a larger disk) and run the command again", path: path)
        case 11, 26:  // SQLITE_CORRUPT, SQLITE_NOTADB
            return StoreError(.corrupt, "the database file is damaged (\(detail)): restore it from a backup (`tailflow backup`"
                + " makes one); `tailflow check` shows what is wrong", path: path)
        case 8:  // SQLITE_READONLY
            return StoreError(.readOnly, "the store cannot be written (\(detail)): check the permissions of the file, its -wal"
                + " and -shm files and its directory", path: path)
        case 10:  // SQLITE_IOERR
            return StoreError(.io, "an I/O error (\(detail)): the disk may be failing or gone; the last whole commit is kept", path: path)
        case 5 where rc == 5 || rc == 773:  // SQLITE_BUSY after the busy handler's wait, SQLITE_BUSY_TIMEOUT
            // Not SQLITE_BUSY_SNAPSHOT or _RECOVERY, nor SQLITE_LOCKED: those return at once, no other writer's fault.
            return StoreError(.locked, "another process held the store's write lock for longer than \(FlowStore.lockWait.text)"
                + " (\(detail)); nothing of the interrupted batch was stored: run the command again once the other writer"
                + " is done (TAILFLOW_LOCK_WAIT sets how long to wait)", path: path)
        case 14:  // SQLITE_CANTOPEN
            return StoreError(.sqlite, "cannot open the database (\(detail)): check that its directory exists and can be written", path: path)
        default:
            return StoreError(.sqlite, detail, path: path)
        }
    }

    public var description: String {
        (path.map { "\($0): " } ?? "") + message
    }
}
