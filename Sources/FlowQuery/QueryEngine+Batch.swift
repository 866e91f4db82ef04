import Dispatch
import FlowModel
import FlowStore
import Foundation

extension QueryEngine {
    /// The rows of one answer, typed (a ranking, a series, a rollup, a scope).
    public enum Answer: Sendable, Equatable {
        case topEndpoints([TopEndpointRow])
        case topPairs([TopPairRow])
        case topPorts([TopPortRow])
        case topProtocols([TopProtoRow])
        case series([SeriesPoint])
        case rollup([RollupRow])
        case scope([ScopePeer])
    }

    /// Answers several questions, reading the store once for each group of them that share a
    /// window, filters and bucketing; each answer holds the rows the question's own call gives
    /// (``topEndpoints(_:metric:limit:)``, ``series(_:step:subject:)``, ``rollup(_:step:groupBy:)``, …).
    ///
    /// A page asks three or four questions of one window (a chart by kind and the top endpoints,
    /// pairs and ports; an endpoint's rollup and series): `top` questions with the same options
    /// share one read, and `series` and `rollup` questions with the same options and step share
    /// another. A series of one endpoint shares with questions filtered to that endpoint. A
    /// `scope` is answered on its own. The reads run side by side (each in its own snapshot, as
    /// separate calls would), so the answers take as long as the slowest read, not their sum.
    ///
    /// For example:
    /// ```swift
    /// let o = QueryOptions(window: try QuestionText.window(from: "-24h", to: "now"))
    /// let answers = try engine.answers([.top(o, by: .endpoint, metric: .bytes, limit: 10),
    ///                                   .top(o, by: .pair, metric: .bytes, limit: 10)])
    /// // one read of the store; answers[0] is .topEndpoints(…), answers[1] .topPairs(…)
    /// ```
    ///
    /// - parameter questions: `top`, `series`, `rollup` and `scope` questions, in any order.
    /// - returns: One answer per question, in the order asked.
    /// - throws: ``QueryError`` when a question cannot be answered as asked (or is a `flows`
    ///   or `nodes` question, whose rows are pages: ask ``answer(_:)``); ``StoreError``.
    public func answers(_ questions: [Question]) throws -> [Answer] {
        var answers = [Answer?](repeating: nil, count: questions.count)
        var groups: [[(index: Int, member: Shared)]] = []
        for (i, q) in questions.enumerated() {
            guard let member = try Shared(q) else { continue }
            if let g = groups.firstIndex(where: { $0[0].member.sharesRead(with: member) }) {
                groups[g].append((i, member))
            } else {
                groups.append([(i, member)])
            }
        }
        var reads: [() throws -> [(Int, Answer)]] = groups.map { group in
            { try read(group[0].member.options) { ctx in Array(zip(group.map(\.index), try answer(group.map(\.member), ctx))) } }
        }
        for (i, q) in questions.enumerated() where !Shared.canShare(q) {
            guard case .scope(let o) = q else { throw QueryError("answers(_:) takes top, series, rollup and scope questions") }
            reads.append { [(i, .scope(try scope(o)))] }
        }
        // The reads are independent (each its own snapshot, as separate calls would be): run
        // them side by side, so a page waits for its slowest read rather than for their sum.
        // Each read runs on one thread and only reads what it captured (the engine, its questions).
        nonisolated(unsafe) let work = reads
        let results = Slots<Result<[(Int, Answer)], any Error>>(reads.count)
        DispatchQueue.concurrentPerform(iterations: work.count) { r in
            results[r] = Result { try work[r]() }
        }
        for r in reads.indices {
            for (i, answer) in try results[r]!.get() { answers[i] = answer }
        }
        return answers.map { $0! }
    }

    /// A question that can share a read: a ranking, a series or a rollup.
    struct Shared {
        enum Kind {
            case top(TopDimension, Metric, limit: Int)
            case series(step: Nanoseconds, subject: SeriesSubject)
            case rollup(step: Nanoseconds, groupBy: [RollupKeyField])
        }

        var options: QueryOptions
        var kind: Kind
        /// What rollup levels the read must divide (nil: any level, for rankings).
        var alignment: Nanoseconds?

        /// Whether a question can share a read (else it is answered alone).
        static func canShare(_ question: Question) -> Bool {
            switch question {
            case .top, .series, .rollup: true
            default: false
            }
        }

