public import FlowModel
public import Foundation

/// A half-open query window `[from, to)` in nanoseconds since the epoch.
public struct TimeWindow: Sendable, Equatable {
    public var from: Nanoseconds
    public var to: Nanoseconds

    public init(from: Nanoseconds, to: Nanoseconds) {
        self.from = from
        self.to = to
    }

    /// Parses `--from`/`--to` as people write them: RFC 3339, a date (`2026-11-01`, midnight in
    /// `zone`), `now`, relative to now (`-15m`, `-24h`, `-7d`), or a calendar period: `today`,
    /// `yesterday`, `this-week`, `last-week` (weeks start on Monday), `this-month`, `last-month`,
    /// in `zone`. A period as `from` is its start, as `to` its end: `--from last-week --to last-week`
    /// is last week, `--from yesterday --to today` yesterday and today.
    ///
    /// - throws: ``QueryError`` when a time cannot be read or `from` is not before `to`.
    public static func parse(from: String, to: String, now: Nanoseconds = TimeWindow.now(), zone: TimeZone = .utc) throws -> TimeWindow {
        let f = try Calendar.period(from, now: now, zone: zone)?.from ?? parseTime(from, now: now, what: "--from", zone: zone)
        let t = try Calendar.period(to, now: now, zone: zone)?.to ?? parseTime(to, now: now, what: "--to", zone: zone)
        guard f < t else {
            throw QueryError("the window is empty: \(parameter: "from") (\(Timestamp.formatRFC3339(f))) must be before \(parameter: "to") (\(Timestamp.formatRFC3339(t)))")
        }
        return TimeWindow(from: f, to: t)
    }

    public static func now() -> Nanoseconds {
        Int64(Date().timeIntervalSince1970 * 1e9)
    }

    ///
    /// - parameter what: the parameter's name as a flag (`--from`), spelled as the caller does in
    ///   errors (``QueryError/message(for:)``), or plain text such as `time`.
    public static func parseTime(_ text: String, now: Nanoseconds, what: String = "time", zone: TimeZone = .utc) throws -> Nanoseconds {
        let s = text.trimmingCharacters(in: .whitespaces)
        if s == "now" { return now }
        if s.hasPrefix("-"), let d = DurationText.parse(String(s.dropFirst())) { return now - d }
        if let t = Timestamp.parseRFC3339(s) { return t }
        if s.count == 10, let t = Timestamp.parseRFC3339(s + "T00:00:00Z") {
            // A date is its midnight in `zone`.
            return zone.identifier == "UTC" || zone.identifier == "GMT" ? t : Calendar.localMidnight(ofUTCDate: t, zone: zone)
        }
        let name: QueryError.Message = what.hasPrefix("--") ? "\(parameter: String(what.dropFirst(2)))" : "\(what)"
        throw QueryError("\(name) '\(text)' is not a time: use RFC 3339 (2026-11-01T10:00:00Z), a date (2026-11-01), now, a relative time (-15m, -24h, -7d), or today, yesterday, this-week, last-week, this-month, last-month")
    }

    /// A time zone from its IANA name (`Europe/Berlin`, `UTC`).
    ///
    /// - throws: ``QueryError`` naming `tz` when the name is unknown.
    public static func zone(_ name: String?) throws -> TimeZone {
        guard let name, !name.isEmpty else { return .utc }
        guard let z = TimeZone(identifier: name) else {
            throw QueryError("\(parameter: "tz") '\(name)' is not a time zone: use an IANA name such as UTC, Europe/Berlin or America/New_York")
        }
        return z
    }

    /// Parses a bucket width such as `1m`, `5m`, `1h`, `1d`: whole seconds, at least one.
    public static func parseStep(_ text: String) throws -> Nanoseconds {
        guard let step = DurationText.parse(text), step > 0 else {
            throw QueryError("\(parameter: "step") '\(text)' is not a duration: use 1m, 5m, 1h, 1d …")
        }
        guard step % Timestamp.nanosPerSecond == 0 else {
            throw QueryError("\(parameter: "step") '\(text)' must be a whole number of seconds")
        }
        return step
    }

    /// The buckets a bucketed answer (series, rollup) uses: `1d` and `1w` are calendar days and
    /// weeks (from Monday) in `zone`, so a day across a DST change is one 23- or 25-hour bucket;
    /// other steps are epoch-aligned.
    public func bucketing(step: Nanoseconds, zone: TimeZone = .utc, limit: Int = 1_000_000) throws -> Buckets {
        let day = 86_400 * Timestamp.nanosPerSecond
        guard step == day || step == 7 * day else { return Buckets(step: step, starts: try buckets(step: step, limit: limit), end: 0) }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        cal.firstWeekday = 2
        let unit: Calendar.Component = step == day ? .day : .weekOfYear
        var starts: [Nanoseconds] = []
        var date = cal.dateInterval(of: step == day ? .day : .weekOfYear, for: Date(nanoseconds: from))!.start
        while date.nanoseconds < to {
            starts.append(date.nanoseconds)
            guard starts.count <= limit else {
                throw QueryError("\(parameter: "step") \(DurationText.format(step)) over this window makes more than \(limit) buckets: use a larger step or a shorter window")
            }
            date = cal.date(byAdding: unit, value: 1, to: date)!
        }
        return Buckets(step: 0, starts: starts, end: date.nanoseconds)
    }

