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
}

/// A message while its fields are being read.
struct MessageDraft {
    var nodeID: String?
    var start: Nanoseconds?
    var end: Nanoseconds?
    var sawStart = false
    var sawTraffic = false
    var srcNode: NodeInfo?
    var dstNodes: [NodeInfo] = []
    var rows: [FlowRow] = []
    var problems: [String] = []
    var seenKinds: UInt8 = 0

    var isMessage: Bool { nodeID != nil && (sawStart || sawTraffic) }

    /// The finished message, or the reasons it cannot be stored.
    func finish() -> ParsedValue {
        var problems = problems
        if let nodeID, nodeID.isEmpty { problems.append("nodeId: empty") }
        if sawStart == false { problems.append("start: missing") }
        if end == nil && !problems.contains(where: { $0.hasPrefix("end:") }) { problems.append("end: missing") }
        if let start, let end, end < start {
            problems.append("end \(Timestamp.formatRFC3339(end)) is before start \(Timestamp.formatRFC3339(start))")
        }
        guard problems.isEmpty, let nodeID, let start, let end else { return .invalid(problems) }
        return .message(FlowMessage(nodeID: nodeID, start: start, end: end, srcNode: srcNode, dstNodes: dstNodes, rows: rows))
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

    init(_ bytes: UnsafeBufferPointer<UInt8>, at pos: Int, cache: ParseCache? = nil) {
        cursor = JSONCursor(bytes, at: pos)
        self.cache = cache
    }

    /// Parses the value at the cursor. `allowEnvelope` lets `{"logs":[` switch to streaming.
    mutating func parseValue(allowEnvelope: Bool) throws(ScanError) -> ParsedValue {
        let c = try cursor.peek()
        guard c == UInt8(ascii: "{") else {
            try cursor.skipValue()
            return .other
        }
        cursor.pos += 1
        var draft = MessageDraft()
        var event: ParsedValue? = nil
        var members = 0
        var actionOnly = true
        if try cursor.peek() == UInt8(ascii: "}") {
            cursor.pos += 1
            return .other
        }
        while true {
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            members += 1
            if allowEnvelope, cursor.equals(key, "logs"), try cursor.peek() == UInt8(ascii: "[") {
                cursor.pos += 1
                return .envelope
            }
            if cursor.equals(key, "event"), try cursor.peek() == UInt8(ascii: "{") {
                // Splunk HEC: the message is the event.
                event = try parseValue(allowEnvelope: false)
                actionOnly = false
            } else if isBulkAction(key), try cursor.peek() == UInt8(ascii: "{") {
                try cursor.skipValue(depth: 1)
            } else {
                actionOnly = false
                try messageField(key, into: &draft)
            }
            if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
        if let event, case .other = event {} else if let event { return event }
        if draft.isMessage { return draft.finish() }
        if actionOnly && members == 1 { return .bulkAction }
        return .other
    }

    func isBulkAction(_ key: StringToken) -> Bool {
        cursor.equals(key, "create") || cursor.equals(key, "index") || cursor.equals(key, "update") || cursor.equals(key, "delete")
    }

    // MARK: Message fields

    mutating func messageField(_ key: StringToken, into d: inout MessageDraft) throws(ScanError) {
        if cursor.equals(key, "nodeId") {
            if let s = try cachedStringField(&d.problems) { d.nodeID = s }
        } else if cursor.equals(key, "start") {
            d.sawStart = true
            d.start = try timeField("start", &d.problems)
        } else if cursor.equals(key, "end") {
            d.end = try timeField("end", &d.problems)
        } else if cursor.equals(key, "srcNode") {
            d.srcNode = try cachedNodeField("srcNode", &d.problems)
        } else if cursor.equals(key, "dstNodes") {
            try arrayField("dstNodes", &d.problems) { (p: inout MessageParser, i: Int, problems: inout [String]) throws(ScanError) in
                if let n = try p.cachedNodeField("dstNodes[\(i)]", &problems) { d.dstNodes.append(n) }
            }
        } else if let kind = trafficKind(key) {
            d.sawTraffic = true
            let bit: UInt8 = 1 << kind.rawValue
            if d.seenKinds & bit != 0 { d.problems.append("\(kind.messageKey): duplicate key") }
            d.seenKinds |= bit
            try arrayField(kind.messageKey, &d.problems) { (p: inout MessageParser, i: Int, problems: inout [String]) throws(ScanError) in
                if let row = try p.connField(kind, index: i, &problems) { d.rows.append(row) }
            }
        } else {
            try cursor.skipValue(depth: 1)
        }
    }

    func trafficKind(_ key: StringToken) -> TrafficKind? {
        if cursor.equals(key, "virtualTraffic") { return .virtual }
        if cursor.equals(key, "subnetTraffic") { return .subnet }
        if cursor.equals(key, "exitTraffic") { return .exit }
        if cursor.equals(key, "physicalTraffic") { return .physical }
        return nil
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

    mutating func stringField(_ path: @autoclosure () -> String, _ problems: inout [String]) throws(ScanError) -> String? {
        guard let t = try stringToken(path(), &problems) else { return nil }
        guard let s = cursor.text(t) else {
            problems.append("\(path()): not valid UTF-8")
            return nil
        }
        return s
    }

    mutating func timeField(_ path: String, _ problems: inout [String]) throws(ScanError) -> Nanoseconds? {
        guard let t = try stringToken(path, &problems) else {
            if !problems.contains(where: { $0.hasPrefix(path + ":") }) { problems.append("\(path): missing") }
            return nil
        }
        let raw = UnsafeBufferPointer(rebasing: cursor.bytes[t.start..<t.end])
        if !t.hasEscapes, let ns = Timestamp.parseRFC3339(raw) { return ns }
        problems.append("\(path): \(quoted(t)) is not an RFC 3339 time")
        return nil
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

    /// The reporter's `nodeId`, reusing the String made from identical bytes before.
    mutating func cachedStringField(_ problems: inout [String]) throws(ScanError) -> String? {
        guard let cache, try cursor.peek() == UInt8(ascii: "\"") else { return try stringField("nodeId", &problems) }
        let t = try cursor.string()
        if t.hasEscapes { return cursor.text(t) }
        let span = UnsafeBufferPointer(rebasing: cursor.bytes[t.start..<t.end])
        if let hit = cache.string(for: span) { return hit }
        guard let s = cursor.text(t) else {
            problems.append("nodeId: not valid UTF-8")
            return nil
        }
        cache.store(s, for: span)
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
        while true {
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            if cursor.equals(key, "nodeId") {
                node.nodeID = try stringField(path() + ".nodeId", &problems) ?? ""
            } else if cursor.equals(key, "name") {
                node.name = try stringField(path() + ".name", &problems)
            } else if cursor.equals(key, "os") {
                node.os = try stringField(path() + ".os", &problems)
            } else if cursor.equals(key, "user") {
                node.user = try stringField(path() + ".user", &problems)
            } else if cursor.equals(key, "tags") {
                try arrayField(path() + ".tags", &problems) { (p: inout MessageParser, i: Int, problems: inout [String]) throws(ScanError) in
                    if let s = try p.stringField(path() + ".tags[\(i)]", &problems) { node.tags.append(s) }
                }
            } else if cursor.equals(key, "addresses") {
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
            } else {
                try cursor.skipValue(depth: 3)
            }
            if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
        if node.nodeID.isEmpty {
            problems.append("\(path()).nodeId: missing")
            return nil
        }
        return node
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
        while true {
            let key = try cursor.string()
            try cursor.expect(UInt8(ascii: ":"), "':' after an object key")
            if cursor.equals(key, "txBytes") {
                row.txBytes = try counterField(path("txBytes"), &problems)
            } else if cursor.equals(key, "rxBytes") {
                row.rxBytes = try counterField(path("rxBytes"), &problems)
            } else if cursor.equals(key, "txPkts") {
                row.txPackets = try counterField(path("txPkts"), &problems)
            } else if cursor.equals(key, "rxPkts") {
                row.rxPackets = try counterField(path("rxPkts"), &problems)
            } else if cursor.equals(key, "src") {
                if let a = try socketField(path("src"), &problems) {
                    row.src = a.ip
                    row.srcPort = a.port
                }
            } else if cursor.equals(key, "dst") {
                if let a = try socketField(path("dst"), &problems) {
                    row.dst = a.ip
                    row.dstPort = a.port
                }
            } else if cursor.equals(key, "proto") {
                let v = try counterField(path("proto"), &problems)
                if v > 255 {
                    problems.append("\(path("proto")): \(v) is not an IP protocol number (0-255)")
                } else {
                    row.proto = UInt8(v)
                }
            } else {
                try cursor.skipValue(depth: 3)
            }
            if try cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
        }
        return row
    }

    mutating func socketField(_ path: @autoclosure () -> String, _ problems: inout [String]) throws(ScanError) -> SocketAddress? {
        guard let t = try stringToken(path(), &problems) else { return nil }
        if t.end == t.start { return nil }
        if !t.hasEscapes, let a = SocketAddress.parse(UnsafeBufferPointer(rebasing: cursor.bytes[t.start..<t.end])) {
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
