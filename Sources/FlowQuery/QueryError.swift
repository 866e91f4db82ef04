/// A question that cannot be answered as asked: a bad parameter or window, an unknown or ambiguous endpoint.
///
/// The message names parameters in the caller's vocabulary: `--step` on the command line,
/// `step` over HTTP. ``message`` (and ``description``) use the command line's;
/// ``message(for:)`` picks one. The CLI shows these as usage errors (exit status 2); the server as 400.
///
/// For example:
/// ```swift
/// let e = QueryError("\(parameter: "step") '0s' is not a duration")
/// e.message(for: .http)   // "step '0s' is not a duration"
/// ```
public struct QueryError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Text and parameter names, in order.
    public var parts: [Part]

    public enum Part: Sendable, Equatable {
        case text(String)
        /// A parameter's name as the HTTP API spells it (`step`, `group-by`).
        case parameter(String)
    }

    /// Who asked: how parameter names are spelled in messages.
    public enum Vocabulary: Sendable {
        /// `--step`
        case commandLine
        /// `step`
        case http
    }

    public init(_ message: Message) {
        parts = message.parts
    }

    /// The message, parameters spelled for `vocabulary`.
    public func message(for vocabulary: Vocabulary) -> String {
        parts.map { part in
            switch part {
            case .text(let s): s
            case .parameter(let name): vocabulary == .commandLine ? "--" + name : name
            }
        }.joined()
    }

    /// The message as the command line spells it.
    public var message: String { message(for: .commandLine) }

    public var description: String { message }

    /// A message whose interpolations `\(parameter: "step")` name parameters.
    public struct Message: ExpressibleByStringInterpolation, Sendable {
        var parts: [Part]

        public init(stringLiteral value: String) {
            parts = [.text(value)]
        }

        public init(stringInterpolation: Interpolation) {
            parts = stringInterpolation.parts
        }

        public struct Interpolation: StringInterpolationProtocol {
            var parts: [Part] = []

            public init(literalCapacity: Int, interpolationCount: Int) {}

            public mutating func appendLiteral(_ literal: String) {
                if !literal.isEmpty { parts.append(.text(literal)) }
            }

            public mutating func appendInterpolation(_ value: some Any) {
                parts.append(.text("\(value)"))
            }

            /// Another message, its parameters kept.
            public mutating func appendInterpolation(_ message: Message) {
                parts += message.parts
            }

            /// A parameter's name, spelled as the caller does.
            public mutating func appendInterpolation(parameter name: String) {
                parts.append(.parameter(name))
            }
        }
    }
}
