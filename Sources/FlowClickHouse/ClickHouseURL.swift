/// Where a ClickHouse store lives: `clickhouse://[user@]host:port/database[?cluster=NAME]` (SPEC §12).
///
/// The password never appears in the URL: it comes from `TAILFLOW_CLICKHOUSE_PASSWORD`.
///
/// For example:
/// ```swift
/// let url = try ClickHouseURL("clickhouse://tailflow@127.0.0.1:8123/flows")
/// // url.host == "127.0.0.1", url.port == 8123, url.database == "flows", url.user == "tailflow"
/// ```
public struct ClickHouseURL: Sendable, Equatable, CustomStringConvertible {
    /// The user (ClickHouse's `default` when the URL names none).
    public var user: String
    public var host: String
    /// The port of ClickHouse's HTTP interface (8123 when the URL names none).
    public var port: Int
    public var database: String
    /// The cluster to spread the tables over (`?cluster=NAME`); nil for one server.
    public var cluster: String?

    /// The URL scheme that selects this backend.
    public static let scheme = "clickhouse://"

    /// Whether `text` names a ClickHouse store (its scheme), valid or not.
    public static func names(_ text: String) -> Bool {
        text.lowercased().hasPrefix(scheme)
    }

    /// Reads a store URL.
    ///
    /// - throws: ``ClickHouseURLError`` naming what is wrong.
    public init(_ text: String) throws {
        guard Self.names(text) else { throw ClickHouseURLError(text, "it does not start with clickhouse://") }
        var rest = Substring(text.dropFirst(Self.scheme.count))
        var cluster: String?
        if let q = rest.firstIndex(of: "?") {
            for item in rest[rest.index(after: q)...].split(separator: "&") {
                let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, kv[0] == "cluster", !kv[1].isEmpty else {
                    throw ClickHouseURLError(text, "unknown parameter '\(item)' (only cluster=NAME is known)")
                }
                guard Self.isIdentifier(kv[1]) else { throw ClickHouseURLError(text, "cluster '\(kv[1])' is not a plain name") }
                cluster = kv[1]
            }
            rest = rest[..<q]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw ClickHouseURLError(text, "no database: write clickhouse://[user@]host:port/database")
        }
        let database = String(rest[rest.index(after: slash)...])
        guard !database.isEmpty else { throw ClickHouseURLError(text, "no database: write clickhouse://[user@]host:port/database") }
        guard Self.isIdentifier(database) else {
            throw ClickHouseURLError(text, "database '\(database)' is not a plain name (letters, digits, _)")
        }
        var authority = rest[..<slash]
        var user = "default"
        if let at = authority.lastIndex(of: "@") {
            user = String(authority[..<at])
            guard !user.isEmpty else { throw ClickHouseURLError(text, "empty user before @") }
            guard !user.contains(":") else {
                throw ClickHouseURLError(text, "a password does not belong in the URL: set TAILFLOW_CLICKHOUSE_PASSWORD")
            }
            authority = authority[authority.index(after: at)...]
        }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw ClickHouseURLError(text, "unclosed [ in the host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw ClickHouseURLError(text, "unexpected '\(after)' after the host")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw ClickHouseURLError(text, "no host") }
        var port = 8123
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw ClickHouseURLError(text, "port '\(portText)' is not a number from 1 to 65535") }
            port = p
        }
        self.user = user
        self.host = String(host)
        self.port = port
        self.database = database
        self.cluster = cluster
    }

    /// `host:port` as people name the server (IPv6 in brackets).
    public var server: String {
        (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
    }

    /// The URL without password (there never is one), as it was meant.
    public var description: String {
        "clickhouse://\(user == "default" ? "" : user + "@")\(server)/\(database)" + (cluster.map { "?cluster=\($0)" } ?? "")
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x5f }
            && !(s.utf8.first! >= 0x30 && s.utf8.first! <= 0x39)
    }
}

/// A store URL that cannot be read: names the URL and what is wrong.
public struct ClickHouseURLError: Error, Sendable, CustomStringConvertible {
    public var url: String
    public var reason: String

    init(_ url: String, _ reason: String) {
        self.url = url
        self.reason = reason
    }

    public var description: String { "invalid store URL '\(url)': \(reason)" }
}
