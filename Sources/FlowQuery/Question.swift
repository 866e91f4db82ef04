public import FlowFormat
public import FlowModel
public import FlowStore
public import Foundation

/// One question of SPEC §4, typed.
///
/// The CLI builds one from its options, the HTTP query API (and the pages) from query
/// parameters with ``init(command:parameters:now:)``; both read every text value with the
/// same parsers (``QuestionText``), so the two can never read a question differently.
/// Errors name the parameter as the caller spells it (``QueryError/message(for:)``).
///
/// For example:
/// ```swift
/// let q = try Question(command: "top", parameters: ["by": "pair", "from": "-7d"])
/// let same = Question.top(QueryOptions(window: try QuestionText.window(from: "-7d", to: "now")), by: .pair, metric: .bytes, limit: 20)
/// let report = try QueryEngine(store: store).answer(q)
/// ```
public enum Question: Sendable {
    /// `top`: endpoints, pairs, ports or protocols ranked by `metric`, the first `limit`.
    ///
    /// For example, the ten pairs that sent the most bytes yesterday:
    /// ```swift
    /// let q = Question.top(QueryOptions(window: try QuestionText.window(from: "yesterday", to: nil)), by: .pair, metric: .bytes, limit: 10)
    /// ```
    case top(QueryOptions, by: TopDimension, metric: Metric, limit: Int)
    /// `series`: bytes and packets per `step` (nanoseconds), dense, for everything, one
    /// endpoint, one pair or one directed edge (``SeriesSubject``).
    case series(QueryOptions, step: Nanoseconds, subject: SeriesSubject)
    /// `rollup`: bytes and packets per `step`, grouped by the keys in `groupBy` (in that order;
    /// none: one row per bucket).
    case rollup(QueryOptions, step: Nanoseconds, groupBy: [RollupKeyField])
    /// `scope`: every peer of the options' endpoint (required: build it with
    /// ``scope(_:flows:limit:)``), both directions, ports, protocols, first and last seen.
    case scope(QueryOptions)
    /// `scope --flows`: the endpoint's raw flow rows.
    case scopeFlows(QueryOptions, limit: Int)
    /// `flows`: raw flow rows, newest first, `limit` a page; `match` is a keyword, `after` a
    /// row's ``FlowLogRow/cursor`` to page on from.
    case flows(QueryOptions, match: String?, limit: Int, after: String?)
    /// `nodes`: every known node (no window, no filters).
    case nodes
    /// `diff`: the keys of `top --by` whose traffic is new, gone, or changed by `factor` against `baseline`.
    case diff(QueryOptions, baseline: TimeWindow, by: DiffDimension, factor: Double, limit: Int)
    /// `coverage`: per node, whether its reports can be trusted over the window.
    case coverage(QueryOptions, gap: Nanoseconds)

    /// The commands that take questions, as the CLI and the HTTP API (`/api/v1/{command}`) name them.
    public static let commands = ["top", "series", "rollup", "scope", "flows", "nodes", "diff", "coverage"]

    /// The parameters each command takes, besides the window and the filters.
    static let own: [String: Set<String>] = [
        "top": ["by", "metric", "limit"],
        "series": ["step", "pair", "edge"],
        "rollup": ["step", "group-by"],
        "scope": ["flows", "limit"],
        "flows": ["match", "limit", "after"],
        "nodes": [],
        "diff": ["baseline", "by", "factor", "limit"],
        "coverage": ["gap"],
    ]
    static let shared: Set<String> = ["from", "to", "tz", "kind", "proto", "endpoint", "tag", "user", "where"]

