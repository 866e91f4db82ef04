#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
package import FlowModel

/// What one item of a request body (a Splunk HEC event, an Elasticsearch bulk document) turned out to be.
package enum ItemOutcome: Sendable {
    /// A flow-log message, decoded and checked.
    case message(FlowMessage)
    /// A configuration audit log record (SPEC §13). Boxed, as in ``DecodeEvent``.
    indirect case change(ConfigChange)
    /// Well-formed, but not a flow-log message: skipped and counted (SPEC §1).
    case skipped
    /// Cannot be stored; the reason names the field or the syntax error.
    case rejected(String)
}

/// Helpers the request-body decoders share: line numbers, excerpts and recovery after a syntax error.
///
/// Bodies are held in memory (the server bounds their size) with a line break
/// appended, so that a final number or literal is complete.
struct BodyScan {
    let bytes: UnsafeBufferPointer<UInt8>
    let source: String
    private var lineBase = 0
    private var line = 1

    init(_ bytes: UnsafeBufferPointer<UInt8>, source: String) {
        self.bytes = bytes
        self.source = source
    }

    /// Runs `body` over `data` with a line break appended.
    static func with<T, E: Error>(_ data: [UInt8], _ body: (UnsafeBufferPointer<UInt8>) throws(E) -> T) throws(E) -> T {
        var copy = data
        copy.append(0x0A)
        return try copy.withUnsafeBufferPointer(body)
    }

    /// Where a value starts; positions must be asked for in increasing order.
    mutating func location(at position: Int) -> SourceLocation {
        if position > lineBase {
            var i = lineBase
            while i < position, let nl = memchr(bytes.baseAddress! + i, 0x0A, position - i) {
                line += 1
                i = bytes.baseAddress!.distance(to: nl.assumingMemoryBound(to: UInt8.self)) + 1
            }
            lineBase = position
        }
        return SourceLocation(source: source, line: line, offset: Int64(position))
    }

    /// The first bytes from `from`, printable, for a person to recognise the value.
    func excerpt(_ from: Int, _ to: Int) -> String {
        Self.excerpt(bytes, from, to)
    }

    /// Up to 120 bytes of `bytes[from..<to]` in printable ASCII (line breaks as `\n`, other bytes as `\xNN`),
    /// with `…` when cut short: what rejects show of the value they refused.
    static func excerpt(_ bytes: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> String {
        let limit = min(to, from + 120, bytes.count)
        guard from < limit else { return "" }
        var s = ""
        for b in bytes[from..<limit] {
            if b >= 0x20, b < 0x7F { s.unicodeScalars.append(Unicode.Scalar(b)) } else {
                s += b == 0x0A ? "\\n" : "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return limit < to ? s + "…" : s
    }

    /// The start of the next line after `from` whose first byte is `{`, or `nil`.
    func nextObjectLine(after from: Int) -> Int? {
        var i = from
        while i < bytes.count, let nl = memchr(bytes.baseAddress! + i, 0x0A, bytes.count - i) {
            let at = bytes.baseAddress!.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            if at + 1 < bytes.count, bytes[at + 1] == UInt8(ascii: "{") { return at + 1 }
            i = at + 1
        }
        return nil
    }

    static func describe(_ error: ScanError) -> String {
        switch error {
        case .needMore: "unexpected end of the body inside a JSON value (the body is truncated)"
        case .syntax(_, let reason): "JSON syntax error: \(reason)"
        case .tooDeep: "JSON nested deeper than \(JSONCursor.maxDepth) levels"
        }
    }

    static func errorPosition(_ error: ScanError, default d: Int) -> Int {
        switch error {
        case .syntax(let p, _), .tooDeep(let p): p
        case .needMore: d
        }
    }
}

extension ParsedValue {
    var outcome: ItemOutcome {
        switch self {
        case .message(let m): .message(m)
        case .invalid(let problems): .rejected(MessageDraft.reason(problems))
        case .change(let c): .change(c)
        case .invalidChange(let problems): .rejected(ChangeDraft.reason(problems))
        case .other, .bulkAction, .envelope: .skipped
        }
    }
}
