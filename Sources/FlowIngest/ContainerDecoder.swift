#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import FlowModel

/// One thing found in the input.
public enum DecodeEvent: Sendable {
    case message(FlowMessage)
    /// A configuration audit log record (SPEC §13). Boxed: a record is twice a message's size,
    /// and every event is moved several times on its way out (a tenth of the decoder's time was those copies).
    indirect case change(ConfigChange)
    case reject(Reject)
    /// A JSON value that is not a message (SPEC §1: skipped and counted).
    case skipped(SourceLocation)
}

/// Reads every container of SPEC §1 from a byte stream, one message at a time.
///
/// One message object, arrays of messages, concatenated objects, JSON Lines, the
/// API envelope `{"logs":[…]}`, log-service records with extra keys, Splunk HEC
/// bodies and Elasticsearch `_bulk` bodies are told apart by their content, and
/// gzip by its magic number. Arrays and the envelope are streamed element by
/// element, so memory stays bounded by the largest single value
/// (``maxValueBytes``), not by the input.
///
/// After a syntax error the decoder reports the broken value and resumes at the
/// next line that starts with `{` or `[`, so in JSON Lines only the broken line is lost.
///
/// For example:
/// ```swift
/// let decoder = try ContainerDecoder(source: "logs.jsonl.gz", input: FileInput(path: "logs.jsonl.gz"))
/// while let event = try decoder.next() { … }
/// ```
public final class ContainerDecoder {
    enum ArrayState { case start, afterValue, afterComma }
    enum Level {
        case array(ArrayState, line: Int)
        case envelope(line: Int)
    }

    public let source: String
    /// The largest single JSON value accepted (a message is at most 256 KiB on the wire).
    package let maxValueBytes: Int
    /// Whether configuration audit log records are told apart from other values (SPEC §13).
    /// On by default; off, a record is a value that is not a message (skipped and counted), as
    /// before tailflow read that log. The benchmarks turn it off to measure what detection costs.
    public var detectsChanges = true
    /// Whether the input turned out to be gzip-compressed.
    private(set) var isGzip = false
    /// Bytes of (decompressed) input consumed so far.
    var bytesRead: Int64 { base + Int64(count) - (eof ? 1 : 0) }

    var input: any ByteInput
    var buffer: UnsafeMutableRawBufferPointer
    var count = 0
    var pos = 0
    var base: Int64 = 0
    var started = false
    var eof = false
    var done = false
    var levels: [Level] = []
    let cache: ParseCache
    /// Whether the parser takes its shortcuts and reuses nodes read before: off only to compare
    /// the shortcuts with the general path (`DecoderFastPathTests`).
    var fastPaths = true
    var resyncing = false
    /// Where the search for the next line break goes on during a resync; `nil` when it starts.
    var resyncFrom: Int?
    /// Bytes before `lineBase` (an absolute offset) have had their line breaks counted into `line`.
    var lineBase: Int64 = 0
    var line = 1
    /// The absolute offset of the first byte of line `line`, for columns past the buffer's start.
    var lineStart: Int64 = 0
    /// A value kept for a rescan at least this large is rescanned only after as many new bytes
    /// have been read, so reading a large value costs linear time however the input trickles in.
    static let rescanThreshold = 256 << 10

    public convenience init(source: String, input: any ByteInput, maxValueBytes: Int = 16 << 20) {
        self.init(source: source, input: input, maxValueBytes: maxValueBytes, cache: ParseCache(),
                  buffer: .allocate(byteCount: 1 << 20, alignment: 16))
    }

    init(source: String, input: any ByteInput, maxValueBytes: Int, cache: ParseCache, buffer: UnsafeMutableRawBufferPointer) {
        self.source = source
        self.input = input
        self.maxValueBytes = maxValueBytes
        self.cache = cache
        self.buffer = buffer
    }

