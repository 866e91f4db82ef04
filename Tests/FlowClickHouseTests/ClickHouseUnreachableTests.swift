@testable import FlowClickHouse
import Foundation
import TestSupport
import Testing

/// A server that cannot be reached: one budget of retries per client, however many statements a
/// command sends, at once or one after the other. Before, a question sent two statements at once
/// and a third after them, each with a budget of its own: `top` against a closed port printed 21
/// "retrying" lines, each twice, and failed after a minute; `scope` opened the store twice and
/// printed 28.
///
/// Needs no ClickHouse server (a closed port on loopback), so it runs beside the serialized
/// ClickHouse suites, not in them.
@Suite(.ownThreads) struct ClickHouseUnreachableTests {
    /// `tailflow args… --store clickhouse://127.0.0.1:<closed port>/db`.
    static func againstClosedPort(_ args: [String]) async throws -> (ProcessOutput, server: String) {
        let port = try ClickHouseServer.freePort(on: ["127.0.0.1"])
        let out = try await TailflowBinary.run(args + ["--store", "clickhouse://127.0.0.1:\(port)/flows"])
        return (out, "127.0.0.1:\(port)")
    }

    /// Each command fails naming the server, after exactly the 7 retries of one budget (attempts
    /// 2–8, each announced once), whatever it sends.
    @Test(arguments: [
        ["top", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"],
        ["scope", "--endpoint", "db-1", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T01:00:00Z"],
        ["series", "--step", "1h"],
        ["coverage", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"],
    ])
    func aQuestionSpendsOneBudgetOfRetries(_ args: [String]) async throws {
        let (out, server) = try await Self.againstClosedPort(args)
        #expect(out.status == 1, "\(out.stderr)")
        #expect(out.stdout.isEmpty)
        #expect(out.stderr.contains("clickhouse server \(server): cannot reach the server: connection refused"), "\(out.stderr)")
        let retries = out.stderr.split(separator: "\n").filter { $0.contains("; retrying (attempt ") }
        let announced = retries.compactMap { line in line.split(separator: "(attempt ").last.flatMap { Int($0.dropLast()) } }
        #expect(announced == Array(2...8), "\(retries.count) retries:\n\(out.stderr)")
    }

    /// The budget itself: retries are numbered across statements, a statement that reaches the
    /// server makes it whole, and a spent budget stays spent for the policy's rest.
    @Test func theBudgetIsSharedAndRefilledByASuccess() {
        let budget = ClickHouseClient.RetryBudget(.init(attempts: 4, rest: .seconds(3600)))
        #expect([budget.take(), budget.take(), budget.take(), budget.take(), budget.take()] == [1, 2, 3, nil, nil])
        budget.reached()
        #expect([budget.take(), budget.take()] == [1, 2])

        let resting = ClickHouseClient.RetryBudget(.init(attempts: 2, rest: .zero))
        #expect([resting.take(), resting.take()] == [1, nil])
        // Its rest is over at once: a fresh budget.
        #expect(resting.take() == 1)
    }

    @Test func theWaitDoublesUpToTheMaximum() {
        let policy = ClickHouseClient.RetryPolicy(firstDelay: .milliseconds(200), maxDelay: .seconds(5))
        #expect((1...8).map { policy.delay(beforeRetry: $0) }
                == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
                    .milliseconds(3200), .seconds(5), .seconds(5), .seconds(5)])
    }
}
