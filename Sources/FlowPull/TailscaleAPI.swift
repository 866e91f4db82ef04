import AsyncHTTPClient
public import FlowModel
public import Logging
import FlowStore
import Foundation
import NIOCore
import NIOHTTP1

/// The parts of the Tailscale API that tailflow reads: network flow logs and the device list.
///
/// Every request carries a per-request timeout (the whole answer, body included)
/// and is retried on 429, 5xx and network errors with ``RetryPolicy``; 401 and
/// 403 are never retried. Call ``shutdown()`` when done.
///
/// For example:
/// ```swift
/// let api = TailscaleAPI(APIConfiguration(tailnet: "example.com", credentials: .apiKey(key)))
/// defer { Task { try await api.shutdown() } }
/// let body = try await api.networkLogs(from: start, to: end)   // {"logs":[…]}, maybe gzip
/// ```
public final class TailscaleAPI: Sendable {
    public let configuration: APIConfiguration
    let client: HTTPClient
    let tokens = TokenCache()
    let counters = Counters()
    let logger: Logger

    public init(_ configuration: APIConfiguration, logger: Logger = Logger(label: "tailflow.pull")) {
        self.configuration = configuration
        self.logger = logger
        var config = HTTPClient.Configuration(
            redirectConfiguration: .disallow,  // never carry the Authorization header anywhere else
            // AsyncHTTPClient retries a refused connection until this runs out.
            timeout: .init(connect: .nanoseconds(min(Int64(configuration.timeout.seconds * 1e9), 10_000_000_000)))
        )
        config.httpVersion = .automatic
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Closes connections; required before the value goes away.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    /// Retries made so far, over all requests.
    public var retries: Int { counters.retries }
    /// Requests sent so far, retries included.
    public var requests: Int { counters.requests }

    /// `GET /api/v2/tailnet/{tailnet}/logging/network?start=…&end=…`: the body, `{"logs":[…]}`, possibly gzip
    /// (the ingester detects gzip by its magic bytes).
    func networkLogs(from start: Nanoseconds, to end: Nanoseconds) async throws -> [UInt8] {
        try await logs(.network, from: start, to: end)
    }

    /// `GET /api/v2/tailnet/{tailnet}/logging/{network|configuration}?start=…&end=…`: the body,
    /// `{"logs":[…]}`, possibly gzip. The configuration audit log (SPEC §13) needs the scope
    /// `logs:configuration:read`, the network flow log `logs:network:read`.
    public func logs(_ log: LogType, from start: Nanoseconds, to end: Nanoseconds) async throws -> [UInt8] {
        let stream = try await logStream(log, from: start, to: end)
        defer { stream.cancel() }
        return try await offThePool {
            var body: [UInt8] = []
            var block = [UInt8](repeating: 0, count: 1 << 16)
            while case let n = try block.withUnsafeMutableBytes({ try stream.read(into: $0) }), n > 0 {
                body.append(contentsOf: block[..<n])
            }
            return body
        }
    }

    /// The same answer as ``logs(_:from:to:)``, read while it arrives (see ``AnswerStream``).
    ///
    /// - parameter attemptsBefore: attempts already spent on this window (an answer dropped half-way is
    ///   asked again within the same retry budget).
    func logStream(_ log: LogType, from start: Nanoseconds, to end: Nanoseconds, attemptsBefore: Int = 0) async throws -> AnswerStream {
        let answer = try await get(logsPath(log, from: start, to: end), scope: "logs:\(log.rawValue):read", acceptGzip: true,
                                   streaming: true, attemptsBefore: attemptsBefore)
        guard let stream = answer.stream else {
            throw APIError(code: .badResponse, message: "no answer body", status: answer.status, attempts: answer.attempts)
        }
        return stream
    }

    func logsPath(_ log: LogType, from start: Nanoseconds, to end: Nanoseconds) -> String {
        let query = "start=\(Self.queryEscape(Timestamp.formatRFC3339(start)))&end=\(Self.queryEscape(Timestamp.formatRFC3339(end)))"
        return "/api/v2/tailnet/\(Self.pathEscape(configuration.tailnet))/logging/\(log.rawValue)?\(query)"
    }

    /// `GET /api/v2/tailnet/{tailnet}/devices?fields=all`: `{"devices":[…]}`.
    public func devices() async throws -> [UInt8] {
        try await get("/api/v2/tailnet/\(Self.pathEscape(configuration.tailnet))/devices?fields=all",
                      scope: "devices:core:read", acceptGzip: false).body
    }

    // MARK: Requests

    /// - parameter streaming: a successful answer's body is read while it arrives (``Answer/stream``), not whole.
    func get(_ pathAndQuery: String, scope: String, acceptGzip: Bool, streaming: Bool = false, attemptsBefore: Int = 0) async throws -> Answer {
        let url = configuration.baseURL + pathAndQuery
        let credentials = configuration.credentials
        let answer = try await send(what: "GET \(pathAndQuery)", streaming: streaming, attemptsBefore: attemptsBefore) {
            var request = HTTPClientRequest(url: url)
            request.method = .GET
            request.headers.add(name: "Authorization", value: "Bearer \(try await self.bearer())")
            request.headers.add(name: "Accept", value: "application/json")
            if acceptGzip { request.headers.add(name: "Accept-Encoding", value: "gzip") }
            return request
        }
        switch answer.status {
        case 200..<300:
            return answer
        case 401:
            throw APIError(code: .unauthorized, message: credentials.refusedAdvice + " [GET \(url)]", status: 401, attempts: answer.attempts)
        case 403:
            throw APIError(code: .forbidden, message: credentials.forbiddenAdvice(scope: scope) + " [GET \(url)]", status: 403, attempts: answer.attempts)
        default:
            throw failure(answer, what: "GET \(url)")
        }
    }

    /// The bearer value: the API key, or a current OAuth access token.
    func bearer() async throws -> String {
        switch configuration.credentials.kind {
        case .apiKey(let key, _):
            return key
        case .oauth(let id, let secret):
            return try await tokens.current { try await self.fetchToken(clientID: id, secret: secret) }
        }
    }

    /// `POST /api/v2/oauth/token` with the `client_credentials` grant.
    func fetchToken(clientID: String, secret: String) async throws -> (String, Duration) {
        let url = configuration.baseURL + "/api/v2/oauth/token"
        let form = "grant_type=client_credentials&client_id=\(Self.queryEscape(clientID))&client_secret=\(Self.queryEscape(secret))"
        let answer = try await send(what: "POST /api/v2/oauth/token") {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "Accept", value: "application/json")
            request.body = .bytes(ByteBuffer(string: form))
            return request
        }
        switch answer.status {
        case 200..<300:
            struct TokenAnswer: Decodable {
                var access_token: String
                var token_type: String?
                var expires_in: Int64?
            }
            guard let token = try? JSONDecoder().decode(TokenAnswer.self, from: Data(answer.body)), !token.access_token.isEmpty else {
                throw APIError(code: .badResponse, message: "the OAuth token endpoint \(url) answered without an access_token", status: answer.status, attempts: answer.attempts)
            }
            logger.debug("OAuth access token obtained", metadata: ["expiresIn": "\(token.expires_in ?? 3600)s"])
            return (token.access_token, .seconds(max(token.expires_in ?? 3600, 1)))
        case 400, 401:
            throw APIError(code: .unauthorized,
                           message: "the OAuth client was refused (\(answer.status)) at \(url): check TS_OAUTH_CLIENT_ID and TS_OAUTH_CLIENT_SECRET (the client may have been deleted, or the secret mistyped)",
                           status: answer.status, attempts: answer.attempts)
        case 403:
            throw APIError(code: .forbidden, message: configuration.credentials.forbiddenAdvice(scope: "logs:network:read"),
                           status: 403, attempts: answer.attempts)
        default:
            throw failure(answer, what: "POST \(url)")
        }
    }

