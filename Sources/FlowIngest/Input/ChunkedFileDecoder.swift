#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FlowModel
import Foundation

/// Decodes a large plain file on two threads, chunk by chunk, handing over the messages in input order.
///
/// On the sparse shape (few rows per message) ingest is bound by its one decoding thread; this
/// one keeps two decoding beside the writer. The file is cut after line breaks into chunks of
/// about ``chunkBytes``, and each chunk is decoded on its own, as if the input began and ended
/// there. That is exactly what decoding the whole file yields when a chunk begins between two
/// top-level values and holds nothing but complete messages: it then also ends between two values
/// (a message needs no byte after its `}`), so the next chunk begins between two as well, and the
/// first begins the input. A chunk holding anything else — a reject, a skipped value, a
/// configuration record, a value cut by the chunk's end (a pretty-printed array, an envelope) —
/// ends the chunking: ``run(_:)`` returns its start, from where one ``ContainerDecoder`` reads the
/// rest of the file as before (``ContainerDecoder/init(source:input:resumingAt:line:)``), so every
/// reject keeps its file, line, column and text.
final class ChunkedFileDecoder: @unchecked Sendable {
    /// What a chunk gave: its messages, their identities (worked out here, off the writer's thread)
    /// and rows, or something else (see above).
    enum Decoded {
        case messages([FlowMessage], digests: [Int64], rows: Int)
        case other
    }

    let path: String
    let source: String
    let detectsChanges: Bool
    /// About how many bytes a chunk holds (its line breaks decide).
    let chunkBytes: Int
    static let defaultChunkBytes = 1 << 20
    /// Files smaller than this are decoded on one thread (starting threads is not worth it).
    static let minimumFileBytes: Int64 = 8 << 20
    /// Chunks read but not yet handed over, at most.
    static let chunksAhead = 6
    static let workers = 2

    /// Called by the decoding threads after the first before their next chunk (nil: never): waits
    /// (a while at most) while they should hold back, and returns whether they still should.
    /// `Ingester` sets it on a machine of two cores, to wait while the writer is far behind: its
    /// thread then shares the cores with one decoding thread, not two. With all three running, each got
    /// two thirds of a core while the writer, as busy as the two decoders together on a day's
    /// file, fell behind and worked alone for a third of the run after the decoding ended.
    var holdsBack: (@Sendable () -> Bool)?
    /// Ends a wait of ``holdsBack`` early: called when the decoding stops.
    var endHoldingBack: (@Sendable () -> Void)?
    /// How many chunks each decoding thread decoded, by its index (read after ``run(_:)``).
    var chunksDecoded: [Int] {
        condition.lock()
        defer { condition.unlock() }
        return decodedBy
    }

    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var work: [(seq: Int, offset: Int64, count: Int, bytes: UnsafeMutableRawBufferPointer)] = []
    private var results: [Int: Decoded] = [:]
    private var stopping = false
    private var running = 0
    private var decodedBy = [Int](repeating: 0, count: workers)
    /// Chunk buffers decoded and free to be filled again: at most as many as are in flight, and
    /// reused rather than allocated per chunk (each fresh megabyte was a page fault per 4 KiB).
    private var spare: [UnsafeMutableRawBufferPointer] = []
    /// The file as ``run(_:)`` opened it: ``rest(from:)`` reads on from the same open file, never
    /// the path again (a live log renamed and recreated meanwhile must not be read instead).
    private var file: FileInput?

    init(path: String, source: String, detectsChanges: Bool = true, chunkBytes: Int = defaultChunkBytes) {
        self.path = path
        self.source = source
        self.detectsChanges = detectsChanges
        self.chunkBytes = max(chunkBytes, 1)
    }

    /// Whether `path` is a regular file of at least `minimumBytes`, and not gzip (decompressing is one stream).
    static func fits(_ path: String, minimumBytes: Int64 = minimumFileBytes) -> Bool {
        guard path != "-" else { return false }
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int64(st.st_size) >= max(minimumBytes, 2) else { return false }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var head: (UInt8, UInt8) = (0, 0)
        guard pread(fd, &head, 2, 0) == 2 else { return false }
        return !GzipInput.hasMagic([head.0, head.1])
    }

