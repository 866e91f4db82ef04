import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Statements over ClickHouse's HTTP interface, synchronously (the store protocol is synchronous),
/// with retries and back-off when the server cannot be reached.
///
/// A statement ClickHouse refuses is not retried: its error names the server, ClickHouse's message
/// and the statement. Connection errors (refused, reset, timed out) are retried, waiting
/// ``RetryPolicy/firstDelay`` then twice as long each time, from **one budget per client**:
/// ``RetryPolicy/attempts`` − 1 retries shared by every statement of the client, the ones running
/// at the same time included, until one of them reaches the server. A question that sends two
/// statements at once, or a third after them, against a server that is down fails once that budget
/// is spent, not after a budget for each statement; a server found down is then tried once per
/// statement, without retries, for ``RetryPolicy/rest`` (a long-running `serve` retries again after it).
///
/// For example:
/// ```swift
/// let client = ClickHouseClient(url: try ClickHouseURL("clickhouse://127.0.0.1:8123/flows"), password: nil)
/// let text = try client.text("SELECT version()")
/// ```
public final class ClickHouseClient: Sendable {
    public struct RetryPolicy: Sendable {
        /// Connection attempts of one statement when the server is down: the first and the retries.
        public var attempts: Int
        public var firstDelay: Duration
        public var maxDelay: Duration
        /// How long a spent budget stays spent (unless a statement reaches the server first).
        public var rest: Duration

        public init(attempts: Int = 8, firstDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(5),
                    rest: Duration = .seconds(30)) {
            self.attempts = attempts
            self.firstDelay = firstDelay
            self.maxDelay = maxDelay
            self.rest = rest
        }

        /// The wait before retry `n` (1, 2, …): ``firstDelay`` doubled `n` − 1 times, at most ``maxDelay``.
        func delay(beforeRetry n: Int) -> Duration {
            var d = firstDelay
            for _ in 1..<max(1, n) where d < maxDelay { d = d * 2 }
            return min(d, maxDelay)
        }
    }

    /// The retries this client's statements draw from (see the type's documentation).
    final class RetryBudget: @unchecked Sendable {
        private let lock = NSLock()
        private let policy: RetryPolicy
        /// Retries taken since a statement last reached the server.
        private var taken = 0
        private var spentAt: ContinuousClock.Instant?

        init(_ policy: RetryPolicy) { self.policy = policy }

        /// The number of the next retry (1, 2, …), or `nil` when the budget is spent; `announce`
        /// is told the number while the budget is held, so that statements retrying at the same
        /// time announce their retries in the order of their numbers.
        func take(announce: (Int) -> Void = { _ in }) -> Int? {
            lock.withLock {
                if let spentAt {
                    guard ContinuousClock.now - spentAt >= policy.rest else { return nil }
                    self.spentAt = nil
                    taken = 0
                }
                guard taken + 1 < policy.attempts else {
                    spentAt = .now
                    return nil
                }
                taken += 1
                announce(taken)
                return taken
            }
        }

        /// A statement reached the server: the budget is whole again.
        func reached() {
            lock.withLock {
                taken = 0
                spentAt = nil
            }
        }
    }

    public let url: ClickHouseURL
    let password: String?
    public let retry: RetryPolicy
    let budget: RetryBudget
    /// Called before each retry with the attempt number and the error (the CLI prints it).
    let onRetry: (@Sendable (Int, ClickHouseError) -> Void)?
    /// Its own client: a short connect timeout, so that a server that is down is retried here
    /// (and said so) rather than waited for in the connection pool.
    let http: HTTPClient
    /// The one event loop of `http`'s requests and their connections (see `init`).
    let loop: any EventLoop
    /// Whether insert bodies of 16 KiB and more go gzipped (`Content-Encoding: gzip`): by default
    /// for a server over the network, not for one on this machine (loopback), where compressing
    /// only costs the cores (measured: RowBinary shrinks 4.5× at level 1, but a local ingest took
    /// 30-70 % longer); `TAILFLOW_CLICKHOUSE_GZIP=1` or `=0` decides instead.
    public let gzip: Bool

