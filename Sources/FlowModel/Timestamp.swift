/// Nanoseconds since the Unix epoch, UTC.
///
/// Flow-log windows carry nanosecond precision; `Int64` nanoseconds cover 1677-09-21 to
/// 2262-04-11. tailflow accepts the whole years 1678 to 2261 (``earliest`` to ``latest``), so that
/// a time plus or minus the longest rollup bucket (16 days), an hour's lag or a day's rounding
/// is still a time: a message stamped in 2262's last hour crashed the server's rollup upkeep.
public typealias Nanoseconds = Int64

public enum Timestamp {
    public static let nanosPerSecond: Int64 = 1_000_000_000
    /// The first instant tailflow accepts, 1678-01-01T00:00:00Z.
    public static let earliest: Nanoseconds = -9_214_560_000 * nanosPerSecond
    /// The last instant tailflow accepts, 2261-12-31T23:59:59.999999999Z.
    public static let latest: Nanoseconds = 9_214_646_400 * nanosPerSecond - 1
    /// The longest a message's window may be, and the farthest its `logged` time may lie from the
    /// window's end: 100 years of 365.25 days. Two accepted times can be 584 years apart, more
    /// than `Int64` nanoseconds hold, so a difference of two such times trapped the writer.
    public static let longestSpan: Nanoseconds = 3_155_760_000 * nanosPerSecond

    /// `t - reference` when the two are at most ``longestSpan`` apart (either way), else nil:
    /// the one check of a window's length and of a `logged` time's distance from its window.
    @inline(__always)
    public static func apart(_ t: Nanoseconds, from reference: Nanoseconds) -> Nanoseconds? {
        let (difference, overflow) = t.subtractingReportingOverflow(reference)
        return !overflow && difference.magnitude <= UInt64(longestSpan) ? difference : nil
    }

    /// Parses an RFC 3339 timestamp such as `2026-11-01T10:00:04.999812345Z` or
    /// `2026-11-01T12:00:00+02:00` into nanoseconds since the epoch.
    ///
    /// Up to nine fractional digits are kept exactly; more digits are an error
    /// rather than a silent truncation. Returns `nil` when the text is not RFC 3339
    /// or lies outside the years 1678 to 2261.
    public static func parseRFC3339<C: Collection>(_ bytes: C) -> Nanoseconds? where C.Element == UInt8 {
        Array(bytes).withUnsafeBufferPointer { parseRFC3339($0) }
    }

