import FlowModel
import FlowStore
package import Foundation

// Test support shared by the test targets that run the real binary or read the shared
// fixtures (TailflowCLITests, FlowServerTests, FlowPullTests, FlowIngestTests, FlowStoreTests):
// one copy of what each of them had written again.

/// The `tailflow` binary that `swift build` put beside the test bundle (or `$TAILFLOW_BIN`).
package enum TailflowBinary {
    package static let path: String = {
        if let env = ProcessInfo.processInfo.environment["TAILFLOW_BIN"] { return env }
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("tailflow")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url.path }
        }
        return repository.appendingPathComponent(".build/debug/tailflow").path
    }()

    /// The variables that choose a store or its credentials: a test names its own, never the
    /// caller's shell's.
    package static let storeVariables = ["TAILFLOW_DB", "TAILFLOW_STORE", "TAILFLOW_CLICKHOUSE_PASSWORD"]

    /// Where the binaries a test runs, and the ClickHouse stores it opens itself, keep their copies
    /// of a server's node tables: a directory of this test run's own, never the user's
    /// `~/.cache/tailflow` (nor a directory the caller's shell names).
    package static let clickHouseCache: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-test-cache-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        setenv("TAILFLOW_CLICKHOUSE_CACHE", dir, 1)
        return dir
    }()

    /// `tailflow args…`, configured and not yet started, with this process's environment less
    /// ``storeVariables``, plus `env`.
    package static func process(_ args: [String], env: [String: String] = [:]) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for k in storeVariables { environment.removeValue(forKey: k) }
        environment["TAILFLOW_CLICKHOUSE_CACHE"] = clickHouseCache
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        return p
    }

    /// Runs `tailflow args…` to its end and waits for it without holding a thread
    /// (``runToEnd(_:stdin:)-async``).
    package static func run(_ args: [String], env: [String: String] = [:], stdin: Data? = nil) async throws -> ProcessOutput {
        await slots.acquire()
        do {
            let out = try await runToEnd(process(args, env: env), stdin: stdin)
            await slots.release()
            return out
        } catch {
            await slots.release()
            throw error
        }
    }

    /// At most four runs of the binary at a time, the rest waiting without a thread: every test
    /// of a full run starts at once, and unbounded, sixty processes shared the two cores, so that
    /// each took minutes and tests' own deadlines (a server's answer, `--timeout`) ran out.
    static let slots = Slots(4)

    /// ``run(_:env:stdin:)`` on the calling thread, for the few places that cannot wait
    /// (static initialisers, closures of synchronous APIs).
    package static func runBlocking(_ args: [String], env: [String: String] = [:], stdin: Data? = nil) throws -> ProcessOutput {
        try runToEnd(process(args, env: env), stdin: stdin)
    }

    /// The repository this file is in.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}

/// `../shared/fixtures` beside the repository (or `$TAILFLOW_FIXTURES`).
package enum Fixtures {
    package static let root: URL = {
        if let env = ProcessInfo.processInfo.environment["TAILFLOW_FIXTURES"] { return URL(fileURLWithPath: env) }
        return TailflowBinary.repository.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }()

    package static func url(_ p: String) -> URL { root.appendingPathComponent(p) }

    package static func path(_ p: String) -> String { url(p).path }

    package static func bytes(_ p: String) throws -> [UInt8] { Array(try Data(contentsOf: url(p))) }

    /// The container fixtures (`containers/*`), sorted.
    package static var containers: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path("containers"))) ?? []).sorted()
    }
}

/// A counting semaphore whose waiters hold no thread.
package actor Slots {
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    package init(_ count: Int) { free = count }

    package func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    package func release() {
        if waiters.isEmpty { free += 1 } else { waiters.removeFirst().resume() }
    }
}

/// A fresh directory under the system's temporary one, removed with the object.
package final class TempDir: Sendable {
    package let url: URL

    package init(prefix: String = "tailflow-test") {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    package func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A test's own failure, with what went wrong.
package struct TestFailure: Error, CustomStringConvertible {
    package var description: String
    package init(_ d: String) { description = d }
}

/// What a finished process wrote and how it ended.
package struct ProcessOutput: Sendable {
    package var status: Int32
    package var stdout: String
    package var stderr: String
}

/// Runs a configured process to its end and returns what it wrote, without holding any thread
/// while it runs: its input and output go through files of their own, and its end resumes the
/// caller.
///
/// Tests run in parallel on Swift's cooperative pool (two threads here), and Dispatch's global
/// queues add a thread only about once a second once all of theirs are blocked. A child waited
/// for on either (``runToEnd(_:stdin:)`` holds three threads: the waiter and two pipe readers)
/// stalls every other test's tasks, in-process servers and timers; under a full parallel run that
/// cost minutes and made a timed step of ServeDurabilityTests miss its deadline.
package func runToEnd(_ p: Process, stdin: Data? = nil) async throws -> ProcessOutput {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    func file(_ name: String, _ contents: Data?) throws -> URL {
        let url = dir.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: contents) else { throw TestFailure("cannot create \(url.path)") }
        return url
    }
    let outURL = try file("stdout", nil), errURL = try file("stderr", nil)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    let input = try stdin.map { try FileHandle(forReadingFrom: try file("stdin", $0)) }
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input ?? FileHandle.nullDevice
    defer { try? out.close(); try? err.close(); try? input?.close() }
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        p.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do { try p.run() } catch {
            p.terminationHandler = nil
            continuation.resume(throwing: error)
        }
    }
    // Returns at once (the handler ran after the process ended), and lets Foundation release the
    // run-loop source that keeps each Process alive until someone waits for it.
    p.waitUntilExit()
    return ProcessOutput(status: status, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                         stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// Runs a configured process to its end, feeding `stdin` and reading both pipes (both to the
/// end before waiting, so that a full pipe never blocks the child).
package func runToEnd(_ p: Process, stdin: Data? = nil) throws -> ProcessOutput {
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
    return ProcessOutput(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// Bytes compressed by gzip(1).
package func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/gzip")
    p.arguments = ["-c"]
    let out = Pipe(), input = Pipe()
    p.standardOutput = out
    p.standardInput = input
    try p.run()
    DispatchQueue.global().async {
        input.fileHandleForWriting.write(Data(bytes))
        try? input.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Array(data)
}

/// The value of a metric (name with its labels) in Prometheus text, or nil when it is absent.
package func metricValue(_ text: String, _ name: String) -> Double? {
    text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
}

/// JSON Lines of simple messages, `count` of them, from `reporters` nodes.
package enum Synthetic {
    package static func jsonl(count: Int, reporters: Int = 50, rows: Int = 6) -> Data {
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

/// Waits until `condition` holds, looking every `every`, for at most `within`, and returns whether it
/// came to hold. A wait for something the code under test does in its own time, never a measurement:
/// the bound is generous (a loaded 2-core CI machine runs two suites beside each other), and the
/// caller's `#expect` on the result, or on what it waited for, says what did not happen.
@discardableResult
package func eventually(
    within: Duration = .seconds(120), every: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + within
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: every)
    }
}

/// SplitMix64, seeded: the same sequence at every run, so a failing seed can be run again.
package struct SplitMix: RandomNumberGenerator {
    package var state: UInt64
    package init(state: UInt64) { self.state = state }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
