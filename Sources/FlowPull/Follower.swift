import FlowIngest
public import FlowModel
public import FlowStore
public import Logging
public import Foundation

/// How `tailflow follow` polls.
public struct FollowOptions: Sendable {
    /// How far before the checkpoint each poll starts again: logs arrive late, and ingest is idempotent.
    public var overlap: Nanoseconds = 600 * Timestamp.nanosPerSecond
    /// How far behind now each poll stops, so a window is asked for once it has mostly arrived.
    public var lag: Nanoseconds = 60 * Timestamp.nanosPerSecond
    /// The wait between polls.
    public var poll: Duration = .seconds(30)
    /// Where the first poll starts when the store has no checkpoint yet.
    public var since: Nanoseconds
    /// Stop once the checkpoint reaches this time (nil: never).
    public var until: Nanoseconds?
    /// Sync the device list at start and then this often (nil: never).
    public var devicesEvery: Duration? = .seconds(3600)
    /// Passed on to ``Puller``.
    public var chunkSize: Nanoseconds = 3_600 * Timestamp.nanosPerSecond
    public var concurrency = 4
    /// Prune after each poll to this policy, in small transactions (nil: keep everything).
    public var retention: RetentionPolicy?
    /// The logs to follow, each from its own checkpoint (SPEC §13): by default both.
    public var logs: [LogType] = [.network, .configuration]

    public init(since: Nanoseconds) {
        self.since = since
    }
}

/// What a follow did until it stopped.
public struct FollowSummary: Sendable, Codable, Equatable {
    public var polls = 0
    /// Polls that failed (after their retries) and were tried again at the next poll.
    public var failedPolls = 0
    public var pulled = PullSummary()
    /// The network flow log's checkpoint when it stopped.
    public var checkpoint: Nanoseconds?
    /// The configuration audit log's checkpoint when it stopped (nil when not followed or never advanced).
    public var configurationCheckpoint: Nanoseconds?
    /// Logs given up for this run because the credentials may not read them (403), each with the reason.
    public var forbidden: [String] = []
}

/// Keeps a store up to date with the API: polls from the checkpoint kept in the store, forever or until `until`.
///
/// Each poll fetches `[checkpoint − overlap, now − lag)` in chunks and moves the
/// checkpoint to the end of each chunk only after the chunk's data is
/// committed, so a process killed at any moment loses nothing it acknowledged:
/// the next run starts again at checkpoint − overlap. Network errors and 429/5xx
/// answers that outlast the retries are logged and the poll is tried again;
/// 401 and 403 stop it. Cancelling the task stops it after the current commit.
///
/// For example:
/// ```swift
/// let summary = try await Follower(api: api, store: store, options: FollowOptions(since: now - hour)).run()
/// ```
public final class Follower {
    public let api: TailscaleAPI
    public let store: any FlowStorage
    public let options: FollowOptions
    /// Called on every committed chunk.
    package var onProgress: ((PullProgress) -> Void)?
    /// Called for each reject (from the ingest thread).
    package var onReject: (@Sendable (Reject) -> Void)?
    let logger: Logger
    let now: @Sendable () -> Nanoseconds

    public init(api: TailscaleAPI, store: any FlowStorage, options: FollowOptions, logger: Logger = Logger(label: "tailflow.follow"),
                now: @escaping @Sendable () -> Nanoseconds = { Int64(Date().timeIntervalSince1970 * 1e9) }) {
        self.api = api
        self.store = store
        self.options = options
        self.logger = logger
        self.now = now
    }

    /// The checkpoint's key: the API root and the tailnet.
    var key: (apiURL: String, tailnet: String) { (api.configuration.baseURL, api.configuration.tailnet) }