    /// Parses a question from HTTP query parameters; `now` anchors relative times such as `-24h`.
    ///
    /// For example:
    /// ```swift
    /// let q = try Question(command: "series", parameters: ["pair": "db-1,web-2", "step": "5m", "from": "-6h"])
    /// // .series(options, step: 300_000_000_000, subject: .pair("db-1", "web-2"))
    /// ```
    ///
    /// - parameter command: `top`, `series`, `rollup`, `scope`, `flows` or `nodes`.
    /// - parameter parameters: the query parameters (`from`, `to`, `by`, `step`, …), each given once.
    /// - throws: ``QueryError`` naming the parameter when one is unknown or cannot be read.
    public init(command: String, parameters: [String: String], now: Nanoseconds = TimeWindow.now()) throws {
        guard let own = Self.own[command] else {
            throw QueryError("'\(command)' is not a question: use \(Self.commands.joined(separator: ", "))")
        }
        let allowed = command == "nodes" ? own : own.union(Self.shared)
        if let unknown = parameters.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw QueryError("\(command) takes no parameter '\(unknown)'; it takes \(allowed.sorted().joined(separator: ", "))")
        }
        let p = parameters
        if command == "nodes" {
            self = .nodes
            return
        }
        var options = try QuestionText.options(from: p["from"], to: p["to"], kind: p["kind"], proto: p["proto"],
                                               endpoint: p["endpoint"], tag: p["tag"], user: p["user"], where: p["where"], now: now, tz: p["tz"])
        switch command {
        case "top":
            self = .top(options, by: try QuestionText.by(p["by"]), metric: try QuestionText.metric(p["metric"]),
                        limit: try QuestionText.limit(p["limit"], default: 20))
        case "series":
            let step = try QuestionText.step(p["step"])
            let subject = try SeriesSubject.chosen(from: &options, pair: p["pair"], edge: p["edge"])
            self = .series(options, step: step, subject: subject)
        case "rollup":
            self = .rollup(options, step: try QuestionText.step(p["step"]), groupBy: try QuestionText.groupBy(p["group-by"]))
        case "scope":
            self = try .scope(options, flows: QuestionText.flag(p["flows"], parameter: "flows"), limit: QuestionText.limit(p["limit"], default: 1000))
        case "coverage":
            self = .coverage(options, gap: try QuestionText.gap(p["gap"]))
        case "diff":
            self = .diff(options, baseline: try QuestionText.baseline(p["baseline"], window: options.window, now: now, zone: options.zone),
                         by: try QuestionText.diffBy(p["by"]), factor: try QuestionText.factor(p["factor"]),
                         limit: try QuestionText.limit(p["limit"], default: 20))
        default: // flows
            self = .flows(options, match: p["match"], limit: try QuestionText.limit(p["limit"], default: 100), after: p["after"])
        }
    }

    /// `scope`, or `scope --flows` (its raw rows, `limit` at most); the endpoint is required.
    ///
    /// For example:
    /// ```swift
    /// var o = QueryOptions(window: try QuestionText.window(from: "-1h", to: nil))
    /// o.endpoint = "db-1"
    /// let q = try Question.scope(o, flows: false, limit: 1000)   // .scope(o)
    /// ```
    ///
    /// - parameter flows: the endpoint's raw flow rows instead of its peers.
    /// - parameter limit: at most this many raw rows (ignored without `flows`).
    /// - throws: ``QueryError`` when `options` has no endpoint.
    public static func scope(_ options: QueryOptions, flows: Bool, limit: Int) throws -> Question {
        guard options.endpoint != nil else { throw QueryError("scope needs \(parameter: "endpoint") E") }
        return flows ? .scopeFlows(options, limit: limit) : .scope(options)
    }
}

extension SeriesSubject {
    /// The subject of a series: the filter's endpoint (moved out of `options`), a pair or an edge, or all.
    ///
    /// - throws: ``QueryError`` when more than one is given or a pair cannot be read.
    public static func chosen(from options: inout QueryOptions, pair: String?, edge: String?) throws -> SeriesSubject {
        guard [options.endpoint, pair, edge].compactMap({ $0 }).count <= 1 else {
            throw QueryError("give at most one of \(parameter: "endpoint"), \(parameter: "pair") and \(parameter: "edge")")
        }
        if let e = options.endpoint {
            options.endpoint = nil
            return .endpoint(e)
        }
        if let pair {
            let (a, b) = try QuestionText.endpointPair(pair, parameter: "pair")
            return .pair(a, b)
        }
        if let edge {
            let (a, b) = try QuestionText.endpointPair(edge, parameter: "edge")
            return .edge(a, b)
        }
        return .all
    }
}