    /// Parses RFC 3339 without allocating (the hot path of ingest).
    package static func parseRFC3339(_ b: UnsafeBufferPointer<UInt8>) -> Nanoseconds? {
        let n = b.count
        // The form of every flow-log time, read by the positions of its fields.
        if n == 30, let fields = canonicalFields(b) { return nanoseconds(fields) }
        var i = 0
        @inline(__always) func digits(_ count: Int) -> Int64? {
            guard i + count <= n else { return nil }
            var v: Int64 = 0
            for k in i..<(i + count) {
                let c = b[k]
                guard c >= 0x30, c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            i += count
            return v
        }
        @inline(__always) func expect(_ ch: UInt8) -> Bool {
            guard i < n, b[i] == ch else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(UInt8(ascii: "-")), let month = digits(2), expect(UInt8(ascii: "-")),
              let day = digits(2) else { return nil }
        guard i < n, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = digits(2), expect(UInt8(ascii: ":")), let minute = digits(2), expect(UInt8(ascii: ":")),
              let second = digits(2) else { return nil }
        var fraction: Int64 = 0
        if i < n, b[i] == UInt8(ascii: ".") {
            i += 1
            var count = 0
            while i < n, b[i] >= 0x30, b[i] <= 0x39 {
                count += 1
                guard count <= 9 else { return nil }
                fraction = fraction * 10 + Int64(b[i] - 0x30)
                i += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<9 { fraction *= 10 }
        }
        guard i < n else { return nil }
        let zone = b[i]
        i += 1
        var offsetSeconds: Int64 = 0
        switch zone {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            break
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let oh = digits(2), expect(UInt8(ascii: ":")), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (zone == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        guard i == n else { return nil }
        return nanoseconds((year, month, day, hour, minute, second, fraction, offsetSeconds))
    }

    /// The fields of an RFC 3339 time as read: year, month, day, hour, minute, second, nanoseconds, zone offset in seconds.
    typealias Fields = (year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64, fraction: Int64, offset: Int64)

    /// The instant of `f`, or nil when a field is out of its range or the instant lies outside the years 1678 to 2261.
    @inline(__always)
    static func nanoseconds(_ f: Fields) -> Nanoseconds? {
        guard (1...12).contains(f.month), f.day >= 1, f.day <= daysInMonth(year: f.year, month: f.month),
              f.hour <= 23, f.minute <= 59, f.second <= 60 else { return nil }
        let days = daysFromCivil(year: f.year, month: f.month, day: f.day)
        // A leap second (:60) is read as :59, the last representable instant of that minute.
        let seconds = days * 86_400 + f.hour * 3600 + f.minute * 60 + min(f.second, 59) - f.offset
        // Int64 nanoseconds reach to 2262-04-11; accepted are the years 1678 to 2261.
        guard seconds >= earliest / nanosPerSecond, seconds <= latest / nanosPerSecond else { return nil }
        return seconds * nanosPerSecond + f.fraction
    }

    /// The fields of `YYYY-MM-DDTHH:MM:SS.fffffffffZ` (30 bytes, as Tailscale writes every time), read by
    /// position; nil for any other text of 30 bytes, which the general reader then reads or refuses
    /// (it reads this form to the same fields: `TimestampTests` compares them).
    @inline(__always)
    static func canonicalFields(_ b: UnsafeBufferPointer<UInt8>) -> Fields? {
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"),
              b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."), b[29] == UInt8(ascii: "Z") else { return nil }
        var bad: UInt8 = 0
        @inline(__always) func d(_ k: Int) -> Int64 {
            let v = b[k] &- 0x30
            bad |= v > 9 ? 1 : 0
            return Int64(v)
        }
        @inline(__always) func two(_ k: Int) -> Int64 { d(k) &* 10 &+ d(k &+ 1) }
        let year = two(0) &* 100 &+ two(2)
        let month = two(5), day = two(8), hour = two(11), minute = two(14), second = two(17)
        var fraction: Int64 = 0
        for k in 20..<29 { fraction = fraction &* 10 &+ d(k) }
        guard bad == 0 else { return nil }
        return (year, month, day, hour, minute, second, fraction, 0)
    }

    /// Parses RFC 3339 text.
    public static func parseRFC3339(_ text: String) -> Nanoseconds? {
        parseRFC3339(Array(text.utf8))
    }

    /// Formats nanoseconds as RFC 3339 UTC: `2026-11-01T10:00:00Z`, with the
    /// fractional part only when it is not zero (trailing zeros trimmed unless `fullFraction`).
    public static func formatRFC3339(_ ns: Nanoseconds, fullFraction: Bool = false) -> String {
        let (seconds, fraction) = floorDivMod(ns, nanosPerSecond)
        let (days, secOfDay) = floorDivMod(seconds, 86_400)
        let (y, m, d) = civilFromDays(days)
        var s = pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T"
        s += pad(secOfDay / 3600, 2) + ":" + pad(secOfDay / 60 % 60, 2) + ":" + pad(secOfDay % 60, 2)
        if fraction != 0 || fullFraction {
            var f = pad(fraction, 9)
            if !fullFraction { while f.hasSuffix("0") { f.removeLast() } }
            s += "." + f
        }
        return s + "Z"
    }

    /// Floor division and its non-negative remainder.
    @inlinable
    package static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    /// The start of the `step`-wide, epoch-aligned bucket that holds `ns`.
    @inlinable
    package static func bucketStart(_ ns: Nanoseconds, step: Nanoseconds) -> Nanoseconds {
        floorDivMod(ns, step).0 * step
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    package static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day count since 1970-01-01.
    package static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }
}
