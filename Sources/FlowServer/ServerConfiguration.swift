import Foundation

/// Everything `tailflow serve` is told: where to listen, the secrets of each receiver, TLS and limits.
///
/// Values come from flags, the environment (`TAILFLOW_HEC_TOKEN`, `TAILFLOW_BULK_USER`,
/// `TAILFLOW_BULK_TOKEN`, `TAILFLOW_INGEST_TOKEN`, `TAILFLOW_READ_TOKEN`) and an optional
/// JSON configuration file whose keys are the flags' names, in that order of precedence.
/// A receiver whose secret is unset is off.
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

    public init() {}

    /// The configuration-file keys, which are the flags' names.
    public static let fileKeys: Set<String> = [
        "listen", "db", "hec-token", "bulk-user", "bulk-token", "ingest-token", "read-token",
        "tls-cert", "tls-key", "max-body", "max-pending-rows",
    ]

    /// The environment variables of the secrets.
    public static let environmentKeys: [String: String] = [
        "hec-token": "TAILFLOW_HEC_TOKEN", "bulk-user": "TAILFLOW_BULK_USER", "bulk-token": "TAILFLOW_BULK_TOKEN",
        "ingest-token": "TAILFLOW_INGEST_TOKEN", "read-token": "TAILFLOW_READ_TOKEN",
    ]

    /// Builds a configuration from settings keyed by flag name (`listen`, `hec-token`, …).
    ///
    /// - throws: ``ConfigurationError`` naming the setting that cannot be read.
    public init(settings: [String: String]) throws {
        if let listen = settings["listen"] { (host, port) = try Self.parseListen(listen) }
        hecToken = settings["hec-token"].flatMap(Self.nonEmpty)
        bulkUser = settings["bulk-user"].flatMap(Self.nonEmpty)
        bulkToken = settings["bulk-token"].flatMap(Self.nonEmpty)
        ingestToken = settings["ingest-token"].flatMap(Self.nonEmpty)
        readToken = settings["read-token"].flatMap(Self.nonEmpty)
        tlsCertificate = settings["tls-cert"].flatMap(Self.nonEmpty)
        tlsKey = settings["tls-key"].flatMap(Self.nonEmpty)
        if let size = settings["max-body"] { maxBody = try Self.parseSize(size, what: "max-body") }
        if let rows = settings["max-pending-rows"] {
            guard let n = Int(rows), n > 0 else { throw ConfigurationError("max-pending-rows '\(rows)' must be a positive whole number") }
            maxPendingRows = n
        }
        guard (tlsCertificate == nil) == (tlsKey == nil) else {
            throw ConfigurationError("TLS needs both --tls-cert and --tls-key")
        }
        guard (bulkUser == nil) == (bulkToken == nil) else {
            throw ConfigurationError("the Elasticsearch receiver needs both a bulk user and a bulk token")
        }
    }

    /// Reads a JSON configuration file: an object whose keys are flag names and whose values are strings or numbers.
    public static func readFile(_ path: String) throws -> [String: String] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError("cannot read the configuration file \(path): \((error as NSError).localizedDescription)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigurationError("\(path): the configuration file must be a JSON object such as {\"listen\": \"0.0.0.0:8443\"}")
        }
        var settings: [String: String] = [:]
        for (key, value) in object {
            guard fileKeys.contains(key) else {
                throw ConfigurationError("\(path): unknown setting '\(key)'; known: \(fileKeys.sorted().joined(separator: ", "))")
            }
            switch value {
            case let s as String: settings[key] = s
            case let n as NSNumber: settings[key] = n.stringValue
            default: throw ConfigurationError("\(path): '\(key)' must be a string or a number")
            }
        }
        return settings
    }

    /// Whether any receiver is on.
    public var hasReceiver: Bool {
        hecToken != nil || bulkToken != nil || ingestToken != nil
    }

    static func nonEmpty(_ s: String) -> String? { s.isEmpty ? nil : s }

    /// `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces); port 0 picks a free port.
    public static func parseListen(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("--listen '\(text)' must be HOST:PORT, such as 127.0.0.1:8080 or 0.0.0.0:8443")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    /// Bytes, or a number with `KiB`, `MiB` or `GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`, read as powers of 1024).
    public static func parseSize(_ text: String, what: String) throws -> Int {
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
            throw ConfigurationError("--\(what) '\(text)' must be a size such as 16MiB, 512KiB or 1048576")
        }
        return n * scale
    }
}

/// A setting that cannot be used as given.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
