import FlowModel

/// A configuration audit log record while its fields are being read (SPEC §13).
struct ChangeDraft {
    var time: Nanoseconds?
    var sawTime = false
    var sawGroup = false
    var sawAction = false
    var sawActor = false
    var sawTarget = false
    var change = ConfigChange(time: 0, action: "")
    var problems: [String] = []
    var seen = SeenFields()

    /// Whether `key` may be a field ``MessageParser/changeField(_:into:)`` reads (by its length and
    /// first byte: no key of a flow-log message passes, so a message never makes a draft).
    @inline(__always)
    static func mayBeField(_ cursor: JSONCursor, _ key: StringToken) -> Bool {
        // A key written with escapes may decode to one of them: ``changeField(_:into:)`` decides.
        if key.hasEscapes { return true }
        guard key.end > key.start else { return false }
        switch (key.end - key.start, cursor.bytes[key.start]) {
        case (9, UInt8(ascii: "e")), (12, UInt8(ascii: "e")), (6, UInt8(ascii: "a")), (6, UInt8(ascii: "o")),
             (5, UInt8(ascii: "a")), (6, UInt8(ascii: "t")), (3, UInt8(ascii: "o")), (3, UInt8(ascii: "n")),
             (13, UInt8(ascii: "a")), (5, UInt8(ascii: "e")):
            return true
        default:
            return false
        }
    }

    /// The shape of an audit record: an `eventGroupID`, or an `action` beside an `actor` or a `target`.
    /// (A flow-log message has none of these keys, so the two shapes never overlap.)
    var isChange: Bool { sawGroup || (sawAction && (sawActor || sawTarget)) }

    /// The problems as one reject reason, naming the kind of record.
    static func reason(_ problems: [String]) -> String {
        "configuration event: " + MessageDraft.reason(problems)
    }

    /// The finished change, or the reasons it cannot be stored.
    func finish(record: String) -> ParsedValue {
        var problems = problems
        if !sawTime { problems.append("eventTime: missing") }
        if !sawAction { problems.append("action: missing") } else if change.action.isEmpty, !problems.contains(where: { $0.hasPrefix("action:") }) {
            problems.append("action: empty")
        }
        guard problems.isEmpty, let time else { return .invalidChange(problems.isEmpty ? ["eventTime: missing"] : problems) }
        var c = change
        c.time = time
        c.record = record
        return .change(c)
    }
}

extension MessageParser {
    /// Reads `key` when it is a field of an audit record; false (nothing read) when it is not.
    mutating func changeField(_ key: StringToken, into d: inout ChangeDraft) throws(ScanError) -> Bool {
        if cursor.equals(key, "eventTime") {
            d.sawTime = true
            guard d.seen.first(0, "eventTime", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            d.time = try timeField("eventTime", &d.problems)
        } else if cursor.equals(key, "eventGroupID") || cursor.equals(key, "eventGroupId") {
            d.sawGroup = true
            guard d.seen.first(1, "eventGroupID", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            d.change.eventGroupID = try stringField("eventGroupID", &d.problems)
        } else if cursor.equals(key, "action") {
            d.sawAction = true
            guard d.seen.first(2, "action", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            d.change.action = try stringField("action", &d.problems) ?? ""
        } else if cursor.equals(key, "origin") {
            guard d.seen.first(3, "origin", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            d.change.origin = try stringField("origin", &d.problems)
        } else if cursor.equals(key, "actor") {
            d.sawActor = true
            guard d.seen.first(4, "actor", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            try objectFields("actor", ["id", "type", "loginName", "displayName"], &d.problems) { i, value in
                switch i {
                case 0: d.change.actorID = value
                case 1: d.change.actorType = value
                case 2: d.change.actorLogin = value
                default: d.change.actorName = value
                }
            }
        } else if cursor.equals(key, "target") {
            d.sawTarget = true
            guard d.seen.first(5, "target", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            try objectFields("target", ["id", "name", "type", "property"], &d.problems) { i, value in
                switch i {
                case 0: d.change.targetID = value
                case 1: d.change.targetName = value
                case 2: d.change.targetType = value
                default: d.change.property = value
                }
            }
        } else if cursor.equals(key, "old") {
            guard d.seen.first(6, "old", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            d.change.old = try rawValue()
        } else if cursor.equals(key, "new") {
            guard d.seen.first(7, "new", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            d.change.new = try rawValue()
        } else if cursor.equals(key, "actionDetails") {
            guard d.seen.first(8, "actionDetails", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            d.change.details = try stringField("actionDetails", &d.problems)
        } else if cursor.equals(key, "error") {
            guard d.seen.first(9, "error", &d.problems) else { try cursor.skipValue(depth: 1); return true }
            d.change.error = try stringField("error", &d.problems)
        } else {
            return false
        }
        return true
    }

    /// Any JSON value, as compact text; nil for `null`.
    mutating func rawValue() throws(ScanError) -> String? {
        if try cursor.peek() == UInt8(ascii: "n") {
            try cursor.literal()
            return nil
        }
        let start = cursor.pos
        try cursor.skipValue(depth: 2)
        return ConfigChange.compactJSON(UnsafeBufferPointer(rebasing: cursor.bytes[start..<cursor.pos]))
    }

    /// An object of string fields named `names`; other keys are ignored, `null` is empty.
    mutating func objectFields(_ path: String, _ names: [StaticString], _ problems: inout [String],
                               _ set: (Int, String?) -> Void) throws(ScanError) {
        let c = try cursor.peek()
        guard c == UInt8(ascii: "{") else {
            if c == UInt8(ascii: "n") {
                try cursor.literal()
                return
            }
            problems.append("\(path): expected an object, got \(try typeName())")
            try cursor.skipValue(depth: 2)
            return
        }
        cursor.pos += 1
        if try cursor.peek() == UInt8(ascii: "}") {
            cursor.pos += 1
            return
        }
        var seen = SeenFields()
        while true {
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            if let i = names.firstIndex(where: { cursor.equals(key, $0) }) {
                if seen.first(i, "\(path).\(names[i])", &problems) {
                    set(i, try stringField("\(path).\(names[i])", &problems))
                } else {
                    try cursor.skipValue(depth: 3)
                }
            } else {
                try cursor.skipValue(depth: 3)
            }
            if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
    }
}
