public import FlowFormat
public import FlowModel
import FlowStore
import Foundation

/// One question of SPEC §4, parsed from named parameters.
///
/// The CLI and the HTTP query API both build questions here, from the CLI's
/// option names (`from`, `to`, `by`, `metric`, `kind`, `proto`, `endpoint`,
/// `tag`, `user`, `limit`, `step`, `pair`, `edge`, `group-by`, `match`,
/// `after`, `flows`), so the two can never read a question differently.
///
/// For example:
/// ```swift
/// let q = try Question(command: "top", parameters: ["by": "pair", "from": "-7d"])
/// let report = try QueryEngine(store: store).answer(q)
/// ```
public enum Question: Sendable {
    case top(QueryOptions, by: TopDimension, metric: Metric, limit: Int)
    case series(QueryOptions, step: Nanoseconds, subject: SeriesSubject)
    case rollup(QueryOptions, step: Nanoseconds, groupBy: [RollupKeyField])
    case scope(QueryOptions)
    /// `scope --flows`: the endpoint's raw flow rows.
    case scopeFlows(QueryOptions, limit: Int)
    case flows(QueryOptions, match: String?, limit: Int, after: String?)
    case nodes

    /// The commands that take questions.
    public static let commands = ["top", "series", "rollup", "scope", "flows", "nodes"]

    /// The parameters each command takes, besides the window and the filters.
    static let own: [String: Set<String>] = [
        "top": ["by", "metric", "limit"],
        "series": ["step", "pair", "edge"],
        "rollup": ["step", "group-by"],
        "scope": ["flows", "limit"],
        "flows": ["match", "limit", "after"],
        "nodes": [],
    ]
    static let shared: Set<String> = ["from", "to", "kind", "proto", "endpoint", "tag", "user"]

    /// Parses a question; `now` anchors relative times such as `-24h`.
    ///
    /// - throws: ``QueryError`` naming the parameter when one is unknown or cannot be read.
    public init(command: String, parameters: [String: String], now: Nanoseconds = TimeWindow.now()) throws {
        guard let own = Self.own[command] else {
            throw QueryError("'\(command)' is not a question: use \(Self.commands.joined(separator: ", "))")
        }
        let allowed = command == "nodes" ? own : own.union(Self.shared)
        if let unknown = parameters.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw QueryError("\(command) takes no parameter '\(unknown)'; it takes \(allowed.sorted().joined(separator: ", "))")
        }
        let p = Parameters(values: parameters)
        if command == "nodes" {
            self = .nodes
            return
        }
        var options = try Self.options(p, now: now)
        switch command {
        case "top":
            guard let by = TopDimension(rawValue: p["by"] ?? "endpoint") else {
                throw QueryError("--by '\(p["by"]!)' is not a ranking: use endpoint, pair, port or proto")
            }
            self = .top(options, by: by, metric: try p.metric(), limit: try p.limit(default: 20))
        case "series":
            let step = try TimeWindow.parseStep(p["step"] ?? "1h")
            let given = [p["endpoint"], p["pair"], p["edge"]].compactMap { $0 }
            guard given.count <= 1 else { throw QueryError("give at most one of --endpoint, --pair and --edge") }
            var subject = SeriesSubject.all
            if let e = options.endpoint {
                subject = .endpoint(e)
                options.endpoint = nil
            } else if let pair = p["pair"] {
                let (a, b) = try Self.endpointPair(pair, option: "--pair")
                subject = .pair(a, b)
            } else if let edge = p["edge"] {
                let (a, b) = try Self.endpointPair(edge, option: "--edge")
                subject = .edge(a, b)
            }
            self = .series(options, step: step, subject: subject)
        case "rollup":
            let step = try TimeWindow.parseStep(p["step"] ?? "1h")
            self = .rollup(options, step: step, groupBy: try Self.groupBy(p["group-by"] ?? ""))
        case "scope":
            guard options.endpoint != nil else { throw QueryError("scope needs --endpoint E") }
            self = try p.flag("flows") ? .scopeFlows(options, limit: try p.limit(default: 1000)) : .scope(options)
        default: // flows
            self = .flows(options, match: p["match"], limit: try p.limit(default: 100), after: p["after"])
        }
    }

    static func options(_ p: Parameters, now: Nanoseconds) throws -> QueryOptions {
        var o = QueryOptions(window: try TimeWindow.parse(from: p["from"] ?? "-24h", to: p["to"] ?? "now", now: now))
        if let kind = p["kind"] { o.kinds = try parseKinds(kind) }
        if let proto = p["proto"] { o.proto = try parseProto(proto) }
        o.endpoint = p["endpoint"]
        o.tag = p["tag"]
        o.user = p["user"]
        return o
    }

    /// `virtual,subnet,exit,physical`, any subset.
    public static func parseKinds(_ text: String) throws -> Set<TrafficKind> {
        var kinds: Set<TrafficKind> = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces).lowercased()
            guard let k = TrafficKind(name: name) else {
                throw QueryError("--kind '\(part)' is not a traffic kind: use virtual, subnet, exit or physical")
            }
            kinds.insert(k)
        }
        guard !kinds.isEmpty else { throw QueryError("--kind needs at least one kind") }
        return kinds
    }

    /// A protocol number or name.
    public static func parseProto(_ text: String) throws -> UInt8 {
        switch text.lowercased() {
        case "tcp": return 6
        case "udp": return 17
        case "icmp": return 1
        case "icmpv6", "ipv6-icmp": return 58
        case "sctp": return 132
        default:
            guard let n = UInt8(text) else {
                throw QueryError("--proto '\(text)' is not a protocol: use a number (0-255) or tcp, udp, icmp, icmpv6")
            }
            return n
        }
    }

    /// `kind,proto,src,dst`, any subset, in the order given.
    public static func groupBy(_ text: String) throws -> [RollupKeyField] {
        var keys: [RollupKeyField] = []
        for part in text.split(separator: ",") {
            guard let k = RollupKeyField(rawValue: part.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw QueryError("--group-by '\(part)' is not a key: use kind, proto, src or dst")
            }
            if !keys.contains(k) { keys.append(k) }
        }
        return keys
    }

    /// Splits `A,B` into two endpoint arguments.
    public static func endpointPair(_ text: String, option: String) throws -> (String, String) {
        let parts = text.split(separator: ",", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw QueryError("\(option) takes two endpoints separated by a comma, such as db-1,alice-laptop")
        }
        return (parts[0], parts[1])
    }
}

