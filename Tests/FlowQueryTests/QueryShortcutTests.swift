import Foundation
import FlowFormat
import FlowModel
@testable import FlowQuery
import FlowStore
import Testing
import TestSupport

/// The shortcuts questions take (reading only what can match, building only the rows shown)
/// must not change an answer: each is checked against the same question answered the long way.
@Suite(.ownThreads, .serialized)
struct QueryShortcutTests {
    /// Texts a `--match` keyword is likely to be: parts of node IDs, names, users, tags and
    /// addresses, ports the fixture's rows have and have not, and texts nothing has.
    static func needles(_ f: PlannerPropertyTests.Fixture, _ rng: inout SplitMix) throws -> [String] {
        var out = ["nosuchhost", "0", "443", "5432", "41641", "3389", "65000", "100.", "fd7a", ":", "CNTRL", "#", "address#1", "tag:"]
        for n in try f.store.nodes() {
            out.append(n.nodeID)
            if let name = n.name { out.append(String(name.prefix(Int.random(in: 2...max(2, name.count), using: &rng)))) }
            if let user = n.user { out.append(user.uppercased()) }
            out += n.tags
            for a in n.addresses { out.append(String(a.prefix(Int.random(in: 4...max(4, a.count), using: &rng)))) }
        }
        return out
    }

    /// The SQLite store reads only the spans its rollups say can match; the memory store cannot
    /// search its addresses, so it reads every row and tests each by text: the long way.
    @Test(arguments: 1...3)
    func flowsMatchReadsOnlyWhatCanMatchAndFindsTheSameRows(_ seed: UInt64) throws {
        let f = try #require(PlannerPropertyTests.fixture)
        var rng = SplitMix(state: seed)
        let needles = try Self.needles(f, &rng)
        for needle in needles.shuffled(using: &rng).prefix(12) {
            var o = PlannerPropertyTests.randomOptions(f, &rng)
            o.tag = nil
            let pruned = try f.engine(.sqlite).flowsPage(o, match: needle, limit: 40, countUpTo: 1_000_000)
            let long = try f.engine(.memory).flowsPage(o, match: needle, limit: 40, countUpTo: 1_000_000)
            #expect(pruned.total == long.total, "match \(needle) window \(o.window) kinds \(o.kinds)")
            #expect(pruned.rows.map(\.cursor) == long.rows.map(\.cursor), "match \(needle) window \(o.window)")
            // And the long way spelled out: every row of the window, tested by text.
            let all = try f.engine(.sqlite).flows(o, limit: .max)
            let lower = needle.lowercased()
            let nodes = try f.store.nodes()
            let want = all.filter { r in
                if let p = UInt16(lower), p == r.srcPort || p == r.dstPort { return true }
                for id in [r.reporter, r.srcNode, r.dstNode].compactMap({ $0 }) {
                    guard let n = nodes.first(where: { $0.nodeID == id }) else { continue }
                    if ([n.nodeID, n.name ?? "", n.user ?? ""] + n.tags).contains(where: { $0.lowercased().contains(lower) }) { return true }
                }
                return [r.src, r.dst].compactMap { $0 }.contains { $0.contains(lower) }
            }
            #expect(pruned.total == want.count, "match \(needle) window \(o.window)")
            #expect(pruned.rows.map(\.cursor) == want.prefix(40).map(\.cursor), "match \(needle) window \(o.window)")
        }
    }

    /// A page after a cursor continues where the previous one stopped, pruned or not.
    @Test func flowsMatchPagesThroughEveryRow() throws {
        let f = try #require(PlannerPropertyTests.fixture)
        let o = QueryOptions(window: TimeWindow(from: f.start, to: f.start + 3 * 3600 * Timestamp.nanosPerSecond))
        let node = try #require(try f.store.nodes().first(where: { $0.name != nil }))
        let needle = String(node.name!.split(separator: ".")[0])
        let whole = try f.engine(.memory).flows(o, match: needle, limit: .max)
        #expect(whole.count > 10)
        var paged: [FlowLogRow] = []
        var after: String? = nil
        repeat {
            let page = try f.engine(.sqlite).flows(o, match: needle, limit: 7, after: after)
            paged += page
            after = page.count == 7 ? page.last?.cursor : nil
        } while after != nil
        #expect(paged.map(\.cursor) == whole.map(\.cursor))
    }

    /// `top` built only the rows it shows, with the count of all of them: the same first rows
    /// and the same count as ranking every row.
    @Test(arguments: 1...3)
    func topShowsTheFirstRowsOfTheWholeRanking(_ seed: UInt64) throws {
        let f = try #require(PlannerPropertyTests.fixture)
        var rng = SplitMix(state: seed)
        for _ in 0..<10 {
            let o = PlannerPropertyTests.randomOptions(f, &rng)
            let limit = Int.random(in: 1...12, using: &rng)
            for metric in [Metric.bytes, .packets] {
                let allEndpoints = try f.engine.topEndpoints(o, metric: metric, limit: .max)
                let endpoints = try f.engine.answer(.top(o, by: .endpoint, metric: metric, limit: limit))
                #expect(endpoints.rows == Report.topEndpoints(Array(allEndpoints.prefix(limit))).rows)
                #expect(endpoints.cut == Report.Cut(total: allEndpoints.count))
                let allPairs = try f.engine.topPairs(o, metric: metric, limit: .max)
                let pairs = try f.engine.answer(.top(o, by: .pair, metric: metric, limit: limit))
                #expect(pairs.rows == Report.topPairs(Array(allPairs.prefix(limit))).rows)
                #expect(pairs.cut == Report.Cut(total: allPairs.count))
                // The memory store (no shortcuts of the store's own) ranks the same.
                #expect(try f.engine(.memory).topPairs(o, metric: metric, limit: limit) == Array(allPairs.prefix(limit)))
            }
        }
    }

    /// Pairs against the oracle: both directions folded, `a` the smaller key in byte order.
    @Test(arguments: 1...3)
    func topPairsMatchTheNaiveOracle(_ seed: UInt64) throws {
        let f = try #require(PlannerPropertyTests.fixture)
        var rng = SplitMix(state: seed)
        for _ in 0..<10 {
            let o = PlannerPropertyTests.randomOptions(f, &rng)
            var pairs: [String: (ab: (Int64, Int64), ba: (Int64, Int64))] = [:]
            for (_, from, to, p, b, _, _, _) in f.oracle.edges(o, endpoint: nil) {
                let forward = !to.utf8.lexicographicallyPrecedes(from.utf8)
                let key = forward ? "\(from) \(to)" : "\(to) \(from)"
                var v = pairs[key] ?? ((0, 0), (0, 0))
                if forward { v.ab.0 += p; v.ab.1 += b } else { v.ba.0 += p; v.ba.1 += b }
                pairs[key] = v
            }
            let want = pairs.filter { $0.value.ab != (0, 0) || $0.value.ba != (0, 0) }
                .map { "\($0.key) \($0.value.ab.1) \($0.value.ba.1) \($0.value.ab.0) \($0.value.ba.0)" }.sorted()
            let got = try f.engine.topPairs(o, limit: .max).map { "\($0.a) \($0.b) \($0.abBytes) \($0.baBytes) \($0.abPackets) \($0.baPackets)" }.sorted()
            #expect(got == want, "window \(o.window) kinds \(o.kinds) proto \(String(describing: o.proto)) tag \(o.tag ?? "-")")
        }
    }
}