/// The text parsers of every question parameter, shared by the CLI's options and the HTTP
/// query parameters; nil means "not given" and gives the default.
///
/// Each throws a ``QueryError`` that names its parameter.
public enum QuestionText {
    /// The window and the filters every question shares; `where` is a filter expression (SPEC §11).
    ///
    /// - parameter tz: the IANA zone of calendar words and `1d`/`1w` buckets (default UTC).
    public static func options(from: String?, to: String?, kind: String?, proto: String?, endpoint: String?, tag: String?, user: String?,
                               where expression: String? = nil, now: Nanoseconds = TimeWindow.now(), tz: String? = nil) throws -> QueryOptions {
        let zone = try TimeWindow.zone(tz)
        var o = QueryOptions(window: try window(from: from, to: to, now: now, zone: zone))
        o.zone = zone
        if let kind { o.kinds = try kinds(kind) }
        if let proto { o.proto = try self.proto(proto) }
        o.endpoint = endpoint
        o.tag = tag
        o.user = user
        o.filter = try filter(expression)
        return o
    }

    /// A `where` expression; nil or blank (an empty filter box) is no filter.
    ///
    /// - throws: ``QueryError`` pointing at the column of the mistake (see ``FilterError``).
    public static func filter(_ text: String?) throws -> FilterExpression? {
        guard let text, text.contains(where: { !$0.isWhitespace }) else { return nil }
        do {
            return try FilterExpression(parsing: text)
        } catch {
            throw error.queryError
        }
    }

    /// `from` (default `-24h`) and `to` (default `now`).
    public static func window(from: String?, to: String?, now: Nanoseconds = TimeWindow.now(), zone: TimeZone = .utc) throws -> TimeWindow {
        try TimeWindow.parse(from: from ?? "-24h", to: to ?? "now", now: now, zone: zone)
    }

