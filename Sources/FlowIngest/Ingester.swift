import Foundation
import FlowModel
public import FlowStore

/// Counts of one ingest run.
public struct IngestSummary: Sendable, Codable, Equatable {
    /// Inputs read (files, stdin, bodies).
    public var sources = 0
    /// Messages decoded from the input.
    public var messages = 0
    /// Flow rows of those messages.
    public var rows = 0
    /// Messages stored for the first time, and their rows.
    public var storedMessages = 0
    public var storedRows = 0
    /// Messages that were already stored: skipped (ingest is idempotent).
    public var duplicates = 0
    /// Values rejected (each recorded with its location and reason).
    public var rejected = 0
    /// JSON values that are not messages (skipped and counted, as SPEC §1 says).
    public var skipped = 0
    /// Inputs that could not be read at all (missing file, I/O error).
    public var failedSources: [String] = []
    /// Decompressed bytes read.
    public var bytes: Int64 = 0
    public var seconds: Double = 0

    public init() {}

    /// Adds the message, row, duplicate, reject and skip counts of another run (not its sources, bytes or time).
    public mutating func addCounts(_ other: IngestSummary) {
        messages += other.messages
        rows += other.rows
        storedMessages += other.storedMessages
        storedRows += other.storedRows
        duplicates += other.duplicates
        rejected += other.rejected
        skipped += other.skipped
    }
}

/// A snapshot for a progress display.
public struct IngestProgress: Sendable {
    public var messages: Int
    public var rows: Int
    public var bytes: Int64
    public var elapsed: Double
}

/// Reads inputs and stores their messages: decoding on one thread, writing on the calling thread.
///
/// Decoded messages travel in batches through a bounded queue, so memory stays
/// flat whatever the input size, and both cores work: one parses JSON while
/// the other runs SQLite. Each transaction holds a few hundred thousand rows
/// with their rollups; an interrupted run leaves whole transactions only, and
/// running it again completes it (ingest is idempotent).
///
/// For example:
/// ```swift
/// let summary = try Ingester(store: store).ingest(paths: ["logs.jsonl.gz"])
/// ```
public final class Ingester {
    public let store: FlowStore
    /// Called on the writing thread for each reject, in input order.
    public var onReject: ((IngestReject) -> Void)?
    /// Called about every `progressInterval` seconds.
    public var onProgress: ((IngestProgress) -> Void)?
    public var progressInterval: Double = 0.2
    /// Rows per transaction.
    public var rowsPerTransaction = 500_000
    /// Longest time between commits, so that readers see a long ingest advance.
    public var secondsPerTransaction = 2.0

    public init(store: FlowStore) {
        self.store = store
    }

    enum Item: Sendable {
        case message(FlowMessage)
        case reject(IngestReject)
        case skipped
        case sourceDone(bytes: Int64)
        case sourceFailed(String)
    }

    /// Ingests the files (`-` is standard input) in order.
    public func ingest(paths: [String]) throws -> IngestSummary {
        try ingest(inputs: paths.map { path in { try ContainerDecoder(source: path == "-" ? "stdin" : path, input: FileInput(path: path)) } })
    }

    /// Ingests in-memory bytes, such as a request body, named `source` in rejects.
    public func ingest(bytes: [UInt8], source: String) throws -> IngestSummary {
        try ingest(inputs: [{ ContainerDecoder(source: source, input: MemoryInput(bytes)) }])
    }

    /// Ingests decoders opened lazily, one after the other.
    public func ingest(inputs: [@Sendable () throws -> ContainerDecoder]) throws -> IngestSummary {
        let queue = BlockingQueue<[Item]>(capacity: 4)
        let decodedBytes = ByteCounter()
        let thread = Thread {
            Self.decode(inputs, into: queue, counter: decodedBytes)
        }
        thread.stackSize = 8 << 20
        thread.start()

        var summary = IngestSummary()
        summary.sources = inputs.count
        let clock = ContinuousClock()
        let started = clock.now
        var lastProgress = started
        do {
            try store.withWriter { writer in
                var rowsInTransaction = 0
                var transactionStarted = clock.now
                while let batch = queue.pop() {
                    if !writer.isInBatch {
                        try writer.begin()
                        transactionStarted = clock.now
                    }
                    for item in batch {
                        switch item {
                        case .message(let m):
                            summary.messages += 1
                            summary.rows += m.rows.count
                            rowsInTransaction += m.rows.count
                            try writer.add(m)
                        case .reject(let r):
                            summary.rejected += 1
                            try writer.addReject(source: r.location.source, line: r.location.line, offset: r.location.offset,
                                                 reason: r.reason, excerpt: r.excerpt)
                            onReject?(r)
                        case .skipped:
                            summary.skipped += 1
                        case .sourceDone(let bytes):
                            summary.bytes += bytes
                        case .sourceFailed(let why):
                            summary.failedSources.append(why)
                        }
                    }
                    let now = clock.now
                    if rowsInTransaction >= rowsPerTransaction || now - transactionStarted >= .seconds(secondsPerTransaction) {
                        try writer.commit()
                        rowsInTransaction = 0
                    }
                    if let onProgress, now - lastProgress >= .seconds(progressInterval) {
                        lastProgress = now
                        onProgress(IngestProgress(messages: summary.messages, rows: summary.rows,
                                                  bytes: decodedBytes.value, elapsed: (now - started).seconds))
                    }
                }
                try writer.commit()
                summary.storedMessages = writer.stats.messages
                summary.storedRows = writer.stats.rows
                summary.duplicates = writer.stats.duplicates
            }
        } catch {
            queue.cancel()
            throw error
        }
        summary.seconds = (clock.now - started).seconds
        return summary
    }

    /// The decoding thread: reads every input and hands over batches of items.
    static func decode(_ inputs: [@Sendable () throws -> ContainerDecoder], into queue: BlockingQueue<[Item]>, counter: ByteCounter) {
        defer { queue.close() }
        var batch: [Item] = []
        batch.reserveCapacity(2048)
        func flush() -> Bool {
            guard !batch.isEmpty else { return true }
            defer { batch.removeAll(keepingCapacity: true) }
            return queue.push(batch)
        }
        for open in inputs {
            let decoder: ContainerDecoder
            do {
                decoder = try open()
            } catch {
                batch.append(.sourceFailed("\(error)"))
                continue
            }
            var lastCount: Int64 = 0
            do {
                while let event = try decoder.next() {
                    switch event {
                    case .message(let m): batch.append(.message(m))
                    case .reject(let r): batch.append(.reject(r))
                    case .skipped: batch.append(.skipped)
                    }
                    if batch.count >= 2048 {
                        counter.add(decoder.bytesRead - lastCount)
                        lastCount = decoder.bytesRead
                        guard flush() else { return }
                    }
                }
                counter.add(decoder.bytesRead - lastCount)
                batch.append(.sourceDone(bytes: decoder.bytesRead))
            } catch {
                batch.append(.sourceFailed("\(error)"))
            }
            guard flush() else { return }
        }
        // A last source that could not even be opened is reported too.
        _ = flush()
    }
}

/// A byte count shared between the decoding and the writing thread.
final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total: Int64 = 0

    func add(_ n: Int64) {
        lock.lock()
        total += n
        lock.unlock()
    }

    var value: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return total
    }
}
