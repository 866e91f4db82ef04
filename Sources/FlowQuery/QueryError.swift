/// A question that cannot be answered as asked: a bad window, an unknown or ambiguous endpoint.
///
/// The CLI shows these as usage errors (exit status 2); the server as 400.
public struct QueryError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
