import Foundation
package import FlowModel
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
    /// Configuration audit log records decoded (SPEC §13), stored for the first time, already stored.
    public var changes = 0
    public var storedChanges = 0
    public var duplicateChanges = 0
    /// Values rejected (each recorded with its location and reason).
    public var rejected = 0
    /// JSON values that are not messages (skipped and counted, as SPEC §1 says).
    public var skipped = 0
    /// Inputs that could not be read at all (missing file, I/O error).
    public var failedSources: [String] = []
    /// Decompressed bytes read.
    public var bytes: Int64 = 0
    public var seconds: Double = 0

    package init() {}

    /// Adds the message, row, duplicate, reject and skip counts of another run (not its sources, bytes or time).
    package mutating func addCounts(_ other: IngestSummary) {
        messages += other.messages
        rows += other.rows
        storedMessages += other.storedMessages
        storedRows += other.storedRows
        duplicates += other.duplicates
        changes += other.changes
        storedChanges += other.storedChanges
        duplicateChanges += other.duplicateChanges
        rejected += other.rejected
        skipped += other.skipped
    }
}

/// A snapshot for a progress display.
package struct IngestProgress: Sendable {
    package var messages: Int
    package var rows: Int
    package var bytes: Int64
    package var elapsed: Double
}

/// Reads inputs and stores their messages: decoding on the calling thread, writing
/// through a ``WritePipeline`` on its own.
///
/// Decoded messages travel in batches to the writer, with back-pressure, so memory
/// stays flat whatever the input size, and both cores work: one parses JSON while
/// the other runs SQLite. Each transaction holds up to ``WritePolicy/rowsPerCommit``
/// rows with their rollups; an interrupted run leaves whole transactions only, and
/// running it again completes it (ingest is idempotent).
///
/// For example:
/// ```swift
/// let ingester = Ingester(store: try FlowStore(path: "tailflow.db"))
/// ingester.onReject = { print("rejected \($0)") }
/// let summary = try ingester.ingest(paths: ["logs.jsonl.gz", "-"])
/// print(summary.storedRows)
/// ```
public final class Ingester {
    public let store: any FlowStorage
    /// Batch size, commit interval, durability and back-pressure of the writes.
    public var policy = WritePolicy.ingest
    /// Called for each reject, in input order, on the calling thread.
    package var onReject: ((Reject) -> Void)?
    /// Called about every `progressInterval` seconds, on the calling thread.
    package var onProgress: ((IngestProgress) -> Void)?
    var progressInterval: Double = 0.2
    /// Whether large plain files are decoded on two threads (``ChunkedFileDecoder``), from what
    /// size, in chunks of about how many bytes: tests make both small. `TAILFLOW_SERIAL_DECODE` set (not to `0`)
    /// turns it off, to compare.
    var chunking = (on: ["", "0"].contains(ProcessInfo.processInfo.environment["TAILFLOW_SERIAL_DECODE"] ?? ""),
                    minimumFileBytes: ChunkedFileDecoder.minimumFileBytes, chunkBytes: ChunkedFileDecoder.defaultChunkBytes)

    /// An ingester writing to `store`.
    ///
    /// - parameter store: The store to write; any ``FlowStorage``.
    public init(store: any FlowStorage) {
        self.store = store
    }

    /// Ingests the files (`-` is standard input) in order.
    ///
    /// A file that cannot be read is listed in ``IngestSummary/failedSources``; the others still land.
    ///
    /// - parameter paths: Files to read, `-` for standard input.
    /// - returns: What was read and stored.
    /// - throws: ``StoreError`` when the store fails (what was committed before stays).
    public func ingest(paths: [String]) throws -> IngestSummary {
        try ingest(sources: paths.map { path in
            path == "-" ? .decoder { try ContainerDecoder(source: "stdin", input: FileInput(path: path)) } : .file(path)
        })
    }

