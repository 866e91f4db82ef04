import FlowModel

/// What one top-level JSON value turned out to be.
enum ParsedValue {
    /// A flow-log message, decoded and checked.
    case message(FlowMessage)
    /// A message (it has `nodeId` plus `start` or a traffic key) whose fields are wrong: each problem names its field.
    case invalid([String])
    /// An Elasticsearch `_bulk` action line, such as `{"create":{…}}`.
    case bulkAction
    /// Not a message: skipped and counted, as Tailscale's own formatter does.
    case other
    /// `{"logs":[` — the API envelope. The cursor stands just after the `[`.
    case envelope
    /// A configuration audit log record (SPEC §13), decoded and checked. Boxed, as in ``DecodeEvent``.
    indirect case change(ConfigChange)
    /// A configuration audit log record whose fields are wrong: each problem names its field.
    case invalidChange([String])
}

/// The fields of one JSON object seen so far, to refuse a field given twice.
///
/// A message whose identity could be read two ways (`"nodeId":"a","nodeId":"b"`) must not be
/// stored under either: every field tailflow reads is rejected when repeated; unknown keys are ignored.
struct SeenFields {
    var bits: UInt16 = 0

    /// Marks field `bit` as seen; false (and a problem recorded) when it was seen before.
    @inline(__always)
    mutating func first(_ bit: Int, _ path: @autoclosure () -> String, _ problems: inout [String]) -> Bool {
        let mask: UInt16 = 1 << UInt16(bit)
        guard bits & mask == 0 else {
            problems.append("\(path()): duplicate key")
            return false
        }
        bits |= mask
        return true
    }
}

/// A message while its fields are being read.
struct MessageDraft {
    var nodeID: String?
    var start: Nanoseconds?
    var end: Nanoseconds?
    var logged: Nanoseconds?
    /// The log service's `logtail.server_time` (log-service records): `logged` when that is absent.
    var serverTime: Nanoseconds?
    var sawNodeID = false
    var sawStart = false
    var sawEnd = false
    var sawTraffic = false
    var srcNode: NodeInfo?
    var dstNodes: [NodeInfo] = []
    var rows: [FlowRow] = []
    var problems: [String] = []
    var seen = SeenFields()

    /// A `nodeId` (even a malformed one) beside `start`, `end` or a traffic key (SPEC §1).
    var isMessage: Bool { sawNodeID && (sawStart || sawEnd || sawTraffic) }

    /// The problems as one reject reason: the first few, then how many more.
    static func reason(_ problems: [String]) -> String {
        let shown = 20
        guard problems.count > shown else { return problems.joined(separator: "; ") }
        return problems.prefix(shown).joined(separator: "; ") + "; and \(problems.count - shown) more problems"
    }

    /// The finished message, or the reasons it cannot be stored.
    func finish() -> ParsedValue {
        // The usual case first, without copying the list of problems: every check below passes.
        if problems.isEmpty, sawStart, let nodeID, !nodeID.isEmpty, let start, let end, end >= start,
           Self.isWithinLongestSpan(end, of: start), Self.isWithinLongestSpan(logged ?? serverTime, of: end) {
            return .message(FlowMessage(nodeID: nodeID, start: start, end: end, srcNode: srcNode, dstNodes: dstNodes, rows: rows,
                                        logged: logged ?? serverTime))
        }
        var problems = problems
        if let nodeID, nodeID.isEmpty { problems.append("nodeId: empty") }
        if sawStart == false { problems.append("start: missing") }
        if end == nil && !problems.contains(where: { $0.hasPrefix("end:") }) { problems.append("end: missing") }
        if let start, let end, end < start {
            problems.append("end \(Timestamp.formatRFC3339(end)) is before start \(Timestamp.formatRFC3339(start))")
        }
        if let start, let end, end >= start, Timestamp.apart(end, from: start) == nil {
            problems.append("end \(Timestamp.formatRFC3339(end)) is more than 100 years after start \(Timestamp.formatRFC3339(start))")
        }
        if let end, let t = logged ?? serverTime, Timestamp.apart(t, from: end) == nil {
            let field = logged != nil ? "logged" : "logtail.server_time"
            problems.append("\(field) \(Timestamp.formatRFC3339(t)) is more than 100 years from end \(Timestamp.formatRFC3339(end))")
        }
        guard problems.isEmpty, let nodeID, let start, let end else { return .invalid(problems.isEmpty ? ["nodeId: missing"] : problems) }
        return .message(FlowMessage(nodeID: nodeID, start: start, end: end, srcNode: srcNode, dstNodes: dstNodes, rows: rows, logged: logged ?? serverTime))
    }

