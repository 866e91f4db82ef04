import Foundation
import FlowModel
import FlowStore
import GRDB
import StoreDump

/// Runs the real `tailflow` binary that `swift build` put beside the test bundle.
enum CLI {
    static let binary: String = {
        if let env = ProcessInfo.processInfo.environment["TAILFLOW_BIN"] { return env }
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("tailflow")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url.path }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/tailflow").path
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `tailflow args…` with `TAILFLOW_DB=db` and waits for it.
    @discardableResult
    static func run(_ args: [String], db: String? = nil, stdin: Data? = nil, env: [String: String] = [:]) throws -> Result {
        try collect(start(args, db: db, env: env), stdin: stdin)
    }

    /// Runs a configured process to its end, feeding `stdin` and reading both pipes.
    static func collect(_ p: Process, stdin: Data? = nil) throws -> Result {
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try p.run()
        if let stdin {
            DispatchQueue.global().async {
                input.fileHandleForWriting.write(stdin)
                try? input.fileHandleForWriting.close()
            }
        }
        // Read both pipes to the end before waiting, so a full pipe never blocks the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// A configured, not yet started process.
    static func start(_ args: [String], db: String?, env: [String: String] = [:]) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "TAILFLOW_DB")
        if let db { environment["TAILFLOW_DB"] = db }
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        return p
    }
}

enum Fixtures {
    static let root: URL = {
        if let env = ProcessInfo.processInfo.environment["TAILFLOW_FIXTURES"] { return URL(fileURLWithPath: env) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }()

    static func path(_ p: String) -> String { root.appendingPathComponent(p).path }

    static var containers: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path("containers"))) ?? []).sorted()
    }
}

final class TempDir {
    let url: URL

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-cli-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
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
            for row in try Row.fetchAll(db, sql: "SELECT rows FROM messages") {
                messages += 1
                for r in try RowCodec.decode(Array(row[0] as Data)) {
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

/// JSON Lines of simple messages, `count` of them, from `reporters` nodes.
enum Synthetic {
    static func jsonl(count: Int, reporters: Int = 50, rows: Int = 6) -> Data {
        var out = ""
        out.reserveCapacity(count * 800)
        let t0: Int64 = 1_793_527_200
        for i in 0..<count {
            let start = t0 + Int64(i / reporters * 5)
            var conns: [String] = []
            for r in 0..<rows {
                conns.append(#"{"proto":6,"src":"100.64.0.\#(i % reporters + 1):\#(40000 + r)","dst":"100.64.1.\#(r % 50 + 1):443","txPkts":\#(r + 1),"txBytes":\#(1000 * (r + 1)),"rxPkts":\#(i % 7 + 1),"rxBytes":\#(i * 13 % 100000)}"#)
            }
            out += #"{"nodeId":"n\#(i % reporters)","start":"\#(Timestamp.formatRFC3339(start * 1_000_000_000))","end":"\#(Timestamp.formatRFC3339((start + 5) * 1_000_000_000 - 1))","srcNode":{"nodeId":"n\#(i % reporters)","name":"h\#(i % reporters).ts.net","addresses":["100.64.0.\#(i % reporters + 1)"]},"virtualTraffic":[\#(conns.joined(separator: ","))]}"#
            out += "\n"
        }
        return Data(out.utf8)
    }
}
