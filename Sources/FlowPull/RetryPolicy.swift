package import Foundation

/// When and how long to wait before retrying a request the API answered with 429 or 5xx, or never answered.
///
/// Back-off is exponential with full jitter (a uniform random wait between zero
/// and `base · 2^attempt`, capped at `maxDelay`), so that many clients that
/// failed together do not retry together. A `Retry-After` header wins over the
/// back-off: the server knows better.
///
/// For example:
/// ```swift
/// var rng = SystemRandomNumberGenerator()
/// let wait = RetryPolicy().delay(attempt: 0, retryAfter: nil, using: &rng)   // 0…1 s
/// ```
public struct RetryPolicy: Sendable {
    /// Retries after the first attempt; the request fails after `retries + 1` attempts.
    public var retries: Int = 5
    /// The back-off of the first retry (before jitter).
    public var baseDelay: Duration = .seconds(1)
    /// The longest back-off (before jitter).
    public var maxDelay: Duration = .seconds(60)
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    public var maxRetryAfter: Duration = .seconds(600)

    public init() {}

    /// Whether an answer with this status is worth retrying: 429 Too Many Requests and 5xx.
    package static func isRetryable(status: Int) -> Bool {
        status == 429 || (500...599).contains(status)
    }

    /// The wait before retry number `attempt + 1` (`attempt` counts from 0).
    package func delay(attempt: Int, retryAfter: Duration?, using rng: inout some RandomNumberGenerator) -> Duration {
        if let retryAfter {
            return min(max(retryAfter, .zero), maxRetryAfter)
        }
        let ceiling = min(baseDelay * Double(1 << min(attempt, 30)), maxDelay)
        let nanos = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        guard nanos > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanos, using: &rng))
    }

    /// Reads a `Retry-After` value: delay seconds (`120`) or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`).
    ///
    /// - returns: The wait from `now`, zero for a date in the past, nil when the value is neither form.
    package static func parseRetryAfter(_ value: String, now: Date = Date()) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let seconds = Int64(text) else { return nil }
            return .seconds(seconds)
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        // IMF-fixdate, then the two obsolete forms RFC 9110 still asks recipients to accept.
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                let seconds = date.timeIntervalSince(now)
                return seconds > 0 ? .milliseconds(Int64((seconds * 1000).rounded(.up))) : .zero
            }
        }
        return nil
    }
}
