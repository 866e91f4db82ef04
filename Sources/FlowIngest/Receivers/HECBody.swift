package import FlowModel

/// One event of a Splunk HTTP Event Collector body: `{"time":…, "event": message, …}`.
package struct HECEvent: Sendable {
    /// Why HEC would refuse the event, in HEC's own terms (its response codes 6, 12 and 13).
    package enum Problem: Sendable, Equatable {
        /// Not JSON, not an object, or an event that is not a valid flow-log message (code 6).
        case invalidDataFormat
        /// No `event` field (code 12).
        case eventRequired
        /// `"event": ""` or `null` (code 13).
        case eventBlank
    }

    /// The 0-based position in the body: HEC's `invalid-event-number`.
    package var number: Int
    package var location: SourceLocation
    package var outcome: ItemOutcome
    /// Set when the outcome is `.rejected`.
    package var problem: Problem?
    /// The first bytes of the event, for a person to recognise it.
    package var excerpt: String
}

/// Decodes Splunk HEC event bodies (`/services/collector/event`): concatenated JSON
/// objects, each with the flow-log message in `event`.
///
/// Every event gets an outcome: a message, skipped (an event that is not a flow log,
/// such as a text line), or rejected with the reason. After a JSON syntax error the
/// decoder resumes at the next line that starts with `{`, so in a newline-separated
/// body only the broken event is lost; the events it swallowed are named in its reason.
///
/// For example:
/// ```swift
/// for event in HECBody.decode(body, source: "hec request 7") where event.problem != nil { … }
/// ```
package enum HECBody {
    package static func decode(_ body: [UInt8], source: String) -> [HECEvent] {
        BodyScan.with(body) { bytes in
            var scan = BodyScan(bytes, source: source)
            let cache = ParseCache()
            var events: [HECEvent] = []
            var pos = 0
            while true {
                var cursor = JSONCursor(bytes, at: pos)
                cursor.skipWhitespace()
                guard cursor.pos < bytes.count else { break }
                let start = cursor.pos
                let location = scan.location(at: start)
                do throws(ScanError) {
                    let (outcome, problem) = try event(bytes, at: &cursor, cache: cache)
                    events.append(HECEvent(number: events.count, location: location, outcome: outcome, problem: problem,
                                           excerpt: problem == nil ? "" : scan.excerpt(start, cursor.pos)))
                    pos = cursor.pos
                } catch {
                    let at = BodyScan.errorPosition(error, default: bytes.count)
                    let resume = scan.nextObjectLine(after: start)
                    var reason = BodyScan.describe(error)
                    if case .syntax = error {
                        let errorLocation = scan.location(at: min(at, bytes.count - 1))
                        if errorLocation.line != location.line { reason += " (line \(errorLocation.line!))" }
                    }
                    reason += resume == nil ? "; the rest of the body is skipped" : "; skipped up to the next line that starts with '{'"
                    events.append(HECEvent(number: events.count, location: location, outcome: .rejected(reason),
                                           problem: .invalidDataFormat, excerpt: scan.excerpt(start, max(at + 1, start + 1))))
                    guard let resume else { break }
                    pos = resume
                }
            }
            return events
        }
    }

    /// Reads one event object at the cursor.
    static func event(_ bytes: UnsafeBufferPointer<UInt8>, at cursor: inout JSONCursor,
                      cache: ParseCache) throws(ScanError) -> (ItemOutcome, HECEvent.Problem?) {
        guard try cursor.peek() == UInt8(ascii: "{") else {
            let start = cursor.pos
            try cursor.skipValue()
            return (.rejected("an HEC event must be a JSON object, found \(JSONCursor.describe(bytes[start]))"), .invalidDataFormat)
        }
        cursor.pos += 1
        var result: (ItemOutcome, HECEvent.Problem?) = (.rejected("the event has no \"event\" field"), .eventRequired)
        if try cursor.peek() == UInt8(ascii: "}") {
            cursor.pos += 1
            return result
        }
        while true {
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            if cursor.equals(key, "event") {
                result = try eventValue(bytes, at: &cursor, cache: cache)
            } else {
                try cursor.skipValue(depth: 1)
            }
            if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
        return result
    }

    /// The value of `event`: a message object, or a message serialised as a string; anything else is not a flow log.
    static func eventValue(_ bytes: UnsafeBufferPointer<UInt8>, at cursor: inout JSONCursor,
                           cache: ParseCache) throws(ScanError) -> (ItemOutcome, HECEvent.Problem?) {
        switch try cursor.peek() {
        case UInt8(ascii: "{"):
            var parser = MessageParser(bytes, at: cursor.pos, cache: cache)
            let value = try parser.parseValue(allowEnvelope: false)
            cursor.pos = parser.cursor.pos
            return classify(value.outcome)
        case UInt8(ascii: "\""):
            let token = try cursor.string()
            guard token.end > token.start else { return (.rejected("\"event\" is blank"), .eventBlank) }
            return classify(embedded(cursor.decodedBytes(token)))
        case UInt8(ascii: "n"):
            try cursor.skipValue(depth: 1)
            return (.rejected("\"event\" is null"), .eventBlank)
        default:
            try cursor.skipValue(depth: 1)
            return (.skipped, nil)
        }
    }

    /// A rejected message is HEC's invalid data.
    static func classify(_ outcome: ItemOutcome) -> (ItemOutcome, HECEvent.Problem?) {
        if case .rejected = outcome { return (outcome, .invalidDataFormat) }
        return (outcome, nil)
    }

    /// A message sent as a JSON string inside `event`; text that is not a message is skipped.
    static func embedded(_ text: [UInt8]) -> ItemOutcome {
        BodyScan.with(text) { inner in
            var parser = MessageParser(inner, at: 0)
            guard let value = try? parser.parseValue(allowEnvelope: false) else { return .skipped }
            var rest = parser.cursor
            rest.skipWhitespace()
            return rest.pos >= inner.count ? value.outcome : .skipped
        }
    }
}
