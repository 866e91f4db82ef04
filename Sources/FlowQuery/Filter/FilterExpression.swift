import FlowModel

/// A parsed `--where` expression (SPEC §11): tests on the terms of a flow, combined
/// with `and`, `or`, `not` and parentheses.
///
/// For example:
/// ```swift
/// let e = try FilterExpression(parsing: #"tag = "tag:prod" and port in (22, 3389) and not kind = exit"#)
/// var options = QueryOptions(window: window)
/// options.filter = e
/// ```
///
/// Parsing needs no store; the values that name nodes are resolved when a
/// question runs (``CompiledFilter``), so a later device import improves earlier answers.
public struct FilterExpression: Sendable, Equatable, CustomStringConvertible {
    /// The text as given (errors point into it).
    public var source: String
    public var root: Node

    public init(source: String, root: Node) {
        self.source = source
        self.root = root
    }

    public indirect enum Node: Sendable, Equatable {
        case and(Node, Node)
        case or(Node, Node)
        case not(Node)
        case test(Test)
    }

    /// `field op value` or `field [not] in (values…)`.
    public struct Test: Sendable, Equatable {
        public var field: Field
        public var op: Operator
        public var values: [Value]
        /// Where the field name starts (1-based column).
        public var column: Int

        public init(field: Field, op: Operator, values: [Value], column: Int = 0) {
            self.field = field
            self.op = op
            self.values = values
            self.column = column
        }

        public static func == (a: Test, b: Test) -> Bool {
            a.field == b.field && a.op == b.op && a.values == b.values
        }
    }

    /// The terms a test can be about.
    public enum Field: String, Sendable, CaseIterable {
        /// The sending end of the traffic (a node, an address or a network).
        case src
        /// The receiving end.
        case dst
        /// Either end.
        case endpoint
        /// The reporting node: whose flow log the traffic was counted from.
        case node
        /// A tag of a node at either end.
        case tag
        /// The user (login) of a node at either end.
        case user
        /// The operating system of a node at either end.
        case os
        /// The traffic kind: virtual, subnet, exit, physical.
        case kind
        /// The IP protocol, by name or number.
        case proto
        /// The service port (the lower non-zero of the two ports).
        case port

        /// Whether the values name endpoints (nodes, addresses, networks, `*`).
        var takesEndpoints: Bool { self == .src || self == .dst || self == .endpoint || self == .node }
    }

    public enum Operator: String, Sendable {
        case equal = "="
        case notEqual = "!="
        case `in` = "in"
        case notIn = "not in"

        /// `!=` and `not in` are the negations of `=` and `in`.
        public var isNegated: Bool { self == .notEqual || self == .notIn }
    }

    /// A literal: a bare word (`db-1`, `100.64.0.0/10`, `443`) or a quoted string.
    public struct Value: Sendable, Equatable {
        public var text: String
        /// 1-based column of its first character, and its width, in ``FilterExpression/source``.
        public var column: Int
        public var width: Int

        public init(_ text: String, column: Int = 0, width: Int = 0) {
            self.text = text
            self.column = column
            self.width = width
        }

        public static func == (a: Value, b: Value) -> Bool { a.text == b.text }
    }

    /// The expression in canonical form: fully parenthesised where precedence needs it,
    /// values quoted where a bare word would not read back the same.
    public var description: String { Self.print(root, parent: 0) }

    static func print(_ n: Node, parent: Int) -> String {
        // Precedence: or 1, and 2, not 3.
        switch n {
        // `and` and `or` group to the left: a right operand of the same kind keeps its parentheses.
        case .or(let a, let b):
            let s = print(a, parent: 1) + " or " + print(b, parent: 2)
            return parent > 1 ? "(" + s + ")" : s
        case .and(let a, let b):
            let s = print(a, parent: 2) + " and " + print(b, parent: 3)
            return parent > 2 ? "(" + s + ")" : s
        case .not(let a):
            return "not " + print(a, parent: 3)
        case .test(let t):
            let values = t.values.map { quoteIfNeeded($0.text) }
            switch t.op {
            case .equal, .notEqual: return "\(t.field.rawValue) \(t.op.rawValue) \(values.first ?? "\"\"")"
            case .in, .notIn: return "\(t.field.rawValue) \(t.op.rawValue) (\(values.joined(separator: ", ")))"
            }
        }
    }

    /// A value as it must be written to read back as itself.
    static func quoteIfNeeded(_ text: String) -> String {
        if !text.isEmpty, text.unicodeScalars.allSatisfy(FilterLexer.isWordScalar), !FilterLexer.keywords.contains(text.lowercased()) {
            return text
        }
        var out = "\""
        for c in text {
            if c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "\""
    }

    /// Whether any test names the value `physical` for `kind` (so physical traffic is asked for).
    var namesPhysicalKind: Bool {
        func walk(_ n: Node) -> Bool {
            switch n {
            case .and(let a, let b), .or(let a, let b): walk(a) || walk(b)
            case .not(let a): walk(a)
            case .test(let t): t.field == .kind && t.values.contains { $0.text.lowercased() == TrafficKind.physical.name }
            }
        }
        return walk(root)
    }
}
