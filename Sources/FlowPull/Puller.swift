public import FlowIngest
public import FlowModel
public import FlowStore
public import Logging
import Foundation

/// One request's window: `[start, end)`.
public struct Chunk: Sendable, Equatable, CustomStringConvertible {
    public var start: Nanoseconds
    public var end: Nanoseconds

    package init(start: Nanoseconds, end: Nanoseconds) {
        self.start = start
        self.end = end
    }

    public var description: String { "\(Timestamp.formatRFC3339(start))..\(Timestamp.formatRFC3339(end))" }

    /// Contiguous half-open chunks of at most `size` covering `[from, to)`, in order; the last may be shorter.
    package static func split(from: Nanoseconds, to: Nanoseconds, size: Nanoseconds) -> [Chunk] {
        precondition(size > 0, "chunk size must be positive")
        var chunks: [Chunk] = []
        var start = from
        while start < to {
            let end = to - start > size ? start + size : to
            chunks.append(Chunk(start: start, end: end))
            start = end
        }
        return chunks
    }
}

/// What a pull did.
public struct PullSummary: Sendable, Codable, Equatable {
    public var chunks = 0
    /// What ingesting the answers did: messages and rows received and stored, duplicates
    /// (overlapping windows, a second pull), rejects, skipped values.
    public var ingested = IngestSummary()
    /// Devices imported from the device list.
    public var devices = 0
    /// Requests retried after 429, 5xx or a network error.
    public var retries = 0
    /// Bytes received (compressed when the API compressed them).
    public var bytes: Int64 = 0
    public var seconds: Double = 0

    public init() {}

    /// Adds what another pull did (a follow sums its polls); `devices` is the caller's to set.
    mutating func add(_ other: PullSummary) {
        chunks += other.chunks
        ingested.addCounts(other.ingested)
        retries += other.retries
        bytes += other.bytes
        seconds += other.seconds
    }
}

/// A snapshot for a progress display.
package struct PullProgress: Sendable {
    package var chunksDone: Int
    package var chunks: Int
    package var messages: Int
    package var rows: Int
    package var retries: Int
    package var elapsed: Double
    /// The end of the last chunk committed.
    package var committedUpTo: Nanoseconds
}

/// Fetches a window from the API in chunks, several at once, and ingests them in order through the store's one writer.
///
/// At most `concurrency` chunks are fetched or waiting at any time, so memory
/// is bounded by `concurrency` answers. Chunks are committed in time order;
/// `afterCommit` runs once a chunk's data is committed, which is what lets
/// ``Follower`` move its checkpoint safely.
///
/// For example:
/// ```swift
/// let summary = try await Puller(api: api, store: store).pull(from: start, to: end)
/// ```
public final class Puller {
    public let api: TailscaleAPI
    public let store: any FlowStorage
    /// Which log to fetch: the network flow log (default) or the configuration audit log (SPEC §13).
    public var log: LogType = .network
    /// The longest window of one request.
    public var chunkSize: Nanoseconds = 3_600 * Timestamp.nanosPerSecond
    /// Requests in flight (and answers waiting to be ingested) at most.
    public var concurrency = 4
    /// Whether the writer builds the coverage summaries of the hours each chunk fills
    /// (``WritePolicy/buildsCoverage``); `follow` leaves them to its refresh between polls, which
    /// summarizes only the hours its next poll will not fetch again.
    package var buildsCoverage = true
    /// Called for each reject (from the ingest thread).
    package var onReject: (@Sendable (Reject) -> Void)?
    /// Called after each committed chunk.
    package var onProgress: ((PullProgress) -> Void)?
    /// What has been done so far; complete when ``pull(from:to:afterCommit:)`` returns, partial when it throws.
    public private(set) var summary = PullSummary()
    let logger: Logger

    public init(api: TailscaleAPI, store: any FlowStorage, logger: Logger = Logger(label: "tailflow.pull")) {
        self.api = api
        self.store = store
        self.logger = logger
    }

