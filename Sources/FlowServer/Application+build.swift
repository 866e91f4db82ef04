package import FlowQuery
public import FlowStore
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// Builds `tailflow serve`: the log-stream receivers (Splunk HEC, Elasticsearch `_bulk`, plain),
/// the query API and the operations endpoints, on one listener, over HTTP or HTTPS.
///
/// All receivers feed one ``WritePipeline`` (``WritePolicy/server``): concurrent senders are committed together,
/// each answer is sent only after its data is committed, and a sender is told to come
/// back (503 + `Retry-After`) when the writer falls behind. SIGTERM and SIGINT stop the
/// listener, let requests in flight finish (their commits included), then close the store.
///
/// Routes, by group, each group behind its role's ``AuthenticationMiddleware``:
/// - `/services/collector…`: Splunk HEC (HEC token);
/// - `/_bulk`, `/{index}/_bulk`, `/`, `/_cluster/health`, `/_license`, `/_xpack`: Elasticsearch (bulk user and token);
/// - `/api/v1/ingest` (ingest token) and `/api/v1/top|series|rollup|scope|flows|nodes` (read token);
/// - `/healthz`, `/metrics`: open.
/// Every request passes ``MetricsMiddleware`` and ``RequestLogMiddleware``.
///
/// For example:
/// ```swift
/// let app = try buildApplication(configuration: configuration, store: FlowStore(path: "tailflow.db"))
/// try await app.runService()
/// ```
///
/// - parameter configuration: where to listen, the secrets, TLS and limits.
/// - parameter store: the store the receivers write and the questions read.
/// - parameter logger: the server's logger (requests log at debug, failures at warning and above).
/// - parameter routes: more routes for the same listener, such as the web UI's pages: each is
///   added after tailflow's own, with a ``ServerParts`` holding what their handlers need.
///   This is the web UI's hook: `buildApplication(…, routes: [WebUI(…)])`.
/// - parameter onListening: called with the bound host and port once the listener is up (useful with port 0).
/// - throws: ``ConfigurationError`` when the TLS certificate or key cannot be loaded.
public func buildApplication(
    configuration: ServerConfiguration,
    store: any FlowStorage,
    logger: Logger = Logger(label: "tailflow.serve"),
    routes: [any ServerRoutes] = [],
    onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }
) throws -> some ApplicationProtocol {
    let tls = try configuration.tlsConfiguration()
    var writePolicy = WritePolicy.server
    writePolicy.maxPendingRows = configuration.maxPendingRows
    writePolicy.retention = configuration.retention
    let writer = WritePipeline(store: store, policy: writePolicy)
    // A SQLite file's size is a metric, and its deletion under the server is noticed; another
    // backend (ClickHouse) has no file here.
    let path = (store as? FlowStore)?.path ?? ""
    let metrics = ServerMetrics(writer: writer, databasePath: path)
    let credentials = Credentials(configuration)
    let storeWatch = StoreWatch(path: path, logger: logger)
    let intake = Intake(credentials: credentials, maxBody: configuration.maxBody, writer: writer, metrics: metrics, storeWatch: storeWatch)
    let engine = QueryEngine(store: store)

    let router = Router(context: FlowRequestContext.self)
    router.middlewares.add(MetricsMiddleware(metrics: metrics))
    router.middlewares.add(RequestLogMiddleware())
    // Hummingbird wraps each route in the middleware added before it: extra middleware goes
    // here, ahead of every route, so a session cookie can authenticate the query API too.
    let parts = ServerParts(configuration: configuration, store: store, engine: engine, credentials: credentials, writer: writer)
    for extra in routes { extra.addMiddleware(to: router, server: parts) }

    HECReceiver(intake: intake).addRoutes(to: router.group("services/collector"), credentials: credentials)
    BulkReceiver(intake: intake).addRoutes(to: router.group(), credentials: credentials)
    let api = router.group("api/v1")
    PlainReceiver(intake: intake).addRoutes(to: api, credentials: credentials)
    QueryAPI(engine: engine, storeWatch: storeWatch).addRoutes(to: api, credentials: credentials)
    Operations(store: store, storeWatch: storeWatch, metrics: metrics).addRoutes(to: router.group())

    for extra in routes { extra.addRoutes(to: router, server: parts) }

    let policy = ConnectionPolicy(configuration, logger: logger)
    let server = HTTPServerBuilder { responder in
        let http = GuardedHTTP1Channel(responder: responder, policy: policy)
        return if let tls { try TLSChannel(http, tlsConfiguration: tls) } else { http }
    }
    return Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tailflow"),
        services: [WriterService(writer: writer, logger: logger)],
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            logger.info("listening", metadata: [
                "host": "\(configuration.host)", "port": "\(port)", "tls": "\(tls != nil)",
                "receivers": "\(Role.allCases.filter { credentials.isOn($0) }.map(\.rawValue))",
            ])
            onListening(configuration.host, port)
        },
        logger: logger
    )
}

