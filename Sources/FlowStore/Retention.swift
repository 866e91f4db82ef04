public import FlowModel
import Foundation

/// How long each level of the store is kept: raw flow rows, minute, hour and day rollups.
///
/// The day keep period applies to every rollup level of a day or more (1, 2, 4, 8 and 16
/// days). A level without a period is kept forever (the default).
///
/// For example:
/// ```swift
/// let policy = try RetentionPolicy.parse("raw=30d,1m=90d,1h=400d")
/// policy.keep(.raw)   // 30 days in ns
/// ```
public struct RetentionPolicy: Sendable, Equatable, CustomStringConvertible {
    /// A level of the store, as retention names it.
    public enum Level: String, Sendable, CaseIterable, Comparable {
        case raw, minute = "1m", hour = "1h", day = "1d"

        /// The stored levels it covers: 0 for raw rows, else rollup steps in seconds.
        public var stored: [Int64] {
            switch self {
            case .raw: [0]
            case .minute: [60]
            case .hour: [3600]
            case .day: RollupStep.all.filter { $0 >= RollupStep.day }
            }
        }

        public static func < (a: Level, b: Level) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }

        /// The names accepted in `--retention` (and as flags: `--raw`, `--minute`, `--hour`, `--day`).
        static func named(_ text: String) -> Level? {
            switch text.lowercased() {
            case "raw": .raw
            case "1m", "minute", "minutes": .minute
            case "1h", "hour", "hours": .hour
            case "1d", "day", "days": .day
            default: nil
            }
        }
    }

    /// Keep periods (ns) by level; a level missing is kept forever.
    public var periods: [Level: Nanoseconds]

    public init(periods: [Level: Nanoseconds] = [:]) {
        self.periods = periods
    }

    /// The keep period of `level`, nil for forever.
    public func keep(_ level: Level) -> Nanoseconds? { periods[level] }

    /// Whether the policy keeps everything.
    public var keepsEverything: Bool { periods.isEmpty }

    /// `raw=30d,1m=90d,1h=400d` (levels kept forever left out; `forever` when all are).
    public var description: String {
        let parts = Level.allCases.compactMap { l in periods[l].map { "\(l.rawValue)=\(DurationText.format($0))" } }
        return parts.isEmpty ? "forever" : parts.joined(separator: ",")
    }

    /// One keep period as written on the command line: `30d`, `12h`, `forever`.
    ///
    /// - throws: ``RetentionError`` naming the text when it is neither.
    public static func period(_ text: String, level: Level) throws -> Nanoseconds? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t == "forever" { return nil }
        guard let ns = DurationText.parse(t), ns > 0 else {
            throw RetentionError("retention for \(level.rawValue): '\(text)' is not a duration (such as 30d, 12h, 2w) or forever")
        }
        return ns
    }

    /// Parses `raw=30d,1m=90d,1h=400d,1d=forever`.
    ///
    /// - throws: ``RetentionError`` naming the item that is wrong.
    public static func parse(_ text: String) throws -> RetentionPolicy {
        var policy = RetentionPolicy()
        var seen: Set<Level> = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let level = Level.named(pair[0]) else {
                throw RetentionError("retention '\(item)': expected LEVEL=PERIOD with LEVEL raw, 1m, 1h or 1d (e.g. raw=30d,1m=90d,1h=400d)")
            }
            guard seen.insert(level).inserted else { throw RetentionError("retention: \(level.rawValue) is given twice") }
            policy.periods[level] = try period(pair[1], level: level)
        }
        return policy
    }
}

/// A retention policy or a question that retention rules out, with what to do instead.
public struct RetentionError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// What each level of a store still holds after pruning: the planner's map of the store.
///
/// Level 0 is raw flow rows; other levels are rollup steps in seconds. A level
/// missing from ``keptFrom`` was never pruned and holds everything it ever got.
public struct LevelCoverage: Sendable, Equatable {
    /// Per level: the level holds nothing before this time (ns), and why.
    public var keptFrom: [Int64: Nanoseconds]
    /// Per level: the keep period that pruned it, as written (`30d`).
    public var policy: [Int64: String]
    /// Per level of a day or more: the level holds exactly the flow rows whose message starts
    /// before this time (an hour boundary, ns) and none after (schema/012_rollup_marks.sql).
    /// A level missing is complete.
    public var completeTo: [Int64: Nanoseconds]

    public init(keptFrom: [Int64: Nanoseconds] = [:], policy: [Int64: String] = [:], completeTo: [Int64: Nanoseconds] = [:]) {
        self.keptFrom = keptFrom
        self.policy = policy
        self.completeTo = completeTo
    }

    /// A store nothing was pruned from.
    public static let complete = LevelCoverage()

    /// The earliest time `level` holds (`Int64.min` when never pruned).
    public func earliest(_ level: Int64) -> Nanoseconds { keptFrom[level] ?? .min }

    /// The time before which `level` holds every flow row (`Int64.max` when it is complete):
    /// only its buckets that end by then may be read.
    public func latest(_ level: Int64) -> Nanoseconds { completeTo[level] ?? .max }

    /// Whether anything was pruned.
    public var isComplete: Bool { keptFrom.isEmpty }
}
