import FlowFormat

/// What a chart's values count, and how an axis and a hover text write them.
package enum ValueUnit: String, Sendable {
    /// Bytes: IEC units on axes (`512 MiB`), exact counts in hover texts.
    case bytes
    /// Packets (or any count): SI suffixes on axes (`1.5k`, `2M`).
    case packets

    /// The axis: ticks at round values of the unit the maximum calls for, and their labels.
    ///
    /// Byte axes step in 1, 2 or 5 × 10^n of B, KiB, MiB, … so labels read `0, 200 MiB, 400 MiB`;
    /// packet axes in 1, 2 or 5 × 10^n of 1, k, M, G.
    package func axis(max: Int64, count: Int = 5) -> [(value: Double, label: String)] {
        let (scale, suffix) = unitFor(max: max)
        let ticks = NiceTicks.ticks(max: Double(Swift.max(max, 1)) / scale, count: count)
        let step = ticks.count > 1 ? ticks[1] : 1
        return ticks.map { t in (t * scale, t == 0 ? "0" : Self.decimal(t, step: step) + suffix) }
    }

    func unitFor(max: Int64) -> (Double, String) {
        switch self {
        case .bytes:
            let units = [" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB"]
            var scale = 1.0, i = 0
            while Double(max) >= scale * 1024, i < units.count - 1 {
                scale *= 1024
                i += 1
            }
            return (scale, units[i])
        case .packets:
            let units = ["", "k", "M", "G", "T", "P", "E"]
            var scale = 1.0, i = 0
            while Double(max) >= scale * 1000, i < units.count - 1 {
                scale *= 1000
                i += 1
            }
            return (scale, units[i])
        }
    }

    /// `v` with as many decimals as the step needs (0.5 → one, 0.25 → two).
    static func decimal(_ v: Double, step: Double) -> String {
        var places = 0
        var s = step
        while s < 1, places < 6 {
            s *= 10
            places += 1
        }
        if places == 0 { return String(Int64(v.rounded())) }
        let scaled = Int64((v * pow10(places)).rounded())
        let unit = Int64(pow10(places))
        var frac = String(scaled % unit)
        frac = String(repeating: "0", count: places - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        return frac.isEmpty ? String(scaled / unit) : "\(scaled / unit).\(frac)"
    }

    static func pow10(_ n: Int) -> Double {
        var p = 1.0
        for _ in 0..<n { p *= 10 }
        return p
    }

    /// Short human form: `1.2 MiB`, `3,456 packets`.
    package func human(_ v: Int64) -> String {
        switch self {
        case .bytes: Units.iec(v)
        case .packets: Units.grouped(v) + " packets"
        }
    }

    /// Exact form for hover texts: `1.2 MiB (1,234,567 bytes)`, `3,456 packets`.
    package func exact(_ v: Int64) -> String {
        switch self {
        case .bytes: v < 1024 ? "\(Units.grouped(v)) bytes" : "\(Units.iec(v)) (\(Units.grouped(v)) bytes)"
        case .packets: Units.grouped(v) + " packets"
        }
    }
}
