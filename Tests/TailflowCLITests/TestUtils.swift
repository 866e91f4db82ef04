import Foundation
import FlowModel
import FlowStore
import GRDB
import StoreDump
import TestSupport

/// Runs the real `tailflow` binary that `swift build` put beside the test bundle.
enum CLI {
    static let binary = TailflowBinary.path

    typealias Result = ProcessOutput

    /// Runs `tailflow args…` with `TAILFLOW_DB=db` and waits for it without holding a thread
    /// (``TailflowBinary/run(_:env:stdin:)``).
    @discardableResult
    static func run(_ args: [String], db: String? = nil, stdin: Data? = nil, env: [String: String] = [:]) async throws -> Result {
        try await TailflowBinary.run(args, env: environment(db, env), stdin: stdin)
    }

    /// ``run(_:db:stdin:env:)`` on the calling thread, for the few places that cannot wait (closures of
    /// synchronous APIs).
    @discardableResult
    static func runBlocking(_ args: [String], db: String? = nil, stdin: Data? = nil, env: [String: String] = [:]) throws -> Result {
        try TailflowBinary.runBlocking(args, env: environment(db, env), stdin: stdin)
    }

    /// Runs a configured process to its end, feeding `stdin` and reading both pipes.
    static func collect(_ p: Process, stdin: Data? = nil) throws -> Result {
        try runToEnd(p, stdin: stdin)
    }

    /// A configured, not yet started process.
    static func start(_ args: [String], db: String?, env: [String: String] = [:]) -> Process {
        TailflowBinary.process(args, env: environment(db, env))
    }

    static func environment(_ db: String?, _ env: [String: String]) -> [String: String] {
        var env = env
        if let db { env["TAILFLOW_DB"] = db }
        return env
    }
}

/// Everything a store holds that ingest decides, in a form that does not depend
/// on internal ids or wall-clock times: equal dumps mean equal stored content.
enum Dump {
    static func of(_ path: String) throws -> [String] {
        try StoreDump.lines(path)
    }

    /// Raw row sums and every rollup step's sums, read in one transaction.
    static func totals(_ path: String) throws -> (messages: Int, raw: [Int64], steps: [[Int64]]) {
        let db = try DatabaseQueue(path: path, configuration: { var c = Configuration(); c.readonly = true; c.busyMode = .timeout(10); return c }())
        return try db.read { db in
            var raw: [Int64] = [0, 0, 0, 0]
            var messages = 0
            for m in try FlowStore.storedMessages(db) {
                messages += 1
                for r in try RowCodec.decode(m.rows) {
                    raw[0] += r.txPackets; raw[1] += r.txBytes; raw[2] += r.rxPackets; raw[3] += r.rxBytes
                }
            }
            let steps = try [60, 3600, 86_400].map { step -> [Int64] in
                var sums: [Int64] = [0, 0, 0, 0]
                for row in try Row.fetchAll(db, sql: "SELECT sums FROM rollups WHERE step = ?", arguments: [step]) {
                    for e in try RollupCodec.decode(Array(row[0] as Data)) {
                        sums[0] += e.counters.txPackets; sums[1] += e.counters.txBytes
                        sums[2] += e.counters.rxPackets; sums[3] += e.counters.rxBytes
                    }
                }
                return sums
            }
            return (messages, raw, steps)
        }
    }
}