    /// `virtual,subnet,exit,physical`, any subset.
    public static func kinds(_ text: String) throws -> Set<TrafficKind> {
        var kinds: Set<TrafficKind> = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces).lowercased()
            guard let k = TrafficKind(name: name) else {
                throw QueryError("\(parameter: "kind") '\(part)' is not a traffic kind: use virtual, subnet, exit or physical")
            }
            kinds.insert(k)
        }
        guard !kinds.isEmpty else { throw QueryError("\(parameter: "kind") needs at least one kind") }
        return kinds
    }

    /// A protocol number or name.
    public static func proto(_ text: String) throws -> UInt8 {
        switch text.lowercased() {
        case "tcp": return 6
        case "udp": return 17
        case "icmp": return 1
        case "icmpv6", "ipv6-icmp": return 58
        case "sctp": return 132
        default:
            guard let n = UInt8(text) else {
                throw QueryError("\(parameter: "proto") '\(text)' is not a protocol: use a number (0-255) or tcp, udp, icmp, icmpv6")
            }
            return n
        }
    }

    /// What `top` ranks (default `endpoint`).
    public static func by(_ text: String?) throws -> TopDimension {
        guard let text else { return .endpoint }
        guard let by = TopDimension(rawValue: text) else {
            throw QueryError("\(parameter: "by") '\(text)' is not a ranking: use endpoint, pair, port or proto")
        }
        return by
    }

    /// `bytes` (the default) or `packets`.
    public static func metric(_ text: String?) throws -> Metric {
        guard let text else { return .bytes }
        guard let m = Metric(rawValue: text) else {
            throw QueryError("\(parameter: "metric") '\(text)' is not a metric: use bytes or packets")
        }
        return m
    }

    /// `coverage`'s gap threshold: a duration of at least a second (default `2m`).
    public static func gap(_ text: String?) throws -> Nanoseconds {
        guard let text else { return 120 * Timestamp.nanosPerSecond }
        guard let d = DurationText.parse(text.trimmingCharacters(in: .whitespaces)), d >= Timestamp.nanosPerSecond else {
            throw QueryError("\(parameter: "gap") '\(text)' is not a duration of at least a second: use 30s, 2m, 10m …")
        }
        return d
    }

    /// What `diff` compares (default `pair`).
    public static func diffBy(_ text: String?) throws -> DiffDimension {
        guard let text else { return .pair }
        guard let by = DiffDimension(rawValue: text) else {
            throw QueryError("\(parameter: "by") '\(text)' is not what diff compares: use pair, endpoint or port")
        }
        return by
    }

    /// How much a rate must change to be listed: a number of at least 1 (default 10).
    public static func factor(_ text: String?) throws -> Double {
        guard let text else { return 10 }
        guard let f = Double(text.trimmingCharacters(in: .whitespaces)), f.isFinite, f >= 1 else {
            throw QueryError("\(parameter: "factor") '\(text)' must be a number of at least 1 (10: ten times the baseline's rate, or a tenth of it)")
        }
        return f
    }

    /// A diff's baseline: `FROM..TO` (each in the forms of `from` and `to`), or a duration
    /// (`30d`: the 30 days before the window); default the seven days before the window.
    ///
    /// - throws: ``QueryError`` when it cannot be read, is empty, or overlaps the window.
    public static func baseline(_ text: String?, window: TimeWindow, now: Nanoseconds = TimeWindow.now(), zone: TimeZone = .utc) throws -> TimeWindow {
        let b: TimeWindow
        if let text, !text.trimmingCharacters(in: .whitespaces).isEmpty {
            let t = text.trimmingCharacters(in: .whitespaces)
            if let range = t.range(of: "..") {
                let lo = String(t[..<range.lowerBound]), hi = String(t[range.upperBound...])
                func time(_ s: String, end: Bool) throws -> Nanoseconds {
                    if let p = Calendar.period(s, now: now, zone: zone) { return end ? p.to : p.from }
                    do {
                        return try TimeWindow.parseTime(s, now: now, what: "time", zone: zone)
                    } catch {
                        throw QueryError("\(parameter: "baseline") '\(text)': '\(s)' is not a time: use FROM..TO with RFC 3339 times, dates, now, relative times (-14d..-7d) or calendar words, or a duration such as 7d (the 7 days before the window)")
                    }
                }
                b = TimeWindow(from: try time(lo, end: false), to: try time(hi, end: true))
            } else if let d = DurationText.parse(t), d > 0 {
                b = TimeWindow(from: window.from - d, to: window.from)
            } else {
                throw QueryError("\(parameter: "baseline") '\(text)' is not a baseline: use FROM..TO (2026-11-01..2026-11-08, -14d..-7d) or a duration such as 7d (the 7 days before the window)")
            }
        } else {
            b = DiffQuestion.defaultBaseline(window)
        }
        try DiffQuestion.check(window: window, baseline: b)
        return b
    }

    /// A positive whole number.
    public static func limit(_ text: String?, default d: Int) throws -> Int {
        guard let text else { return d }
        guard let n = Int(text), n > 0 else { throw QueryError("\(parameter: "limit") '\(text)' must be a positive whole number") }
        return n
    }

    /// A bucket width such as `1m`, `5m`, `1h`, `1d` (default `1h`).
    public static func step(_ text: String?) throws -> Nanoseconds {
        try TimeWindow.parseStep(text ?? "1h")
    }

    /// `kind,proto,src,dst,tag,user,os,port`, any subset, in the order given.
    public static func groupBy(_ text: String?) throws -> [RollupKeyField] {
        var keys: [RollupKeyField] = []
        for part in (text ?? "").split(separator: ",") {
            guard let k = RollupKeyField(rawValue: part.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw QueryError("\(parameter: "group-by") '\(part)' is not a key: use kind, proto, src, dst, tag, user, os or port")
            }
            if !keys.contains(k) { keys.append(k) }
        }
        return keys
    }

    /// Splits `A,B` into two endpoint arguments.
    public static func endpointPair(_ text: String, parameter: String) throws -> (String, String) {
        let parts = text.split(separator: ",", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw QueryError("\(parameter: parameter) takes two endpoints separated by a comma, such as db-1,alice-laptop")
        }
        return (parts[0], parts[1])
    }

    /// A flag given as a value: true, false, 1, 0, yes, no, or empty (true).
    public static func flag(_ text: String?, parameter: String) throws -> Bool {
        switch text?.lowercased() {
        case nil, "false", "0", "no": return false
        case "", "true", "1", "yes": return true
        default: throw QueryError("\(parameter: parameter) is a flag: use true or false")
        }
    }
}