    /// Whether every check of ``finish()`` passes the usual way: ``takeMessage()`` then gives the message.
    var isUsualMessage: Bool {
        problems.isEmpty && sawStart && nodeID?.isEmpty == false && start != nil && end != nil && end! >= start!
            && Self.isWithinLongestSpan(end!, of: start!) && Self.isWithinLongestSpan(logged ?? serverTime, of: end!)
    }

    /// The message of a draft that ``isUsualMessage``, its nodes and arrays moved out of the draft
    /// (left empty), not copied: a copy costs a retain and a release per node field and array.
    /// Not optional: an optional made around it was a copy of the whole message.
    mutating func takeMessage() -> FlowMessage {
        var dst: [NodeInfo] = [], connections: [FlowRow] = []
        swap(&dst, &dstNodes)
        swap(&connections, &rows)
        return FlowMessage(nodeID: nodeID.take()!, start: start!, end: end!, srcNode: srcNode.take(),
                           dstNodes: consume dst, rows: consume connections, logged: logged ?? serverTime)
    }

    /// ``takeMessage()`` appended to `messages`, filled in place: a message made first and then
    /// stored was copied once more on the way (a retain and a release of every node field and array).
    mutating func moveMessage(to messages: inout [FlowMessage]) {
        messages.append(FlowMessage(nodeID: "", start: start!, end: end!, logged: logged ?? serverTime))
        messages.withUnsafeMutableBufferPointer { b in
            let m = b.baseAddress! + (b.count - 1)
            m.pointee.nodeID = nodeID.take()!
            m.pointee.srcNode = srcNode.take()
            swap(&m.pointee.dstNodes, &dstNodes)
            swap(&m.pointee.rows, &rows)
        }
    }

    /// Whether `t` (none passes) is at most ``Timestamp/longestSpan`` from `reference`, as the checks of ``finish()`` require.
    @inline(__always)
    static func isWithinLongestSpan(_ t: Nanoseconds?, of reference: Nanoseconds) -> Bool {
        guard let t else { return true }
        return Timestamp.apart(t, from: reference) != nil
    }
}

/// Decodes one top-level JSON value of any container of SPEC §1 in a single validating pass.
///
/// Message fields are read into a ``MessageDraft``; unknown keys are skipped
/// (and validated) everywhere. A field of the wrong type or value does not stop
/// the scan: it is recorded as a problem naming the field, and the whole message
/// is rejected once its closing brace is found, so the next value can be read.
struct MessageParser {
    var cursor: JSONCursor
    let cache: ParseCache?
    /// Whether keys of configuration audit records are read (``ContainerDecoder/detectsChanges``).
    var detectsChanges = true
    /// Whether the shortcuts for the usual forms are taken (a connection key by its first bytes, a
    /// plain counter, `a.b.c.d:port` in one pass); off only to test them against the general path.
    var fastPaths = true

    init(_ bytes: UnsafeBufferPointer<UInt8>, at pos: Int, cache: ParseCache? = nil) {
        cursor = JSONCursor(bytes, at: pos)
        self.cache = cache
    }

    /// Parses the value at the cursor. `allowEnvelope` lets `{"logs":[` switch to streaming.
    mutating func parseValue(allowEnvelope: Bool) throws(ScanError) -> ParsedValue {
        var draft = MessageDraft()
        if let value = try parseValue(allowEnvelope: allowEnvelope, draft: &draft) { return value }
        if draft.isUsualMessage { return .message(draft.takeMessage()) }
        return draft.finish()
    }

