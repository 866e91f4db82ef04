import Foundation
import GRDB
import GRDBSQLite

/// Keeps the write-ahead log bounded under continuous load.
///
/// A passive checkpoint copies committed pages into the database but never makes the
/// log shorter, and while commits never pause it never catches up, so the log file
/// only grows (270 MB beside a 13 MB database under HEC load). So after a commit that
/// leaves the log past ``limit``, the writer itself — between two transactions, so that no
/// frame is added meanwhile — copies what the checkpointer has not copied yet (a passive
/// checkpoint: it never waits, for readers or for the checkpointer). With every frame in the
/// database, the writer's next transaction starts the log again from its beginning (unless a
/// reader still uses it: then the next commit tries again), and `journal_size_limit`, which
/// the writer sets to the bound, cuts the file back to it at that transaction's commit.
///
/// A reader of an older snapshot keeps the log from starting again; with questions that
/// overlap one another there may be one at every commit, and the log would grow without end.
/// So once it passes twice the bound, the writer truncates it (`wal_checkpoint(TRUNCATE)`),
/// waiting up to half a second for the readers of older snapshots (new ones read the database
/// alone then); a truncation that still fails is counted (`tailflow_wal_bound_failures_total`)
/// and tried again after the next commit. Only that fallback waits: the truncating checkpoint
/// after every commit past the bound, as before, waited up to a second also for the
/// checkpointer's own pass and held up every submission meanwhile (0.2–0.6 s stalls, the
/// longest acknowledgements of `serve` under HEC load).
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

    /// Checkpoints the log of the database at `path` when it is past `limit`, so that the next
    /// transaction starts it again; run by the writer between transactions through `exec`. A
    /// passive checkpoint never waits: a reader of an older snapshot, or the checkpointer's own
    /// pass under way, makes it leave the rest to the next commit.
    ///
    /// - returns: false when the log is past twice the bound and could not be truncated.
    static func bound(path: String, limit: Int64, sqlite: OpaquePointer) -> Bool {
        let size = size(ofDatabaseAt: path)
        guard size > limit else { return true }
        _ = sqlite3_wal_checkpoint_v2(sqlite, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        guard size > 2 * limit else { return true }
        sqlite3_busy_timeout(sqlite, 500)
        // Back to the store's own busy timeout (FlowStore.lockWait).
        defer { sqlite3_busy_timeout(sqlite, Int32(min(FlowStore.lockWait.seconds * 1000, Double(Int32.max)))) }
        return sqlite3_wal_checkpoint_v2(sqlite, nil, SQLITE_CHECKPOINT_TRUNCATE, nil, nil) == SQLITE_OK
    }
}
