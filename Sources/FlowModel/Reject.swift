/// Where a value was found: the source, its 1-based line and its byte offset
/// (in the decompressed stream, for gzip input).
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var source: String
    public var line: Int?
    public var offset: Int64

    public init(source: String, line: Int?, offset: Int64) {
        self.source = source
        self.line = line
        self.offset = offset
    }

    public var description: String {
        line.map { "\(source):\($0)" } ?? "\(source) at byte \(offset)"
    }
}

/// Input that could not be stored: where it was and why.
///
/// The one shape of a reject from the decoder to the store and back: decoders
/// produce it, the write pipeline records it, `tailflow rejects` and the API read it.
///
/// For example:
/// ```swift
/// let reject = Reject(location: SourceLocation(source: "logs.jsonl", line: 2, offset: 591),
///                     reason: "JSON syntax error", excerpt: "{\"nodeId\":")
/// print(reject)   // logs.jsonl:2: JSON syntax error
/// ```
public struct Reject: Error, Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation
    public var reason: String
    /// The first bytes of the rejected value, for a human to recognise it ("" when there are none).
    public var excerpt: String
    /// When the store recorded it (ns since the epoch); nil until it is stored.
    public var recorded: Nanoseconds?

    public init(location: SourceLocation, reason: String, excerpt: String = "", recorded: Nanoseconds? = nil) {
        self.location = location
        self.reason = reason
        self.excerpt = excerpt
        self.recorded = recorded
    }

    public var description: String { "\(location): \(reason)" }

    /// The node the rejected value names in its excerpt (`"nodeId":"…"`); nil when the
    /// excerpt names none (or was cut before the ID).
    public var namedNodeID: String? {
        let key = Array("\"nodeId\"".utf8)
        let bytes = Array(excerpt.utf8)
        guard bytes.count >= key.count,
              let at = (0...(bytes.count - key.count)).first(where: { bytes[$0..<$0 + key.count].elementsEqual(key) }) else { return nil }
        let rest = String(decoding: bytes[(at + key.count)...], as: UTF8.self).drop { $0 == " " || $0 == ":" }
        guard rest.first == "\"" else { return nil }
        let id = rest.dropFirst().prefix { $0 != "\"" }
        return id.isEmpty ? nil : String(id)
    }
}
