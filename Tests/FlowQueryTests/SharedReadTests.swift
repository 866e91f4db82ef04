import FlowModel
@testable import FlowQuery
import Testing
import TestSupport

/// Questions answered together (``QueryEngine/answers(_:)``, one read per group) give exactly
/// what each gives alone, on both stores, whatever the window, filters, steps and subjects.
@Suite(.ownThreads, .serialized)
struct SharedReadTests {
    @Test(arguments: Backend.allCases, 1...4)
    func answersTogetherEqualAnswersAlone(_ backend: Backend, seed: UInt64) throws {
        let f = try #require(PlannerPropertyTests.fixture)
        let engine = f.engine(backend)
        var rng = SplitMix(state: seed &* 7919)
        for _ in 0..<4 {
            let o = PlannerPropertyTests.randomOptions(f, &rng)
            let endpoints = f.oracle.endpoints.filter { $0 != "*" }
            let e = endpoints.randomElement(using: &rng)!, peer = endpoints.randomElement(using: &rng)!
            var filtered = o
            filtered.endpoint = e
            let step = [Int64(300), 3600, 86_400].randomElement(using: &rng)! * Timestamp.nanosPerSecond
            let metric = Metric.allCases.randomElement(using: &rng)!
            let questions: [Question] = [
                .rollup(o, step: step, groupBy: [.kind]),
                .top(o, by: .endpoint, metric: metric, limit: 5), .top(o, by: .pair, metric: metric, limit: 5),
                .top(o, by: .port, metric: metric, limit: 5), .top(o, by: .proto, metric: metric, limit: 3),
                .series(o, step: step, subject: .all), .rollup(o, step: step, groupBy: []),
                .rollup(o, step: step, groupBy: [.src, .proto]),
                // An endpoint's page: its rollup by source, its series, its scope.
                .rollup(filtered, step: step, groupBy: [.src]), .series(o, step: step, subject: .endpoint(e)), .scope(filtered),
                .top(filtered, by: .pair, metric: metric, limit: 5),
                // A pair's page: both edges and the pair.
                .series(o, step: step, subject: .edge(e, peer)), .series(o, step: step, subject: .edge(peer, e)),
                .series(o, step: step, subject: .pair(e, peer)),
            ]
            let together = try engine.answers(questions)
            #expect(together.count == questions.count)
            for (q, answer) in zip(questions, together) {
                #expect(answer == (try Self.alone(engine, q)), "\(q)")
            }
            // Each question alone through answers(_:) too.
            for q in questions.prefix(3) { #expect(try engine.answers([q]) == [try Self.alone(engine, q)]) }
        }
    }

    @Test func flowsAndNodesAreNotAnsweredTogether() throws {
        let f = try #require(PlannerPropertyTests.fixture)
        let o = QueryOptions(window: TimeWindow(from: f.start, to: f.start + 3600 * Timestamp.nanosPerSecond))
        #expect(throws: QueryError.self) { try f.engine.answers([.top(o, by: .endpoint, metric: .bytes, limit: 1), .nodes]) }
        #expect(throws: QueryError.self) { try f.engine.answers([.flows(o, match: nil, limit: 5, after: nil)]) }
    }

    static func alone(_ engine: QueryEngine, _ q: Question) throws -> QueryEngine.Answer {
        switch q {
        case .top(let o, .endpoint, let m, let n): .topEndpoints(try engine.topEndpoints(o, metric: m, limit: n))
        case .top(let o, .pair, let m, let n): .topPairs(try engine.topPairs(o, metric: m, limit: n))
        case .top(let o, .port, let m, let n): .topPorts(try engine.topPorts(o, metric: m, limit: n))
        case .top(let o, .proto, let m, let n): .topProtocols(try engine.topProtocols(o, metric: m, limit: n))
        case .series(let o, let step, let subject): .series(try engine.series(o, step: step, subject: subject))
        case .rollup(let o, let step, let groupBy): .rollup(try engine.rollup(o, step: step, groupBy: groupBy))
        case .scope(let o): .scope(try engine.scope(o))
        default: throw QueryError("not asked")
        }
    }
}
