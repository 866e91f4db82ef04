import Foundation
import FlowModel
import FlowStore
import GRDB
import StoreDump
import TestSupport

/// Runs the real `tailflow` binary without blocking Swift's cooperative threads: the stand-in API
/// serves from this process, so a test that blocked a thread while the binary waits for it could stall.
enum CLI {
    static let binary = TailflowBinary.path

    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
        var signalled: Bool
    }

    /// A started `tailflow` process whose output is collected.
    final class Running: @unchecked Sendable {
        let process: Process
        private let done: Task<Result, Never>

        init(_ args: [String], db: String?, env: [String: String], executable: String = CLI.binary) throws {
            let p = TailflowBinary.process(args, env: env.merging(db.map { ["TAILFLOW_DB": $0] } ?? [:]) { mine, _ in mine })
            // The API credentials are the test's own too, never the shell's.
            for key in ["TS_API_KEY", "TS_OAUTH_CLIENT_ID", "TS_OAUTH_CLIENT_SECRET"] where env[key] == nil {
                p.environment?.removeValue(forKey: key)
            }
            p.executableURL = URL(fileURLWithPath: executable)
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            p.standardInput = FileHandle.nullDevice
            let exited = AsyncSignal()
            p.terminationHandler = { _ in exited.fire() }
            try p.run()
            process = p
            let outData = Self.readAll(out.fileHandleForReading)
            let errData = Self.readAll(err.fileHandleForReading)
            done = Task {
                await exited.wait()
                let o = await outData.value, e = await errData.value
                return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                              stderr: String(decoding: e, as: UTF8.self), signalled: p.terminationReason == .uncaughtSignal)
            }
        }

        /// Reads a pipe to its end on a thread of its own.
        static func readAll(_ handle: FileHandle) -> Task<Data, Never> {
            let signal = AsyncSignal()
            nonisolated(unsafe) var data = Data()
            Thread.detachNewThread {
                data = handle.readDataToEndOfFile()
                signal.fire()
            }
            return Task {
                await signal.wait()
                return data
            }
        }

        func signal(_ number: Int32) { kill(process.processIdentifier, number) }
        var isRunning: Bool { process.isRunning }
        func result() async -> Result { await done.value }
    }

    static func start(_ args: [String], db: String?, env: [String: String] = [:]) throws -> Running {
        try Running(args, db: db, env: env)
    }

    /// Runs `tailflow args…` with `TAILFLOW_DB=db` and waits for it.
    static func run(_ args: [String], db: String? = nil, env: [String: String] = [:]) async throws -> Result {
        try await start(args, db: db, env: env).result()
    }
}

/// A one-shot event that async code can wait for, fired from any thread.
final class AsyncSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func fire() {
        let toResume: [CheckedContinuation<Void, Never>] = lock.withLock {
            fired = true
            defer { waiters.removeAll() }
            return waiters
        }
        toResume.forEach { $0.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = lock.withLock {
                if fired { return true }
                waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
}

/// What a store holds that ingest decides: messages with their rows, rollups, nodes and address owners,
/// rejects. The time of a device-list import (`info_ns`) is left out: it is the wall clock of the sync.
enum Dump {
    static func of(_ path: String) throws -> [String] {
        try StoreDump.lines(path, importTimes: false)
    }

    static func messageCount(_ path: String, to: Int64) throws -> Int {
        try StoreDump.messageCount(path, to: to)
    }

    static func count(_ path: String, _ sql: String) throws -> Int {
        try StoreDump.count(path, sql)
    }

    /// The follow checkpoint, or nil when there is none (or no store yet).
    static func checkpoint(_ path: String) -> Int64? {
        guard FileManager.default.fileExists(atPath: path),
              let db = try? DatabaseQueue(path: path, configuration: { var c = Configuration(); c.readonly = true; c.busyMode = .timeout(10); return c }())
        else { return nil }
        return try? db.read { try Int64.fetchOne($0, sql: "SELECT max(checkpoint_ns) FROM pull_checkpoints") }
    }
}
