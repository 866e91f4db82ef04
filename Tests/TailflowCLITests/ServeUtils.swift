import AsyncHTTPClient
import FlowStore
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import TestSupport

/// A real `tailflow serve` process on loopback, started on a free port.
final class ServeProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    let scheme: String
    private let stderrFile: String

    static let tokens = ["--hec-token", "T1-hec", "--bulk-user", "U", "--bulk-token", "T2-bulk",
                         "--ingest-token", "T3-ingest", "--read-token", "T4-read"]

    /// Starts `tailflow serve --listen 127.0.0.1:0 args…` and waits for `listening on HOST:PORT`.
    /// The tests' short secrets need `--allow-weak-tokens` (added unless `weakTokens` is false).
    init(db: String, _ args: [String] = tokens, env: [String: String] = [:], tls: Bool = false, weakTokens: Bool = true) throws {
        let p = CLI.start(["serve", "--db", db, "--listen", "127.0.0.1:0"] + (weakTokens ? ["--allow-weak-tokens"] : []) + args,
                          db: nil, env: env)
        let out = Pipe()
        stderrFile = db + ".serve-\(UUID().uuidString.prefix(8)).err"
        _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: stderrFile)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        ServeProcess.stopAtExit(p.processIdentifier)
        process = p
        scheme = tls ? "https" : "http"
        var text = ""
        while !text.contains("\n") {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, line.hasPrefix("listening on 127.0.0.1:"),
              let port = Int(line.split(separator: ":").last ?? "") else {
            p.waitUntilExit()
            throw ServeError("serve did not start (status \(p.terminationStatus)): \(text) \(try String(contentsOfFile: stderrFile, encoding: .utf8))")
        }
        self.port = port
        lines.withLock { $0 = text.split(separator: "\n").map(String.init) }
        // Keep reading stdout (the `open http://…?token=…` line follows), so the pipe never fills.
        let handle = out.fileHandleForReading, lines = self.lines
        Thread.detachNewThread {
            var rest = ""
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                rest += String(decoding: data, as: UTF8.self)
                while let newline = rest.firstIndex(of: "\n") {
                    let line = String(rest[..<newline])
                    rest = String(rest[rest.index(after: newline)...])
                    lines.withLock { $0.append(line) }
                }
            }
        }
    }

    /// ``init(db:_:env:tls:weakTokens:)`` on a thread of its own: waiting for the server's first
    /// line (seconds on a loaded machine) holds none of the cooperative pool's two threads.
    static func started(db: String, _ args: [String] = tokens, env: [String: String] = [:], tls: Bool = false,
                        weakTokens: Bool = true) async throws -> ServeProcess {
        try await offThePool { try ServeProcess(db: db, args, env: env, tls: tls, weakTokens: weakTokens) }
    }

    private let lines = Locked<[String]>([])

    /// The lines `serve` printed on stdout so far.
    var stdoutLines: [String] { lines.withLock { $0 } }

    var url: String { "\(scheme)://127.0.0.1:\(port)" }

    var stderr: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    /// SIGTERM, then waits; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        forget()
        return process.terminationStatus
    }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        forget()
    }

    /// Once it has exited, its pid may be reused by another process: stop tracking it.
    private func forget() {
        let pid = process.processIdentifier
        ServeProcess.startedServers.withLock { $0.removeAll { $0 == pid } }
    }

    deinit {
        if process.isRunning { kill() }
        try? FileManager.default.removeItem(atPath: stderrFile)
    }
}

extension ServeProcess {
    /// Servers that a suite keeps in a `static` (the browser tests share one site) are never
    /// deinitialised: SIGTERM whatever is still running when the test process exits, so no
    /// `tailflow serve` outlives `swift test`.
    static func stopAtExit(_ pid: Int32) {
        _ = installExitHandler
        startedServers.withLock { $0.append(pid) }
    }

    private static let installExitHandler: Void = {
        atexit {
            for pid in ServeProcess.startedServers.withLock({ $0 }) where Foundation.kill(pid, 0) == 0 {
                Foundation.kill(pid, SIGTERM)
            }
        }
    }()