        /// nil for questions that are answered alone.
        init?(_ question: Question) throws {
            switch question {
            case .top(let o, let by, let metric, let limit):
                (options, kind, alignment) = (o, .top(by, metric, limit: limit), nil)
            case .series(var o, let step, var subject):
                // A series of one endpoint is the endpoint filter's traffic: the same edges.
                if case .endpoint(let e) = subject, o.endpoint == nil { (o.endpoint, subject) = (e, .all) }
                (options, kind) = (o, .series(step: step, subject: subject))
                alignment = try o.window.bucketing(step: step, zone: o.zone).alignment
            case .rollup(let o, let step, let groupBy):
                (options, kind) = (o, .rollup(step: step, groupBy: groupBy))
                alignment = try o.window.bucketing(step: step, zone: o.zone).alignment
            default:
                return nil
            }
        }

        /// Whether both read the same observations: the same window and filters, the same levels.
        func sharesRead(with other: Shared) -> Bool {
            let a = options, b = other.options
            return alignment == other.alignment && a.window == b.window && a.candidateKinds == b.candidateKinds && a.kinds == b.kinds
                && a.proto == b.proto && a.endpoint == b.endpoint && a.tag == b.tag && a.user == b.user && a.zone == b.zone
                && a.filter == b.filter
        }
    }

    /// Answers questions that share a read, in one pass over the counted edges.
    func answer(_ members: [Shared], _ ctx: QueryContext) throws -> [Answer] {
        var directed: DirectedTally? = nil
        var ports: PortTally? = nil
        var protos: ProtoTally? = nil
        var series: [SeriesTally] = []
        var rollups: [RollupTally] = []
        // Series of pairs and edges read only their ends' reports; with anything else, every report.
        var observers: Set<Int64>? = []
        for m in members {
            switch m.kind {
            case .top(let by, _, _):
                switch by {
                case .endpoint, .pair: if directed == nil { directed = DirectedTally(ctx) }
                case .port: ports = PortTally()
                case .proto: protos = ProtoTally()
                }
                observers = nil
            case .series(let step, let subject):
                let tally = try SeriesTally(ctx, step: step, subject: subject)
                if let o = tally.observers, let all = observers { observers = all.union(o) } else { observers = nil }
                series.append(tally)
            case .rollup(let step, let groupBy):
                rollups.append(try RollupTally(ctx, step: step, groupBy: groupBy))
                observers = nil
            }
        }
        if var only = directed, ports == nil, protos == nil, series.isEmpty, rollups.isEmpty {
            // Rankings by endpoint and pair alone: edge sums serve where a bucket has them.
            try ctx.countedEdges(ctx.options.window) { from, to, p, b in only.add(from, to, p, b) }
            directed = only
        } else {
            try ctx.edges(ctx.options.window, step: members[0].alignment, observers: observers) { o, from, to, p, b in
                directed?.add(from, to, p, b)
                ports?.add(o, p, b)
                protos?.add(o, p, b)
                for i in series.indices { series[i].add(o, from, to, p, b) }
                for i in rollups.indices { rollups[i].add(o, from, to, p, b) }
            }
        }
        let edges = directed
        var (s, r) = (0, 0)
        return try members.map { m in
            switch m.kind {
            case .top(let by, let metric, let limit):
                switch by {
                case .endpoint: return .topEndpoints(try topEndpoints(ctx, metric: metric, limit: limit, edges: edges))
                case .pair: return .topPairs(try topPairs(ctx, metric: metric, limit: limit, edges: edges))
                case .port: return .topPorts(try topPorts(ctx, metric: metric, limit: limit, sums: ports!.sums))
                case .proto: return .topProtocols(Self.protoRows(protos!.sums, metric: metric, limit: limit))
                }
            case .series:
                defer { s += 1 }
                return .series(series[s].points)
            case .rollup:
                defer { r += 1 }
                return .rollup(try rollups[r].rows(ctx))
            }
        }
    }
}

/// Values written by concurrent work, one slot each.
final class Slots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [T?]

    init(_ count: Int) {
        values = Array(repeating: nil, count: count)
    }

    subscript(_ i: Int) -> T? {
        get { lock.withLock { values[i] } }
        set { lock.withLock { values[i] = newValue } }
    }
}
