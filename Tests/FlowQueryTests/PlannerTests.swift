import FlowModel
@testable import FlowStore
@testable import FlowQuery
import Testing
import TestSupport

@Suite(.ownThreads)
struct PlannerTests {
    static let t0 = Timestamp.parseRFC3339("2026-11-01T00:00:00Z")!
    static let s: Int64 = 1_000_000_000

    @Test func wholeBucketsFromRollupsRaggedEdgesRaw() {
        let from = Self.t0 - 90 * Self.s       // 23:58:30 the day before
        let to = Self.t0 + 86_400 * Self.s + 3 * 3600 * Self.s + 150 * Self.s + 7  // next day 03:02:30 + 7ns
        let plan = Planner.plan(TimeWindow(from: from, to: to))
        #expect(plan == [
            .raw(from: from, to: Self.t0 - 60 * Self.s),
            .rollup(step: 60, from: Self.t0 - 60 * Self.s, to: Self.t0),
            .rollup(step: 86_400, from: Self.t0, to: Self.t0 + 86_400 * Self.s),
            .rollup(step: 3600, from: Self.t0 + 86_400 * Self.s, to: Self.t0 + 86_400 * Self.s + 3 * 3600 * Self.s),
            .rollup(step: 60, from: Self.t0 + 86_400 * Self.s + 3 * 3600 * Self.s, to: Self.t0 + 86_400 * Self.s + 3 * 3600 * Self.s + 120 * Self.s),
            .raw(from: Self.t0 + 86_400 * Self.s + 3 * 3600 * Self.s + 120 * Self.s, to: to),
        ])
    }

    @Test func aStepThatLevelsDoNotDivideFallsBackToFinerLevels() {
        let w = TimeWindow(from: Self.t0, to: Self.t0 + 2 * 86_400 * Self.s)
        #expect(Planner.plan(w, step: 7200 * Self.s) == [.rollup(step: 3600, from: w.from, to: w.to)])
        #expect(Planner.plan(w, step: 90 * Self.s) == [.raw(from: w.from, to: w.to)])
        #expect(Planner.plan(w, step: 300 * Self.s) == [.rollup(step: 60, from: w.from, to: w.to)])
    }

    /// A refusal for time after the mark of the longer levels (schema/012) whose hours are gone
    /// must not suggest a day boundary there: the day level holds nothing after its mark.
    @Test func aRefusalPastTheMarkSuggestsNoBoundaryOfALaggingLevel() {
        let h = 3600 * Self.s
        let mark = Self.t0 + 6 * h
        // (Hours pruned past the mark: a prune no longer does this, but stores pruned before it may be so.)
        var coverage = LevelCoverage(keptFrom: [0: Self.t0 + 10 * h, 60: Self.t0 + 10 * h, 3600: Self.t0 + 10 * h],
                                     policy: [0: "1h", 60: "1h", 3600: "1h"])
        for level in RollupStep.all where level >= RollupStep.day { coverage.completeTo[level] = mark }
        let window = TimeWindow(from: Self.t0 + 8 * h, to: Self.t0 + 2 * 86_400 * Self.s)
        let plan = Planner.plan(window, coverage: coverage)
        #expect(plan.first == .missing(from: window.from, to: Self.t0 + 10 * h))
        let text = Planner.gapError((window.from, Self.t0 + 10 * h), window: window, coverage: coverage).description
        #expect(!text.contains("boundary"), "\(text)")
        #expect(text.contains("1d rollups and longer hold only the flow rows before 2026-11-01T06:00:00Z"), "\(text)")
        #expect(text.contains("the earliest time available for it is 2026-11-01T10:00:00Z"), "\(text)")
        // The same before the mark's day: a day boundary there helps, and is offered.
        let d = 86_400 * Self.s
        var before = LevelCoverage(keptFrom: [0: Self.t0 + d, 60: Self.t0 + d, 3600: Self.t0 + d], policy: [0: "1h", 60: "1h", 3600: "1h"])
        for level in RollupStep.all where level >= RollupStep.day { before.completeTo[level] = Self.t0 + d + 6 * h }
        let early = TimeWindow(from: Self.t0 + 3 * h, to: Self.t0 + 2 * d)
        #expect(Planner.plan(early, coverage: before).first == .missing(from: early.from, to: Self.t0 + d))
        let offer = Planner.gapError((early.from, Self.t0 + d), window: early, coverage: before).description
        #expect(offer.contains("1d boundary: 2026-11-01T03:00:00Z does not (use 2026-11-01T00:00:00Z"), "\(offer)")
    }

    @Test(arguments: 0..<200)
    func segmentsTileTheWindowExactly(_ seed: Int) {
        var rng = SystemRandomNumberGenerator()
        let from = Self.t0 + Int64.random(in: -3 * 86_400 * Self.s...3 * 86_400 * Self.s, using: &rng)
        let to = from + Int64.random(in: 1...4 * 86_400 * Self.s, using: &rng)
        let plan = Planner.plan(TimeWindow(from: from, to: to))
        var at = from
        for segment in plan {
            switch segment {
            case .raw(let a, let b):
                #expect(a == at && a < b)
                at = b
            case .rollup(let step, let a, let b):
                #expect(a == at && a < b)
                #expect(a % (step * Self.s) == 0 && b % (step * Self.s) == 0)
                at = b
            case .missing:
                Issue.record("nothing was pruned, yet the plan has a gap")
            }
        }
        #expect(at == to)
    }

    @Test func timesAsPeopleWriteThem() throws {
        let now = Self.t0 + 12 * 3600 * Self.s
        #expect(try TimeWindow.parseTime("now", now: now) == now)
        #expect(try TimeWindow.parseTime("-15m", now: now) == now - 900 * Self.s)
        #expect(try TimeWindow.parseTime("-7d", now: now) == now - 7 * 86_400 * Self.s)
        #expect(try TimeWindow.parseTime("2026-11-01", now: now) == Self.t0)
        #expect(try TimeWindow.parseTime("2026-11-01T02:00:00+02:00", now: now) == Self.t0)
        for bad in ["yesterday", "-15", "15m", "2026-13-01", ""] {
            #expect(throws: QueryError.self) { try TimeWindow.parseTime(bad, now: now) }
        }
        #expect(throws: QueryError.self) { try TimeWindow.parse(from: "now", to: "-1h", now: now) }
        #expect(throws: QueryError.self) { try TimeWindow.parse(from: "now", to: "now", now: now) }
        #expect(throws: QueryError.self) { try TimeWindow.parseStep("0s") }
        #expect(throws: QueryError.self) { try TimeWindow.parseStep("1500ms") }
        #expect(try TimeWindow.parseStep("5m") == 300 * Self.s)
        #expect(throws: QueryError.self) { try TimeWindow(from: 0, to: 30 * 86_400 * Self.s).buckets(step: Self.s) }
    }
}