/// Parameter values with the typed readings questions need.
struct Parameters {
    var values: [String: String]

    subscript(_ name: String) -> String? { values[name] }

    func metric() throws -> Metric {
        guard let m = Metric(rawValue: values["metric"] ?? "bytes") else {
            throw QueryError("--metric '\(values["metric"]!)' is not a metric: use bytes or packets")
        }
        return m
    }

    func limit(default d: Int) throws -> Int {
        guard let text = values["limit"] else { return d }
        guard let n = Int(text), n > 0 else { throw QueryError("--limit '\(text)' must be a positive whole number") }
        return n
    }

    func flag(_ name: String) throws -> Bool {
        switch values[name]?.lowercased() {
        case nil, "false", "0", "no": return false
        case "", "true", "1", "yes": return true
        default: throw QueryError("--\(name) is a flag: use true or false")
        }
    }
}

extension QueryEngine {
    /// Answers a question as the report the CLI prints and the server sends.
    public func answer(_ question: Question) throws -> Report {
        switch question {
        case .top(let o, let by, let metric, let limit):
            switch by {
            case .endpoint: .topEndpoints(try topEndpoints(o, metric: metric, limit: limit))
            case .pair: .topPairs(try topPairs(o, metric: metric, limit: limit))
            case .port: .topPorts(try topPorts(o, metric: metric, limit: limit))
            case .proto: .topProtocols(try topProtocols(o, metric: metric, limit: limit))
            }
        case .series(let o, let step, let subject):
            .series(try series(o, step: step, subject: subject))
        case .rollup(let o, let step, let groupBy):
            .rollup(try rollup(o, step: step, groupBy: groupBy), groupBy: groupBy)
        case .scope(let o):
            .scope(try scope(o))
        case .scopeFlows(let o, let limit):
            .flows(try flows(o, limit: limit))
        case .flows(let o, let match, let limit, let after):
            .flows(try flows(o, match: match, limit: limit, after: after))
        case .nodes:
            .nodes(try store.nodes())
        }
    }
}