    /// A decoder of the rest of an input that an earlier decoder left between two top-level values,
    /// at absolute `offset`, the start of line `line`: what it reports (locations included) is what
    /// that decoder would have reported had it gone on. No gzip sniffing: the stream is already plain.
    convenience init(source: String, input: any ByteInput, resumingAt offset: Int64, line: Int) {
        self.init(source: source, input: input)
        started = true
        base = offset
        lineBase = offset
        lineStart = offset
        self.line = line
    }

    /// A decoder of one chunk of plain input in memory, `count` bytes starting at absolute `offset`,
    /// decoded as if the input ended there (``ChunkedFileDecoder``). It owns `chunk` (allocated with
    /// at least one byte more than `count`) and frees it. Line numbers count from the chunk's start:
    /// only its messages are used, never a location.
    convenience init(source: String, chunk: UnsafeMutableRawBufferPointer, count: Int, offset: Int64, cache: ParseCache) {
        self.init(source: source, input: MemoryInput([]), maxValueBytes: 16 << 20, cache: cache, buffer: chunk)
        started = true
        self.count = count
        base = offset
        lineBase = offset
        lineStart = offset
        try? markEnd()
    }

    deinit {
        if ownsBuffer { buffer.deallocate() }
    }

    /// Whether `deinit` frees the buffer (not once ``giveBackBuffer()`` handed it over).
    private var ownsBuffer = true

    /// The buffer of a chunk's decoder (``init(source:chunk:count:offset:cache:)``), handed back to be
    /// filled again (``ChunkedFileDecoder`` keeps a few): the decoder must not be used after.
    func giveBackBuffer() -> UnsafeMutableRawBufferPointer {
        ownsBuffer = false
        return buffer
    }

    /// The next message, reject or skipped value; `nil` at the end of the input.
    public func next() throws -> DecodeEvent? {
        if !started {
            started = true
            try sniff()
        }
        while !done {
            if resyncing {
                if try resync() { resyncing = false }
                if let failure = pendingFailure {
                    pendingFailure = nil
                    return failure
                }
                continue
            }
            // Whitespace between values is consumed for good: it is never kept for a rescan.
            skipWhitespace()
            let itemStart = pos
            do {
                if let event = try step() { return event }
            } catch .needMore {
                pos = itemStart
                if eof {
                    // The value runs to the end of the input. It may have swallowed
                    // complete lines after it (a truncated line in JSON Lines), so
                    // report it and look for them, as after a syntax error.
                    let reject = truncatedAtEnd(itemStart)
                    levels.removeAll()
                    resyncing = true
                    if let reject { return reject }
                    continue
                }
                if let failure = try refill(keepFrom: itemStart, rescan: true) { return failure }
            } catch .syntax(let at, let reason) {
                // `pos` stands at the start of the broken value (past any whitespace).
                return reject(at: pos, errorAt: at, reason: reason)
            } catch .tooDeep(let at) {
                return reject(at: pos, errorAt: at, reason: "nested deeper than \(JSONCursor.maxDepth) levels")
            }
        }
        return nil
    }

