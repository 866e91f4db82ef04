import FlowModel
public import FlowStore
import Foundation

/// Everything `tailflow serve` is told: where to listen, the secrets of each receiver, TLS, limits and timeouts.
///
/// Values come from flags, the environment (`TAILFLOW_HEC_TOKEN`, `TAILFLOW_BULK_USER`,
/// `TAILFLOW_BULK_TOKEN`, `TAILFLOW_INGEST_TOKEN`, `TAILFLOW_READ_TOKEN`) and an optional
/// JSON configuration file whose keys are the flags' names, in that order of precedence:
/// apply the file, then the environment, then the flags, each through ``set(_:_:from:)``,
/// then ``validate()``. A receiver whose secret is unset is off.
///
/// For example:
/// ```swift
/// var configuration = ServerConfiguration()
/// try configuration.apply(file: "serve.json")
/// try configuration.apply(environment: ProcessInfo.processInfo.environment)
/// try configuration.set(.listen, "0.0.0.0:8443", from: .flag)
/// try configuration.validate()
/// ```
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Splunk HEC token (`Authorization: Splunk <token>`).
    public var hecToken: String?
    /// Elasticsearch `_bulk` basic-auth user and token.
    public var bulkUser: String?
    public var bulkToken: String?
    /// Bearer token of `POST /api/v1/ingest`.
    public var ingestToken: String?
    /// Bearer token of the query API.
    public var readToken: String?
    /// PEM certificate chain and private key; both or neither.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// The largest request body, compressed or decompressed.
    public var maxBody = 16 << 20
    /// Flow rows that may wait for the writer before senders are told to come back (503).
    public var maxPendingRows = 1_000_000
    /// A connection with no request in progress is closed after this long.
    public var idleTimeout: Duration = .seconds(60)
    /// A request's head and body must arrive within this long from its first byte (else 408 and close).
    public var readTimeout: Duration = .seconds(30)
    /// Connections open at once; beyond it the oldest idle one is closed, or the new one when none is idle.
    public var maxConnections = 1024
    /// Accept secrets shorter than 8 characters (a warning is logged below 16 either way).
    public var allowWeakTokens = false
    /// Background retention: what the writer prunes between batches (nil: keep everything).
    public var retention: RetentionPolicy?
    /// The store the configuration file names (`db`); `--db` and `TAILFLOW_DB` come first.
    package var databasePath: String?
    /// Another backend the configuration file names (`store`: `clickhouse://…`); `--store`,
    /// `TAILFLOW_STORE`, `--db` and `TAILFLOW_DB` come first.
    package var storeURL: String?

    public init() {}

    /// A setting, named as its flag is (`max-body`), and as its configuration-file key.
    package enum Setting: String, CaseIterable, Sendable {
        case listen, db, store
        case hecToken = "hec-token", bulkUser = "bulk-user", bulkToken = "bulk-token"
        case ingestToken = "ingest-token", readToken = "read-token"
        case tlsCert = "tls-cert", tlsKey = "tls-key"
        case maxBody = "max-body", maxPendingRows = "max-pending-rows"
        case idleTimeout = "idle-timeout", readTimeout = "read-timeout", maxConnections = "max-connections"
        case allowWeakTokens = "allow-weak-tokens"
        case retention

        /// The environment variable of a secret, if it has one.
        var environmentVariable: String? {
            switch self {
            case .hecToken: "TAILFLOW_HEC_TOKEN"
            case .bulkUser: "TAILFLOW_BULK_USER"
            case .bulkToken: "TAILFLOW_BULK_TOKEN"
            case .ingestToken: "TAILFLOW_INGEST_TOKEN"
            case .readToken: "TAILFLOW_READ_TOKEN"
            default: nil
            }
        }
    }

    /// Where a setting's text came from; errors name the setting as that source spells it.
    package enum Source: Sendable {
        case flag
        case environment
        case file(String)

        func name(_ setting: Setting) -> String {
            switch self {
            case .flag: "--" + setting.rawValue
            case .environment: setting.environmentVariable ?? setting.rawValue
            case .file(let path): "\(path): \(setting.rawValue)"
            }
        }
    }

    /// Sets one setting from its text; an empty secret leaves the receiver off.
    ///
    /// - throws: ``ConfigurationError`` naming the setting (as `source` spells it) when the text cannot be read.
    package mutating func set(_ setting: Setting, _ text: String, from source: Source) throws {
        let name = source.name(setting)
        let secret: String? = text.isEmpty ? nil : text
        switch setting {
        case .listen: (host, port) = try Self.parseListen(text, name: name)
        case .db: databasePath = secret
        case .store: storeURL = secret
        case .hecToken: hecToken = secret
        case .bulkUser: bulkUser = secret
        case .bulkToken: bulkToken = secret
        case .ingestToken: ingestToken = secret
        case .readToken: readToken = secret
        case .tlsCert: tlsCertificate = secret
        case .tlsKey: tlsKey = secret
        case .maxBody: maxBody = try Self.parseSize(text, name: name)
        case .maxPendingRows: maxPendingRows = try Self.parseCount(text, name: name)
        case .maxConnections: maxConnections = try Self.parseCount(text, name: name)
        case .idleTimeout: idleTimeout = try Self.parseDuration(text, name: name)
        case .readTimeout: readTimeout = try Self.parseDuration(text, name: name)
        case .retention:
            do {
                let policy = try RetentionPolicy.parse(text)
                retention = policy.keepsEverything ? nil : policy
            } catch let e as RetentionError {
                throw ConfigurationError("\(name): \(e.message)")
            }
        case .allowWeakTokens:
            switch text.lowercased() {
            case "true", "1", "yes", "": allowWeakTokens = true
            case "false", "0", "no": allowWeakTokens = false
            default: throw ConfigurationError("\(name) '\(text)' must be true or false")
            }
        }
    }

    /// Applies a JSON configuration file: an object whose keys are flag names and whose values
    /// are strings, numbers or (for `allow-weak-tokens`) booleans.
    ///
    /// - throws: ``ConfigurationError`` naming the file and the key that cannot be used.
    public mutating func apply(file path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("cannot read the configuration file \(path): \((error as NSError).localizedDescription)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigurationError("\(path): the configuration file must be a JSON object such as {\"listen\": \"0.0.0.0:8443\"}")
        }
        for key in object.keys.sorted() {
            guard let setting = Setting(rawValue: key) else {
                let known = Setting.allCases.map(\.rawValue).sorted().joined(separator: ", ")
                throw ConfigurationError("\(path): unknown setting '\(key)'; known: \(known)")
            }
            let text: String
            switch object[key] {
            case let s as String: text = s
            case let n as NSNumber: text = setting == .allowWeakTokens ? (n.boolValue ? "true" : "false") : n.stringValue
            default: throw ConfigurationError("\(path): '\(key)' must be a string or a number")
            }
            try set(setting, text, from: .file(path))
        }
    }

    /// Applies the secrets' environment variables that are set and not empty.
    public mutating func apply(environment: [String: String]) throws {
        for setting in Setting.allCases {
            if let variable = setting.environmentVariable, let value = environment[variable], !value.isEmpty {
                try set(setting, value, from: .environment)
            }
        }
    }

    /// Checks the settings that go together, and the secrets' strength.
    ///
    /// - throws: ``ConfigurationError`` for TLS without both files, a bulk user without its
    ///   token (or the reverse), or a secret under 8 characters without ``allowWeakTokens``.
    public func validate() throws {
        guard (tlsCertificate == nil) == (tlsKey == nil) else {
            throw ConfigurationError("TLS needs both --tls-cert and --tls-key")
        }
        guard (bulkUser == nil) == (bulkToken == nil) else {
            throw ConfigurationError("the Elasticsearch receiver needs both a bulk user and a bulk token")
        }
        if !allowWeakTokens, let (setting, secret) = secrets.first(where: { $0.1.count < Self.minimumTokenLength }) {
            throw ConfigurationError("the --\(setting.rawValue) is \(secret.count) characters: use at least \(Self.goodTokenLength) (`openssl rand -hex 16` makes one), or pass --allow-weak-tokens")
        }
    }

    /// A secret shorter than this is refused unless ``allowWeakTokens``.
    static let minimumTokenLength = 8
    /// A secret shorter than this is warned about at start.
    static let goodTokenLength = 16

    /// The secrets that are set, by setting.
    var secrets: [(Setting, String)] {
        [(Setting.hecToken, hecToken), (.bulkToken, bulkToken), (.ingestToken, ingestToken), (.readToken, readToken)]
            .compactMap { setting, value in value.map { (setting, $0) } }
    }

    /// What to warn about at start: secrets under 16 characters.
    public var warnings: [String] {
        secrets.filter { $0.1.count < Self.goodTokenLength }.map { setting, secret in
            "the --\(setting.rawValue) is only \(secret.count) characters: use at least \(Self.goodTokenLength) (`openssl rand -hex 16` makes one)"
        }
    }

    /// Whether any receiver is on.
    var hasReceiver: Bool {
        hecToken != nil || bulkToken != nil || ingestToken != nil
    }

    /// `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces); port 0 picks a free port.
    static func parseListen(_ text: String, name: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("\(name) '\(text)' must be HOST:PORT, such as 127.0.0.1:8080 or 0.0.0.0:8443")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// Bytes, or a number with `KiB`, `MiB` or `GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`, read as powers of 1024).
    static func parseSize(_ text: String, name: String) throws -> Int {
        let s = text.trimmingCharacters(in: .whitespaces)
        let digits = s.prefix { $0.isNumber }
        let unit = s.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let scale: Int
        switch unit {
        case "", "b": scale = 1
        case "k", "kb", "kib": scale = 1 << 10
        case "m", "mb", "mib": scale = 1 << 20
        case "g", "gb", "gib": scale = 1 << 30
        default: scale = 0
        }
        guard let n = Int(digits), scale > 0, n > 0, n <= (1 << 40) / scale else {
            throw ConfigurationError("\(name) '\(text)' must be a size such as 16MiB, 512KiB or 1048576")
        }
        return n * scale
    }

    static func parseCount(_ text: String, name: String) throws -> Int {
        guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n > 0 else {
            throw ConfigurationError("\(name) '\(text)' must be a positive whole number")
        }
        return n
    }

    /// `30s`, `2m`, `500ms`, or a number of seconds; positive.
    static func parseDuration(_ text: String, name: String) throws -> Duration {
        let s = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(s), seconds > 0, seconds < 1 << 31 { return .seconds(seconds) }
        guard let ns = DurationText.parse(s), ns > 0 else {
            throw ConfigurationError("\(name) '\(text)' must be a duration such as 30s, 2m or 500ms")
        }
        return .nanoseconds(ns)
    }
}

/// A setting that cannot be used as given.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    package init(_ message: String) { self.message = message }
    public var description: String { message }
}
