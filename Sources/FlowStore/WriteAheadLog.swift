import Foundation
import GRDB

/// Keeps the write-ahead log bounded under continuous load.
///
/// A passive checkpoint copies committed pages into the database but never makes the
/// log shorter, and while commits never pause it never catches up, so the log file
/// only grows (270 MB beside a 13 MB database under HEC load). So after a commit that
/// leaves the log past ``limit``, the writer itself — between two transactions, so it
/// competes with no other writer — waits briefly for readers of older snapshots and
/// truncates the log (`wal_checkpoint(TRUNCATE)`). The writer also sets
/// `journal_size_limit`, so that a log SQLite restarts on its own is cut back to the bound.
///
/// Related SQLite documentation: <https://www.sqlite.org/pragma.html#pragma_wal_checkpoint>
public enum WriteAheadLog {
    /// The size past which the log is truncated (the default bound).
    public static let limit: Int64 = 64 << 20

    /// The size of the log beside the database at `path`, in bytes (0 when there is none).
    public static func size(ofDatabaseAt path: String) -> Int64 {
        var st = stat()
        guard stat(path + "-wal", &st) == 0 else { return 0 }
        return Int64(st.st_size)
    }

    /// Truncates the log of the database at `path` when it is past `limit`; run by the writer
    /// between transactions through `exec`. A reader that holds an old snapshot for more than
    /// a second makes it give up until the next commit (the writer must not stall on a long query).
    static func bound(path: String, limit: Int64, exec: (String) throws -> Void) {
        guard size(ofDatabaseAt: path) > limit else { return }
        try? exec("PRAGMA busy_timeout = 1000")
        try? exec("PRAGMA wal_checkpoint(TRUNCATE)")
        // Back to the store's own busy timeout (FlowStore's configuration: 60 s).
        try? exec("PRAGMA busy_timeout = 60000")
    }
}
