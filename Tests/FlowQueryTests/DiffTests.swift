import Foundation
import FlowFormat
import FlowModel
@testable import FlowQuery
import FlowStore
import MemoryStore
import Testing
import TestSupport

/// `diff` on a tailnet written by hand (a talker added, one removed, one ten times busier),
/// and, as a property, against two `top` answers on generated data.
@Suite(.ownThreads, .serialized)
struct DiffTests {
    static let s: Int64 = 1_000_000_000
    static let t0 = Timestamp.parseRFC3339("2026-11-20T12:00:00Z")!
    static let ip = ["a": "100.64.0.1", "b": "100.64.0.2", "c": "100.64.0.3", "d": "100.64.0.4"]

    /// A reports traffic with B and C every hour of the 7 days before t0 (1,000 bytes to each);
    /// in [t0, t0+1h) with B ten times that rate, with D for the first time, and nothing with C.
    static func handWritten(_ store: any FlowStorage) throws {
        func node(_ n: String) -> NodeInfo { NodeInfo(nodeID: "n\(n.uppercased())", name: "\(n).tail.ts.net", addresses: [IPAddress(ip[n]!)!]) }
        func message(_ t: Nanoseconds, _ peers: [(String, Int64)]) -> FlowMessage {
            FlowMessage(nodeID: "nA", start: t, end: t + 5 * s, srcNode: node("a"), dstNodes: peers.map { node($0.0) },
                        rows: peers.map { p, bytes in
                            FlowRow(kind: .virtual, proto: 6, src: IPAddress(ip["a"]!), srcPort: 40_000, dst: IPAddress(ip[p]!), dstPort: 443,
                                    txPackets: bytes / 100, txBytes: bytes)
                        })
        }
        try store.write(durability: .normal) { w in
            try w.begin()
            for h in 0..<(7 * 24) {
                try w.add(message(t0 - Int64(7 * 24 - h) * 3600 * s + 600 * s, [("b", 1000), ("c", 1000)]))
            }
            // 168,000 bytes over 7 days to B; ten times that rate over one hour is 10,000 bytes.
            try w.add(message(t0 + 60 * s, [("b", 4000), ("d", 500)]))
            try w.add(message(t0 + 1800 * s, [("b", 6000)]))
            try w.commit()
        }
    }

