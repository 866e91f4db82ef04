import FlowModel

/// One token of an expression, with its 1-based column and width.
struct FilterToken: Equatable {
    enum Kind: Equatable {
        /// A bare word or a quoted string (`quoted` says which: a quoted `and` is a value).
        case word(String, quoted: Bool)
        case open, close, comma, equal, notEqual, end
    }

    var kind: Kind
    var column: Int
    var width: Int

    /// How the token reads in an error message.
    var shown: String {
        switch kind {
        case .word(let w, let quoted): quoted ? "\"\(w)\"" : "'\(w)'"
        case .open: "'('"
        case .close: "')'"
        case .comma: "','"
        case .equal: "'='"
        case .notEqual: "'!='"
        case .end: "the end of the expression"
        }
    }

    /// The keyword this token is (`and`, `or`, `not`, `in`), if any.
    var keyword: String? {
        if case .word(let w, false) = kind, FilterLexer.keywords.contains(w.lowercased()) { return w.lowercased() }
        return nil
    }
}

/// Splits an expression into tokens. A bare word runs until a space or one of
/// `( ) , = ! "`, so names, addresses (`fd7a:115c:a1e0::1`), networks
/// (`100.64.0.0/10`), tags (`tag:prod`) and logins (`alice@example.com`) need no quotes.
enum FilterLexer {
    static let keywords: Set<String> = ["and", "or", "not", "in"]

    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        !(s.properties.isWhitespace || "(),=!\"<>".unicodeScalars.contains(s))
    }

    static func isWord(_ c: Character) -> Bool {
        c.unicodeScalars.allSatisfy(isWordScalar)
    }

    static func tokens(_ source: String) throws(FilterError) -> [FilterToken] {
        let chars = Array(source)
        var out: [FilterToken] = []
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let column = i + 1
            if c.isWhitespace {
                i += 1
                continue
            }
            switch c {
            case "(": out.append(FilterToken(kind: .open, column: column, width: 1)); i += 1
            case ")": out.append(FilterToken(kind: .close, column: column, width: 1)); i += 1
            case ",": out.append(FilterToken(kind: .comma, column: column, width: 1)); i += 1
            case "=":
                let width = i + 1 < chars.count && chars[i + 1] == "=" ? 2 : 1
                out.append(FilterToken(kind: .equal, column: column, width: width))
                i += width
            case "!":
                guard i + 1 < chars.count, chars[i + 1] == "=" else {
                    throw FilterError("'!' on its own", column: column, expected: "'!=' (or 'not' before a test)", expression: source)
                }
                out.append(FilterToken(kind: .notEqual, column: column, width: 2))
                i += 2
            case "<", ">":
                throw FilterError("'\(c)' is not an operator", column: column,
                                  expected: "'=', '!=', 'in (…)' or 'not in (…)' (ports take ranges: port in (1024-65535))", expression: source)
            case "\"":
                var text = ""
                var j = i + 1
                var closed = false
                while j < chars.count {
                    if chars[j] == "\\", j + 1 < chars.count {
                        text.append(chars[j + 1])
                        j += 2
                    } else if chars[j] == "\"" {
                        closed = true
                        j += 1
                        break
                    } else {
                        text.append(chars[j])
                        j += 1
                    }
                }
                guard closed else {
                    throw FilterError("unterminated string", column: column, width: chars.count - i,
                                      expected: "a closing '\"'", expression: source)
                }
                out.append(FilterToken(kind: .word(text, quoted: true), column: column, width: j - i))
                i = j
            default:
                var j = i
                while j < chars.count, isWord(chars[j]) { j += 1 }
                out.append(FilterToken(kind: .word(String(chars[i..<j]), quoted: false), column: column, width: j - i))
                i = j
            }
        }
        out.append(FilterToken(kind: .end, column: chars.count + 1, width: 1))
        return out
    }
}

/// A hand-written recursive-descent parser for the grammar in the README
/// (`or` binds loosest, then `and`, then `not`).
///
/// Hand-written rather than built with swift-parsing: the grammar is ten
/// productions, and what matters is the error: each failure knows the token it
/// stopped at (its column), what the production expected there, and the words a
/// misspelling could have meant, which a combinator library reports less precisely.
struct FilterParser {
    let source: String
    let tokens: [FilterToken]
    var position = 0

    /// Misspellings people reach for, from other tools, and the term they mean.
    static let aliases: [String: String] = [
        "host": "endpoint", "ip": "endpoint", "addr": "endpoint", "address": "endpoint", "net": "endpoint",
        "peer": "endpoint", "either": "endpoint", "source": "src", "from": "src", "saddr": "src", "srcaddr": "src",
        "destination": "dst", "dest": "dst", "to": "dst", "daddr": "dst", "dstaddr": "dst",
        "protocol": "proto", "dport": "port", "sport": "port", "dstport": "port", "srcport": "port",
        "reporter": "node", "exporter": "node", "login": "user", "owner": "user", "tags": "tag",
        "type": "kind", "traffic": "kind", "platform": "os",
    ]

