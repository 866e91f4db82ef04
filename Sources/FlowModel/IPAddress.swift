/// An IPv4 or IPv6 address, as a compact value (no heap allocation).
///
/// IPv4 addresses keep their 32 bits in the low bits of `low`; `high` is zero.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public var isIPv4: Bool

    public init(ipv4: UInt32) {
        high = 0
        low = UInt64(ipv4)
        isIPv4 = true
    }

    public init(ipv6High: UInt64, low: UInt64) {
        high = ipv6High
        self.low = low
        isIPv4 = false
    }

    /// Parses a textual address: dotted-quad IPv4 (no leading zeros) or IPv6
    /// (RFC 4291, with `::` and an optional trailing dotted quad). Zones are not accepted.
    public init?<C: Collection>(text: C) where C.Element == UInt8 {
        guard let ip = Array(text).withUnsafeBufferPointer({ Self.parse($0) }) else { return nil }
        self = ip
    }

    public init?(_ text: String) {
        self.init(text: Array(text.utf8))
    }

    /// Parses address text without allocating (the hot path of ingest).
    package static func parse(_ text: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        var colon = false
        for c in text where c == UInt8(ascii: ":") {
            colon = true
            break
        }
        if colon {
            guard let (h, l) = parseIPv6(text) else { return nil }
            return IPAddress(ipv6High: h, low: l)
        }
        guard let v4 = parseIPv4(text) else { return nil }
        return IPAddress(ipv4: v4)
    }

    static func parseIPv4(_ text: UnsafeBufferPointer<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        var leadingZero = false
        for c in text {
            if c == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            } else if c >= 0x30, c <= 0x39 {
                if digits == 1 && leadingZero { return nil }
                if digits == 0 { leadingZero = c == 0x30 }
                octet = octet * 10 + UInt32(c - 0x30)
                digits += 1
                guard octet <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    static func parseIPv6(_ text: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        var groups = FixedGroups()
        var gap: Int? = nil
        var i = 0
        let n = text.count
        if n >= 2, text[0] == UInt8(ascii: ":"), text[1] == UInt8(ascii: ":") {
            gap = 0
            i = 2
            if i == n { return (0, 0) }
        } else if n > 0, text[0] == UInt8(ascii: ":") {
            return nil
        }
        while i < n {
            // A trailing dotted quad takes the last two groups.
            var j = i
            var sawDot = false
            while j < n, text[j] != UInt8(ascii: ":") {
                if text[j] == UInt8(ascii: ".") { sawDot = true }
                j += 1
            }
            if sawDot {
                guard j == n, groups.count <= 6, let v4 = parseIPv4(UnsafeBufferPointer(rebasing: text[i..<n])) else { return nil }
                groups.append(UInt16(v4 >> 16))
                groups.append(UInt16(v4 & 0xffff))
                i = n
                break
            }
            let len = j - i
            guard len >= 1, len <= 4 else { return nil }
            var g: UInt16 = 0
            for k in i..<j {
                guard let h = hexValue(text[k]) else { return nil }
                g = g << 4 | UInt16(h)
            }
            groups.append(g)
            guard groups.count <= 8 else { return nil }
            i = j
            if i < n {
                // at ':'
                i += 1
                if i < n, text[i] == UInt8(ascii: ":") {
                    guard gap == nil else { return nil }
                    gap = groups.count
                    i += 1
                } else if i == n {
                    return nil  // trailing single ':'
                }
            }
        }
        if let gap {
            guard groups.count <= 7 else { return nil }
            groups.expand(at: gap)
        }
        guard groups.count == 8 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for k in 0..<4 { h = h << 16 | UInt64(groups[k]) }
        for k in 4..<8 { l = l << 16 | UInt64(groups[k]) }
        return (h, l)
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt8? { HexDigit.value(c) }

    /// The canonical text form: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as `::`).
    public var description: String {
        if isIPv4 {
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        }
        var groups = [UInt16](repeating: 0, count: 8)
        for k in 0..<4 { groups[k] = UInt16(truncatingIfNeeded: high >> (48 - 16 * UInt64(k))) }
        for k in 0..<4 { groups[4 + k] = UInt16(truncatingIfNeeded: low >> (48 - 16 * UInt64(k))) }
        // IPv4-mapped addresses print their IPv4 part dotted.
        if high == 0, low >> 32 == 0xffff {
            let v = UInt32(truncatingIfNeeded: low)
            return "::ffff:\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        }
        var bestStart = -1, bestLen = 1
        var k = 0
        while k < 8 {
            if groups[k] == 0 {
                var e = k
                while e < 8, groups[e] == 0 { e += 1 }
                if e - k > bestLen { bestStart = k; bestLen = e - k }
                k = e
            } else {
                k += 1
            }
        }
        var s = ""
        k = 0
        while k < 8 {
            if k == bestStart {
                s += "::"
                k += bestLen
                continue
            }
            if !s.isEmpty, !s.hasSuffix(":") { s += ":" }
            s += String(groups[k], radix: 16)
            k += 1
        }
        return s
    }

    public static func < (a: Self, b: Self) -> Bool {
        if a.isIPv4 != b.isIPv4 { return a.isIPv4 }
        return (a.high, a.low) < (b.high, b.low)
    }
}

/// An address with its port, as flow rows carry them (`100.64.0.1:443`, `[fd7a::1]:443`).
public struct SocketAddress: Hashable, Sendable {
    public var ip: IPAddress
    public var port: UInt16

    public init(ip: IPAddress, port: UInt16) {
        self.ip = ip
        self.port = port
    }

    /// Parses `ip:port`, `[ipv6]:port`, or a bare address (port 0).
    public init?<C: Collection>(text: C) where C.Element == UInt8 {
        guard let a = Array(text).withUnsafeBufferPointer({ Self.parse($0) }) else { return nil }
        self = a
    }

    /// Parses socket address text without allocating (the hot path of ingest).
    @inline(__always)
    package static func parse(_ text: UnsafeBufferPointer<UInt8>) -> SocketAddress? {
        if let a = parseIPv4WithPort(text) { return a }
        return parseAnyForm(text)
    }

    /// `a.b.c.d:port`, the form of nearly every flow row, in one pass; nil for any other text
    /// (which ``parseAnyForm(_:)`` then reads or refuses), so it never accepts what that refuses
    /// nor reads a text differently (`SocketAddressTests` compares them).
    @inline(__always)
    package static func parseIPv4WithPort(_ text: UnsafeBufferPointer<UInt8>) -> SocketAddress? {
        guard let scanned = scanIPv4WithPort(text, from: 0, to: text.count), scanned.end == text.count else { return nil }
        return scanned.address
    }

    /// `a.b.c.d:port` starting at `bytes[start]`, read up to the first byte after the port's digits
    /// (or `limit`): the address and that byte's index. Nil for anything else: an octet over 255 or
    /// with a leading zero, a missing `.` or `:`, no port digit, more than five, a port over
    /// 65535. ``parseIPv4WithPort(_:)`` takes it when it ends the text; the JSON decoder when a
    /// closing quote follows, reading a quoted address without scanning the string first.
    @inlinable @inline(__always)
    package static func scanIPv4WithPort(
        _ bytes: UnsafeBufferPointer<UInt8>, from start: Int, to limit: Int
    ) -> (address: SocketAddress, end: Int)? {
        var i = start
        var value: UInt32 = 0
        for part in 0..<4 {
            guard i < limit else { return nil }
            let first = bytes[i] &- 0x30
            guard first < 10 else { return nil }
            var octet = UInt32(first)
            i &+= 1
            // A leading zero stands alone (`0`, never `01`).
            if first != 0 {
                var more = 0
                while more < 2, i < limit {
                    let d = bytes[i] &- 0x30
                    guard d < 10 else { break }
                    octet = octet &* 10 &+ UInt32(d)
                    i &+= 1
                    more &+= 1
                }
                guard octet <= 255 else { return nil }
            }
            value = value << 8 | octet
            guard i < limit, bytes[i] == (part < 3 ? UInt8(ascii: ".") : UInt8(ascii: ":")) else { return nil }
            i &+= 1
        }
        let portStart = i
        var port: UInt32 = 0
        while i < limit, i &- portStart < 6 {
            let d = bytes[i] &- 0x30
            guard d < 10 else { break }
            port = port &* 10 &+ UInt32(d)
            i &+= 1
        }
        let digits = i &- portStart
        guard digits >= 1, digits <= 5, port <= 65535 else { return nil }
        return (SocketAddress(ip: IPAddress(ipv4: value), port: UInt16(port)), i)
    }

    /// Every form ``parse(_:)`` accepts: `ip:port`, `[ipv6]:port`, a bare address.
    package static func parseAnyForm(_ text: UnsafeBufferPointer<UInt8>) -> SocketAddress? {
        let n = text.count
        guard n > 0 else { return nil }
        if text[0] == UInt8(ascii: "[") {
            var close = 1
            while close < n, text[close] != UInt8(ascii: "]") { close += 1 }
            guard close < n, let ip = IPAddress.parse(UnsafeBufferPointer(rebasing: text[1..<close])), !ip.isIPv4 else { return nil }
            if close + 1 == n { return SocketAddress(ip: ip, port: 0) }
            guard text[close + 1] == UInt8(ascii: ":"),
                  let port = parsePort(UnsafeBufferPointer(rebasing: text[(close + 2)...])) else { return nil }
            return SocketAddress(ip: ip, port: port)
        }
        // One colon means ipv4:port; more means a bare IPv6 address.
        var colons = 0
        var lastColon = 0
        for i in 0..<n where text[i] == UInt8(ascii: ":") {
            colons += 1
            lastColon = i
        }
        if colons == 1 {
            guard let ip = IPAddress.parse(UnsafeBufferPointer(rebasing: text[..<lastColon])), ip.isIPv4,
                  let port = parsePort(UnsafeBufferPointer(rebasing: text[(lastColon + 1)...])) else { return nil }
            return SocketAddress(ip: ip, port: port)
        }
        guard let ip = IPAddress.parse(text) else { return nil }
        return SocketAddress(ip: ip, port: 0)
    }

    static func parsePort(_ text: UnsafeBufferPointer<UInt8>) -> UInt16? {
        guard !text.isEmpty, text.count <= 5 else { return nil }
        var v: UInt32 = 0
        for c in text {
            guard c >= 0x30, c <= 0x39 else { return nil }
            v = v * 10 + UInt32(c - 0x30)
        }
        return v <= 65535 ? UInt16(v) : nil
    }
}

/// Up to eight IPv6 groups, without a heap allocation.
struct FixedGroups {
    var storage: (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) = (0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0

    subscript(i: Int) -> UInt16 {
        get { withUnsafeBytes(of: storage) { $0.load(fromByteOffset: i * 2, as: UInt16.self) } }
        set { withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: newValue, toByteOffset: i * 2, as: UInt16.self) } }
    }

    mutating func append(_ g: UInt16) {
        if count < 8 { self[count] = g }
        count += 1
    }

    /// Moves the groups from `gap` on to the end, leaving zeros in the gap.
    mutating func expand(at gap: Int) {
        let tail = count - gap
        for k in stride(from: tail - 1, through: 0, by: -1) {
            self[8 - tail + k] = self[gap + k]
        }
        for k in gap..<(8 - tail) { self[k] = 0 }
        count = 8
    }
}

/// The value of an ASCII hex digit.
package enum HexDigit {
    @inline(__always)
    package static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}