    /// ``parseValue(allowEnvelope:)``, but a message is left in `draft` (nil returned) for the
    /// caller to take: moved out of the draft where it is used, never copied on its way there.
    mutating func parseValue(allowEnvelope: Bool, draft: inout MessageDraft) throws(ScanError) -> ParsedValue? {
        let c = try cursor.peek()
        guard c == UInt8(ascii: "{") else {
            try cursor.skipValue()
            return .other
        }
        let objectStart = cursor.pos
        cursor.pos += 1
        // Made at the first key an audit record may have: a flow-log message never needs one.
        var change: ChangeDraft? = nil
        // Boxed: a message-sized optional carried through this loop was copied twice per member.
        var event: EventBox? = nil
        var members = 0
        var actionOnly = true
        if try cursor.peek() == UInt8(ascii: "}") {
            cursor.pos += 1
            return .other
        }
        while true {
            // The usual keys of a message, written the usual way, by their bytes: what the general
            // path below does with them (none is `logs`, `event`, a bulk action or an audit key).
            if fastPaths, let field = cursor.messageKey() {
                members += 1
                actionOnly = false
                try messageField(field, into: &draft)
                if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
                continue
            }
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            members += 1
            if allowEnvelope, cursor.equals(key, "logs"), try cursor.peek() == UInt8(ascii: "[") {
                cursor.pos += 1
                return .envelope
            }
            if cursor.equals(key, "event"), try cursor.peek() == UInt8(ascii: "{") {
                // Splunk HEC: the message is the event.
                event = EventBox(try parseValue(allowEnvelope: false))
                actionOnly = false
            } else if isBulkAction(key), try cursor.peek() == UInt8(ascii: "{") {
                try cursor.skipValue(depth: 1)
            } else {
                actionOnly = false
                if !detectsChanges || !ChangeDraft.mayBeField(cursor, key) {
                    try messageField(key, into: &draft)
                } else {
                    if change == nil { change = ChangeDraft() }
                    if try !changeField(key, into: &change!) { try messageField(key, into: &draft) }
                }
            }
            if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
        if let event, case .other = event.value {} else if let event { return event.value }
        if draft.isMessage { return nil }
        if let change, change.isChange {
            let text = String(decoding: UnsafeBufferPointer(rebasing: cursor.bytes[objectStart..<cursor.pos]), as: UTF8.self)
            return change.finish(record: text)
        }
        if actionOnly && members == 1 { return .bulkAction }
        return .other
    }

    /// A Splunk HEC wrapper's `event`, read before the wrapper's other members.
    final class EventBox {
        let value: ParsedValue

        init(_ value: ParsedValue) {
            self.value = value
        }
    }

    func isBulkAction(_ key: StringToken) -> Bool {
        cursor.equals(key, "create") || cursor.equals(key, "index") || cursor.equals(key, "update") || cursor.equals(key, "delete")
    }

    // MARK: Message fields

    mutating func messageField(_ key: StringToken, into d: inout MessageDraft) throws(ScanError) {
        try messageField(Self.messageFieldNumber(cursor, key), into: &d)
    }

    /// The number of a message's key, or -1 for a key tailflow ignores (``JSONCursor/messageKey()`` knows most by their bytes).
    static func messageFieldNumber(_ cursor: JSONCursor, _ key: StringToken) -> Int {
        if cursor.equals(key, "nodeId") { return 0 }
        if cursor.equals(key, "start") { return 1 }
        if cursor.equals(key, "end") { return 2 }
        if cursor.equals(key, "logged") { return 3 }
        if cursor.equals(key, "logtail") { return 4 }
        if cursor.equals(key, "srcNode") { return 5 }
        if cursor.equals(key, "dstNodes") { return 6 }
        if cursor.equals(key, "virtualTraffic") { return 7 }
        if cursor.equals(key, "subnetTraffic") { return 8 }
        if cursor.equals(key, "exitTraffic") { return 9 }
        if cursor.equals(key, "physicalTraffic") { return 10 }
        return -1
    }

    /// Reads the value of message field `field` (``messageFieldNumber(_:_:)``) into `d`.
    mutating func messageField(_ field: Int, into d: inout MessageDraft) throws(ScanError) {
        if field == 0 {
            d.sawNodeID = true
            guard d.seen.first(0, "nodeId", &d.problems) else { return try cursor.skipValue(depth: 1) }
            d.nodeID = try cachedIdentifierField(&d.problems)
        } else if field == 1 {
            d.sawStart = true
            guard d.seen.first(1, "start", &d.problems) else { return try cursor.skipValue(depth: 1) }
            d.start = try timeField("start", &d.problems)
        } else if field == 2 {
            d.sawEnd = true
            guard d.seen.first(2, "end", &d.problems) else { return try cursor.skipValue(depth: 1) }
            d.end = try timeField("end", &d.problems)
        } else if field == 3 {
            guard d.seen.first(9, "logged", &d.problems) else { return try cursor.skipValue(depth: 1) }
            d.logged = try timeField("logged", &d.problems)
        } else if field == 4 {
            if d.serverTime == nil { d.serverTime = try logtailServerTime() } else { try cursor.skipValue(depth: 1) }
        } else if field == 5 {
            guard d.seen.first(3, "srcNode", &d.problems) else { return try cursor.skipValue(depth: 1) }
            d.srcNode = try cachedNodeField("srcNode", &d.problems)
        } else if field == 6 {
            guard d.seen.first(4, "dstNodes", &d.problems) else { return try cursor.skipValue(depth: 1) }
            if d.dstNodes.capacity == 0 { d.dstNodes.reserveCapacity(4) }
            try arrayField("dstNodes", &d.problems) { (p: inout MessageParser, i: Int, problems: inout [String]) throws(ScanError) in
                if let n = try p.cachedNodeField("dstNodes[\(i)]", &problems) { d.dstNodes.append(n) }
            }
        } else if field >= 7, field <= 10, let kind = TrafficKind(rawValue: UInt8(field - 7)) {
            d.sawTraffic = true
            guard d.seen.first(5 + Int(kind.rawValue), kind.messageKey, &d.problems) else { return try cursor.skipValue(depth: 1) }
            // One allocation for the usual message instead of growing from one row (1, 2, 4, 8).
            if d.rows.capacity == 0 { d.rows.reserveCapacity(8) }
            try arrayField(kind.messageKey, &d.problems) { (p: inout MessageParser, i: Int, problems: inout [String]) throws(ScanError) in
                if let row = try p.connField(kind, index: i, &problems) { d.rows.append(row) }
            }
        } else {
            try cursor.skipValue(depth: 1)
        }
    }

    /// `server_time` of a log-service record's `logtail` object (`{"server_time":"…","client_time":…}`),
    /// when the receive time `logged` is absent. A hint from an extra key: a `logtail` that is not an
    /// object or a `server_time` that is no RFC 3339 time is ignored (nil), as unknown keys are, and
    /// never rejects the message.
    mutating func logtailServerTime() throws(ScanError) -> Nanoseconds? {
        guard try cursor.peek() == UInt8(ascii: "{") else {
            try cursor.skipValue(depth: 1)
            return nil
        }
        cursor.pos += 1
        if try cursor.peek() == UInt8(ascii: "}") {
            cursor.pos += 1
            return nil
        }
        var time: Nanoseconds? = nil
        while true {
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            if time == nil, cursor.equals(key, "server_time"), try cursor.peek() == UInt8(ascii: "\"") {
                let t = try cursor.string()
                time = cursor.withDecodedBytes(t, Timestamp.parseRFC3339)
            } else {
                try cursor.skipValue(depth: 2)
            }
            if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
        return time
    }

    /// Reads an array whose elements `element` consumes; `null` counts as empty.
    mutating func arrayField(_ path: @autoclosure () -> String, _ problems: inout [String],
                             _ element: (inout MessageParser, Int, inout [String]) throws(ScanError) -> Void) throws(ScanError) {
        let c = try cursor.peek()
        if c == UInt8(ascii: "n") {
            try cursor.literal()
            return
        }
        guard c == UInt8(ascii: "[") else {
            problems.append("\(path()): expected an array, got \(try typeName())")
            try cursor.skipValue(depth: 1)
            return
        }
        cursor.pos += 1
        if try cursor.peek() == UInt8(ascii: "]") {
            cursor.pos += 1
            return
        }
        var i = 0
        while true {
            try element(&self, i, &problems)
            i += 1
            if try cursor.endOfMembers(close: UInt8(ascii: "]"), what: "array element") { return }
        }
    }

    /// The JSON type of the value at the cursor, for error messages.
    mutating func typeName() throws(ScanError) -> String {
        switch try cursor.peek() {
        case UInt8(ascii: "\""): "a string"
        case UInt8(ascii: "{"): "an object"
        case UInt8(ascii: "["): "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "a boolean"
        case UInt8(ascii: "n"): "null"
        default: "a number"
        }
    }

    mutating func stringToken(_ path: @autoclosure () -> String, _ problems: inout [String]) throws(ScanError) -> StringToken? {
        let c = try cursor.peek()
        if c == UInt8(ascii: "\"") { return try cursor.string() }
        if c == UInt8(ascii: "n") {
            try cursor.literal()
            return nil
        }
        problems.append("\(path()): expected a string, got \(try typeName())")
        try cursor.skipValue(depth: 2)
        return nil
    }

    /// Free text (a name, a tag, an OS, a user): kept exactly, except NUL, which stored text cannot hold whole.
    mutating func stringField(_ path: @autoclosure () -> String, _ problems: inout [String]) throws(ScanError) -> String? {
        guard let t = try stringToken(path(), &problems) else { return nil }
        guard let s = cursor.text(t) else {
            problems.append("\(path()): not valid UTF-8")
            return nil
        }
        // Raw control bytes are JSON syntax errors: only an escape can give NUL.
        if t.hasEscapes, s.utf8.contains(0) {
            problems.append("\(path()): contains NUL (U+0000)")
            return nil
        }
        return s
    }

    /// A node ID: a non-null string of valid UTF-8 without control characters (never truncated,
    /// never stored as something else). `null` is accepted only where `nullable` says so.
    mutating func identifierField(_ path: @autoclosure () -> String, nullable: Bool, _ problems: inout [String]) throws(ScanError) -> String? {
        let c = try cursor.peek()
        guard c == UInt8(ascii: "\"") else {
            if nullable, c == UInt8(ascii: "n") {
                try cursor.literal()
                return nil
            }
            problems.append("\(path()): expected a string, got \(try typeName())")
            try cursor.skipValue(depth: 2)
            return nil
        }
        let t = try cursor.string()
        guard let s = cursor.text(t) else {
            problems.append("\(path()): not valid UTF-8")
            return nil
        }
        if let bad = Self.controlCharacter(in: s, escaped: t.hasEscapes) {
            problems.append("\(path()): contains a control character (U+\(bad)); node IDs are refused, not cut")
            return nil
        }
        return s
    }

    /// The first C0 control or DEL in `s` as four hex digits, or nil. Without escapes only DEL can occur.
    @inline(__always)
    static func controlCharacter(in s: String, escaped: Bool) -> String? {
        for b in s.utf8 where b == 0x7F || (escaped && b < 0x20) {
            let hex = String(b, radix: 16, uppercase: true)
            return String(repeating: "0", count: 4 - hex.count) + hex
        }
        return nil
    }

    mutating func timeField(_ path: String, _ problems: inout [String]) throws(ScanError) -> Nanoseconds? {
        if fastPaths, let ns = cursor.plainTime() { return ns }
        guard let t = try stringToken(path, &problems) else {
            if !problems.contains(where: { $0.hasPrefix(path + ":") }) { problems.append("\(path): missing") }
            return nil
        }
        if let ns = cursor.withDecodedBytes(t, Timestamp.parseRFC3339) { return ns }
        problems.append("\(path): \(quoted(t)) is not an RFC 3339 time in the years 1678 to 2261")
        return nil
    }

    /// A connection's counter: the usual plain integer read in place, anything else by ``counterField(_:_:)``
    /// (which reads it, or refuses it, exactly as before: ``JSONCursor/plainCounter()`` consumes nothing when it declines).
    @inline(__always)
    mutating func counter(_ path: @autoclosure () -> String, _ problems: inout [String]) throws(ScanError) -> Int64 {
        if fastPaths, let v = cursor.plainCounter() { return v }
        return try counterField(path(), &problems)
    }

    mutating func counterField(_ path: @autoclosure () -> String, _ problems: inout [String]) throws(ScanError) -> Int64 {
        let c = try cursor.peek()
        guard c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) else {
            if c == UInt8(ascii: "n") {
                try cursor.literal()
                return 0
            }
            let type = try typeName()
            let start = cursor.pos
            try cursor.skipValue(depth: 3)
            problems.append("\(path()): expected an unsigned integer, got \(type) \(excerpt(start, cursor.pos))")
            return 0
        }
        if fastPaths, let v = cursor.plainCounter() { return v }
        let start = cursor.pos
        switch try cursor.number() {
        case .unsigned(let v) where v <= UInt64(Int64.max):
            return Int64(v)
        case .unsigned, .tooLarge:
            problems.append("\(path()): \(excerpt(start, cursor.pos)) exceeds 2^63-1, the largest counter SQLite can store")
        case .negative:
            problems.append("\(path()): \(excerpt(start, cursor.pos)) is negative")
        case .fractional:
            problems.append("\(path()): \(excerpt(start, cursor.pos)) is not an integer")
        }
        return 0
    }

    /// A node object, reusing the value decoded from identical bytes before:
    /// every message repeats its nodes, so most are decoded once per input.
    mutating func cachedNodeField(_ path: @autoclosure () -> String, _ problems: inout [String]) throws(ScanError) -> NodeInfo? {
        guard let cache, try cursor.peek() == UInt8(ascii: "{") else { return try nodeField(path(), &problems) }
        let start = cursor.pos
        if let hit = cache.node(startingAt: start, in: cursor.bytes) {
            cursor.pos = start + hit.length
            return hit.info
        }
        try cursor.skipValue(depth: 2)
        let span = UnsafeBufferPointer(rebasing: cursor.bytes[start..<cursor.pos])
        if let hit = cache.node(for: span) { return hit }
        let end = cursor.pos
        cursor.pos = start
        let before = problems.count
        let node = try nodeField(path(), &problems)
        if problems.count == before, let node { cache.store(node, for: span) }
        cursor.pos = end
        return node
    }

    /// The reporter's `nodeId`, reusing the String made from identical (already checked) bytes before.
    mutating func cachedIdentifierField(_ problems: inout [String]) throws(ScanError) -> String? {
        guard let cache, try cursor.peek() == UInt8(ascii: "\"") else { return try identifierField("nodeId", nullable: false, &problems) }
        let start = cursor.pos
        let t = try cursor.string()
        if t.hasEscapes {
            cursor.pos = start
            return try identifierField("nodeId", nullable: false, &problems)
        }
        let span = UnsafeBufferPointer(rebasing: cursor.bytes[t.start..<t.end])
        if let hit = cache.string(for: span) { return hit }
        cursor.pos = start
        let before = problems.count
        guard let s = try identifierField("nodeId", nullable: false, &problems) else { return nil }
        if problems.count == before { cache.store(s, for: span) }
        return s
    }

    /// `{"nodeId","name","addresses","os","user","tags"}`
    mutating func nodeField(_ path: @autoclosure () -> String, _ problems: inout [String]) throws(ScanError) -> NodeInfo? {
        let c = try cursor.peek()
        guard c == UInt8(ascii: "{") else {
            if c == UInt8(ascii: "n") {
                try cursor.literal()
                return nil
            }
            problems.append("\(path()): expected an object, got \(try typeName())")
            try cursor.skipValue(depth: 2)
            return nil
        }
        cursor.pos += 1
        var node = NodeInfo(nodeID: "")
        if try cursor.peek() == UInt8(ascii: "}") {
            cursor.pos += 1
            return nil
        }
        var seen = SeenFields()
        let before = problems.count
        var enabled: [String]?, advertised: [String]?
        while true {
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            let field = Self.nodeFieldNumber(cursor, key)
            if field >= 0, !seen.first(field, path() + "." + Self.nodeFieldNames[field], &problems) {
                try cursor.skipValue(depth: 3)
            } else if field == 0 {
                node.nodeID = try identifierField(path() + ".nodeId", nullable: true, &problems) ?? ""
            } else if field == 1 {
                node.name = try stringField(path() + ".name", &problems)
            } else if field == 2 {
                node.os = try stringField(path() + ".os", &problems)
            } else if field == 3 {
                node.user = try stringField(path() + ".user", &problems)
            } else if field == 4 {
                try arrayField(path() + ".tags", &problems) { (p: inout MessageParser, i: Int, problems: inout [String]) throws(ScanError) in
                    if let s = try p.stringField(path() + ".tags[\(i)]", &problems) { node.tags.append(s) }
                }
            } else if field == 5 {
                try arrayField(path() + ".addresses", &problems) { (p: inout MessageParser, i: Int, problems: inout [String]) throws(ScanError) in
                    guard let t = try p.stringToken(path() + ".addresses[\(i)]", &problems) else { return }
                    let bytes = p.cursor.decodedBytes(t)
                    // Device lists may give prefixes such as 100.64.0.1/32.
                    let ipPart = bytes.firstIndex(of: UInt8(ascii: "/")).map { Array(bytes[..<$0]) } ?? bytes
                    if let ip = ipPart.withUnsafeBufferPointer({ IPAddress.parse($0) }) {
                        node.addresses.append(ip)
                    } else {
                        problems.append("\(path()).addresses[\(i)]: \(p.quoted(t)) is not an IP address")
                    }
                }
            } else if field == 6 || field == 7 {
                // Device lists (`?fields=all`): the routes the node carries.
                let name = Self.nodeFieldNames[field]
                var routes: [String] = []
                try arrayField(path() + "." + name, &problems) { (p: inout MessageParser, i: Int, problems: inout [String]) throws(ScanError) in
                    guard let text = try p.stringField(path() + ".\(name)[\(i)]", &problems) else { return }
                    if Self.isPrefix(text) {
                        routes.append(text)
                    } else {
                        problems.append("\(path()).\(name)[\(i)]: \"\(text)\" is not a route (ADDRESS/BITS)")
                    }
                }
                if field == 6 { enabled = routes } else { advertised = routes }
            } else {
                try cursor.skipValue(depth: 3)
            }
            if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
        // The routes approved in the admin console carry traffic; else what the node offers.
        node.routes = enabled ?? advertised
        if node.nodeID.isEmpty {
            // A node ID refused above is not also "missing".
            if problems.count == before { problems.append("\(path()).nodeId: missing") }
            return nil
        }
        return node
    }

    static let nodeFieldNames = ["nodeId", "name", "os", "user", "tags", "addresses", "enabledRoutes", "advertisedRoutes"]

    /// Whether `text` is a CIDR prefix: `192.168.10.0/24`, `fd00::/64`.
    static func isPrefix(_ text: String) -> Bool {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let ip = IPAddress(String(parts[0])), let bits = Int(parts[1]) else { return false }
        return bits >= 0 && bits <= (ip.isIPv4 ? 32 : 128)
    }

    /// The index of a node object's key in ``nodeFieldNames``, or -1 for a key tailflow ignores.
    static func nodeFieldNumber(_ cursor: JSONCursor, _ key: StringToken) -> Int {
        if cursor.equals(key, "nodeId") { return 0 }
        if cursor.equals(key, "name") { return 1 }
        if cursor.equals(key, "os") { return 2 }
        if cursor.equals(key, "user") { return 3 }
        if cursor.equals(key, "tags") { return 4 }
        if cursor.equals(key, "addresses") { return 5 }
        if cursor.equals(key, "enabledRoutes") { return 6 }
        if cursor.equals(key, "advertisedRoutes") { return 7 }
        return -1
    }

    /// `{"proto","src","dst","txPkts","txBytes","rxPkts","rxBytes"}`
    mutating func connField(_ kind: TrafficKind, index: Int, _ problems: inout [String]) throws(ScanError) -> FlowRow? {
        let c = try cursor.peek()
        guard c == UInt8(ascii: "{") else {
            problems.append("\(kind.messageKey)[\(index)]: expected an object, got \(try typeName())")
            try cursor.skipValue(depth: 2)
            return nil
        }
        cursor.pos += 1
        var row = FlowRow(kind: kind)
        if try cursor.peek() == UInt8(ascii: "}") {
            cursor.pos += 1
            return row
        }
        func path(_ field: String) -> String { "\(kind.messageKey)[\(index)].\(field)" }
        var seen = SeenFields()
        while true {
            let field: Int
            if fastPaths, let known = cursor.connKey() {
                field = known
            } else {
                let key = try cursor.string()
                try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
                field = Self.connFieldNumber(cursor, key)
            }
            if field >= 0, !seen.first(field, path(Self.connFieldNames[field]), &problems) {
                try cursor.skipValue(depth: 3)
            } else {
                switch field {
                case 4: row.txBytes = try counter(path("txBytes"), &problems)
                case 6: row.rxBytes = try counter(path("rxBytes"), &problems)
                case 3: row.txPackets = try counter(path("txPkts"), &problems)
                case 5: row.rxPackets = try counter(path("rxPkts"), &problems)
                case 1:
                    if let a = try socketField(path("src"), &problems) {
                        row.src = a.ip
                        row.srcPort = a.port
                    }
                case 2:
                    if let a = try socketField(path("dst"), &problems) {
                        row.dst = a.ip
                        row.dstPort = a.port
                    }
                case 0:
                    let v = try counter(path("proto"), &problems)
                    if v > 255 {
                        problems.append("\(path("proto")): \(v) is not an IP protocol number (0-255)")
                    } else {
                        row.proto = UInt8(v)
                    }
                default:
                    try cursor.skipValue(depth: 3)
                }
            }
            if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
        return row
    }

    static let connFieldNames = ["proto", "src", "dst", "txPkts", "txBytes", "rxPkts", "rxBytes"]

    /// ``connFieldNumber(_:_:)`` of a key written with escapes (`"tx\u0042ytes"`), decoded first.
    @inline(never)
    static func escapedConnFieldNumber(_ cursor: JSONCursor, _ key: StringToken) -> Int {
        let decoded = cursor.decodedBytes(key)
        return connFieldNames.firstIndex { $0.utf8.elementsEqual(decoded) } ?? -1
    }

    /// The index of a connection object's key in ``connFieldNames``, or -1 for a key tailflow ignores.
    @inline(__always)
    static func connFieldNumber(_ cursor: JSONCursor, _ key: StringToken) -> Int {
        if key.hasEscapes { return escapedConnFieldNumber(cursor, key) }
        let n = key.end - key.start
        guard n >= 3, n <= 7 else { return -1 }
        switch cursor.bytes[key.start] {
        case UInt8(ascii: "p"): return cursor.equals(key, "proto") ? 0 : -1
        case UInt8(ascii: "s"): return cursor.equals(key, "src") ? 1 : -1
        case UInt8(ascii: "d"): return cursor.equals(key, "dst") ? 2 : -1
        case UInt8(ascii: "t"): return cursor.equals(key, "txPkts") ? 3 : cursor.equals(key, "txBytes") ? 4 : -1
        case UInt8(ascii: "r"): return cursor.equals(key, "rxPkts") ? 5 : cursor.equals(key, "rxBytes") ? 6 : -1
        default: return -1
        }
    }

    mutating func socketField(_ path: @autoclosure () -> String, _ problems: inout [String]) throws(ScanError) -> SocketAddress? {
        // The usual `"a.b.c.d:port"`, read as it is scanned: no string token first.
        if fastPaths, let a = cursor.plainIPv4Socket() { return a }
        guard let t = try stringToken(path(), &problems) else { return nil }
        if t.end == t.start { return nil }
        if !t.hasEscapes {
            let raw = UnsafeBufferPointer(rebasing: cursor.bytes[t.start..<t.end])
            // Another form (IPv6 mostly), seen before: the same text reads the same.
            if let cache, let a = cache.socket(for: raw) { return a }
            if let a = fastPaths ? SocketAddress.parse(raw) : SocketAddress.parseAnyForm(raw) {
                cache?.store(a, for: raw)
                return a
            }
        } else if let a = cursor.withDecodedBytes(t, SocketAddress.parseAnyForm) {
            return a
        }
        problems.append("\(path()): \(quoted(t)) is not an IP address with a port")
        return nil
    }

    /// A string token as an error message quotes it (at most 80 bytes).
    func quoted(_ t: StringToken) -> String {
        "\"" + excerpt(t.start, t.end) + "\""
    }

    func excerpt(_ from: Int, _ to: Int) -> String {
        let limit = min(to, from + 80)
        let text = String(decoding: UnsafeBufferPointer(rebasing: cursor.bytes[from..<limit]), as: UTF8.self)
        return limit < to ? text + "…" : text
    }
}
