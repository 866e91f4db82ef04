import FlowModel
import FlowQuery
public import FlowStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import GRDB
import Prometheus

/// `tailflow serve`: receives log streams (Splunk HEC, Elasticsearch `_bulk`, plain) into the
/// store and answers the query API, on one listener, over HTTP or HTTPS.
///
/// All receivers feed one ``GroupCommitWriter``: concurrent senders are committed together,
/// each answer is sent only after its data is committed, and a sender is told to come
/// back (503 + `Retry-After`) when the writer falls behind. SIGTERM and SIGINT stop the
/// listener, let requests in flight finish (their commits included), then close the store.
///
/// For example:
/// ```swift
/// let server = try FlowServer(configuration: configuration, store: FlowStore(path: "tailflow.db"))
/// try await server.run { host, port in print("listening on \(host):\(port)") }
/// ```
public struct FlowServer: Sendable {
    public let configuration: ServerConfiguration
    public let store: FlowStore
    public var logger: Logger

    public init(configuration: ServerConfiguration, store: FlowStore, logger: Logger = Logger(label: "tailflow.serve")) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT; `onListening` gets the bound host and port (useful with port 0).
    public func run(onListening: @escaping @Sendable (String, Int) -> Void) async throws {
        let tls = try tlsConfiguration()
        let writer = GroupCommitWriter(store: store, maxPendingRows: configuration.maxPendingRows)
        let metrics = ServerMetrics(writer: writer, databasePath: store.path)
        let intake = Intake(credentials: Credentials(configuration), maxBody: configuration.maxBody, writer: writer, metrics: metrics)
        let router = Self.router(intake: intake, engine: QueryEngine(store: store), store: store, metrics: metrics, logger: logger)

        let server: HTTPServerBuilder = if let tls { try .tls(.http1(), tlsConfiguration: tls) } else { .http1() }
        let logger = self.logger
        let configuration = self.configuration
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tailflow"),
            services: [WriterService(writer: writer, logger: logger)],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("listening", metadata: [
                    "host": "\(configuration.host)", "port": "\(port)", "tls": "\(tls != nil)",
                    "receivers": "\(Role.allCases.filter { intake.credentials.isOn($0) }.map(\.rawValue))",
                ])
                onListening(configuration.host, port)
            },
            logger: logger
        )
        try await app.runService()
    }

    func tlsConfiguration() throws -> TLSConfiguration? {
        guard let certPath = configuration.tlsCertificate, let keyPath = configuration.tlsKey else { return nil }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certPath).map { NIOSSLCertificateSource.certificate($0) }
            guard !chain.isEmpty else { throw ConfigurationError("--tls-cert \(certPath) holds no PEM certificate") }
            let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            tls.minimumTLSVersion = .tlsv12
            return tls
        } catch let e as ConfigurationError {
            throw e
        } catch {
            throw ConfigurationError("cannot load the TLS certificate \(certPath) or key \(keyPath): \(error)")
        }
    }

    static func router(intake: Intake, engine: QueryEngine, store: FlowStore, metrics: ServerMetrics, logger: Logger) -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        let hec = HECReceiver(intake: intake)
        let bulk = BulkReceiver(intake: intake)
        let plain = PlainReceiver(intake: intake)
        let queries = QueryAPI(engine: engine, credentials: intake.credentials)

        /// Adds a route whose latency and status are measured and logged.
        func route(_ method: HTTPRequest.Method, _ path: RouterPath, _ name: String,
                   _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response) {
            router.on(path, method: method) { request, context in
                let started = ContinuousClock.now
                var response: Response
                do {
                    response = try await handler(request, context)
                } catch {
                    context.logger.error("request failed", metadata: ["route": "\(name)", "error": "\(error)"])
                    response = PlainReceiver.error(.internalServerError, "internal error")
                }
                let elapsed = ContinuousClock.now - started
                let status = Int(response.status.code)
                metrics.requestDuration(route: name, status: status).record(elapsed)
                context.logger.log(level: status >= 500 ? .warning : .debug, "request", metadata: [
                    "route": "\(name)", "status": "\(status)", "peer": "\(context.peer)",
                    "ms": "\(elapsed.seconds * 1000)",
                ])
                return response
            }
        }

        // Splunk HEC.
        for path in ["/services/collector/event", "/services/collector/event/1.0", "/services/collector"] {
            route(.post, RouterPath(path), "hec", hec.event)
        }
        for path in ["/services/collector/health", "/services/collector/health/1.0"] {
            route(.get, RouterPath(path), "hec_health", hec.health)
        }
        // Elasticsearch.
        route(.post, "/_bulk", "bulk") { try await bulk.bulk($0, $1, index: nil) }
        route(.put, "/_bulk", "bulk") { try await bulk.bulk($0, $1, index: nil) }
        route(.post, "/:index/_bulk", "bulk") { try await bulk.bulk($0, $1, index: $1.parameters.get("index")) }
        route(.put, "/:index/_bulk", "bulk") { try await bulk.bulk($0, $1, index: $1.parameters.get("index")) }
        route(.get, "/", "es_info", bulk.info)
        route(.head, "/", "es_info", bulk.info)
        route(.get, "/_cluster/health", "es_info", bulk.clusterHealth)
        route(.get, "/_license", "es_info", bulk.license)
        route(.get, "/_xpack", "es_info", bulk.xpack)
        // Plain.
        route(.post, "/api/v1/ingest", "ingest", plain.ingest)
        // Queries.
        for command in Question.commands {
            route(.get, RouterPath("/api/v1/\(command)"), command) { try await queries.answer(command, $0, $1) }
        }
        // Operations.
        route(.get, "/healthz", "healthz") { _, _ in
            do {
                _ = try await offThePool { try store.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM grdb_migrations") } }
                return .json(.ok, ["status": "ok"])
            } catch {
                return .json(.serviceUnavailable, ["status": "the store cannot be read: \(error)"])
            }
        }
        route(.get, "/metrics", "metrics") { _, _ in
            .raw(.ok, metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        return router
    }
}

/// Shuts the writer down after the listener has stopped (services stop in reverse order,
/// the HTTP server first), so the commits of requests in flight finish.
struct WriterService: Service {
    let writer: GroupCommitWriter
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        try await offThePool { writer.shutdown() }
        logger.info("writer stopped", metadata: ["commits": "\(writer.stats.commits)", "rows": "\(writer.stats.rows)"])
    }
}
