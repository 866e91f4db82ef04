import FlowModel
import FlowStore

/// What `diff` compares: the keys of a `top` answer.
public enum DiffDimension: String, Sendable, CaseIterable {
    case pair, endpoint, port
}

/// How a key's traffic changed between the baseline and the window.
public enum DiffChange: String, Sendable, CaseIterable {
    /// Traffic in the window, none in the baseline.
    case new
    /// Traffic in the baseline, none in the window.
    case gone
    /// The window's rate is at least the factor times the baseline's.
    case up
    /// The window's rate is at most the baseline's divided by the factor.
    case down
}

/// One row of `diff`: a key of `top --by` with its traffic in both windows.
public struct DiffRow: Sendable, Equatable {
    public var change: DiffChange
    /// `endpoint`: the endpoint; `pair`: a; `port`: nil.
    public var a: String?
    public var aName: String?
    /// `pair`: b (a < b as strings); otherwise nil.
    public var b: String?
    public var bName: String?
    /// `port`: the protocol and service port; otherwise 0.
    public var proto: UInt8 = 0
    public var port: UInt16 = 0
    public var baselineBytes: Int64
    public var bytes: Int64
    public var baselinePackets: Int64
    public var packets: Int64
    /// Window bytes per second over baseline bytes per second; nil when the baseline has no bytes.
    public var factor: Double?
}

extension QueryEngine {
    /// What changed between `baseline` and the options' window, per key of `top --by`.
    ///
    /// Both sides are exactly `top` answers (same planner, same rollups, same filters) read
    /// in one snapshot; a key is listed when it is `new`, `gone`, or its bytes per second
    /// changed by at least `factor` either way. Rows rank by the window's bytes, then the
    /// baseline's, then key.
    ///
    /// For example:
    /// ```swift
    /// let window = try TimeWindow.parse(from: "-1h", to: "now")
    /// let rows = try engine.diff(QueryOptions(window: window), baseline: TimeWindow(from: window.from - 7 * 86_400_000_000_000, to: window.from),
    ///                            by: .pair, factor: 10)
    /// ```
    ///
    /// - parameter factor: At least 1; 1 lists every key of either window.
    /// - throws: ``QueryError`` for an unknown endpoint or a baseline overlapping the window.
    public func diff(_ options: QueryOptions, baseline: TimeWindow, by: DiffDimension, factor: Double = 10) throws -> [DiffRow] {
        try DiffQuestion.check(window: options.window, baseline: baseline)
        var before = options
        before.window = baseline
        return try store.read { snapshot in
            let now = try QueryContext(snapshot, options: options)
            let then = try QueryContext(snapshot, options: before)
            let rows = try diffRows(now, then, by: by, factor: factor)
            if let failure = now.directory.failure ?? then.directory.failure { throw failure }
            return rows
        }
    }

    func diffRows(_ now: QueryContext, _ then: QueryContext, by: DiffDimension, factor: Double) throws -> [DiffRow] {
        struct Side { var bytes: Int64 = 0, packets: Int64 = 0 }
        var keys: [String: DiffRow] = [:]
        func put(_ key: String, _ template: DiffRow, window: Side?, baseline: Side?) {
            var row = keys[key] ?? template
            if let window { row.bytes = window.bytes; row.packets = window.packets }
            if let baseline { row.baselineBytes = baseline.bytes; row.baselinePackets = baseline.packets }
            keys[key] = row
        }
        let blank = DiffRow(change: .new, baselineBytes: 0, bytes: 0, baselinePackets: 0, packets: 0)
        for (ctx, isWindow) in [(now, true), (then, false)] {
            switch by {
            case .endpoint:
                for r in try topEndpoints(ctx, metric: .bytes, limit: .max) {
                    var t = blank
                    t.a = r.endpoint
                    t.aName = r.name
                    let side = Side(bytes: r.bytes, packets: r.packets)
                    put(r.endpoint, t, window: isWindow ? side : nil, baseline: isWindow ? nil : side)
                }
            case .pair:
                for r in try topPairs(ctx, metric: .bytes, limit: .max) {
                    var t = blank
                    (t.a, t.b, t.aName, t.bName) = (r.a, r.b, r.aName, r.bName)
                    let side = Side(bytes: r.bytes, packets: r.packets)
                    put(r.a + "\u{0}" + r.b, t, window: isWindow ? side : nil, baseline: isWindow ? nil : side)
                }
            case .port:
                for r in try topPorts(ctx, metric: .bytes, limit: .max) {
                    var t = blank
                    (t.proto, t.port) = (r.proto, r.port)
                    let side = Side(bytes: r.bytes, packets: r.packets)
                    put("\(r.proto)/\(r.port)", t, window: isWindow ? side : nil, baseline: isWindow ? nil : side)
                }
            }
        }
        let windowSeconds = Double(now.options.window.to - now.options.window.from) / 1e9
        let baselineSeconds = Double(then.options.window.to - then.options.window.from) / 1e9
        var rows: [(key: String, row: DiffRow)] = []
        for (key, var row) in keys {
            let inWindow = row.bytes != 0 || row.packets != 0
            let inBaseline = row.baselineBytes != 0 || row.baselinePackets != 0
            row.factor = row.baselineBytes == 0 ? nil
                : (Double(row.bytes) / windowSeconds) / (Double(row.baselineBytes) / baselineSeconds)
            if !inBaseline {
                row.change = .new
            } else if !inWindow {
                row.change = .gone
            } else if let f = row.factor {
                // A tolerance of a billionth: an exact tenfold rate divides to 9.999999999999998.
                if f >= factor * (1 - 1e-9) {
                    row.change = .up
                } else if f <= (1 / factor) * (1 + 1e-9) {
                    row.change = .down
                } else {
                    continue
                }
            } else {
                // Packets but no bytes in the baseline: any bytes now are a rise without bound.
                guard row.bytes > 0 else { continue }
                row.change = .up
            }
            rows.append((key, row))
        }
        rows.sort { x, y in
            if x.row.bytes != y.row.bytes { return x.row.bytes > y.row.bytes }
            if x.row.baselineBytes != y.row.baselineBytes { return x.row.baselineBytes > y.row.baselineBytes }
            if by == .port { return (x.row.proto, x.row.port) < (y.row.proto, y.row.port) }
            return byteOrder(x.key, y.key)
        }
        return rows.map(\.row)
    }
}

/// The rules of a diff's two windows, shared by the engine and the parsers.
public enum DiffQuestion {
    /// The baseline when none is given: the seven days before the window.
    package static func defaultBaseline(_ window: TimeWindow) -> TimeWindow {
        TimeWindow(from: window.from - 7 * 86_400 * Timestamp.nanosPerSecond, to: window.from)
    }

    /// - throws: ``QueryError`` when the baseline is empty or overlaps the window.
    public static func check(window: TimeWindow, baseline: TimeWindow) throws {
        guard baseline.from < baseline.to else {
            throw QueryError("the \(parameter: "baseline") is empty: its start (\(Timestamp.formatRFC3339(baseline.from))) must be before its end (\(Timestamp.formatRFC3339(baseline.to)))")
        }
        guard baseline.to <= window.from || baseline.from >= window.to else {
            throw QueryError("the \(parameter: "baseline") [\(Timestamp.formatRFC3339(baseline.from)), \(Timestamp.formatRFC3339(baseline.to))) overlaps the window [\(Timestamp.formatRFC3339(window.from)), \(Timestamp.formatRFC3339(window.to))): a diff compares two separate periods")
        }
    }
}