    /// Fetches and stores every message whose window starts in `[from, to)`.
    ///
    /// - parameter afterCommit: Runs after each chunk's data is committed, in chunk order.
    /// - throws: ``APIError`` when a request fails for good, `CancellationError` when the task was cancelled
    ///   (the chunk being ingested is committed first).
    @discardableResult
    public func pull(from: Nanoseconds, to: Nanoseconds, afterCommit: (Chunk) throws -> Void = { _ in }) async throws -> PullSummary {
        let chunks = Chunk.split(from: from, to: to, size: chunkSize)
        let clock = ContinuousClock()
        let started = clock.now
        let retriesBefore = api.retries
        let api = self.api, log = self.log
        let width = max(1, concurrency)
        // Also when the pull fails: `summary` then tells what was done.
        defer {
            summary.retries = api.retries - retriesBefore
            summary.seconds = (clock.now - started).seconds
        }
        try await withThrowingTaskGroup(of: (Int, AnswerStream).self) { group in
            var launched = 0
            func launch() {
                let index = launched, chunk = chunks[index]
                launched += 1
                group.addTask { (index, try await api.logStream(log, from: chunk.start, to: chunk.end)) }
            }
            // Answers that came in ahead of their turn: each holds at most AnswerStream.window bytes.
            var waiting: [Int: AnswerStream] = [:]
            do {
                while launched < chunks.count, launched < width { launch() }
                var next = 0
                while next < chunks.count {
                    guard let (index, stream) = try await group.next() else { break }
                    waiting[index] = stream
                    while let stream = waiting.removeValue(forKey: next) {
                        let chunk = chunks[next]
                        let (ingested, bytes) = try await ingest(stream, chunk: chunk)
                        summary.ingested.addCounts(ingested)
                        summary.bytes += bytes
                        summary.chunks += 1
                        logger.debug("chunk committed", metadata: ["chunk": "\(chunk)", "messages": "\(ingested.messages)"])
                        try afterCommit(chunk)
                        next += 1
                        onProgress?(PullProgress(chunksDone: next, chunks: chunks.count, messages: summary.ingested.messages, rows: summary.ingested.rows,
                                                 retries: api.retries - retriesBefore, elapsed: (clock.now - started).seconds,
                                                 committedUpTo: chunk.end))
                        try Task.checkCancellation()
                        if launched < chunks.count { launch() }
                    }
                }
            } catch {
                // Answers still arriving would otherwise keep their connections (and a reading task) alive.
                for stream in waiting.values { stream.cancel() }
                group.cancelAll()
                while !group.isEmpty {
                    do {
                        if let (_, stream) = try await group.next() { stream.cancel() }
                    } catch {
                        continue  // a request that failed (or was cancelled) holds no stream
                    }
                }
                throw error
            }
        }
        summary.retries = api.retries - retriesBefore
        summary.seconds = (clock.now - started).seconds
        return summary
    }

    /// Ingests one answer while it arrives, on a thread of its own (ingest blocks), named after its window in rejects.
    ///
    /// An answer cut off half-way (a dropped connection, the timeout) is asked for again within the
    /// request's retry budget: what it delivered before is committed, and ingest is idempotent, so the
    /// second answer stores only the rest. Its counts are then the last answer's, with what earlier
    /// answers stored counted as stored, not as duplicates.
    ///
    /// - returns: what ingesting it did, and the bytes received (compressed when the API compressed them).
    func ingest(_ first: AnswerStream, chunk: Chunk) async throws -> (IngestSummary, Int64) {
        let store = self.store, onReject = self.onReject
        let path = api.logsPath(log, from: chunk.start, to: chunk.end)
        let source = "\(api.configuration.baseURL)/api/v2/tailnet/\(api.configuration.tailnet)/logging/\(log.rawValue)?start=\(Timestamp.formatRFC3339(chunk.start))&end=\(Timestamp.formatRFC3339(chunk.end))"
        var stream = first
        var attempts = 0
        var bytes: Int64 = 0
        var storedBefore = IngestSummary()
        let rejectsSeen = RejectCount()
        while true {
            let input = stream
            let summary: IngestSummary
            do {
                let buildsCoverage = self.buildsCoverage
                summary = try await offThePool {
                    let ingester = Ingester(store: store)
                    ingester.policy.buildsCoverage = buildsCoverage
                    // Rejects an earlier answer of this window already reported are not reported again.
                    let seen = rejectsSeen.start()
                    ingester.onReject = { reject in if rejectsSeen.next() > seen { onReject?(reject) } }
                    return try ingester.ingest(input: input, source: source)
                }
            } catch {
                stream.cancel()  // the store failed: let go of the connection
                throw error
            }
            bytes += stream.received
            attempts += 1
            // The decoder may stop before the end (unreadable gzip is a reject): let go of the rest.
            let failure = stream.failure
            stream.cancel()
            guard let failure else {
                // An answer that could not be read at all must not let a checkpoint pass its window.
                if let failure = summary.failedSources.first {
                    throw APIError(code: .badResponse, message: "the answer for \(chunk) could not be read: \(failure)", status: 200, attempts: attempts)
                }
                var total = summary
                total.storedMessages += storedBefore.storedMessages
                total.storedRows += storedBefore.storedRows
                total.storedChanges += storedBefore.storedChanges
                total.duplicates = max(0, total.duplicates - storedBefore.storedMessages)
                total.duplicateChanges = max(0, total.duplicateChanges - storedBefore.storedChanges)
                return (total, bytes)
            }
            storedBefore.storedMessages += summary.storedMessages
            storedBefore.storedRows += summary.storedRows
            storedBefore.storedChanges += summary.storedChanges
            let reason = api.configuration.credentials.redact(TailscaleAPI.describe(failure))
            if let failure = failure as? APIError { throw failure }  // too large: asking again does not help
            guard attempts <= api.configuration.retry.retries else {
                throw APIError(code: .network, message: "GET \(path) failed after \(attempts) attempts: \(reason); is \(api.configuration.baseURL) reachable?",
                               status: nil, attempts: attempts)
            }
            try await api.pauseBeforeRetry(what: "GET \(path)", reason: reason, attempt: attempts - 1)
            stream = try await api.logStream(log, from: chunk.start, to: chunk.end, attemptsBefore: attempts)
        }
    }
}