extension QueryEngine {
    /// Answers a question as the report the CLI prints and the server sends.
    ///
    /// A limited answer carries ``Report/cut`` when the limit left rows out; ``Report/notes``
    /// say why an answer may be empty (a window the store holds no data in, an address never seen).
    ///
    /// For example:
    /// ```swift
    /// let report = try engine.answer(try Question(command: "top", parameters: ["by": "port", "limit": "5"]))
    /// print(report.render(.json))   // the same bytes as `tailflow top --by port --limit 5 --format json`
    /// ```
    ///
    /// - parameter question: Any question; `nodes` ignores the window.
    /// - returns: The rows as cells with their columns, plus the cut and the notes.
    /// - throws: ``QueryError`` when the question cannot be answered as asked (an unknown
    ///   endpoint, too many buckets); ``StoreError`` when the store cannot be read.
    public func answer(_ question: Question) throws -> Report {
        // A store that answers the question in its own language (ClickHouse SQL) does.
        if let store = store as? any AnswersQuestions, let report = try store.pushedDown(question) { return report }
        var report: Report
        switch question {
        case .top(let o, let by, let metric, let limit):
            switch by {
            case .endpoint:
                let (rows, total) = try read(o) { ctx in try rankedEndpoints(ctx, metric: metric, limit: limit) }
                report = .topEndpoints(rows)
                report.cut = Report.Cut(total: total)
            case .pair:
                let (rows, total) = try read(o) { ctx in try rankedPairs(ctx, metric: metric, limit: limit) }
                report = .topPairs(rows)
                report.cut = Report.Cut(total: total)
            case .port: report = Self.cut(try topPorts(o, metric: metric, limit: .max), limit, Report.topPorts)
            case .proto: report = Self.cut(try topProtocols(o, metric: metric, limit: .max), limit, Report.topProtocols)
            }
        case .series(let o, let step, let subject):
            report = .series(try series(o, step: step, subject: subject))
        case .rollup(let o, let step, let groupBy):
            report = .rollup(try rollup(o, step: step, groupBy: groupBy), groupBy: groupBy)
        case .scope(let o):
            report = .scope(try scope(o))
        case .scopeFlows(let o, let limit):
            let page = try flowsPage(o, limit: limit)
            report = .flows(page.rows)
            report.cut = Report.Cut(total: page.total, atLeast: page.atLeast)
        case .flows(let o, let match, let limit, let after):
            let page = try flowsPage(o, match: match, limit: limit, after: after)
            report = .flows(page.rows)
            report.cut = Report.Cut(total: page.total, atLeast: page.atLeast)
        case .nodes:
            return .nodes(try store.nodes())
        case .diff(let o, let baseline, let by, let factor, let limit):
            report = Self.cut(try diff(o, baseline: baseline, by: by, factor: factor), limit) { Report.diff($0, by: by) }
        case .coverage(let o, let gap):
            report = .coverage(try coverage(o, thresholds: CoverageThresholds(gap: gap)))
        }
        report.notes = try notes(question) + changeNotes(question)
        if let (level, note) = try resolution(question) {
            report.resolution = Planner.levelName(level)
            report.notes.append(note)
        }
        return report
    }

    /// The finest rollup level that answered time whose raw rows were pruned, with a note
    /// that says so; nil when raw rows (or nothing pruned) served the whole window.
    func resolution(_ question: Question) throws -> (Int64, String)? {
        let options: QueryOptions
        var step: Nanoseconds?
        switch question {
        case .top(let o, _, _, _), .scope(let o):
            options = o
        case .series(let o, let s, _), .rollup(let o, let s, _):
            options = o
            step = try o.window.bucketing(step: s, zone: o.zone).alignment
        case .diff(let o, let baseline, _, _, _):
            // The baseline is usually the older window, the one pruning reaches first.
            var older = o
            if baseline.from < o.window.from { older.window = baseline }
            options = older
        case .coverage, .scopeFlows, .flows, .nodes:
            // These read raw rows only (coverage: each node's messages).
            return nil
        }
        let coverage = try store.read { try $0.levelCoverage() }
        guard let rawFrom = coverage.keptFrom[0],
              let level = Planner.resolution(options.window, step: step, coverage: coverage) else { return nil }
        let end = min(options.window.to, rawFrom)
        return (level, "raw flow rows before \(Timestamp.formatRFC3339(rawFrom)) were pruned (retention raw=\(coverage.policy[0] ?? "?")):"
            + " [\(Timestamp.formatRFC3339(options.window.from)), \(Timestamp.formatRFC3339(end))) was answered exactly from rollups,"
            + " \(Planner.levelName(level)) buckets at the finest")
    }

