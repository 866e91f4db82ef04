public import FlowModel
import Foundation

/// A half-open query window `[from, to)` in nanoseconds since the epoch.
public struct TimeWindow: Sendable, Equatable {
    public var from: Nanoseconds
    public var to: Nanoseconds

    public init(from: Nanoseconds, to: Nanoseconds) {
        self.from = from
        self.to = to
    }

    /// Parses `--from`/`--to` as people write them: RFC 3339, a date (`2026-11-01`, midnight UTC),
    /// `now`, or relative to now (`-15m`, `-24h`, `-7d`).
    ///
    /// - throws: ``QueryError`` when a time cannot be read or `from` is not before `to`.
    public static func parse(from: String, to: String, now: Nanoseconds = TimeWindow.now()) throws -> TimeWindow {
        let f = try parseTime(from, now: now, what: "--from")
        let t = try parseTime(to, now: now, what: "--to")
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
    public static func parseTime(_ text: String, now: Nanoseconds, what: String = "time") throws -> Nanoseconds {
        let s = text.trimmingCharacters(in: .whitespaces)
        if s == "now" { return now }
        if s.hasPrefix("-"), let d = DurationText.parse(String(s.dropFirst())) { return now - d }
        if let t = Timestamp.parseRFC3339(s) { return t }
        if s.count == 10, let t = Timestamp.parseRFC3339(s + "T00:00:00Z") { return t }
        let name: QueryError.Message = what.hasPrefix("--") ? "\(parameter: String(what.dropFirst(2)))" : "\(what)"
        throw QueryError("\(name) '\(text)' is not a time: use RFC 3339 (2026-11-01T10:00:00Z), a date (2026-11-01), now, or a relative time (-15m, -24h, -7d)")
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