    /// Decodes the file, calling `deliver` with each chunk's messages, their identities and rows in
    /// input order, and the bytes read through that chunk; returns the offset from which the rest must be decoded
    /// by one decoder (nil when the file was read to its end).
    ///
    /// - throws: what `deliver` throws; ``InputError`` when the file cannot be opened.
    func run(_ deliver: ([FlowMessage], [Int64], Int, Int64) throws -> Void) throws -> Int64? {
        precondition(file == nil, "ChunkedFileDecoder.run is called once")
        let input = try FileInput(path: path)
        file = input
        for index in 0..<Self.workers {
            let thread = Thread { [self] in decodeChunks(index) }
            thread.name = "tailflow-decoder"
            thread.stackSize = 8 << 20
            condition.lock()
            running += 1
            condition.unlock()
            thread.start()
        }
        defer { stop() }
        // Where each chunk read and not yet handed over starts and ends.
        var spans: [Int: (start: Int64, end: Int64)] = [:]
        var nextRead = 0, nextDelivered = 0
        var offset: Int64 = 0
        var readDone = false
        // The bytes after the last line break of the chunk before: the start of the next.
        var carry = takeBuffer()
        var carried = 0
        defer { carry.deallocate() }
        while true {
            while !readDone, nextRead - nextDelivered < Self.chunksAhead {
                let bytes = carry
                var filled = carried
                carry = takeBuffer()
                carried = 0
                var usable = true
                var eof = false
                while filled < chunkBytes {
                    guard let n = try? input.read(into: UnsafeMutableRawBufferPointer(rebasing: bytes[filled..<chunkBytes])) else {
                        usable = false
                        break
                    }
                    if n == 0 {
                        eof = true
                        break
                    }
                    filled += n
                }
                if filled == 0, eof {
                    bytes.deallocate()
                    readDone = true
                    break
                }
                var count = filled
                if usable, !eof {
                    if let nl = Self.lastLineBreak(bytes, filled) {
                        count = nl + 1
                        carried = filled - count
                        carry.baseAddress!.copyMemory(from: bytes.baseAddress! + count, byteCount: carried)
                    } else {
                        usable = false  // no line break in a whole chunk
                    }
                }
                spans[nextRead] = (offset, offset + Int64(count))
                condition.lock()
                if usable {
                    work.append((nextRead, offset, count, bytes))
                    readDone = eof
                } else {
                    // A read error or a very long line: the one decoder reads from here and reports it.
                    bytes.deallocate()
                    results[nextRead] = .other
                    readDone = true
                }
                condition.broadcast()
                condition.unlock()
                offset += Int64(count)
                nextRead += 1
            }
            if nextDelivered == nextRead { return nil }
            condition.lock()
            while results[nextDelivered] == nil { condition.wait() }
            let decoded = results.removeValue(forKey: nextDelivered)!
            condition.unlock()
            let span = spans.removeValue(forKey: nextDelivered)!
            guard case .messages(let messages, let digests, let rows) = decoded else { return span.start }
            try deliver(messages, digests, rows, span.end)
            nextDelivered += 1
        }
    }

    /// A chunk buffer (``chunkBytes`` and 16 more): a spare one when there is one.
    private func takeBuffer() -> UnsafeMutableRawBufferPointer {
        condition.lock()
        let buffer = spare.popLast()
        condition.unlock()
        return buffer ?? .allocate(byteCount: chunkBytes + 16, alignment: 16)
    }

    /// The index of the last line break in the first `count` bytes (a line is short: searched backwards).
    static func lastLineBreak(_ bytes: UnsafeMutableRawBufferPointer, _ count: Int) -> Int? {
        var i = count - 1
        while i >= 0 {
            if bytes[i] == 0x0A { return i }
            i -= 1
        }
        return nil
    }

    /// The one decoder of the rest of the file from `offset` (what ``run(_:)`` returned): it reports
    /// what a decoder of the whole file reports from there on, locations included.
    ///
    /// - throws: ``InputError`` when the file cannot be read.
    /// It reads the file ``run(_:)`` read, through the descriptor that call opened.
    func rest(from offset: Int64) throws -> ContainerDecoder {
        let input = try file ?? FileInput(path: path)
        let line = try Self.lineNumber(at: offset, in: input)
        try input.seek(to: offset)
        let decoder = ContainerDecoder(source: source, input: input, resumingAt: offset, line: line)
        decoder.detectsChanges = detectsChanges
        return decoder
    }

    /// The line number of absolute `offset` of the open file `input`: one more than the line breaks
    /// before it (read from the file's start; the next read is undefined until a seek).
    static func lineNumber(at offset: Int64, in input: FileInput) throws -> Int {
        try input.seek(to: 0)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var line = 1
        var left = offset
        while left > 0 {
            let n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<Int(min(left, Int64(buffer.count)))]))
            if n == 0 { break }
            let bytes = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var i = 0
            while i < n, let nl = memchr(bytes + i, 0x0A, n - i) {
                line += 1
                i = bytes.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
            }
            left -= Int64(n)
        }
        return line
    }

    /// Stops the decoding threads and waits for them; chunks not decoded are freed.
    private func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        endHoldingBack?()
        condition.lock()
        while running > 0 { condition.wait() }
        for w in work { w.bytes.deallocate() }
        work.removeAll()
        for b in spare { b.deallocate() }
        spare.removeAll()
        results.removeAll()
        condition.unlock()
    }

    /// A decoding thread: takes chunks in order, decodes each with its own cache of node objects.
    private func decodeChunks(_ index: Int) {
        let cache = ParseCache()
        condition.lock()
        while true {
            while work.isEmpty, !stopping { condition.wait() }
            if stopping { break }
            if index > 0, let holdsBack {
                condition.unlock()
                let wait = holdsBack()
                condition.lock()
                if wait || work.isEmpty || stopping { continue }
            }
            let w = work.removeFirst()
            decodedBy[index] += 1
            condition.unlock()
            let decoder = ContainerDecoder(source: source, chunk: w.bytes, count: w.count, offset: w.offset, cache: cache)
            decoder.detectsChanges = detectsChanges
            var messages: [FlowMessage] = []
            messages.reserveCapacity(w.count / 256)
            var rows = 0
            var clean = true
            do {
                // Any event but a message ends the chunk's use (see above).
                if try decoder.appendMessages(to: &messages, rows: &rows) != nil { clean = false }
            } catch {
                clean = false
            }
            let digests = clean ? messages.map(\.digest) : []
            let buffer = decoder.giveBackBuffer()
            condition.lock()
            if buffer.count == chunkBytes + 16, spare.count <= Self.chunksAhead + Self.workers { spare.append(buffer) } else { buffer.deallocate() }
            results[w.seq] = clean ? .messages(messages, digests: digests, rows: rows) : .other
            condition.broadcast()
        }
        running -= 1
        condition.broadcast()
        condition.unlock()
    }
}