/// Routes that another part of tailflow adds to the server's listener (the web UI's pages).
///
/// For example:
/// ```swift
/// struct WebUI: ServerRoutes {
///     func addRoutes(to router: Router<FlowRequestContext>, server: ServerParts) {
///         router.group().add(middleware: server.authentication(.read)).get("overview") { request, context in … }
///     }
/// }
/// let app = try buildApplication(configuration: configuration, store: store, routes: [WebUI()])
/// ```
public protocol ServerRoutes: Sendable {
    /// Adds router middleware; called once, before any route is added, so it wraps tailflow's
    /// own routes as well (a session cookie that authenticates the query API, say). By default none.
    func addMiddleware(to router: Router<FlowRequestContext>, server: ServerParts)

    /// Adds the routes; called once while the application is built, after tailflow's own routes.
    func addRoutes(to router: Router<FlowRequestContext>, server: ServerParts)
}

extension ServerRoutes {
    public func addMiddleware(to router: Router<FlowRequestContext>, server: ServerParts) {}
}

/// What the handlers of extra routes need: the settings, the store, the question engine and the secrets.
public struct ServerParts: Sendable {
    package let configuration: ServerConfiguration
    package let store: any FlowStorage
    package let engine: QueryEngine
    package let credentials: Credentials
    /// The writer the receivers commit through (its state, for a health page).
    package let writer: WritePipeline

    /// The middleware that admits only requests with `role`'s credentials (see ``AuthenticationMiddleware``).
    package func authentication(_ role: Role, refusal: @escaping AuthenticationMiddleware.Refusal = AuthenticationMiddleware.defaultRefusal)
        -> AuthenticationMiddleware {
        AuthenticationMiddleware(role, credentials: credentials, refusal: refusal)
    }
}

/// `/healthz` (the store can be read) and `/metrics` (Prometheus text), open to anyone.
struct Operations: Sendable {
    let store: any FlowStorage
    let storeWatch: StoreWatch
    let metrics: ServerMetrics

    func addRoutes(to group: RouterGroup<FlowRequestContext>) {
        group.get("healthz") { _, _ -> Response in
            if let why = storeWatch.problem() { return .json(.serviceUnavailable, ["status": why]) }
            do {
                _ = try await offThePool { [store] in try store.health() }
                return .json(.ok, ["status": "ok"])
            } catch {
                return .json(.serviceUnavailable, ["status": "the store cannot be read: \(error)"])
            }
        }
        group.get("metrics") { _, _ -> Response in
            .raw(.ok, metrics.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
    }
}

extension ServerConfiguration {
    /// The TLS settings of `--tls-cert` and `--tls-key`, or nil for plain HTTP.
    func tlsConfiguration() throws -> TLSConfiguration? {
        guard let certPath = tlsCertificate, let keyPath = tlsKey else { return nil }
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
}

/// Shuts the writer down after the listener has stopped (services stop in reverse order,
/// the HTTP server first), so the commits of requests in flight finish.
struct WriterService: Service {
    let writer: WritePipeline
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        do {
            _ = try await offThePool { try writer.finish() }
        } catch {
            logger.error("the store failed", metadata: ["error": "\(error)"])
        }
        logger.info("writer stopped", metadata: ["commits": "\(writer.stats.commits)", "rows": "\(writer.stats.rows)"])
    }
}
