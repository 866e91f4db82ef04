import FlowModel

/// Why a scan stopped before the end of a JSON value.
enum ScanError: Error {
    /// The buffer ends inside the value: read more input and try again from the value's start.
    case needMore
    /// The bytes are not JSON. `position` is an index into the scanned buffer.
    case syntax(position: Int, reason: String)
    /// The value nests deeper than ``JSONCursor/maxDepth``.
    case tooDeep(position: Int)
}

/// A string token: its bytes between the quotes, still escaped when `hasEscapes`.
struct StringToken {
    var start: Int
    var end: Int
    var hasEscapes: Bool
}

/// The value of a JSON number as an unsigned counter would read it.
enum NumberValue {
    case unsigned(UInt64)
    case negative
    case fractional
    case tooLarge
}

/// A forward cursor over a buffer of JSON bytes: a validating scanner with no allocation on the fast path.
///
/// Every function either consumes a complete token and returns it, throws
/// ``ScanError/needMore`` when the buffer ends first, or throws
/// ``ScanError/syntax(position:reason:)``. The cursor never reads outside `bytes`.
struct JSONCursor {
    static let maxDepth = 64

    let bytes: UnsafeBufferPointer<UInt8>
    var pos: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, at pos: Int) {
        self.bytes = bytes
        self.pos = pos
    }

    @inline(__always)
    var end: Int { bytes.count }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < end {
            let c = bytes[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { return }
        }
    }

    /// The next non-whitespace byte, not consumed.
    @inline(__always)
    mutating func peek() throws(ScanError) -> UInt8 {
        // Machine-written JSON has little whitespace: no call when there is none.
        if pos < end, bytes[pos] > 0x20 { return bytes[pos] }
        skipWhitespace()
        guard pos < end else { throw .needMore }
        return bytes[pos]
    }

    @inline(__always)
    mutating func expect(_ c: UInt8, _ what: @autoclosure () -> String) throws(ScanError) {
        let b = try peek()
        guard b == c else { throw .syntax(position: pos, reason: "expected \(what()), found \(Self.describe(b))") }
        pos += 1
    }

    /// Consumes a string; the cursor must be at its opening quote.
    mutating func string() throws(ScanError) -> StringToken {
        let b = try peek()
        guard b == UInt8(ascii: "\"") else { throw .syntax(position: pos, reason: "expected a string, found \(Self.describe(b))") }
        var i = pos + 1
        let start = i
        var escapes = false
        let base = UnsafeRawPointer(bytes.baseAddress!)  // not empty: `peek` found the quote
        while true {
            // Eight bytes at a time up to the next quote, backslash or control character.
            while i &+ 8 <= end {
                let special = Self.specialStringBytes(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                if special != 0 {
                    i &+= special.trailingZeroBitCount &>> 3
                    break
                }
                i &+= 8
            }
            guard i < end else { throw .needMore }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { break }
            if c == UInt8(ascii: "\\") {
                escapes = true
                guard i + 1 < end else { throw .needMore }
                switch bytes[i + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard i + 5 < end else { throw .needMore }
                    for k in 2...5 where IPAddressHex.value(bytes[i + k]) == nil {
                        throw .syntax(position: i + k, reason: "invalid \\u escape in a string")
                    }
                    i += 6
                default:
                    throw .syntax(position: i + 1, reason: "invalid escape \\\(Self.describe(bytes[i + 1])) in a string")
                }
                continue
            }
            if c < 0x20 {
                throw .syntax(position: i, reason: "\(Self.describe(c)) inside a string (unterminated string?)")
            }
            i += 1
        }
        pos = i + 1
        return StringToken(start: start, end: i, hasEscapes: escapes)
    }

    /// The high bit of every byte of `w` (little-endian) that ends a string's plain run:
    /// a quote, a backslash or a control character (below 0x20). Exact, no false hits.
    @inline(__always)
    static func specialStringBytes(_ w: UInt64) -> UInt64 {
        @inline(__always) func zeroBytes(_ x: UInt64) -> UInt64 {
            ~(((x & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F) | x) & 0x8080_8080_8080_8080
        }
        return zeroBytes(w ^ 0x2222_2222_2222_2222) | zeroBytes(w ^ 0x5C5C_5C5C_5C5C_5C5C) | zeroBytes(w & 0xE0E0_E0E0_E0E0_E0E0)
    }

    /// Consumes a number, validating JSON's grammar, and reads it as a counter would.
    mutating func number() throws(ScanError) -> NumberValue {
        _ = try peek()
        var i = pos
        var negative = false
        if bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        guard i < end else { throw .needMore }
        var value: UInt64 = 0
        var overflow = false
        let intStart = i
        while i < end, bytes[i] >= 0x30, bytes[i] <= 0x39 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[i] - 0x30))
            overflow = overflow || o1 || o2
            value = a
            i += 1
        }
        guard i > intStart else { throw .syntax(position: i, reason: "expected a digit, found \(Self.describe(bytes[i]))") }
        if bytes[intStart] == 0x30, i - intStart > 1 {
            throw .syntax(position: intStart, reason: "a number may not have a leading zero")
        }
        var fractional = false
        if i < end, bytes[i] == UInt8(ascii: ".") {
            fractional = true
            i += 1
            let s = i
            while i < end, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            guard i < end || i > s else { throw .needMore }
            guard i > s else { throw .syntax(position: i, reason: "expected a digit after the decimal point") }
        }
        if i < end, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            fractional = true
            i += 1
            guard i < end else { throw .needMore }
            if bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            let s = i
            while i < end, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            guard i < end || i > s else { throw .needMore }
            guard i > s else { throw .syntax(position: i, reason: "expected a digit in the exponent") }
        }
        // A number that touches the end of the buffer may continue in the next read.
        guard i < end else { throw .needMore }
        pos = i
        if negative { return (value == 0 && !fractional) ? .unsigned(0) : .negative }
        if fractional { return .fractional }
        return overflow ? .tooLarge : .unsigned(value)
    }

    /// The usual counter, consumed: 1 to 18 digits (no leading zero) followed by a byte that ends
    /// a JSON number. Nil, consuming nothing, for anything else (a sign, a fraction, an exponent,
    /// 19 digits or more, the end of the buffer), which ``number()`` then reads or refuses.
    @inline(__always)
    mutating func plainCounter() -> Int64? {
        var i = pos
        let limit = Swift.min(end, pos &+ 18)
        var v: Int64 = 0
        while i < limit {
            let d = bytes[i] &- 0x30
            guard d < 10 else { break }
            v = v &* 10 &+ Int64(d)
            i &+= 1
        }
        guard i > pos, i < end else { return nil }
        let next = bytes[i]
        guard next &- 0x30 >= 10, next != UInt8(ascii: "."), next != UInt8(ascii: "e"), next != UInt8(ascii: "E"),
              bytes[pos] != 0x30 || i == pos &+ 1 else { return nil }
        pos = i
        return v
    }

    /// A socket address string written `"a.b.c.d:port"`, consumed in one pass over its bytes (no
    /// separate string scan): what ``SocketAddress/parseIPv4WithPort(_:)`` reads from that string's
    /// token, by the same scan. Nil, moving nothing, for anything else (whitespace before it,
    /// another form, an escape, a byte that is not a digit, `.` or `:`, the buffer's end), which
    /// the general path then reads: a string of digits, dots and one colon holds no escape and no
    /// control byte, so the token the general path would scan is exactly these bytes.
    @inline(__always)
    mutating func plainIPv4Socket() -> SocketAddress? {
        guard pos < end, bytes[pos] == UInt8(ascii: "\""),
              let scanned = SocketAddress.scanIPv4WithPort(bytes, from: pos &+ 1, to: end),
              scanned.end < end, bytes[scanned.end] == UInt8(ascii: "\"") else { return nil }
        pos = scanned.end &+ 1
        return scanned.address
    }

    /// The number of a connection object's key (as ``MessageParser/connFieldNumber(_:_:)``
    /// numbers them) when it is written the usual way, `"txBytes":` with nothing between the key
    /// and its colon, and the cursor moved past that colon; nil, moving nothing, for anything else
    /// (which the general path then reads: other keys, whitespace, escapes, the buffer's end).
    @inline(__always)
    mutating func connKey() -> Int? {
        guard pos &+ 10 <= end else { return nil }
        let at = UnsafeRawPointer(bytes.baseAddress!) + pos
        let word = UInt64(littleEndian: at.loadUnaligned(as: UInt64.self))
        let b8 = at.load(fromByteOffset: 8, as: UInt8.self)
        let b9 = at.load(fromByteOffset: 9, as: UInt8.self)
        let quote = UInt8(ascii: "\""), colon = UInt8(ascii: ":")
        let field: Int, length: Int
        switch word {
        case 0x3A22_6F74_6F72_7022: (field, length) = (0, 8)  // "proto":
        case 0x2273_746B_5078_7422 where b8 == colon: (field, length) = (3, 9)  // "txPkts":
        case 0x2273_746B_5078_7222 where b8 == colon: (field, length) = (5, 9)  // "rxPkts":
        case 0x7365_7479_4278_7422 where b8 == quote && b9 == colon: (field, length) = (4, 10)  // "txBytes":
        case 0x7365_7479_4278_7222 where b8 == quote && b9 == colon: (field, length) = (6, 10)  // "rxBytes":
        default:
            switch word & 0xFFFF_FFFF_FFFF {
            case 0x3A22_6372_7322: (field, length) = (1, 6)  // "src":
            case 0x3A22_7473_6422: (field, length) = (2, 6)  // "dst":
            default: return nil
            }
        }
        pos &+= length
        return field
    }

    /// A time written the usual way, `"YYYY-MM-DDTHH:MM:SS.fffffffffZ"`, valid, consumed with its
    /// quotes (no separate string scan); nil, moving nothing, for anything else, which the general
    /// path then reads or refuses. Thirty bytes of that form hold no quote, escape or control byte,
    /// so the string token the general path would scan is exactly them, and it parses them alike.
    @inline(__always)
    mutating func plainTime() -> Nanoseconds? {
        guard pos &+ 32 <= end, bytes[pos] == UInt8(ascii: "\""), bytes[pos &+ 31] == UInt8(ascii: "\""),
              let ns = Timestamp.parseRFC3339(UnsafeBufferPointer(rebasing: bytes[(pos &+ 1)..<(pos &+ 31)])) else { return nil }
        pos &+= 32
        return ns
    }

    /// The number of a message's key (as ``MessageParser/messageFieldNumber(_:_:)`` numbers them)
    /// when it is written the usual way, `"nodeId":` with nothing between the key and its colon,
    /// and the cursor moved past that colon; nil, moving nothing, for anything else (which the
    /// general path then reads: other keys, `logtail`, whitespace, escapes, the buffer's end).
    @inline(__always)
    mutating func messageKey() -> Int? {
        guard pos &+ 18 <= end else { return nil }
        let at = UnsafeRawPointer(bytes.baseAddress!) + pos
        let w0 = UInt64(littleEndian: at.loadUnaligned(as: UInt64.self))
        let w1 = UInt64(littleEndian: at.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let b16 = at.load(fromByteOffset: 16, as: UInt8.self)
        let b17 = at.load(fromByteOffset: 17, as: UInt8.self)
        let field: Int, length: Int
        switch w0 {
        case 0x2264_4965_646F_6E22 where w1 & 0xFF == 0x3A: (field, length) = (0, 9)  // "nodeId":
        case 0x3A22_7472_6174_7322: (field, length) = (1, 8)  // "start":
        case 0x2264_6567_676F_6C22 where w1 & 0xFF == 0x3A: (field, length) = (3, 9)  // "logged":
        case 0x6564_6F4E_6372_7322 where w1 & 0xFFFF == 0x3A22: (field, length) = (5, 10)  // "srcNode":
        case 0x6564_6F4E_7473_6422 where w1 & 0xFF_FFFF == 0x3A_2273: (field, length) = (6, 11)  // "dstNodes":
        case 0x6C61_7574_7269_7622 where w1 == 0x2263_6966_6661_7254 && b16 == 0x3A: (field, length) = (7, 17)  // "virtualTraffic":
        case 0x5474_656E_6275_7322 where w1 == 0x3A22_6369_6666_6172: (field, length) = (8, 16)  // "subnetTraffic":
        case 0x6172_5474_6978_6522 where w1 & 0xFFFF_FFFF_FFFF == 0x3A22_6369_6666: (field, length) = (9, 14)  // "exitTraffic":
        case 0x6163_6973_7968_7022 where w1 == 0x6369_6666_6172_546C && b16 == 0x22 && b17 == 0x3A: (field, length) = (10, 18)  // "physicalTraffic":
        default:
            guard w0 & 0xFFFF_FFFF_FFFF == 0x3A22_646E_6522 else { return nil }  // "end":
            (field, length) = (2, 6)
        }
        pos &+= length
        return field
    }

    /// Consumes `true`, `false` or `null`.
    mutating func literal() throws(ScanError) {
        let c = try peek()
        let word: StaticString = c == UInt8(ascii: "t") ? "true" : c == UInt8(ascii: "f") ? "false" : "null"
        let n = word.utf8CodeUnitCount
        for k in 0..<n {
            guard pos + k < end else { throw .needMore }
            guard bytes[pos + k] == word.utf8Start[k] else {
                throw .syntax(position: pos + k, reason: "unexpected \(Self.describe(bytes[pos + k]))")
            }
        }
        pos += n
    }

    /// Consumes any value, validating it.
    mutating func skipValue(depth: Int = 0) throws(ScanError) {
        let c = try peek()
        switch c {
        case UInt8(ascii: "\""):
            _ = try string()
        case UInt8(ascii: "{"):
            guard depth < Self.maxDepth else { throw .tooDeep(position: pos) }
            pos += 1
            if try peek() == UInt8(ascii: "}") {
                pos += 1
                return
            }
            while true {
                _ = try string()
                try expect(UInt8(ascii: ":"), "':' after an object key")
                try skipValue(depth: depth + 1)
                if try endOfMembers(close: UInt8(ascii: "}"), what: "object member") { return }
            }
        case UInt8(ascii: "["):
            guard depth < Self.maxDepth else { throw .tooDeep(position: pos) }
            pos += 1
            if try peek() == UInt8(ascii: "]") {
                pos += 1
                return
            }
            while true {
                try skipValue(depth: depth + 1)
                if try endOfMembers(close: UInt8(ascii: "]"), what: "array element") { return }
            }
        case UInt8(ascii: "-"), 0x30...0x39:
            _ = try number()
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            try literal()
        default:
            throw .syntax(position: pos, reason: "expected a JSON value, found \(Self.describe(c))")
        }
    }

    /// After a member: consumes `,` (returns false) or the closing bracket (returns true).
    @inline(__always)
    mutating func endOfMembers(close: UInt8, what: String) throws(ScanError) -> Bool {
        let c = try peek()
        pos += 1
        if c == UInt8(ascii: ",") { return false }
        if c == close { return true }
        pos -= 1
        throw .syntax(position: pos, reason: "expected ',' or '\(Character(Unicode.Scalar(close)))' after an \(what), found \(Self.describe(c))")
    }

    /// Whether a string token is the ASCII key `key`: its raw bytes, or, for a token with escapes
    /// (`"\u006eodeId"` is `"nodeId"` to every JSON reader), its decoded bytes.
    @inline(__always)
    func equals(_ t: StringToken, _ key: StaticString) -> Bool {
        let n = key.utf8CodeUnitCount
        if t.hasEscapes { return escapedEquals(t, UnsafeBufferPointer(start: key.utf8Start, count: n)) }
        guard t.end - t.start == n else { return false }
        let p = key.utf8Start
        for k in 0..<n where bytes[t.start + k] != p[k] { return false }
        return true
    }

    /// The rare path of ``equals(_:_:)``: a key written with escapes, compared once decoded.
    @inline(never)
    func escapedEquals(_ t: StringToken, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        decodedBytes(t).elementsEqual(key)
    }

    /// Parses a string token's text with `parse`, after resolving its escapes if it has any
    /// (`"2026\u002d11\u002d02T…"` is the time `"2026-11-02T…"`).
    @inline(__always)
    func withDecodedBytes<R>(_ t: StringToken, _ parse: (UnsafeBufferPointer<UInt8>) -> R?) -> R? {
        if !t.hasEscapes { return parse(UnsafeBufferPointer(rebasing: bytes[t.start..<t.end])) }
        return decodedBytes(t).withUnsafeBufferPointer(parse)
    }

    /// The decoded text of a string token; `nil` when it is not valid UTF-8.
    func text(_ t: StringToken) -> String? {
        let raw = UnsafeBufferPointer(rebasing: bytes[t.start..<t.end])
        if !t.hasEscapes { return String(validating: raw, as: UTF8.self) }
        return String(validating: Self.unescape(raw), as: UTF8.self)
    }

    /// The decoded bytes of a string token (escapes resolved).
    func decodedBytes(_ t: StringToken) -> [UInt8] {
        let raw = UnsafeBufferPointer(rebasing: bytes[t.start..<t.end])
        return t.hasEscapes ? Self.unescape(raw) : Array(raw)
    }

    /// Resolves JSON escapes, including surrogate pairs; lone surrogates become U+FFFD.
    static func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func hex4(_ at: Int) -> UInt32 {
            var v: UInt32 = 0
            for k in 0..<4 { v = v << 4 | UInt32(IPAddressHex.value(raw[at + k]) ?? 0) }
            return v
        }
        while i < raw.count {
            let c = raw[i]
            guard c == UInt8(ascii: "\\"), i + 1 < raw.count else {
                out.append(c)
                i += 1
                continue
            }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u") where i + 4 <= raw.count:
                var scalar = hex4(i)
                i += 4
                if (0xD800...0xDBFF).contains(scalar), i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"),
                   raw[i + 1] == UInt8(ascii: "u") {
                    let low = hex4(i + 2)
                    if (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: String(u).utf8)
            default: out.append(e)
            }
        }
        return out
    }

    /// A byte as an error message shows it: `'x'` or `byte 0x00`.
    static func describe(_ c: UInt8) -> String {
        if c >= 0x21, c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        if c == 0x20 { return "' '" }
        if c == 0x0A { return "a line break" }
        return "byte 0x" + (c < 16 ? "0" : "") + String(c, radix: 16)
    }
}

/// Hex digits, shared by the scanner and address parsing.
typealias IPAddressHex = FlowModel.HexDigit
