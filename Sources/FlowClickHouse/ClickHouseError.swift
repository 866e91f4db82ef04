/// What went wrong talking to a ClickHouse server: names the server and, for a refused
/// statement, ClickHouse's own message and the statement's first line.
public struct ClickHouseError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server could not be reached (after the retries).
        case connection
        /// The server answered with an error (a refused statement, a wrong password).
        case server(status: Int)
        /// The store is not there or not one this tailflow can use (missing, newer schema).
        case store
    }

    public var kind: Kind
    /// `host:port`.
    public var server: String
    public var message: String
    /// The first line of the statement, when one was refused.
    public var statement: String?

    public init(_ kind: Kind, server: String, _ message: String, statement: String? = nil) {
        self.kind = kind
        self.server = server
        self.message = message
        self.statement = statement
    }

    public var description: String {
        "clickhouse server \(server): \(message)" + (statement.map { " (while running `\($0)`)" } ?? "")
    }
}

/// What the ClickHouse backend cannot do yet: a clear refusal instead of a wrong answer.
public struct ClickHouseUnsupported: Error, Sendable, CustomStringConvertible {
    public var what: String

    public init(_ what: String) {
        self.what = what
    }

    public var description: String {
        "not supported on the clickhouse backend yet: \(what) (the SQLite store, --db FILE, does it;"
            + " on clickhouse: ingest, pull, follow, serve, nodes, derp, rejects and every question)"
    }
}