    /// Ingests in-memory bytes, such as a request body, named `source` in rejects.
    ///
    /// - throws: ``StoreError`` when the store fails.
    public func ingest(bytes: [UInt8], source: String) throws -> IngestSummary {
        try ingest(inputs: [{ ContainerDecoder(source: source, input: MemoryInput(bytes)) }])
    }

    /// Ingests what `input` yields until its end (an HTTP answer while it arrives, say), named `source` in rejects.
    ///
    /// An input that throws is listed in ``IngestSummary/failedSources``; what it gave before is stored.
    ///
    /// - throws: ``StoreError`` when the store fails.
    package func ingest(input: any ByteInput & Sendable, source: String) throws -> IngestSummary {
        try ingest(inputs: [{ ContainerDecoder(source: source, input: input) }])
    }

    /// One input: a decoder opened when its turn comes, or a file (decoded on two threads when it is
    /// large and plain, see ``ChunkedFileDecoder``).
    enum Source {
        case decoder(() throws -> ContainerDecoder)
        case file(String)
    }

    /// Ingests decoders opened lazily, one after the other.
    ///
    /// - throws: ``StoreError`` when the store fails.
    func ingest(inputs: [() throws -> ContainerDecoder]) throws -> IngestSummary {
        try ingest(sources: inputs.map { .decoder($0) })
    }

    /// Ingests the sources one after the other.
    ///
    /// - throws: ``StoreError`` when the store fails.
    func ingest(sources: [Source]) throws -> IngestSummary {
        let pipeline = WritePipeline(store: store, policy: policy)
        var summary = IngestSummary()
        summary.sources = sources.count
        let clock = ContinuousClock()
        let started = clock.now
        var lastProgress = started
        var messages: [FlowMessage] = []
        var rejects: [Reject] = []
        var changes: [ConfigChange] = []
        messages.reserveCapacity(Self.batchSize)
        var bytesBefore: Int64 = 0
        var chunkedBytes: Int64 = 0
        /// Decodes a large plain file on two threads while it holds messages only; returns where
        /// the rest must be read by one decoder, nil when done.
        func ingestChunked(_ chunked: ChunkedFileDecoder) throws -> Int64? {
            chunkedBytes = 0
            return try chunked.run { chunk, digests, rows, through in
                summary.messages += chunk.count
                summary.rows += rows
                // What the sources before this one left goes first.
                if !messages.isEmpty || !rejects.isEmpty || !changes.isEmpty {
                    try pipeline.enqueue(messages, rejects: rejects, changes: changes)
                    messages.removeAll(keepingCapacity: true)
                    rejects.removeAll()
                    changes.removeAll()
                }
                // This thread waits for the decoding threads: it frees what the writer stored.
                try pipeline.enqueue(chunk, digests: digests, freedHere: true)
                chunkedBytes = through
                if let onProgress {
                    let now = clock.now
                    if now - lastProgress >= .seconds(progressInterval) {
                        lastProgress = now
                        onProgress(IngestProgress(messages: summary.messages, rows: summary.rows,
                                                  bytes: bytesBefore + through, elapsed: (now - started).seconds))
                    }
                }
            }
        }
        func progress(_ decoder: ContainerDecoder) {
            guard let onProgress else { return }
            let now = clock.now
            guard now - lastProgress >= .seconds(progressInterval) else { return }
            lastProgress = now
            onProgress(IngestProgress(messages: summary.messages, rows: summary.rows,
                                      bytes: bytesBefore + decoder.bytesRead, elapsed: (now - started).seconds))
        }
        do {
            for source in sources {
                let decoder: ContainerDecoder
                do {
                    switch source {
                    case .decoder(let open):
                        decoder = try open()
                    case .file(let path) where chunking.on && ChunkedFileDecoder.fits(path, minimumBytes: chunking.minimumFileBytes):
                        let chunked = ChunkedFileDecoder(path: path, source: path, chunkBytes: chunking.chunkBytes)
                        // Fewer cores than the decoding threads and the writer: while the writer is a few
                        // chunks behind, it gets a core of its own (see `holdsBack`).
                        if ProcessInfo.processInfo.activeProcessorCount <= ChunkedFileDecoder.workers {
                            chunked.holdsBack = { [pipeline] in pipeline.waitWhileBehind(by: Self.writerLeadRows, timeout: .milliseconds(20)) }
                            chunked.endHoldingBack = { [pipeline] in pipeline.wakeWaiters() }
                        }
                        guard let resume = try ingestChunked(chunked) else {
                            summary.bytes = bytesBefore + chunkedBytes
                            bytesBefore = summary.bytes
                            continue
                        }
                        decoder = try chunked.rest(from: resume)
                    case .file(let path):
                        decoder = try ContainerDecoder(source: path, input: FileInput(path: path))
                    }
                } catch let error as WritePipeline.Failure {
                    throw error
                } catch let error as StoreError {
                    throw error
                } catch {
                    summary.failedSources.append("\(error)")
                    continue
                }
                do {
                    while let event = try decoder.next() {
                        switch event {
                        case .message(let m):
                            summary.messages += 1
                            summary.rows += m.rows.count
                            messages.append(m)
                        case .change(let c):
                            summary.changes += 1
                            changes.append(c)
                        case .reject(let r):
                            summary.rejected += 1
                            rejects.append(r)
                            onReject?(r)
                        case .skipped:
                            summary.skipped += 1
                        }
                        if messages.count + rejects.count + changes.count >= Self.batchSize {
                            try pipeline.enqueue(messages, rejects: rejects, changes: changes)
                            messages.removeAll(keepingCapacity: true)
                            rejects.removeAll()
                            changes.removeAll()
                            progress(decoder)
                        }
                    }
                    summary.bytes += decoder.bytesRead
                } catch let error as WritePipeline.Failure {
                    throw error
                } catch let error as StoreError {
                    throw error
                } catch {
                    summary.failedSources.append("\(error)")
                }
                bytesBefore = summary.bytes
            }
            if !messages.isEmpty || !rejects.isEmpty || !changes.isEmpty {
                try pipeline.enqueue(messages, rejects: rejects, changes: changes)
            }
        } catch {
            _ = try? pipeline.finish()
            throw error
        }
        let stats = try pipeline.finish()
        summary.storedMessages = stats.messages
        summary.storedRows = stats.rows
        summary.duplicates = stats.duplicates
        summary.storedChanges = stats.changes
        summary.duplicateChanges = stats.duplicateChanges
        summary.seconds = (clock.now - started).seconds
        return summary
    }