    public init(url: ClickHouseURL, password: String?, retry: RetryPolicy = RetryPolicy(),
                gzip: Bool? = nil,
                onRetry: (@Sendable (Int, ClickHouseError) -> Void)? = nil) {
        self.url = url
        switch ProcessInfo.processInfo.environment["TAILFLOW_CLICKHOUSE_GZIP"] {
        case "0": self.gzip = gzip ?? false
        case "1": self.gzip = gzip ?? true
        default: self.gzip = gzip ?? !Self.isLoopback(url.host)
        }
        self.password = password
        self.retry = retry
        self.budget = RetryBudget(retry)
        self.onRetry = onRetry
        // A short connect timeout: AsyncHTTPClient's pool keeps retrying a refused connection
        // until it, so a server that is down is retried here (and said so) rather than silently
        // there. Idle connections are dropped after 1 s, before ClickHouse closes them
        // (keep_alive_timeout 3 s), so a reused connection is never one the server is closing.
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(2), read: .seconds(900)))
        configuration.connectionPool = .init(idleTimeout: .seconds(1))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        // Every request and its connection on one event loop. AsyncHTTPClient 1.37 hands a
        // connection back to its pool two loop hops late when the request ran on another loop
        // than the connection and the server answered before the end of the body was written
        // (RequestBag's promise on the request's loop); a shutdown, or the server closing the
        // connection, in that gap made the pool crash on the late release ("A connection that
        // we don't know was released?": twice in full test runs at load 10-14, a short CLI
        // command shutting its client down right after its last answer). On one loop the
        // connection is released before the caller sees the answer.
        loop = HTTPClient.defaultEventLoopGroup.next()
    }

    deinit {
        try? http.syncShutdown()
    }

    /// Runs one statement in the store's database (or none, `inDatabase: false`) and returns
    /// what the server answered.
    ///
    /// - parameter sql: The statement; with `data`, it goes in the URL and `data` is the body.
    /// - parameter data: Rows to insert, in the format the statement names.
    /// - throws: ``ClickHouseError``.
    /// - parameter retries: whether connection errors are retried here (an insert that may have
    ///   landed is retried by its caller, which first checks what landed, from the same budget).
    /// - parameter external: tables sent with the statement (ClickHouse's "external data": each
    ///   a temporary table the statement reads by its name), as `multipart/form-data`; not with `data`.
    @discardableResult
    public func run(_ sql: String, data: [UInt8]? = nil, inDatabase: Bool = true, settings: [String: String] = [:],
                    retries: Bool = true, external: [ExternalTable] = []) throws -> [UInt8] {
        precondition(external.isEmpty || data == nil, "external tables with an insert's data")
        let target = target(sql, inDatabase: inDatabase, settings: settings, inURL: data != nil, external: external)
        var headers = authorization()
        var body: [UInt8] = data ?? Array(sql.utf8)
        if !external.isEmpty {
            // The statement as the form's `query` field, each table as a file of its name.
            let boundary = "tailflow-\(UInt64.random(in: 0...UInt64.max))"
            headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
            var form: [UInt8] = []
            func part(_ name: String, file: Bool, _ content: [UInt8]) {
                form += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\(file ? "; filename=\"\(name)\"" : "")\r\n".utf8)
                if file { form += Array("Content-Type: application/octet-stream\r\n".utf8) }
                form += Array("\r\n".utf8) + content + Array("\r\n".utf8)
            }
            part("query", file: false, Array(sql.utf8))
            for table in external { part(table.name, file: true, table.rows) }
            form += Array("--\(boundary)--\r\n".utf8)
            body = form
        }
        if data != nil { gzipInsert(&body, &headers) }
        return try send(target, headers: headers, body: .bytes(body), sent: body.count, sql: sql, retries: retries)
    }

    /// An insert of `rows` (in the format `sql` names), sent as they are: the writer's flow rows,
    /// encoded into a buffer it keeps from one insert to the next (a fresh 60 MB body per insert
    /// cost its thread the page faults, and `[UInt8]` was copied again into NIO's buffers). Gzipped
    /// like ``run(_:data:inDatabase:settings:retries:external:)``'s when ``gzip`` says so.
    ///
    /// - parameter retries: as for ``run(_:data:inDatabase:settings:retries:external:)``.
    func insert(_ sql: String, rows: ByteBuffer, retries: Bool) throws {
        if gzip, rows.readableBytes >= GzipBody.threshold {
            try run(sql, data: Array(rows.readableBytesView), retries: retries)
            return
        }
        let target = target(sql, inDatabase: true, settings: [:], inURL: true, external: [])
        _ = try send(target, headers: authorization(), body: .byteBuffer(rows), sent: rows.readableBytes, sql: sql, retries: retries)
    }

    /// Gzips an insert's `body` of ``GzipBody/threshold`` bytes and more when ``gzip`` says so,
    /// saying so in `headers`.
    private func gzipInsert(_ body: inout [UInt8], _ headers: inout HTTPHeaders) {
        guard gzip, body.count >= GzipBody.threshold, let packed = GzipBody.compress(body) else { return }
        body = packed
        headers.add(name: "Content-Encoding", value: "gzip")
    }

    /// Sends a statement's body and returns the answer; after a connection failure, again when
    /// `retries` (``backOff(after:)``, within the client's budget).
    private func send(_ target: String, headers: HTTPHeaders, body: HTTPClient.Body, sent: Int, sql: String,
                      retries: Bool) throws -> [UInt8] {
        while true {
            do {
                let answer = try once(target, headers: headers, body: body, sent: sent, sql: sql)
                budget.reached()
                return answer
            } catch let e as ClickHouseError where retries && e.kind == .connection {
                try backOff(after: e)
            }
        }
    }

    /// The URL of a statement: the store's database (unless `inDatabase` is false), the settings,
    /// and the statement itself when `inURL` (an insert's, whose body is its rows).
    private func target(_ sql: String, inDatabase: Bool, settings: [String: String], inURL: Bool,
                        external: [ExternalTable]) -> String {
        var params: [(String, String)] = []
        if inDatabase { params.append(("database", url.database)) }
        // Long IN lists and a batch's identity checks fit; 64-bit integers as JSON numbers.
        params.append(("max_query_size", "104857600"))
        params.append(("output_format_json_quote_64bit_integers", "0"))
        if url.cluster != nil {
            // A cluster: an insert returns once every shard holds its part (a retry then knows
            // what landed), and a subquery over a Distributed table inside a distributed query
            // reads the whole cluster once (GLOBAL), not each shard its own part.
            params.append(("insert_distributed_sync", "1"))
            params.append(("distributed_product_mode", "global"))
        }
        for (k, v) in settings.sorted(by: { $0.key < $1.key }) { params.append((k, v)) }
        if inURL { params.append(("query", sql)) }
        for table in external {
            params.append(("\(table.name)_structure", table.structure))
            params.append(("\(table.name)_format", "TabSeparated"))
        }
        let query = params.map { "\($0.0)=\(Self.escape($0.1))" }.joined(separator: "&")
        return "http://\(url.server)/?\(query)"
    }

    private func authorization() -> HTTPHeaders {
        var headers = HTTPHeaders()
        let credentials = "\(url.user):\(password ?? "")"
        headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        return headers
    }

    /// A table sent with a statement (``run(_:data:inDatabase:settings:retries:external:)``).
    public struct ExternalTable: Sendable {
        /// The name the statement reads it by.
        public var name: String
        /// Its columns, as `name Type, …`.
        public var structure: String
        /// Its rows, TabSeparated.
        public var rows: [UInt8]

        public init(name: String, structure: String, rows: [UInt8]) {
            self.name = name
            self.structure = structure
            self.rows = rows
        }
    }

    /// Takes a retry from the client's budget, tells ``onRetry`` and waits before it; rethrows
    /// `error` when the budget is spent.
    func backOff(after error: ClickHouseError) throws {
        guard let n = budget.take(announce: { onRetry?($0, error) }) else { throw error }
        let delay = retry.delay(beforeRetry: n)
        Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
    }

    /// ``run(_:data:inDatabase:settings:retries:)`` as text.
    public func text(_ sql: String, inDatabase: Bool = true) throws -> String {
        String(decoding: try run(sql, inDatabase: inDatabase), as: UTF8.self)
    }

    /// The rows of a `SELECT … FORMAT TabSeparated`, each a list of unescaped fields.
    ///
    /// - parameter retries: whether connection errors are retried here; a caller that runs
    ///   its own retry loop passes `false`, so that one budget of attempts bounds the whole.
    public func rows(_ sql: String, retries: Bool = true, external: [ExternalTable] = []) throws -> [[String]] {
        let out = try run(sql + "\nFORMAT TabSeparated", retries: retries, external: external)
        return TabSeparated.parse(out)
    }

    private func once(_ target: String, headers: HTTPHeaders, body: HTTPClient.Body, sent: Int, sql: String) throws -> [UInt8] {
        let started = Self.trace ? DispatchTime.now().uptimeNanoseconds : 0
        return try answer(start(target, headers: headers, body: body), sent: sent, sql: sql, started: started)
    }

    /// Sends a request; ``answer(_:sent:sql:started:)`` waits for it.
    private func start(_ target: String, headers: HTTPHeaders, body: HTTPClient.Body) -> EventLoopFuture<HTTPClient.Response> {
        do {
            let request = try HTTPClient.Request(url: target, method: .POST, headers: headers, body: body)
            return http.execute(request: request, eventLoop: .delegateAndChannel(on: loop), deadline: .now() + .seconds(900))
        } catch {
            return loop.makeFailedFuture(error)
        }
    }

    /// Inserts `data` with each statement, all at once (each request on a connection of its own), and
    /// returns once every one has ended; no retries (an insert that failed on the connection may have
    /// landed: its caller finds out). Throws a connection error if any failed so, else the first
    /// error the server answered.
    ///
    /// The writer's rollups and sightings, six small inserts after each batch's raw rows: one after
    /// another, each waited for the server's 20-60 ms of work while the other core had none.
    func runAll(_ inserts: [(sql: String, data: [UInt8])]) throws {
        try startAll(inserts).wait()
    }

    /// Inserts sent by ``startAll(_:)``, not waited for yet.
    struct PendingInserts {
        fileprivate let client: ClickHouseClient
        fileprivate let requests: [(sql: String, sent: Int, answer: EventLoopFuture<HTTPClient.Response>)]
        fileprivate let started: UInt64

        /// Returns once every insert has ended, as ``ClickHouseClient/runAll(_:)``.
        func wait() throws {
            var failure: ClickHouseError?
            for r in requests {
                do {
                    _ = try client.answer(r.answer, sent: r.sent, sql: r.sql, started: started)
                } catch let e as ClickHouseError {
                    if failure == nil || (e.kind == .connection && failure?.kind != .connection) { failure = e }
                }
            }
            if let failure { throw failure }
            if !requests.isEmpty { client.budget.reached() }
        }
    }

    /// ``runAll(_:)`` without waiting: the caller works on while the server stores them.
    func startAll(_ inserts: [(sql: String, data: [UInt8])]) -> PendingInserts {
        let started = Self.trace ? DispatchTime.now().uptimeNanoseconds : 0
        var requests: [(sql: String, sent: Int, answer: EventLoopFuture<HTTPClient.Response>)] = []
        for (sql, data) in inserts {
            let target = target(sql, inDatabase: true, settings: [:], inURL: true, external: [])
            var headers = authorization()
            var body = data
            gzipInsert(&body, &headers)
            requests.append((sql, body.count, start(target, headers: headers, body: .bytes(body))))
        }
        return PendingInserts(client: self, requests: requests, started: started)
    }

    /// Waits for a request's answer: its body, or the server's error.
    fileprivate func answer(_ future: EventLoopFuture<HTTPClient.Response>, sent: Int, sql: String, started: UInt64) throws -> [UInt8] {
        let response: HTTPClient.Response
        do {
            response = try future.wait()
        } catch {
            throw ClickHouseError(.connection, server: url.server, "cannot reach the server: \(Self.describe(error))")
        }
        let bytes = response.body.map { Array($0.readableBytesView) } ?? []
        if Self.trace { Self.traceRequest(sql, started: started, sent: sent, received: bytes.count) }
        guard response.status.code == 200 else {
            var message = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if message.isEmpty { message = "HTTP \(response.status.code)" }
            // "Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., e.what() = DB::Exception"
            message = message.replacingOccurrences(of: ", e.what() = DB::Exception", with: "")
                .replacingOccurrences(of: "e.displayText() = DB::Exception: ", with: "")
            let first = sql.split(separator: "\n").first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(String.init) ?? sql
            throw ClickHouseError(.server(status: Int(response.status.code)), server: url.server, message,
                                  statement: first.count > 120 ? String(first.prefix(117)) + "..." : first)
        }
        return bytes
    }

    /// `TAILFLOW_CLICKHOUSE_TRACE=1`: each request on stderr as it ends (milliseconds, bytes sent
    /// and received, the statement's first 160 characters on one line), to see what a command asks.
    /// `=2`: the whole statement, as sent.
    static let trace = ["1", "2"].contains(ProcessInfo.processInfo.environment["TAILFLOW_CLICKHOUSE_TRACE"])
    static let traceWhole = ProcessInfo.processInfo.environment["TAILFLOW_CLICKHOUSE_TRACE"] == "2"

    static func traceRequest(_ sql: String, started: UInt64, sent: Int, received: Int) {
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        let line = traceWhole ? sql : String(sql.split(whereSeparator: \.isWhitespace).joined(separator: " ").prefix(160))
        let text = "clickhouse: \(String(format: "%.1f", ms)) ms, \(sent) B out, \(received) B in: \(line)\n"
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Whether `host` is this machine (`localhost`, 127.0.0.0/8, `::1`).
    static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        return h == "localhost" || h.hasPrefix("127.") || h == "::1" || h == "0:0:0:0:0:0:0:1"
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectTimeout") { return "connection timed out" }
        if text.lowercased().contains("connection refused") || text.contains("ECONNREFUSED") || text.contains("errno: 111") {
            return "connection refused"
        }
        if text.contains("remoteConnectionClosed") { return "the server closed the connection" }
        return text
    }

    static func escape(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// A string literal for ClickHouse SQL.
    public static func quote(_ s: String) -> String {
        var out = "'"
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\0": out += "\\0"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "'"
    }
}

/// ClickHouse's TabSeparated output: rows of fields with `\t`, `\n`, `\\` escaped.
enum TabSeparated {
    /// A field as `parse` reads it back: backslash, tab, line feed, carriage return and NUL escaped.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\0": out += "\\0"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func parse(_ bytes: [UInt8]) -> [[String]] {
        var rows: [[String]] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case 0x09:
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
            case 0x0a:
                fields.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                rows.append(fields)
                fields = []
            case 0x5c where i + 1 < bytes.count:
                i += 1
                switch bytes[i] {
                case 0x74: field.append(0x09)
                case 0x6e: field.append(0x0a)
                case 0x72: field.append(0x0d)
                case 0x30: field.append(0x00)
                case 0x62: field.append(0x08)
                case 0x66: field.append(0x0c)
                default: field.append(bytes[i])
                }
            default:
                field.append(b)
            }
            i += 1
        }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(String(decoding: field, as: UTF8.self))
            rows.append(fields)
        }
        return rows
    }
}