    /// Polls until cancelled (returns normally) or until `until` is reached; throws on 401/403.
    public func run() async throws -> FollowSummary {
        var summary = FollowSummary()
        var devicesDue = ContinuousClock.now
        let (apiURL, tailnet) = key
        var logs = options.logs
        do {
            while true {
                if let every = options.devicesEvery, ContinuousClock.now >= devicesDue {
                    do {
                        let n = try await syncDevices(api: api, store: store, now: now())
                        summary.pulled.devices = n
                        logger.debug("device list synced", metadata: ["devices": "\(n)"])
                        devicesDue = ContinuousClock.now + every
                    } catch let error as APIError where error.isPermanent {
                        throw error
                    } catch let error as APIError {
                        logger.warning("device list sync failed, trying again at the next poll: \(error)")
                    }
                }
                var reached: Nanoseconds?
                var complete = true
                var polled = false
                for log in logs {
                    let checkpoint = try store.pullCheckpoint(apiURL: apiURL, tailnet: tailnet, log: log)?.checkpoint
                    let from = checkpoint.map { $0 - options.overlap } ?? options.since
                    var to = now() - options.lag
                    if let until = options.until { to = min(to, until) }
                    if from < to {
                        if !polled { summary.polls += 1 }
                        polled = true
                        let puller = Puller(api: api, store: store, logger: logger)
                        puller.log = log
                        puller.chunkSize = options.chunkSize
                        puller.concurrency = options.concurrency
                        puller.buildsCoverage = false
                        puller.onProgress = onProgress
                        puller.onReject = onReject
                        let store = self.store
                        let clock = now
                        defer { summary.pulled.add(puller.summary) }
                        do {
                            try await puller.pull(from: from, to: to) { chunk in
                                try store.advancePullCheckpoint(apiURL: apiURL, tailnet: tailnet, log: log, to: chunk.end, at: clock())
                            }
                        } catch let error as APIError where error.code == .forbidden {
                            // One log the credentials may not read: say which scope is missing, go on with the others.
                            logs.removeAll { $0 == log }
                            summary.forbidden.append("\(log.rawValue): \(error.message)")
                            logger.warning("not following the \(log.rawValue) log: \(error)")
                            if logs.isEmpty { throw error }
                            continue
                        } catch let error as APIError where !error.isPermanent {
                            summary.failedPolls += 1
                            logger.warning("poll failed, trying again in \(TailscaleAPI.format(options.poll)) (\(log.rawValue) log): \(error)")
                        }
                    }
                    let at = try store.pullCheckpoint(apiURL: apiURL, tailnet: tailnet, log: log)?.checkpoint
                    // The follow has reached `until` when every log it follows has.
                    if let at { reached = min(reached ?? at, at) } else { complete = false }
                }
                if let retention = options.retention, let store = store as? FlowStore {
                    do {
                        let pruned = try store.prune(retention, now: now())
                        logger.debug("pruned", metadata: ["transactions": "\(pruned.transactions)", "longest-ms": "\(pruned.longestTransactionMs)"])
                    } catch {
                        // A failed prune (a full disk) is tried again after the next poll; following goes on.
                        logger.warning("pruning failed, trying again after the next poll: \(error)")
                    }
                }
                summary.checkpoint = try store.pullCheckpoint(apiURL: apiURL, tailnet: tailnet)?.checkpoint
                // Summarize for `coverage` (schema/011) the hours the next poll does not fetch again
                // (those before the checkpoint minus the overlap), as ingest does after it commits.
                // A cache: failing to fill it loses nothing, so it is a warning.
                if polled, let store = store as? FlowStore, let checkpoint = summary.checkpoint {
                    do { try store.refreshCoverageHours(settledBefore: checkpoint - options.overlap) } catch {
                        logger.warning("the hour summaries for coverage were not brought up to date, trying again after the next poll: \(error)")
                    }
                }
                if let until = options.until, complete, let reached, reached >= until { break }
                try await Task.sleep(for: options.poll)
            }
        } catch is CancellationError {
            logger.debug("stopped")
        }
        summary.checkpoint = try store.pullCheckpoint(apiURL: apiURL, tailnet: tailnet)?.checkpoint
        summary.configurationCheckpoint = try store.pullCheckpoint(apiURL: apiURL, tailnet: tailnet, log: .configuration)?.checkpoint
        return summary
    }
}
