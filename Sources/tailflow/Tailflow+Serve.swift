import ArgumentParser
import FlowClickHouse
import FlowServer
import FlowStore
import FlowWeb
import Foundation
import Hummingbird
import Logging

extension Tailflow {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Receive Tailscale log streaming (Splunk HEC, Elasticsearch bulk, plain) and answer queries over HTTP.",
            discussion: """
                Receivers for Tailscale's log streaming; each is off (404) until its secret is set:
                  POST /services/collector/event  Splunk HEC (token: --hec-token)
                  POST /_bulk, /{index}/_bulk     Elasticsearch (--bulk-user, --bulk-token)
                  POST /api/v1/ingest             messages (token: --ingest-token)
                The secrets go where the senders put them: "Authorization: Splunk TOKEN" for HEC, basic \
                auth for bulk, "Authorization: Bearer TOKEN" for the rest.

                Questions, answered as the CLI answers them, with its options as parameters (token: \
                --read-token), e.g. /api/v1/top?from=-1h&by=pair&format=csv:
                  GET /api/v1/{top|series|rollup|scope|flows|nodes|diff|coverage|changes}
                Open to anyone: GET /healthz (the store can be read) and GET /metrics (Prometheus).

                Pages for people, on the same listener: /, /graph, /endpoint/{E}, /pair/{A}/{B}, /flows, \
                /nodes, /health and /changes. They need the read token. With none configured, serve makes \
                one for this run and prints "open http://HOST:PORT/?token=…"; opening that link signs the \
                browser in with a session cookie. So `tailflow serve --db FILE` alone serves the pages and \
                the query API.

                Each secret comes from its flag, else the environment (TAILFLOW_HEC_TOKEN, TAILFLOW_BULK_USER, \
                TAILFLOW_BULK_TOKEN, TAILFLOW_INGEST_TOKEN, TAILFLOW_READ_TOKEN), else --config FILE (JSON keyed \
                by the flags' names). Prefer the environment or the file: flags show in the process list. Secrets under 16 characters are warned about; under 8 they \
                are refused unless --allow-weak-tokens.

                The store: --store or TAILFLOW_STORE (clickhouse://…), else --db or TAILFLOW_DB, else the \
                configuration file's `store` or `db`. On ClickHouse a receiver acknowledges a batch once \
                ClickHouse confirmed its insert, and the query API and the pages answer from ClickHouse.

                Prints "listening on HOST:PORT" once ready. SIGTERM or SIGINT stop it after the requests in \
                flight are committed.
                """
        )

        @OptionGroup var store: StoreOptions

        @Option(help: ArgumentHelp("Address to listen on; port 0 picks a free port (default: 127.0.0.1:8080).", valueName: "host:port"))
        var listen: String?

        @Option(help: ArgumentHelp("A JSON file of settings keyed by these flags' names (listen, db, store, hec-token, tls-cert, max-body, …).", valueName: "file"))
        var config: String?

        @Option(name: .customLong("hec-token"), help: ArgumentHelp("Splunk HEC token.", valueName: "token"))
        var hecToken: String?

        @Option(name: .customLong("bulk-user"), help: ArgumentHelp("Elasticsearch bulk user.", valueName: "user"))
        var bulkUser: String?

        @Option(name: .customLong("bulk-token"), help: ArgumentHelp("Elasticsearch bulk token (the basic-auth password).", valueName: "token"))
        var bulkToken: String?

        @Option(name: .customLong("ingest-token"), help: ArgumentHelp("Bearer token of POST /api/v1/ingest.", valueName: "token"))
        var ingestToken: String?

        @Option(name: .customLong("read-token"), help: ArgumentHelp("Bearer token of the query API.", valueName: "token"))
        var readToken: String?

        @Option(name: .customLong("tls-cert"), help: ArgumentHelp("PEM certificate chain: serve HTTPS (Tailscale streams only to HTTPS).", valueName: "file"))
        var tlsCert: String?

        @Option(name: .customLong("tls-key"), help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
        var tlsKey: String?

        @Option(name: .customLong("max-body"), help: ArgumentHelp("Largest request body, compressed and decompressed: bytes, KiB or MiB (default: 16MiB).", valueName: "size"))
        var maxBody: String?

        @Option(name: .customLong("max-pending-rows"), help: ArgumentHelp("Flow rows that may wait for the writer before senders get 503 (default: 1000000).", valueName: "n"))
        var maxPendingRows: String?

        @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Close a connection with no request in progress after this long (default: 60s).", valueName: "duration"))
        var idleTimeout: String?

        @Option(name: .customLong("read-timeout"), help: ArgumentHelp("A request's head and body must arrive within this long, else 408 (default: 30s).", valueName: "duration"))
        var readTimeout: String?

        @Option(name: .customLong("max-connections"), help: ArgumentHelp("Connections open at once; beyond it the oldest idle one is closed (default: 1024).", valueName: "n"))
        var maxConnections: String?

        @Flag(name: .customLong("allow-weak-tokens"), help: "Accept secrets shorter than 8 characters.")
        var allowWeakTokens = false

        @Option(help: ArgumentHelp("Prune in the background, as `tailflow prune` does: raw=30d,1m=90d,1h=400d,1d=forever (default: keep everything).", valueName: "policy"))
        var retention: String?

        @Option(name: .customLong("log-level"), help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
        var logLevel: String = "info"

        @Option(name: .customLong("log-format"), help: ArgumentHelp("Logs on stderr as text or json (one object per line).", valueName: "format"))
        var logFormat: LogFormat = .text

        enum LogFormat: String, ExpressibleByArgument, CaseIterable {
            case text, json
        }

        /// The settings given as flags, by setting.
        var flags: [(ServerConfiguration.Setting, String?)] {
            [(.listen, listen), (.hecToken, hecToken), (.bulkUser, bulkUser), (.bulkToken, bulkToken), (.ingestToken, ingestToken),
             (.readToken, readToken), (.tlsCert, tlsCert), (.tlsKey, tlsKey), (.maxBody, maxBody), (.maxPendingRows, maxPendingRows),
             (.idleTimeout, idleTimeout), (.readTimeout, readTimeout), (.maxConnections, maxConnections),
             (.allowWeakTokens, allowWeakTokens ? "true" : nil), (.retention, retention)]
        }

        /// The configuration file, then the environment, then the flags.
        func serverConfiguration() throws -> ServerConfiguration {
            var configuration = ServerConfiguration()
            if let config { try configuration.apply(file: config) }
            try configuration.apply(environment: ProcessInfo.processInfo.environment)
            for case let (setting, value?) in flags { try configuration.set(setting, value, from: .flag) }
            try configuration.validate()
            return configuration
        }

        func run() async throws {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("--log-level '\(logLevel)' is not a level: use trace, debug, info, notice, warning, error or critical")
            }
            var configuration: ServerConfiguration
            do {
                configuration = try serverConfiguration()
            } catch let e as ConfigurationError {
                throw ValidationError(e.message)
            }
            // The pages and the query API need a read token: with none configured, one for this run.
            let generatedToken = configuration.readToken == nil
            if generatedToken {
                var generator = SystemRandomNumberGenerator()
                configuration.readToken = (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            }
            let format = logFormat
            LoggingSystem.bootstrap { label in
                var handler: any LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            var logger = Logger(label: "tailflow.serve")
            logger.logLevel = level
            // --store or TAILFLOW_STORE, --db or TAILFLOW_DB, then the configuration file's `store` or `db`.
            let flowStore: any FlowStorage
            if let clickhouse = try store.openClickHouse(create: true) {
                flowStore = clickhouse
            } else if store.explicitPath == nil, configuration.databasePath == nil, let text = configuration.storeURL {
                guard ClickHouseURL.names(text) else {
                    throw ValidationError("\(config ?? "the configuration file"): store '\(text)': unknown backend (clickhouse://[user@]host:port/database)")
                }
                do {
                    flowStore = try StoreOptions.openClickHouse(try ClickHouseURL(text), create: true)
                } catch let e as ClickHouseURLError {
                    throw ValidationError("\(config ?? "the configuration file"): \(e.description)")
                }
            } else {
                flowStore = try FlowStore(path: store.explicitPath ?? configuration.databasePath ?? StoreOptions.defaultPath)
            }
            // ClickHouse keeps data by its own means (TTLs), not tailflow's pruning.
            if configuration.retention != nil, flowStore is ClickHouseStore { throw ClickHouseUnsupported("serve --retention") }
            if configuration.tlsCertificate == nil, !["127.0.0.1", "::1", "localhost"].contains(configuration.host) {
                logger.warning("listening without TLS on a non-loopback address: tokens and logs travel in clear text; Tailscale streams only to HTTPS")
            }
            for warning in configuration.warnings { logger.warning("\(warning)") }
            do {
                let token = generatedToken ? configuration.readToken : nil
                let scheme = configuration.tlsCertificate == nil ? "http" : "https"
                let app = try buildApplication(configuration: configuration, store: flowStore, logger: logger, routes: [WebUI()]) { host, port in
                    Stdout.write("listening on \(host):\(port)\n")
                    // Where a browser can reach it: a wildcard address is opened on loopback.
                    var shown = ["0.0.0.0", "::", ""].contains(host) ? "127.0.0.1" : host
                    if shown.contains(":") { shown = "[\(shown)]" }
                    if let token {
                        Stdout.write("open \(scheme)://\(shown):\(port)/?token=\(token)\n")
                    } else {
                        Stdout.write("pages at \(scheme)://\(shown):\(port)/ (sign in with the read token)\n")
                    }
                }
                try await app.runService()
            } catch let e as ConfigurationError {
                throw ValidationError(e.message)
            }
        }
    }
}

/// Log lines as JSON objects: `{"time":…, "level":…, "label":…, "message":…, metadata…}`.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: String] = [:]
        for (k, v) in metadata { object[k] = "\(v)" }
        for (k, v) in event.metadata ?? [:] { object[k] = "\(v)" }
        object["time"] = ISO8601DateFormatter().string(from: Date())
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = "\(event.message)"
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        data.append(0x0A)
        FileHandle.standardError.write(data)
    }
}