    /// Messages and rejects handed to the writer at a time.
    static let batchSize = 2048
    /// How far behind (rows queued or taken and not yet added) the writer may be before a chunked
    /// file's second decoding thread waits, on two cores: about four chunks of a dense file.
    static let writerLeadRows = 16_384
}

/// Everything one body holds, decoded: what the receivers of `serve` store in one submission.
package struct DecodedBody: Sendable {
    package var messages: [FlowMessage] = []
    /// Configuration audit log records (SPEC §13).
    package var changes: [ConfigChange] = []
    package var rejects: [Reject] = []
    /// JSON values that are neither messages nor configuration events.
    package var skipped = 0

    /// Flow rows of the messages.
    package var rows: Int { messages.reduce(0) { $0 + $1.rows.count } }

    /// Decodes every container of SPEC §1 in `bytes`, naming `source` in rejects.
    ///
    /// - throws: an I/O error of the input (never for bad content: that is a reject).
    package init(bytes: [UInt8], source: String) throws {
        let decoder = ContainerDecoder(source: source, input: MemoryInput(bytes))
        while let event = try decoder.next() {
            switch event {
            case .message(let m): messages.append(m)
            case .change(let c): changes.append(c)
            case .reject(let r): rejects.append(r)
            case .skipped: skipped += 1
            }
        }
    }
}
