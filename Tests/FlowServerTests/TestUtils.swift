import FlowModel
import FlowServer
import FlowStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import StoreDump
import TestSupport

/// The server of these tests: ``buildApplication(configuration:store:logger:routes:onListening:)``
/// over a real store file, driven in process through `app.test(.router)` (no socket).
enum TestServer {
    /// Every receiver on, each with its own secret.
    static var configuration: ServerConfiguration {
        var c = ServerConfiguration()
        c.hecToken = "T1-hec"
        c.bulkUser = "U"
        c.bulkToken = "T2-bulk"
        c.ingestToken = "T3-ingest"
        c.readToken = "T4-read"
        return c
    }

    static var logger: Logger {
        var logger = Logger(label: "tailflow.test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs `body` against the application serving the store at `db`.
    static func run<T: Sendable>(db: String, _ configuration: ServerConfiguration = configuration,
                                 _ body: @escaping @Sendable (Requests) async throws -> T) async throws -> T {
        let store = try FlowStore(path: db)
        let app = try buildApplication(configuration: configuration, store: store, logger: logger)
        return try await app.test(.router) { client in try await body(Requests(client: client)) }
    }

    /// Runs `body` with the port of the application serving `db` on a real loopback socket, then
    /// shuts the application down as SIGTERM would.
    static func live<T: Sendable>(db: String, _ configuration: ServerConfiguration = configuration,
                                  _ body: @escaping @Sendable (Int) async throws -> T) async throws -> T {
        var configuration = configuration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let app = try buildApplication(configuration: configuration, store: try FlowStore(path: db), logger: logger) { _, port in
            listening.yield(port)
        }
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: T?.self) { group in
            // The server answers on threads of its own, not on the cooperative pool that the
            // synchronous tests beside this one may hold (see OwnThreads).
            group.addTask(executorPreference: OwnThreads.shared) {
                try await services.run()
                return nil
            }
            guard let port = await ports.first(where: { _ in true }) else { throw TestFailure("the server did not start") }
            let value: T
            do {
                // The test's own clock readings and deadlines too: resumed on these threads, not
                // whenever the cooperative pool frees up.
                value = try await withTaskExecutorPreference(OwnThreads.shared) { try await body(port) }
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return value
        }
    }
}

/// An HTTP answer, its body as text.
struct Answer: Sendable {
    var status: Int
    var headers: HTTPFields
    var body: String

    subscript(_ name: String) -> String? { HTTPField.Name(name).flatMap { headers[$0] } }

    var object: [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(body.utf8), options: .fragmentsAllowed)) as? [String: Any]) ?? [:]
    }
}

/// Requests to the application under test.
struct Requests: Sendable {
    let client: any TestClientProtocol

    func send(_ method: HTTPRequest.Method, _ uri: String, body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> Answer {
        var fields = HTTPFields()
        for (k, v) in headers { fields.append(HTTPField(name: HTTPField.Name(k)!, value: v)) }
        let response = try await client.executeRequest(uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(bytes: $0) })
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: response.body))
    }

    func post(_ uri: String, _ body: [UInt8], _ headers: [(String, String)] = []) async throws -> Answer {
        try await send(.post, uri, body: body, headers: headers)
    }

    func get(_ uri: String, _ headers: [(String, String)] = []) async throws -> Answer {
        try await send(.get, uri, headers: headers)
    }
}

enum Auth {
    static let hec = [("Authorization", "Splunk T1-hec")]
    static let bulk = [("Authorization", "Basic " + Data("U:T2-bulk".utf8).base64EncodedString())]
    static let ingest = [("Authorization", "Bearer T3-ingest")]
    static let read = [("Authorization", "Bearer T4-read")]
}

/// Runs the real `tailflow` binary (to compare with what `ingest` stores and the CLI answers).
enum CLI {
    static let binary = TailflowBinary.path

    typealias Result = ProcessOutput

    /// Runs `tailflow args…` with `TAILFLOW_DB=db` on a thread of its own and waits for it.
    static func run(_ args: [String], db: String? = nil, stdin: Data? = nil) async throws -> Result {
        try await TailflowBinary.run(args, env: db.map { ["TAILFLOW_DB": $0] } ?? [:], stdin: stdin)
    }
}

enum Dump {
    /// The stored content without the rejects (whose sources name requests or files).
    static func content(_ path: String) throws -> [String] {
        try StoreDump.lines(path).filter { !$0.hasPrefix("reject ") }
    }

    /// The content `tailflow ingest FILE` stores, to compare a receiver's store with.
    static func ingested(_ fixture: String, in dir: TempDir) async throws -> [String] {
        let db = dir.path("ref-\(UUID().uuidString.prefix(6)).db")
        let r = try await CLI.run(["ingest", "--quiet", Fixtures.path(fixture)], db: db)
        guard r.status == 0 else { throw TestFailure("ingest \(fixture) failed: \(r.stderr)") }
        return try content(db)
    }
}


/// The port of serve's `listening on 127.0.0.1:PORT…` line.
func listeningPort(_ line: String) -> Int? {
    guard let range = line.range(of: "127.0.0.1:") else { return nil }
    return Int(line[range.upperBound...].prefix { $0.isNumber })
}
