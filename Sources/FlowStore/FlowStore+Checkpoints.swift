public import FlowModel
import GRDB

/// Where `tailflow follow` has got to for one API root and tailnet (`schema/002_pull.sql`).
public struct PullCheckpoint: Sendable, Equatable {
    /// Every message whose window starts before this has been fetched and committed.
    public var checkpoint: Nanoseconds
    /// Wall-clock time of the last advance.
    public var updated: Nanoseconds

    public init(checkpoint: Nanoseconds, updated: Nanoseconds) {
        self.checkpoint = checkpoint
        self.updated = updated
    }
}

extension FlowStore {
    /// The checkpoint of `tailnet` at `apiURL`, or nil before the first follow.
    public func pullCheckpoint(apiURL: String, tailnet: String) throws -> PullCheckpoint? {
        try pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT checkpoint_ns, updated_ns FROM pull_checkpoints WHERE api_url = ? AND tailnet = ?
                """, arguments: [apiURL, tailnet]).map { PullCheckpoint(checkpoint: $0[0], updated: $0[1]) }
        }
    }

    /// Moves the checkpoint forward to `checkpoint` (never back).
    ///
    /// Call it only after the data of every window before `checkpoint` is committed.
    public func advancePullCheckpoint(apiURL: String, tailnet: String, to checkpoint: Nanoseconds, at now: Nanoseconds) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO pull_checkpoints (api_url, tailnet, checkpoint_ns, updated_ns) VALUES (?, ?, ?, ?)
                ON CONFLICT (api_url, tailnet) DO UPDATE SET checkpoint_ns = excluded.checkpoint_ns, updated_ns = excluded.updated_ns
                WHERE excluded.checkpoint_ns > pull_checkpoints.checkpoint_ns
                """, arguments: [apiURL, tailnet, checkpoint, now])
        }
    }
}

extension FlowStore {
    /// The checkpoint of one log type; `network` is the checkpoint of `schema/002_pull.sql`,
    /// the others live in `log_checkpoints` (`schema/006_changes.sql`).
    public func pullCheckpoint(apiURL: String, tailnet: String, log: LogType) throws -> PullCheckpoint? {
        if log == .network { return try pullCheckpoint(apiURL: apiURL, tailnet: tailnet) }
        return try pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT checkpoint_ns, updated_ns FROM log_checkpoints WHERE api_url = ? AND tailnet = ? AND log_type = ?
                """, arguments: [apiURL, tailnet, log.rawValue]).map { PullCheckpoint(checkpoint: $0[0], updated: $0[1]) }
        }
    }

    /// Moves the checkpoint of one log type forward (never back).
    public func advancePullCheckpoint(apiURL: String, tailnet: String, log: LogType, to checkpoint: Nanoseconds, at now: Nanoseconds) throws {
        if log == .network { return try advancePullCheckpoint(apiURL: apiURL, tailnet: tailnet, to: checkpoint, at: now) }
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO log_checkpoints (api_url, tailnet, log_type, checkpoint_ns, updated_ns) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (api_url, tailnet, log_type) DO UPDATE SET checkpoint_ns = excluded.checkpoint_ns, updated_ns = excluded.updated_ns
                WHERE excluded.checkpoint_ns > log_checkpoints.checkpoint_ns
                """, arguments: [apiURL, tailnet, log.rawValue, checkpoint, now])
        }
    }
}