    fileprivate static let startedServers = Locked<[Int32]>([])
}

/// A value behind a lock, shared with a reader thread.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

struct ServeError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// An HTTP answer.
struct Answer: Sendable {
    var status: Int
    var headers: [String: String]
    var body: String

    func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(body.utf8), options: .fragmentsAllowed)
    }

    var object: [String: Any] { ((try? json()) as? [String: Any]) ?? [:] }
}

/// Requests through async-http-client (its shared client, or one that trusts a test certificate).
struct Client {
    let client: HTTPClient
    let owned: Bool

    /// - parameter redirects: whether to follow redirects (the shared client does); false shows them.
    init(trusting certificate: String? = nil, redirects: Bool = true) throws {
        guard certificate != nil || !redirects else {
            client = HTTPClient.shared
            owned = false
            return
        }
        var configuration = HTTPClient.Configuration()
        if let certificate {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate))
            configuration.tlsConfiguration = tls
        }
        if !redirects { configuration.redirectConfiguration = .disallow }
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        owned = true
    }

    func send(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        var h: [String: String] = [:]
        for header in response.headers { h[header.name.lowercased()] = header.value }
        return Answer(status: Int(response.status.code), headers: h, body: String(buffer: bytes))
    }

    func post(_ url: String, _ body: [UInt8], _ headers: [(String, String)] = []) async throws -> Answer {
        try await send(.POST, url, body: body, headers: headers)
    }

    func get(_ url: String, _ headers: [(String, String)] = []) async throws -> Answer {
        try await send(.GET, url, headers: headers)
    }

    func shutdown() async throws {
        if owned { try await client.shutdown() }
    }
}

enum Auth {
    static let hec = [("Authorization", "Splunk T1-hec")]
    static let bulk = [("Authorization", "Basic " + Data("U:T2-bulk".utf8).base64EncodedString())]
    static let ingest = [("Authorization", "Bearer T3-ingest")]
    static let read = [("Authorization", "Bearer T4-read")]
}

/// Runs curl; returns the status code and the body.
func curl(_ args: [String]) async throws -> (status: Int, body: String) {
    let r = try await Tool.run("/usr/bin/curl", ["-sS", "-o", "-", "-w", "\n%{http_code}"] + args)
    guard r.status == 0, let newline = r.stdout.lastIndex(of: "\n"), let status = Int(r.stdout[r.stdout.index(after: newline)...]) else {
        throw ServeError("curl failed (\(r.status)): \(r.stderr)")
    }
    return (status, String(r.stdout[..<newline]))
}

/// Other programs the tests use: curl, gzip, openssl.
enum Tool {
    /// Runs `path args…` to its end without holding a thread meanwhile (``runToEnd(_:stdin:)-async``).
    static func run(_ path: String, _ args: [String], stdin: Data? = nil) async throws -> CLI.Result {
        try await runToEnd(process(path, args), stdin: stdin)
    }

    /// ``run(_:_:stdin:)`` on the calling thread, for synchronous helpers whose program ends at once.
    static func runBlocking(_ path: String, _ args: [String], stdin: Data? = nil) throws -> CLI.Result {
        try CLI.collect(process(path, args), stdin: stdin)
    }

    static func process(_ path: String, _ args: [String]) -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        return p
    }

    /// A self-signed certificate for 127.0.0.1 and localhost: (certificate, key) paths.
    static func certificate(in dir: TempDir) async throws -> (String, String) {
        let cert = dir.path("cert.pem"), key = dir.path("key.pem")
        let r = try await run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                             "-days", "1", "-subj", "/CN=localhost",
                                             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        guard r.status == 0 else { throw ServeError("openssl failed: \(r.stderr)") }
        return (cert, key)
    }
}

extension Dump {
    /// The stored content without the rejects (whose sources name requests or files).
    static func content(_ path: String) throws -> [String] {
        try of(path).filter { !$0.hasPrefix("reject ") }
    }
}
