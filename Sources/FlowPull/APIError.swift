/// A request to the Tailscale API that failed for good, with what to do about it.
///
/// The message never contains credentials: the `Authorization` header is not
/// part of any error, and server text is passed through ``Credentials/redact(_:)``.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// 401: the key or token was refused. Not retried.
        case unauthorized
        /// 403: the credentials lack a permission or scope. Not retried.
        case forbidden
        /// Another 4xx (not found, bad request): not retried.
        case rejected
        /// 429 or 5xx until the retry budget ran out.
        case unavailable
        /// No answer (connection refused or dropped, timeout) until the retry budget ran out.
        case network
        /// An answer that cannot be used (too large, not JSON where JSON was expected).
        case badResponse
    }

    public var code: Code
    public var message: String
    /// The HTTP status, when there was an answer.
    public var status: Int?
    /// Requests sent, retries included.
    public var attempts: Int

    public var description: String { message }

    /// Whether retrying later cannot help until the user changes something.
    var isPermanent: Bool {
        code == .unauthorized || code == .forbidden || code == .rejected
    }
}