    /// The epoch-aligned buckets of `step` that a dense answer lists: from the
    /// bucket holding `from` to the one holding the last instant before `to`.
    public func buckets(step: Nanoseconds, limit: Int = 1_000_000) throws -> [Nanoseconds] {
        let first = Timestamp.bucketStart(from, step: step)
        let last = Timestamp.bucketStart(to - 1, step: step)
        let count = (last - first) / step + 1
        guard count <= Int64(limit) else {
            throw QueryError("\(parameter: "step") \(DurationText.format(step)) over this window makes \(count) buckets; the limit is \(limit): use a larger step or a shorter window")
        }
        return (0..<count).map { first + $0 * step }
    }
}

/// The buckets of a bucketed answer: epoch-aligned of a fixed `step`, or calendar days and weeks.
public struct Buckets: Sendable, Equatable {
    /// The fixed width; 0 for calendar buckets (of varying width).
    public var step: Nanoseconds
    /// Each bucket's start, ascending.
    public var starts: [Nanoseconds]
    /// The end of the last calendar bucket (unused for fixed steps).
    var end: Nanoseconds

    /// The index of the bucket holding `t`, which must lie in one of them.
    @inline(__always)
    public func index(of t: Nanoseconds) -> Int {
        if step > 0 { return Int((Timestamp.bucketStart(t, step: step) - starts[0]) / step) }
        var lo = 0, hi = starts.count
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if starts[mid] <= t { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// The start of the bucket holding `t`.
    @inline(__always)
    public func start(of t: Nanoseconds) -> Nanoseconds {
        step > 0 ? Timestamp.bucketStart(t, step: step) : starts[index(of: t)]
    }

    /// What rollup levels must divide so that none straddles two buckets: the step, or for
    /// calendar buckets the greatest common divisor of their boundaries (a day in UTC, an
    /// hour where the zone's offsets are whole hours, …).
    public var alignment: Nanoseconds {
        if step > 0 { return step }
        var g: Int64 = 0
        for b in starts + [end] {
            var (a, c) = (g, b == .min ? Int64.max : abs(b))
            while c != 0 { (a, c) = (c, a % c) }
            g = a
        }
        return max(g, 1)
    }
}

extension TimeZone {
    public static let utc = TimeZone(identifier: "UTC")!
}

extension Date {
    init(nanoseconds ns: Nanoseconds) {
        self.init(timeIntervalSince1970: Double(Timestamp.bucketStart(ns, step: Timestamp.nanosPerSecond) / Timestamp.nanosPerSecond))
    }

    var nanoseconds: Nanoseconds { Int64(timeIntervalSince1970.rounded()) * Timestamp.nanosPerSecond }
}

extension Calendar {
    /// `[from, to)` of a calendar word (`today`, `last-week`, …) in `zone`; nil for other text.
    static func period(_ text: String, now: Nanoseconds, zone: TimeZone) -> (from: Nanoseconds, to: Nanoseconds)? {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        cal.firstWeekday = 2
        let today = Date(nanoseconds: now)
        let (unit, back): (Calendar.Component, Int)
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "today": (unit, back) = (.day, 0)
        case "yesterday": (unit, back) = (.day, 1)
        case "this-week": (unit, back) = (.weekOfYear, 0)
        case "last-week": (unit, back) = (.weekOfYear, 1)
        case "this-month": (unit, back) = (.month, 0)
        case "last-month": (unit, back) = (.month, 1)
        default: return nil
        }
        let current = cal.dateInterval(of: unit, for: today)!.start
        let start = cal.date(byAdding: unit, value: -back, to: current)!
        let end = cal.date(byAdding: unit, value: 1, to: start)!
        return (start.nanoseconds, end.nanoseconds)
    }

    /// Local midnight in `zone` of the calendar date whose UTC midnight is `t`.
    static func localMidnight(ofUTCDate t: Nanoseconds, zone: TimeZone) -> Nanoseconds {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = .utc
        let parts = utc.dateComponents([.year, .month, .day], from: Date(nanoseconds: t))
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = zone
        return cal.date(from: parts).map { cal.startOfDay(for: $0).nanoseconds } ?? t
    }
}