    static func stores() throws -> [(String, any FlowStorage)] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-diff-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let sqlite = try FlowStore(path: dir.appendingPathComponent("d.db").path)
        let memory = MemoryStore()
        try handWritten(sqlite)
        try handWritten(memory)
        return [("sqlite", sqlite), ("memory", memory)]
    }

    @Test func newGoneAndTenfoldAgainstTheSevenDaysBefore() throws {
        for (name, store) in try Self.stores() {
            let engine = QueryEngine(store: store)
            let window = TimeWindow(from: Self.t0, to: Self.t0 + 3600 * Self.s)
            let q = try Question(command: "diff", parameters: ["from": Timestamp.formatRFC3339(window.from), "to": Timestamp.formatRFC3339(window.to)])
            guard case .diff(let o, let baseline, let by, let factor, _) = q else { Issue.record("not a diff"); continue }
            #expect(baseline == TimeWindow(from: Self.t0 - 7 * 86_400 * Self.s, to: Self.t0))
            #expect(by == .pair && factor == 10)
            let rows = try engine.diff(o, baseline: baseline, by: .pair, factor: factor)
            let byPeer = Dictionary(uniqueKeysWithValues: rows.map { ($0.b!, $0) })
            #expect(rows.count == 3, "\(name): \(rows)")
            #expect(rows.map(\.b) == ["nB", "nD", "nC"], "\(name): ranked by the window's bytes, then the baseline's")
            let up = try #require(byPeer["nB"])
            #expect(up.change == .up && up.bytes == 10_000 && up.baselineBytes == 168_000 && up.packets == 100 && up.baselinePackets == 1680)
            #expect(abs(up.factor! - 10) < 1e-9, "\(name): a tenfold rate is factor 10, got \(String(describing: up.factor))")
            let new = try #require(byPeer["nD"])
            #expect(new.change == .new && new.baselineBytes == 0 && new.baselinePackets == 0 && new.bytes == 500 && new.factor == nil)
            let gone = try #require(byPeer["nC"])
            #expect(gone.change == .gone && gone.bytes == 0 && gone.baselineBytes == 168_000 && gone.factor == 0)
            #expect(up.a == "nA" && up.aName == "a.tail.ts.net" && up.bName == "b.tail.ts.net")

            // A factor above the change leaves B out; endpoints and ports compare the same way.
            #expect(try engine.diff(o, baseline: baseline, by: .pair, factor: 11).map(\.b) == ["nD", "nC"])
            let endpoints = try engine.diff(o, baseline: baseline, by: .endpoint, factor: 10)
            #expect(endpoints.map { "\($0.change) \($0.a!)" } == ["up nB", "new nD", "gone nC"], "\(name): A's total changed less than tenfold")
            let ports = try engine.diff(o, baseline: baseline, by: .port, factor: 1)
            #expect(ports.count == 1 && ports[0].port == 443 && ports[0].proto == 6 && ports[0].change == .up && abs(ports[0].factor! - 5.25) < 1e-9)

            // The same question through the report: every format, the JSON fields of the issue.
            let report = try engine.answer(q)
            let json = report.render(.json)
            #expect(json.contains(#""change": "up", "a": "nA", "b": "nB", "aName": "a.tail.ts.net", "bName": "b.tail.ts.net", "baselineBytes": 168000, "bytes": 10000, "baselinePackets": 1680, "packets": 100, "factor": 10}"#), "\(json)")
            #expect(json.contains(#""factor": null"#) && json.contains(#""factor": 0}"#))
            #expect(report.render(.csv).hasPrefix("change,a,b,aName,bName,baselineBytes,bytes,baselinePackets,packets,factor\r\n"))
            #expect(report.render(.ndjson).split(separator: "\n").count == 3)
            #expect(report.render(.table).contains("CHANGE"))
        }
    }

    @Test func nonsenseAndOverlappingBaselinesAreErrors() throws {
        let now = Self.t0
        let window = TimeWindow(from: now - 3600 * Self.s, to: now)
        #expect(throws: QueryError.self) { try QuestionText.baseline("-2h..-30m", window: window, now: now) }
        #expect(throws: QueryError.self) { try QuestionText.baseline("-1d..-2d", window: window, now: now) }
        #expect(throws: QueryError.self) { try QuestionText.baseline("yesterdayish", window: window, now: now) }
        #expect(throws: QueryError.self) { try QuestionText.baseline("-3h..later", window: window, now: now) }
        #expect(throws: QueryError.self) { try QuestionText.factor("0.5") }
        #expect(throws: QueryError.self) { try QuestionText.factor("ten") }
        #expect(throws: QueryError.self) { try QuestionText.diffBy("proto") }
        #expect(try QuestionText.baseline("-3h..-1h", window: window, now: now) == TimeWindow(from: now - 3 * 3600 * Self.s, to: now - 3600 * Self.s))
        #expect(try QuestionText.baseline("30d", window: window, now: now) == TimeWindow(from: window.from - 30 * 86_400 * Self.s, to: window.from))
        // A baseline after the window compares too ("what stopped since?").
        #expect(try QuestionText.baseline("now..2026-11-21", window: window, now: now).from == now)
        do {
            _ = try Question(command: "diff", parameters: ["from": "-1h", "baseline": "-2h..now"], now: now)
            Issue.record("an overlapping baseline was accepted")
        } catch let e as QueryError {
            #expect(e.message(for: .http).contains("baseline") && e.message(for: .http).contains("overlaps the window"))
        }
    }

    /// Property: for random disjoint windows and filters, a diff with factor 1 lists exactly the
    /// keys of the two `top` answers with their numbers, and each change follows from them.
    @Test(arguments: Backend.allCases, 1...3)
    func diffIsTwoTopAnswers(_ backend: Backend, _ seed: UInt64) throws {
        let f = try #require(PlannerPropertyTests.fixture)
        let engine = f.engine(backend)
        var rng = SplitMix(state: seed &* 7919)
        for _ in 0..<8 {
            var o = PlannerPropertyTests.randomOptions(f, &rng)
            let span = 3 * 3600 * Self.s
            let cut = f.start + Int64.random(in: 0...span, using: &rng)
            o.window = TimeWindow(from: cut, to: cut + Int64.random(in: 1...span, using: &rng))
            let length = Int64.random(in: 1...span, using: &rng)
            let baseline = Bool.random(using: &rng)
                ? TimeWindow(from: cut - length, to: cut - Int64.random(in: 0..<length, using: &rng) / 2)
                : TimeWindow(from: o.window.to, to: o.window.to + length)
            if Bool.random(using: &rng) { o.endpoint = f.oracle.endpoints.randomElement(using: &rng) }
            var before = o
            before.window = baseline
            let factor = [1.0, 2, 10].randomElement(using: &rng)!
            let context = "window \(o.window) baseline \(baseline) kinds \(o.kinds) endpoint \(o.endpoint ?? "-") factor \(factor)"
            func check(_ rows: [DiffRow], _ now: [String: (Int64, Int64)], _ then: [String: (Int64, Int64)], key: (DiffRow) -> String) {
                let listed = Dictionary(uniqueKeysWithValues: rows.map { (key($0), $0) })
                for k in Set(now.keys).union(then.keys) {
                    let (b, p) = now[k] ?? (0, 0), (bb, bp) = then[k] ?? (0, 0)
                    let rate = bb == 0 ? nil : (Double(b) / Double(o.window.to - o.window.from)) / (Double(bb) / Double(baseline.to - baseline.from))
                    let expected: DiffChange? = then[k] == nil ? .new : now[k] == nil ? .gone
                        : rate.map { $0 >= factor * (1 - 1e-9) ? .up : $0 <= (1 / factor) * (1 + 1e-9) ? .down : nil } ?? (b > 0 ? .up : nil)
                    guard let expected else {
                        #expect(listed[k] == nil, "\(k) changed less than the factor: \(context)")
                        continue
                    }
                    guard let r = listed[k] else {
                        Issue.record("\(k) missing: \(context)")
                        continue
                    }
                    #expect(r.change == expected && r.bytes == b && r.packets == p && r.baselineBytes == bb && r.baselinePackets == bp, "\(k): \(context)")
                }
                #expect(Set(listed.keys).isSubset(of: Set(now.keys).union(then.keys)), "\(context)")
                #expect(rows.map(\.bytes) == rows.map(\.bytes).sorted(by: >), "\(context)")
            }
            let pairs = { (w: QueryOptions) in try engine.topPairs(w, limit: .max).reduce(into: [String: (Int64, Int64)]()) { $0[$1.a + "|" + $1.b] = ($1.bytes, $1.packets) } }
            check(try engine.diff(o, baseline: baseline, by: .pair, factor: factor), try pairs(o), try pairs(before)) { $0.a! + "|" + $0.b! }
            let endpoints = { (w: QueryOptions) in try engine.topEndpoints(w, limit: .max).reduce(into: [String: (Int64, Int64)]()) { $0[$1.endpoint] = ($1.bytes, $1.packets) } }
            check(try engine.diff(o, baseline: baseline, by: .endpoint, factor: factor), try endpoints(o), try endpoints(before)) { $0.a! }
            let ports = { (w: QueryOptions) in try engine.topPorts(w, limit: .max).reduce(into: [String: (Int64, Int64)]()) { $0["\($1.proto)/\($1.port)"] = ($1.bytes, $1.packets) } }
            check(try engine.diff(o, baseline: baseline, by: .port, factor: factor), try ports(o), try ports(before)) { "\($0.proto)/\($0.port)" }
        }
    }
}