    struct Answer {
        var status: Int
        /// The body, unless it is streamed.
        var body: [UInt8]
        var attempts: Int
        /// A successful answer's body while it arrives, when streaming was asked for.
        var stream: AnswerStream?
    }

    /// Sends the request `make` builds until it gets an answer that is not worth retrying.
    ///
    /// 429 and 5xx answers and network errors (refused or dropped connections,
    /// timeouts) are retried with back-off until the budget is spent; the
    /// last such answer is returned, a last network error thrown as ``APIError``.
    func send(what: String, streaming: Bool = false, attemptsBefore: Int = 0,
              _ make: @escaping @Sendable () async throws -> HTTPClientRequest) async throws -> Answer {
        let policy = configuration.retry
        var attempt = attemptsBefore
        while true {
            try Task.checkCancellation()
            let request = try await make()
            counters.addRequest()
            let reason: String
            var retryAfter: Duration?
            do {
                let (status, headers, body, stream) = try await fetch(request, streaming: streaming)
                guard RetryPolicy.isRetryable(status: status), attempt < policy.retries else {
                    return Answer(status: status, body: body, attempts: attempt + 1, stream: stream)
                }
                retryAfter = headers.first(name: "Retry-After").flatMap { RetryPolicy.parseRetryAfter($0) }
                reason = "HTTP \(status)"
            } catch let error as APIError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                let described = configuration.credentials.redact(Self.describe(error))
                guard attempt < policy.retries else {
                    throw APIError(code: .network,
                                   message: "\(what) failed after \(attempt + 1) attempt\(attempt == 0 ? "" : "s"): \(described); is \(configuration.baseURL) reachable?",
                                   status: nil, attempts: attempt + 1)
                }
                reason = described
            }
            try await pauseBeforeRetry(what: what, reason: reason, attempt: attempt, retryAfter: retryAfter)
            attempt += 1
        }
    }

    /// Counts and logs retry number `attempt + 1` of `what`, then waits out its back-off.
    func pauseBeforeRetry(what: String, reason: String, attempt: Int, retryAfter: Duration? = nil) async throws {
        let policy = configuration.retry
        var rng = SystemRandomNumberGenerator()
        let wait = policy.delay(attempt: attempt, retryAfter: retryAfter, using: &rng)
        counters.addRetry()
        logger.notice("retrying \(what) in \(Self.format(wait)) (\(reason); retry \(attempt + 1) of \(policy.retries))")
        try await Task.sleep(for: wait)
    }

    /// One request, with the whole answer (head and body) bounded by the timeout.
    ///
    /// With `streaming`, a successful answer returns once its head is in, its body an ``AnswerStream``
    /// that keeps the timeout (less the time it waits for its reader); other answers are read whole.
    func fetch(_ request: HTTPClientRequest, streaming: Bool = false) async throws -> (Int, HTTPHeaders, [UInt8], AnswerStream?) {
        let timeout = configuration.timeout
        let limit = configuration.maxBodyBytes
        let client = self.client
        let started = ContinuousClock.now
        return try await withThrowingTaskGroup(of: (Int, HTTPHeaders, [UInt8], AnswerStream?)?.self) { group in
            group.addTask {
                let response = try await client.execute(request, timeout: .seconds(Int64(timeout.components.seconds) + 1))
                let status = Int(response.status.code)
                if streaming, (200..<300).contains(status) {
                    let stream = AnswerStream(url: request.url)
                    stream.start(response.body, started: started, timeout: timeout, limit: limit)
                    return (status, response.headers, [], stream)
                }
                // Read into one array of the announced size: collecting into a ByteBuffer and copying
                // out would hold up to three times the answer (the buffer grows by doubling).
                var body: [UInt8] = []
                if let length = response.headers.first(name: "content-length").flatMap({ Int($0) }), length <= limit {
                    body.reserveCapacity(length)
                }
                for try await part in response.body {
                    guard body.count + part.readableBytes <= limit else {
                        throw APIError(code: .badResponse, message: "the answer to \(request.url) is larger than \(limit >> 20) MiB: use a smaller --chunk",
                                       status: status, attempts: 1)
                    }
                    body.append(contentsOf: part.readableBytesView)
                }
                return (status, response.headers, body, nil)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let answer = first else {
                throw Timeout(seconds: timeout)
            }
            return answer
        }
    }

    struct Timeout: Error, CustomStringConvertible {
        var seconds: Duration
        var description: String { "no complete answer within \(TailscaleAPI.format(seconds)) (--timeout)" }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .remoteConnectionClosed: return "the connection was closed before the answer was complete"
            case .connectTimeout: return "connecting timed out"
            case .readTimeout: return "reading timed out"
            case .deadlineExceeded: return "the request timed out"
            default: return "\(error)"
            }
        }
        if let error = error as? HTTPParserError, error == .invalidEOFState {
            return "the connection was closed before the answer was complete"
        }
        return "\(error)"
    }

    static func format(_ d: Duration) -> String {
        let seconds = d.seconds
        return seconds < 10 ? String(format: "%.1fs", seconds) : String(format: "%.0fs", seconds)
    }

    func failure(_ answer: Answer, what: String) -> APIError {
        var text = String(decoding: answer.body.prefix(300), as: UTF8.self)
        if answer.body.first == 0x1F { text = "" }  // gzip
        text = configuration.credentials.redact(text.trimmingCharacters(in: .whitespacesAndNewlines))
        let detail = text.isEmpty ? "" : ": \(text)"
        if RetryPolicy.isRetryable(status: answer.status) {
            return APIError(code: .unavailable,
                            message: "\(what) answered \(answer.status) \(Self.reason(answer.status)) \(answer.attempts) time\(answer.attempts == 1 ? "" : "s"), the retry budget (--retries \(configuration.retry.retries)) is spent\(detail)",
                            status: answer.status, attempts: answer.attempts)
        }
        let hint = answer.status == 404 ? " (is --tailnet '\(configuration.tailnet)' right, and --api-url the API root?)" : ""
        return APIError(code: .rejected, message: "\(what) answered \(answer.status) \(Self.reason(answer.status))\(hint)\(detail)",
                        status: answer.status, attempts: answer.attempts)
    }

    static func reason(_ status: Int) -> String {
        HTTPResponseStatus(statusCode: status).reasonPhrase
    }

    static func queryEscape(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    static func pathEscape(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~@")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }
}

/// Where and how to reach the API.
public struct APIConfiguration: Sendable {
    /// The API root, without a trailing slash (default `https://api.tailscale.com`).
    public var baseURL: String
    /// The tailnet name (`example.com`), or `-` for the credentials' default tailnet.
    public var tailnet: String
    public var credentials: Credentials
    public var retry = RetryPolicy()
    /// The longest wait for one whole answer.
    public var timeout: Duration = .seconds(60)
    /// The largest answer accepted.
    var maxBodyBytes = 1 << 30

    public static let defaultBaseURL = "https://api.tailscale.com"

    public init(baseURL: String = APIConfiguration.defaultBaseURL, tailnet: String, credentials: Credentials) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.tailnet = tailnet
        self.credentials = credentials
    }
}

/// Request and retry counts, shared by concurrent requests.
final class Counters: @unchecked Sendable {
    private let lock = NSLock()
    private var _retries = 0
    private var _requests = 0

    func addRetry() { lock.withLock { _retries += 1 } }
    func addRequest() { lock.withLock { _requests += 1 } }
    var retries: Int { lock.withLock { _retries } }
    var requests: Int { lock.withLock { _requests } }
}