    static let terms = "a term (\(FilterExpression.Field.allCases.map(\.rawValue).joined(separator: ", ")))"

    init(_ source: String) throws(FilterError) {
        self.source = source
        tokens = try FilterLexer.tokens(source)
    }

    static func parse(_ source: String) throws(FilterError) -> FilterExpression {
        var p = try FilterParser(source)
        if case .end = p.tokens[0].kind {
            throw FilterError("the expression is empty", column: 1, expected: "\(terms), such as: port = 22", expression: source)
        }
        let root = try p.parseOr()
        let t = p.tokens[p.position]
        switch t.kind {
        case .end:
            break
        case .close:
            throw p.error("unmatched ')'", at: t, expected: "'and', 'or' or the end of the expression")
        default:
            throw p.error("\(t.shown) cannot follow a complete test", at: t, expected: "'and', 'or' or the end of the expression")
        }
        return FilterExpression(source: source, root: root)
    }

    var current: FilterToken { tokens[position] }

    func error(_ reason: String, at t: FilterToken, expected: String? = nil, suggestion: String? = nil) -> FilterError {
        FilterError(reason, column: t.column, width: t.width, expected: expected, suggestion: suggestion, expression: source)
    }

    mutating func parseOr() throws(FilterError) -> FilterExpression.Node {
        var left = try parseAnd()
        while current.keyword == "or" {
            position += 1
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws(FilterError) -> FilterExpression.Node {
        var left = try parseUnary()
        while current.keyword == "and" {
            position += 1
            left = .and(left, try parseUnary())
        }
        return left
    }

    mutating func parseUnary() throws(FilterError) -> FilterExpression.Node {
        if current.keyword == "not" {
            position += 1
            return .not(try parseUnary())
        }
        return try parsePrimary()
    }

    mutating func parsePrimary() throws(FilterError) -> FilterExpression.Node {
        let t = current
        switch t.kind {
        case .open:
            position += 1
            let inner = try parseOr()
            guard case .close = current.kind else {
                throw error("'(' at column \(t.column) is not closed", at: current, expected: "')' (or 'and', 'or')")
            }
            position += 1
            return inner
        case .word(let w, let quoted):
            if let k = t.keyword {
                throw error("'\(k)' where a test should start", at: t, expected: "\(Self.terms) or '('")
            }
            guard !quoted, let field = FilterExpression.Field(rawValue: w.lowercased()) else {
                let names = FilterExpression.Field.allCases.map(\.rawValue)
                let guess = Self.aliases[w.lowercased()] ?? Suggest.closest(w, among: names)
                throw error("unknown term \(t.shown)", at: t, expected: Self.terms, suggestion: guess)
            }
            position += 1
            return .test(try parseTest(field, at: t))
        default:
            throw error("\(t.shown) where a test should start", at: t, expected: "\(Self.terms), 'not' or '('")
        }
    }

    mutating func parseTest(_ field: FilterExpression.Field, at start: FilterToken) throws(FilterError) -> FilterExpression.Test {
        let op: FilterExpression.Operator
        let t = current
        switch t.kind {
        case .equal: op = .equal
        case .notEqual: op = .notEqual
        case .word where t.keyword == "in": op = .in
        case .word where t.keyword == "not":
            position += 1
            guard current.keyword == "in" else {
                throw error("'not' after '\(field.rawValue)' must be followed by 'in'", at: current, expected: "'in (…)'")
            }
            op = .notIn
        default:
            let hint = field.takesEndpoints ? ", '\(field.rawValue) in (…)' or '\(field.rawValue) in NETWORK/BITS'" : " or '\(field.rawValue) in (…)'"
            throw error("\(t.shown) after '\(field.rawValue)'", at: t, expected: "'\(field.rawValue) = VALUE', '\(field.rawValue) != VALUE'\(hint)")
        }
        position += 1
        var values: [FilterExpression.Value] = []
        if (op == .in || op == .notIn), case .open = current.kind {
            let open = current
            position += 1
            while true {
                values.append(try parseValue(field, after: values.isEmpty ? "'('" : "','"))
                if case .comma = current.kind {
                    position += 1
                    continue
                }
                guard case .close = current.kind else {
                    throw error("the list opened at column \(open.column) goes on with \(current.shown)", at: current, expected: "',' or ')'")
                }
                position += 1
                break
            }
        } else {
            values.append(try parseValue(field, after: "'\(op.rawValue)'"))
        }
        return FilterExpression.Test(field: field, op: op, values: values, column: start.column)
    }

    mutating func parseValue(_ field: FilterExpression.Field, after: String) throws(FilterError) -> FilterExpression.Value {
        let t = current
        guard case .word(let text, let quoted) = t.kind, quoted || t.keyword == nil else {
            throw error("\(t.shown) after \(after)", at: t, expected: Self.valueKind(field) + (t.keyword != nil ? " (quote a value that is a keyword)" : ""))
        }
        position += 1
        let value = FilterExpression.Value(text, column: t.column, width: t.width)
        try Self.check(value, of: field, in: source)
        return value
    }

    /// What a field's values look like, for "expected" sentences.
    static func valueKind(_ field: FilterExpression.Field) -> String {
        switch field {
        case .src, .dst, .endpoint: "a node ID, node name, IP address, network (100.64.0.0/10) or *"
        case .node: "a reporting node: its ID, name or IP address"
        case .tag: "a tag, such as \"tag:prod\""
        case .user: "a user login"
        case .os: "an operating system, such as linux"
        case .kind: "a traffic kind: virtual, subnet, exit or physical"
        case .proto: "a protocol: tcp, udp, icmp, icmpv6, sctp or a number 0-255"
        case .port: "a port number 0-65535 or a range such as 1024-65535"
        }
    }

    /// Checks what can be checked without a store: kinds, protocols, ports and network syntax.
    static func check(_ v: FilterExpression.Value, of field: FilterExpression.Field, in source: String) throws(FilterError) {
        func fail(_ reason: String, suggestion: String? = nil) -> FilterError {
            FilterError(reason, column: v.column, width: v.width, expected: valueKind(field), suggestion: suggestion, expression: source)
        }
        switch field {
        case .kind:
            guard TrafficKind(name: v.text.lowercased()) != nil else {
                throw fail("'\(v.text)' is not a traffic kind", suggestion: Suggest.closest(v.text, among: TrafficKind.allCases.map(\.name)))
            }
        case .proto:
            guard FilterValues.proto(v.text) != nil else {
                throw fail("'\(v.text)' is not a protocol", suggestion: Suggest.closest(v.text, among: FilterValues.protocolNames.keys.sorted()))
            }
        case .port:
            guard FilterValues.ports(v.text) != nil else { throw fail("'\(v.text)' is not a port or a port range") }
        case .src, .dst, .endpoint, .node:
            if v.text.contains("/"), FilterValues.network(v.text) == nil {
                throw fail("'\(v.text)' is not a network: an IPv4 or IPv6 address, '/', and a prefix length (0-32 or 0-128)")
            }
        case .tag, .user, .os:
            break
        }
    }
}

/// Readings of literal values shared by the parser and the compiler.
enum FilterValues {
    static let protocolNames: [String: UInt8] = ["icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132]

    static func proto(_ text: String) -> UInt8? {
        protocolNames[text.lowercased()] ?? UInt8(text)
    }

    /// A port (`443`) or an inclusive range (`1024-65535`).
    static func ports(_ text: String) -> ClosedRange<UInt16>? {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let lo = parts.first.flatMap({ UInt16($0) }) else { return nil }
        guard parts.count == 2 else { return lo...lo }
        guard let hi = UInt16(parts[1]), lo <= hi else { return nil }
        return lo...hi
    }

    /// `ADDRESS/BITS`; host bits are ignored.
    static func network(_ text: String) -> Network? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let ip = IPAddress(String(parts[0])), let bits = Int(parts[1]), bits >= 0,
              bits <= (ip.isIPv4 ? 32 : 128) else { return nil }
        return Network(base: ip, bits: bits)
    }
}

/// An IPv4 or IPv6 network: the addresses sharing `bits` leading bits with `base`.
struct Network: Sendable, Equatable {
    var base: IPAddress
    var bits: Int

    func contains(_ ip: IPAddress) -> Bool {
        guard ip.isIPv4 == base.isIPv4 else { return false }
        if ip.isIPv4 {
            let mask: UInt64 = bits == 0 ? 0 : (0xFFFF_FFFF << UInt64(32 - bits)) & 0xFFFF_FFFF
            return ip.low & mask == base.low & mask
        }
        let highMask: UInt64 = bits >= 64 ? .max : (bits == 0 ? 0 : .max << UInt64(64 - bits))
        let lowMask: UInt64 = bits <= 64 ? 0 : (bits == 128 ? .max : .max << UInt64(128 - bits))
        return ip.high & highMask == base.high & highMask && ip.low & lowMask == base.low & lowMask
    }
}

extension FilterExpression {
    /// Parses an expression (see the grammar in the README).
    ///
    /// - throws: ``FilterError`` pointing at the column of the first mistake.
    public init(parsing text: String) throws(FilterError) {
        self = try FilterParser.parse(text)
    }
}