    /// Appends the messages that follow to `messages` (and their rows to `rows`) until the end of
    /// the input, which returns nil, or the first event that is not a message, which it returns.
    ///
    /// What ``next()`` yields, without its steps per message: a top-level object is parsed here and
    /// its message moved straight into `messages` (no ``DecodeEvent`` made, moved and taken apart
    /// again). Anything else — not an object, not a message, a value that does not parse, an
    /// array or envelope open, a resync under way, the shortcuts off — goes to ``next()`` from
    /// where it starts, which reads it as before (a value parsed here and dropped leaves nothing
    /// behind but nodes in the cache, which hold what reading them again gives).
    func appendMessages(to messages: inout [FlowMessage], rows: inout Int) throws -> DecodeEvent? {
        while true {
            if started, !done, !resyncing, levels.isEmpty, fastPaths {
                let bytes = UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count)
                var p = pos
                while p < count, bytes[p] == 0x20 || bytes[p] == 0x0A || bytes[p] == 0x0D || bytes[p] == 0x09 { p += 1 }
                if p < count, bytes[p] == UInt8(ascii: "{") {
                    var parser = MessageParser(bytes, at: p, cache: cache)
                    parser.detectsChanges = detectsChanges
                    var draft = MessageDraft()
                    if case .some(.none) = try? parser.parseValue(allowEnvelope: true, draft: &draft), draft.isUsualMessage {
                        pos = parser.cursor.pos
                        rows += draft.rows.count
                        draft.moveMessage(to: &messages)
                        continue
                    }
                }
            }
            guard let event = try next() else { return nil }
            switch consume event {
            case .message(let m):
                rows += m.rows.count
                messages.append(m)
            case let other:
                return other
            }
        }
    }

    // MARK: Parsing

    /// Handles one structural step; returns an event when a value was read.
    func step() throws(ScanError) -> DecodeEvent? {
        let bytes = UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count)
        var cursor = JSONCursor(bytes, at: pos)
        cursor.skipWhitespace()
        pos = cursor.pos
        if cursor.pos >= count {
            if eof, levels.isEmpty {
                done = true
                return nil
            }
            throw .needMore
        }
        let c = bytes[cursor.pos]
        switch levels.last {
        case nil:
            return try item(bytes)
        case .array(let state, let line)?:
            if c == UInt8(ascii: "]"), state != .afterComma {
                pos += 1
                levels.removeLast()
                afterValue()
                return nil
            }
            switch state {
            case .start, .afterComma:
                return try item(bytes)
            case .afterValue:
                guard c == UInt8(ascii: ",") else {
                    throw .syntax(position: pos, reason: "expected ',' or ']' after an array element, found \(JSONCursor.describe(c))")
                }
                pos += 1
                levels[levels.count - 1] = .array(.afterComma, line: line)
                return nil
            }
        case .envelope?:
            if c == UInt8(ascii: "}") {
                pos += 1
                levels.removeLast()
                afterValue()
                return nil
            }
            guard c == UInt8(ascii: ",") else {
                throw .syntax(position: pos, reason: "expected ',' or '}' after an object member, found \(JSONCursor.describe(c))")
            }
            cursor.pos += 1
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            if cursor.equals(key, "logs"), try cursor.peek() == UInt8(ascii: "[") {
                cursor.pos += 1
                levels.append(.array(.start, line: lineNumber(at: cursor.pos - 1)))
            } else {
                try cursor.skipValue(depth: 1)
            }
            pos = cursor.pos
            return nil
        }
    }

    /// Reads a value where an item (a message, a wrapper, an array of them) may stand.
    func item(_ bytes: UnsafeBufferPointer<UInt8>) throws(ScanError) -> DecodeEvent? {
        let start = pos
        if bytes[start] == UInt8(ascii: "[") {
            guard levels.count < JSONCursor.maxDepth else { throw .tooDeep(position: start) }
            pos += 1
            levels.append(.array(.start, line: lineNumber(at: start)))
            return nil
        }
        var parser = MessageParser(bytes, at: start, cache: fastPaths ? cache : nil)
        parser.detectsChanges = detectsChanges
        parser.fastPaths = fastPaths
        // One switch that consumes the value: every `if case` on it was a copy of a whole message.
        switch try parser.parseValue(allowEnvelope: true) {
        case .message(let m):
            pos = parser.cursor.pos
            afterValue()
            return .message(m)
        case .envelope:
            guard levels.count + 2 <= JSONCursor.maxDepth else { throw .tooDeep(position: start) }
            pos = parser.cursor.pos
            levels.append(.envelope(line: lineNumber(at: start)))
            levels.append(.array(.start, line: lineNumber(at: pos - 1)))
            return nil
        case let value:
            pos = parser.cursor.pos
            afterValue()
            return event(for: value, at: start)
        }
    }

    /// The event of a value that is not a message or the envelope.
    func event(for value: ParsedValue, at start: Int) -> DecodeEvent? {
        switch value {
        case .message(let m):
            return .message(m)
        case .invalid(let problems):
            return .reject(Reject(location: location(at: start), reason: MessageDraft.reason(problems),
                                        excerpt: excerpt(start, pos)))
        case .change(let c):
            return .change(c)
        case .invalidChange(let problems):
            return .reject(Reject(location: location(at: start), reason: ChangeDraft.reason(problems),
                                        excerpt: excerpt(start, pos)))
        case .other:
            return .skipped(location(at: start))
        case .bulkAction, .envelope:
            return nil
        }
    }

    /// After a complete value inside an array, the array expects `,` or `]`.
    func afterValue() {
        if case .array(_, let line)? = levels.last {
            levels[levels.count - 1] = .array(.afterValue, line: line)
        }
    }

    // MARK: Errors and recovery

    func reject(at start: Int, errorAt: Int, reason: String) -> DecodeEvent {
        // The line break appended at the end of the input ended the value.
        let reason = eof && errorAt >= count - 1
            ? "unexpected end of input inside a JSON value (the input is truncated)" : reason
        // Line numbers only move forward: the value's start first, then the error in it.
        let startLocation = location(at: start)
        let startLine = line
        let errorLine = lineNumber(at: min(errorAt, count))
        let column = columnNumber(at: min(errorAt, count))
        var text = "JSON syntax error"
        if errorLine != startLine || column > 1 { text += " at line \(errorLine), column \(column)" }
        text += ": " + reason
        if !levels.isEmpty { text += "; the rest of the enclosing array is skipped up to the next line that starts with '{' or '['" }
        let event = DecodeEvent.reject(Reject(location: startLocation, reason: text, excerpt: excerpt(start, min(errorAt + 1, count))))
        levels.removeAll()
        resyncing = true
        resyncFrom = nil
        return event
    }

    /// Skips to the next line that starts with `{` or `[`; false when more input is needed first.
    ///
    /// Each byte is searched once: what the search has passed is dropped at the next refill,
    /// so skipping a long line (or gigabytes without a line break) costs linear time.
    func resync() throws -> Bool {
        let bytes = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        // Never resume on the line where the broken value started.
        var i = resyncFrom ?? min(pos + 1, count)
        while i < count {
            guard let nl = memchr(bytes + i, 0x0A, count - i) else {
                i = count
                break
            }
            let at = bytes.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            // A line break at the end of the buffer: the byte after it is not read yet.
            if at + 1 >= count {
                i = at
                break
            }
            let c = bytes[at + 1]
            if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                pos = at + 1
                resyncFrom = nil
                return true
            }
            i = at + 1
        }
        if eof {
            pos = count
            done = true
            resyncFrom = nil
            return true
        }
        // Keep only what the search has not passed: nothing, or the final line break.
        pos = i
        if let failure = try refill(keepFrom: i) {
            pendingFailure = failure
            done = true
        }
        resyncFrom = pos
        return false
    }

    var pendingFailure: DecodeEvent?

    /// The end of input came inside a value or an open array.
    func truncatedAtEnd(_ start: Int) -> DecodeEvent? {
        var i = start
        let bytes = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        while i < count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 }
        pos = i
        if i < count {
            return .reject(Reject(location: location(at: i),
                                        reason: "unexpected end of input inside a JSON value (the input is truncated)",
                                        excerpt: excerpt(i, count)))
        }
        if let open = levels.first {
            let line: Int
            switch open {
            case .array(_, let l), .envelope(let l): line = l
            }
            return .reject(Reject(location: SourceLocation(source: source, line: line, offset: base + Int64(count)),
                                        reason: "unexpected end of input: the array or object opened at line \(line) is never closed (the input is truncated; the messages before this point were read)"))
        }
        return nil
    }

    // MARK: Buffer

    /// Consumes whitespace in the buffer.
    func skipWhitespace() {
        let bytes = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var i = pos
        while i < count {
            let c = bytes[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { break }
            i += 1
        }
        pos = i
    }

    /// Reads the first bytes to detect gzip.
    func sniff() throws {
        var head = [UInt8](repeating: 0, count: 1 << 16)
        var got = 0
        while got < 2 {
            let n = try head.withUnsafeMutableBytes { try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...])) }
            if n == 0 { break }
            got += n
        }
        head.removeSubrange(got...)
        if GzipInput.hasMagic(head) {
            isGzip = true
            input = try GzipInput(upstream: input, prefix: head)
        } else {
            head.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: got) }
            count = got
            if got == 0 { try markEnd() }
        }
    }

    /// Drops the bytes before `keepFrom` and reads more; returns a reject if the input fails.
    ///
    /// - parameter rescan: the kept bytes are a value that will be scanned again from its start.
    ///   When it is large, as many new bytes are read first (or the buffer is filled), so that a
    ///   value arriving in small reads is not rescanned once per read.
    func refill(keepFrom: Int, rescan: Bool = false) throws -> DecodeEvent? {
        advanceLines(to: keepFrom)
        if keepFrom > 0 {
            let remaining = count - keepFrom
            if remaining > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + keepFrom, remaining) }
            base += Int64(keepFrom)
            count = remaining
            pos -= keepFrom
        }
        // The value kept is already larger than a value may be: refuse it rather than read on.
        if rescan, count > maxValueBytes { return oversized() }
        if count == buffer.count {
            guard buffer.count < maxValueBytes + (1 << 20) else { return oversized() }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 16)
            bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: count)
            buffer.deallocate()
            buffer = bigger
        }
        let wanted = rescan && count >= Self.rescanThreshold ? count : 1
        // A value is read up to one byte past the largest allowed, so that one too large is seen as such.
        let limit = rescan ? min(buffer.count, maxValueBytes + 1) : buffer.count
        var got = 0
        do {
            while got < wanted, count < limit {
                let n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[count..<limit]))
                if n == 0 {
                    try markEnd()
                    break
                }
                count += n
                got += n
            }
        } catch let error as GzipError {
            done = true
            eof = true
            return .reject(Reject(location: location(at: min(pos, count)), reason: error.message))
        }
        return nil
    }

    /// Rejects the value at the start of the buffer as too large and drops it but for its last byte.
    func oversized() -> DecodeEvent {
        let event = DecodeEvent.reject(Reject(location: location(at: 0),
            reason: "a JSON value larger than \(maxValueBytes >> 20) MiB (a flow-log message is at most 256 KiB)",
            excerpt: excerpt(0, 120)))
        levels.removeAll()
        resyncing = true
        pos = 0
        // Drop most of the oversized value so that recovery can move on; the byte kept
        // (it may be the line break before a '{') is searched too.
        resyncFrom = 0
        advanceLines(to: count - 1)
        memmove(buffer.baseAddress!, buffer.baseAddress! + count - 1, 1)
        base += Int64(count - 1)
        count = 1
        return event
    }

    /// Appends a line break at the end of the input so that a final number or literal is complete.
    func markEnd() throws {
        eof = true
        if count == buffer.count {
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count + 16, alignment: 16)
            bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: count)
            buffer.deallocate()
            buffer = bigger
        }
        buffer[count] = 0x0A
        count += 1
    }

    /// Counts line breaks up to buffer position `to` (positions only move forward).
    func advanceLines(to: Int) {
        let target = base + Int64(to)
        guard target > lineBase else { return }
        let bytes = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var i = Int(lineBase - base)
        let end = to
        var lastBreak = -1
        while i < end, let nl = memchr(bytes + i, 0x0A, end - i) {
            line += 1
            lastBreak = bytes.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            i = lastBreak + 1
        }
        if lastBreak >= 0 { lineStart = base + Int64(lastBreak + 1) }
        lineBase = target
    }

    func lineNumber(at position: Int) -> Int {
        advanceLines(to: position)
        return line
    }

    /// The 1-based byte column of a buffer position, counted from the line's start even when
    /// that start has left the buffer (a long line).
    func columnNumber(at position: Int) -> Int {
        advanceLines(to: position)
        return Int(base + Int64(position) - lineStart) + 1
    }

    func location(at position: Int) -> SourceLocation {
        SourceLocation(source: source, line: lineNumber(at: position), offset: base + Int64(position))
    }

    func excerpt(_ from: Int, _ to: Int) -> String {
        BodyScan.excerpt(UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count), from, to)
    }
}
