/// Durations as people write them on a command line: `90s`, `15m`, `24h`, `7d`, `1w`, `500ms`.
public enum DurationText {
    static let units: [(String, Int64)] = [
        ("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000),
        ("h", 3_600_000_000_000), ("d", 86_400_000_000_000), ("w", 604_800_000_000_000),
    ]

    /// Nanoseconds, or nil when the text is not a number followed by a unit.
    public static func parse(_ text: String) -> Int64? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int64(digits) else { return nil }
        let unit = String(text.dropFirst(digits.count))
        guard let scale = units.first(where: { $0.0 == unit })?.1 else { return nil }
        let (ns, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : ns
    }

    /// The shortest exact form: `1h`, `90s`, `1500ms`.
    public static func format(_ ns: Int64) -> String {
        for (unit, scale) in units.reversed() where ns != 0 && ns % scale == 0 {
            return "\(ns / scale)\(unit)"
        }
        return "\(ns)ns"
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number (for rates, timings and logs).
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