    static func cut<Row>(_ rows: [Row], _ limit: Int, _ report: ([Row]) -> Report) -> Report {
        var r = report(Array(rows.prefix(limit)))
        r.cut = Report.Cut(total: rows.count)
        return r
    }

    /// What the asker should know besides the rows: addresses no flow or node has, a window without data.
    func notes(_ question: Question) throws -> [String] {
        let options: QueryOptions
        var arguments: [String] = []
        switch question {
        case .top(let o, _, _, _), .rollup(let o, _, _), .scope(let o), .scopeFlows(let o, _), .flows(let o, _, _, _),
             .diff(let o, _, _, _, _), .coverage(let o, _):
            options = o
        case .series(let o, _, let subject):
            options = o
            switch subject {
            case .all: break
            case .endpoint(let e): arguments = [e]
            case .pair(let a, let b), .edge(let a, let b): arguments = [a, b]
            }
        case .nodes:
            return []
        }
        if let e = options.endpoint { arguments.append(e) }
        return try store.read { snapshot in
            var notes: [String] = []
            for a in arguments {
                guard let ip = IPAddress(a.trimmingCharacters(in: .whitespaces)) else { continue }
                if try snapshot.addressID(ip) == nil {
                    notes.append("no flow or node in this store has the address \(ip.description): nothing matches it")
                }
            }
            let w = options.window
            // Over pruned raw time the rollups answer: no raw row there says nothing.
            if w.from < (try snapshot.levelCoverage()).earliest(0) { return notes }
            var any = false
            try snapshot.messages(from: w.from, to: w.to, reporter: nil, descending: false) { _, _, _ in
                any = true
                return false
            }
            if case .diff(_, let b, _, _, _) = question {
                var before = false
                try snapshot.messages(from: b.from, to: b.to, reporter: nil, descending: false) { _, _, _ in
                    before = true
                    return false
                }
                if !before {
                    notes.append("the baseline [\(Timestamp.formatRFC3339(b.from)), \(Timestamp.formatRFC3339(b.to))) holds no data: everything in the window is new")
                }
            }
            if !any {
                let span = "no data in [\(Timestamp.formatRFC3339(w.from)), \(Timestamp.formatRFC3339(w.to)))"
                if let range = try snapshot.timeRange() {
                    var last = range.upperBound
                    try snapshot.messages(from: range.upperBound, to: range.upperBound + 1, reporter: nil, descending: true) { h, _, _ in
                        last = max(last, h.end)
                        return true
                    }
                    notes.append("\(span); the store holds \(Timestamp.formatRFC3339(range.lowerBound)) … \(Timestamp.formatRFC3339(last))")
                } else {
                    notes.append("\(span); the store holds no flow logs yet (tailflow ingest, pull or follow adds them)")
                }
            }
            return notes
        }
    }
}

/// A store that answers some questions itself, in its own query language, returning only the
/// answer rows (the ClickHouse backend pushes them down as SQL): ``QueryEngine/answer(_:)`` asks
/// it first, and answers the rest over its snapshots (``FlowStorage/read(_:)``). Its reports must
/// be the engine's, byte for byte.
public protocol AnswersQuestions: FlowStorage {
    /// The answer with its notes, or nil when the engine is to answer it.
    ///
    /// - throws: ``QueryError`` for a question that cannot be answered as asked; the store's errors.
    func pushedDown(_ question: Question) throws -> Report?
}