/// Rejects reported per answer of one window, so a repeated answer reports only new ones.
final class RejectCount: @unchecked Sendable {
    private let lock = NSLock()
    private var most = 0
    private var current = 0

    /// Starts an answer; returns how many rejects earlier answers reported.
    func start() -> Int {
        lock.withLock {
            most = max(most, current)
            current = 0
            return most
        }
    }

    /// Counts a reject of the current answer; returns its number (1-based).
    func next() -> Int {
        lock.withLock {
            current += 1
            return current
        }
    }
}

/// Imports the API's device list into the store; returns the number of devices.
public func syncDevices(api: TailscaleAPI, store: any FlowStorage, now: Nanoseconds) async throws -> Int {
    let body = try await api.devices()
    let source = "\(api.configuration.baseURL)/api/v2/tailnet/\(api.configuration.tailnet)/devices"
    return try await offThePool {
        let nodes: [NodeInfo]
        do {
            nodes = try DeviceList.parse(body, source: source)
        } catch {
            throw APIError(code: .badResponse, message: "the device list could not be read: \(error)", status: 200, attempts: 1)
        }
        try store.importNodes(nodes, at: now)
        return nodes.count
    }
}

extension Puller {
    /// Pulls `[from, to)` of each log in `logs`, one after the other, and sums what they did.
    ///
    /// A log the credentials may not read (403) is reported to `onForbidden` and left out; the
    /// others still land. Only when every log is refused does the pull fail.
    ///
    /// - parameter configure: sets up each log's puller (chunk size, concurrency, callbacks).
    /// - throws: ``APIError`` (the last 403 when every log was refused), `CancellationError`.
    public static func pull(logs: [LogType], api: TailscaleAPI, store: any FlowStorage, from: Nanoseconds, to: Nanoseconds,
                            logger: Logger, configure: (Puller) -> Void, onForbidden: (LogType, APIError) -> Void,
                            partial: (PullSummary) -> Void = { _ in }) async throws -> PullSummary {
        var total = PullSummary()
        var refused: APIError?
        var forbidden = 0
        for log in logs {
            let puller = Puller(api: api, store: store, logger: logger)
            puller.log = log
            configure(puller)
            do {
                try await puller.pull(from: from, to: to)
                total.add(puller.summary)
            } catch let error as APIError where error.code == .forbidden {
                total.add(puller.summary)
                refused = error
                forbidden += 1
                onForbidden(log, error)
            } catch {
                total.add(puller.summary)
                partial(total)
                throw error
            }
        }
        if let refused, forbidden == logs.count { throw refused }
        return total
    }
}
