#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
package import FlowModel

/// One action of an Elasticsearch `_bulk` body with its document.
package struct BulkItem: Sendable {
    package enum Action: String, Sendable {
        case create, index, update, delete
    }

    /// The action as sent; the answer's item is keyed by it (`index` when the action line is unreadable).
    package var action: Action
    /// `_index` and `_id` of the action line, when given.
    package var index: String?
    package var id: String?
    /// Where the document (or the broken line) starts.
    package var location: SourceLocation
    package var outcome: ItemOutcome
    package var excerpt: String
}

/// A `_bulk` body with a line where an action belongs that is not an action: Elasticsearch
/// refuses such a request whole (HTTP 400, `illegal_argument_exception`), and so does tailflow.
package struct MalformedBulkAction: Error, Sendable, CustomStringConvertible {
    /// The 1-based line of the body.
    package var line: Int
    /// Elasticsearch's wording: `Malformed action/metadata line [N], expected …`.
    package var reason: String
    package var description: String { reason }
}

/// Decodes Elasticsearch `_bulk` bodies: NDJSON in which action lines (`{"create":{…}}`,
/// `{"index":{…}}`) alternate with documents, one item per action.
///
/// As in Elasticsearch, a line that stands where an action belongs and is not one (not
/// JSON, not an object, an unknown action, a document without its action line) makes the
/// whole request malformed: nothing of it is stored. A bad *document* costs its own item
/// only: it gets a rejected item with the reason, and the lines after it are still read.
/// `update` and `delete` are refused per item (flow logs are stored once and kept).
///
/// For example:
/// ```swift
/// let items = try BulkBody.decode(body, source: "bulk request 12")
/// ```
package enum BulkBody {
    /// - throws: ``MalformedBulkAction`` for the first line where an action belongs that is not one.
    package static func decode(_ body: [UInt8], source: String) throws(MalformedBulkAction) -> [BulkItem] {
        try BodyScan.with(body) { bytes throws(MalformedBulkAction) -> [BulkItem] in
            var scan = BodyScan(bytes, source: source)
            let cache = ParseCache()
            var items: [BulkItem] = []
            var lines = LineIterator(bytes)
            while let line = lines.next() {
                let location = scan.location(at: line.lowerBound)
                switch action(bytes, line) {
                case .action(let action, let index, let id):
                    if action == .delete {
                        items.append(BulkItem(action: action, index: index, id: id, location: location,
                                              outcome: .rejected("delete is not supported: tailflow keeps flow logs as they were sent"), excerpt: ""))
                        continue
                    }
                    guard let doc = lines.next() else {
                        items.append(BulkItem(action: action, index: index, id: id, location: location,
                                              outcome: .rejected("the \(action.rawValue) action on line \(location.line!) has no document after it"),
                                              excerpt: scan.excerpt(line.lowerBound, line.upperBound)))
                        continue
                    }
                    let docLocation = scan.location(at: doc.lowerBound)
                    if action == .update {
                        items.append(BulkItem(action: action, index: index, id: id, location: docLocation,
                                              outcome: .rejected("update is not supported: tailflow stores each flow-log message once, as sent"),
                                              excerpt: ""))
                        continue
                    }
                    let outcome = document(bytes, doc, cache: cache)
                    var excerpt = ""
                    if case .rejected = outcome { excerpt = scan.excerpt(doc.lowerBound, doc.upperBound) }
                    items.append(BulkItem(action: action, index: index, id: id, location: docLocation, outcome: outcome, excerpt: excerpt))
                case .document(let key):
                    throw MalformedBulkAction(line: location.line!, reason: "Malformed action/metadata line [\(location.line!)], expected field [create], [delete], [index] or [update] but found [\(key)]: a document without an action line before it")
                case .invalid(let why):
                    throw MalformedBulkAction(line: location.line!, reason: "Malformed action/metadata line [\(location.line!)], \(why)")
                }
            }
            return items
        }
    }

    enum ActionLine {
        case action(BulkItem.Action, index: String?, id: String?)
        /// A flow-log message where an action belongs (its first key).
        case document(String)
        /// Why the line is not an action, in Elasticsearch's words where it has them.
        case invalid(String)
    }

    /// Reads an action line: one member, `create`, `index`, `update` or `delete`, whose value is an object.
    static func action(_ bytes: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) -> ActionLine {
        let view = UnsafeBufferPointer(rebasing: bytes[0..<line.upperBound + 1])
        var cursor = JSONCursor(view, at: line.lowerBound)
        do throws(ScanError) {
            let first = try cursor.peek()
            guard first == UInt8(ascii: "{") else {
                return .invalid("expected START_OBJECT but found \(token(first)): expected {\"create\":{…}} or {\"index\":{…}}")
            }
            cursor.pos += 1
            guard try cursor.peek() != UInt8(ascii: "}") else { return .invalid("expected FIELD_NAME but found [END_OBJECT]: an empty object") }
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            let name = cursor.text(key) ?? ""
            guard let action = BulkItem.Action(rawValue: name), try cursor.peek() == UInt8(ascii: "{") else {
                var parser = MessageParser(view, at: line.lowerBound)
                if let value = try? parser.parseValue(allowEnvelope: false) {
                    switch value {
                    case .message, .invalid, .change, .invalidChange: return .document(name)
                    default: break
                    }
                }
                if BulkItem.Action(rawValue: name) != nil {
                    return .invalid("expected START_OBJECT but found \(token(try cursor.peek())) after [\(name)]")
                }
                return .invalid("expected field [create], [delete], [index] or [update] but found [\(name)]")
            }
            var index: String?
            var id: String?
            cursor.pos += 1
            if try cursor.peek() == UInt8(ascii: "}") {
                cursor.pos += 1
            } else {
                while true {
                    let k = try cursor.string()
                    try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
                    if (cursor.equals(k, "_index") || cursor.equals(k, "_id")), try cursor.peek() == UInt8(ascii: "\"") {
                        let value = cursor.text(try cursor.string())
                        if cursor.equals(k, "_index") { index = value } else { id = value }
                    } else {
                        try cursor.skipValue(depth: 2)
                    }
                    if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
                }
            }
            guard try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") else {
                return .invalid("expected END_OBJECT but found [FIELD_NAME]: an action line has one member")
            }
            cursor.skipWhitespace()
            guard cursor.pos >= line.upperBound else { return .invalid("expected the end of the line but found \(token(bytes[cursor.pos])): text after the action object") }
            return .action(action, index: index, id: id)
        } catch {
            return .invalid("not valid JSON: " + BodyScan.describe(error))
        }
    }

    /// A JSON token's kind as Elasticsearch names it in its parse errors.
    static func token(_ c: UInt8) -> String {
        switch c {
        case UInt8(ascii: "\""): "[VALUE_STRING]"
        case UInt8(ascii: "["): "[START_ARRAY]"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "[VALUE_BOOLEAN]"
        case UInt8(ascii: "n"): "[VALUE_NULL]"
        case UInt8(ascii: "-"), 0x30...0x39: "[VALUE_NUMBER]"
        default: JSONCursor.describe(c)
        }
    }

    /// Reads a document line as a flow-log message.
    static func document(_ bytes: UnsafeBufferPointer<UInt8>, _ line: Range<Int>, cache: ParseCache) -> ItemOutcome {
        let view = UnsafeBufferPointer(rebasing: bytes[0..<line.upperBound + 1])
        var parser = MessageParser(view, at: line.lowerBound, cache: cache)
        do throws(ScanError) {
            let value = try parser.parseValue(allowEnvelope: false)
            var rest = parser.cursor
            rest.skipWhitespace()
            guard rest.pos >= line.upperBound else {
                return .rejected("JSON syntax error: text after the document, found \(JSONCursor.describe(bytes[rest.pos]))")
            }
            return value.outcome
        } catch .needMore {
            return .rejected("the document is not complete JSON on its line (bulk bodies hold one document per line)")
        } catch {
            return .rejected(BodyScan.describe(error))
        }
    }
}

/// The non-blank lines of a buffer, without their line break (and a `\r` before it).
struct LineIterator {
    let bytes: UnsafeBufferPointer<UInt8>
    var pos = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func next() -> Range<Int>? {
        while pos < bytes.count {
            let start = pos
            let end: Int
            if let nl = memchr(bytes.baseAddress! + pos, 0x0A, bytes.count - pos) {
                end = bytes.baseAddress!.distance(to: nl.assumingMemoryBound(to: UInt8.self))
            } else {
                end = bytes.count
            }
            pos = end + 1
            var last = end
            while last > start, [0x20, 0x09, 0x0D].contains(bytes[last - 1]) { last -= 1 }
            var first = start
            while first < last, [0x20, 0x09].contains(bytes[first]) { first += 1 }
            if first < last { return first..<last }
        }
        return nil
    }
}
