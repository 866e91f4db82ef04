package import FlowModel

/// Ticks of a UTC time axis: round instants (whole minutes, hours, days) and short labels.
///
/// For example:
/// ```swift
/// let ticks = TimeTicks.ticks(from: t0, to: t0 + 6 * 3_600_000_000_000, count: 6)
/// // one per hour; labels "06:00", "07:00", …, with the date where a day starts
/// ```
package enum TimeTicks {
    static let minute: Int64 = 60_000_000_000
    static let hour = 60 * minute
    static let day = 24 * hour
    /// The intervals a tick may fall on, smallest first.
    static let intervals: [Int64] = [
        minute, 2 * minute, 5 * minute, 10 * minute, 15 * minute, 30 * minute,
        hour, 2 * hour, 3 * hour, 6 * hour, 12 * hour, day, 2 * day, 7 * day, 14 * day, 28 * day,
    ]

    package struct Tick: Sendable, Equatable {
        package var time: Nanoseconds
        package var label: String
    }

    /// The smallest interval that gives at most `count` ticks over `[from, to)`.
    package static func interval(from: Nanoseconds, to: Nanoseconds, count: Int) -> Int64 {
        let span = max(to - from, 1)
        return intervals.first { span / $0 <= Int64(max(count, 1)) } ?? intervals.last!
    }

    /// Ticks at multiples of the interval (aligned to the epoch, UTC) inside `[from, to]`.
    /// Labels are `HH:MM`, with `MM-DD` added on the first tick and where a day starts;
    /// daily intervals show the date only.
    package static func ticks(from: Nanoseconds, to: Nanoseconds, count: Int = 6) -> [Tick] {
        let step = interval(from: from, to: to, count: count)
        var t = Timestamp.bucketStart(from, step: step)
        if t < from { t += step }
        var ticks: [Tick] = []
        var first = true
        while t <= to {
            let text = Timestamp.formatRFC3339(t)  // 2026-11-01T06:00:00Z
            let date = String(text.dropFirst(5).prefix(5))  // 11-01
            let clock = String(text.dropFirst(11).prefix(5))  // 06:00
            let label: String
            if step >= day {
                label = date
            } else if first || t % day == 0 {
                label = date + " " + clock
            } else {
                label = clock
            }
            ticks.append(Tick(time: t, label: label))
            first = false
            t += step
        }
        return ticks
    }

    /// `2026-11-01 06:15 UTC` (seconds shown only when not zero), for hover texts.
    package static func describe(_ t: Nanoseconds) -> String {
        var text = Timestamp.formatRFC3339(t)
        text.removeLast()  // Z
        if text.hasSuffix(":00") { text.removeLast(3) }
        return text.replacingOccurrences(of: "T", with: " ") + " UTC"
    }
}

extension String {
    func replacingOccurrences(of target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
