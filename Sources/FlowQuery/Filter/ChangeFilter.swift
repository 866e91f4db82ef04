import FlowModel
import FlowStore

/// A ``FilterExpression`` read over configuration changes (`changes --where`, SPEC §11 over §13):
/// the one grammar of the flows, with each term meaning what it says of a change.
///
/// - `node`: the changed node: the change's target is that node (by its stable ID). Values resolve
///   as everywhere (node ID, full name, first label, a Tailscale address, a network); a name that
///   is no node of the store still matches the node targets of the window's changes by ID or name,
///   so the changes of a node that was removed before it ever reported can be asked for.
/// - `endpoint`: the changed node, or the node that made the change (an actor whose ID is a node's).
/// - `tag`: the changed node carries the tag (as the store knows the node now), or the change
///   set or removed it (a tag change whose old or new value lists it).
/// - `user`: the user who made the change (actor login), the user changed (a `USER` target), or
///   the owner of the changed node. Logins are exact, as for flows.
/// - `os`: the changed node's operating system.
/// - `src`, `dst`, `kind`, `proto`, `port` say nothing about a change: a usage error naming the term.
///
/// Tailnet-wide changes (policy file, DNS) have no node: `node = db-1` leaves them out and
/// `not node = db-1` keeps them.
final class ChangeFilter {
    let test: (ConfigChange) -> Bool

    /// The terms that mean something for a change, for "expected" sentences.
    static let terms = "node, endpoint, tag, user or os"

    /// Resolves `expression` against `directory`; `changes` are the window's changes (for names
    /// of nodes the store no longer knows).
    ///
    /// - throws: ``FilterError`` at the column of a term that does not apply to changes, or of a
    ///   name that names no node and no change target.
    init(_ expression: FilterExpression, directory: Directory, changes: [ConfigChange]) throws(FilterError) {
        var compiler = ChangeFilterCompiler(resolver: Resolver(directory: directory, source: expression.source), changes: changes)
        test = try compiler.compile(expression.root)
    }

    func matches(_ c: ConfigChange) -> Bool { test(c) }
}

/// Turns the tree into one closure per test.
struct ChangeFilterCompiler {
    var resolver: Resolver
    let changes: [ConfigChange]

    var directory: Directory { resolver.directory }
    var source: String { resolver.source }

    mutating func compile(_ n: FilterExpression.Node) throws(FilterError) -> (ConfigChange) -> Bool {
        switch n {
        case .and(let a, let b):
            let x = try compile(a), y = try compile(b)
            return { x($0) && y($0) }
        case .or(let a, let b):
            let x = try compile(a), y = try compile(b)
            return { x($0) || y($0) }
        case .not(let a):
            let x = try compile(a)
            return { !x($0) }
        case .test(let t):
            let leaf = try compile(t)
            return t.op.isNegated ? { !leaf($0) } : leaf
        }
    }

    mutating func compile(_ t: FilterExpression.Test) throws(FilterError) -> (ConfigChange) -> Bool {
        switch t.field {
        case .src, .dst, .kind, .proto, .port:
            throw FilterError("'\(t.field.rawValue)' does not apply to configuration changes",
                              column: t.column, width: t.field.rawValue.count,
                              expected: "a term of changes: \(ChangeFilter.terms) (the actor, target and type filters choose by who and what)",
                              expression: source)
        case .node:
            let nodes = try nodes(t.values)
            return { nodes.isTarget($0) }
        case .endpoint:
            let nodes = try nodes(t.values)
            return { c in nodes.isTarget(c) || c.actorID.map { nodes.ids.contains($0) } == true }
        case .tag:
            let ids = attributeNodes(.tag, t.values)
            let tags = Set(t.values.flatMap { v in v.text.hasPrefix("tag:") ? [v.text] : [v.text, "tag:" + v.text] })
            return { c in
                if let id = c.targetID, ids.contains(id) { return true }
                guard Self.isNode(c), c.property?.uppercased().contains("TAG") == true else { return false }
                return Self.jsonStrings(c.old).contains(where: tags.contains) || Self.jsonStrings(c.new).contains(where: tags.contains)
            }
        case .user:
            let ids = attributeNodes(.user, t.values)
            let users = Set(t.values.map(\.text))
            return { c in
                if let login = c.actorLogin, users.contains(login) { return true }
                if c.targetType?.uppercased() == "USER", [c.targetName, c.targetID].contains(where: { $0.map(users.contains) == true }) { return true }
                return c.targetID.map(ids.contains) == true
            }
        case .os:
            let ids = attributeNodes(.os, t.values)
            return { c in c.targetID.map(ids.contains) == true }
        }
    }

    /// The nodes a list of `node`/`endpoint` values names.
    struct Nodes {
        /// Stable IDs of the nodes named.
        var ids: Set<String> = []
        /// Names that are no node of the store but name node targets of the window's changes.
        var names: [String] = []

        func isTarget(_ c: ConfigChange) -> Bool {
            if let id = c.targetID, ids.contains(id) { return true }
            return ChangeFilterCompiler.isNode(c) && names.contains { QueryEngine.matchesTarget(c, $0, nodeIDs: []) }
        }
    }

    mutating func nodes(_ values: [FilterExpression.Value]) throws(FilterError) -> Nodes {
        var out = Nodes()
        for v in values {
            if v.text == "*" {
                throw FilterError("'*' (addresses removed by anonymisation) is no node a change can name", column: v.column, width: v.width,
                                  expected: "a node ID, node name, Tailscale address or network", expression: source)
            }
            if let net = FilterValues.network(v.text) {
                for (id, ips) in resolver.allNodeAddresses() where ips.contains(where: net.contains) {
                    if let n = directory.nodes[id] { out.ids.insert(n.stableID) }
                }
                continue
            }
            let e: Endpoint
            do {
                e = try directory.resolve(v.text)
            } catch {
                // A well-formed address that no node has is an empty answer (SPEC §5).
                if IPAddress(v.text) != nil { continue }
                if changes.contains(where: { Self.isNode($0) && QueryEngine.matchesTarget($0, v.text, nodeIDs: []) }) {
                    out.names.append(v.text)
                    continue
                }
                throw resolver.unknown(v, error)
            }
            if let node = directory.node(e) { out.ids.insert(node.stableID) }
        }
        return out
    }

    /// Stable IDs of the nodes whose tag, user or OS is one of `values` (read as the flow filter reads them).
    func attributeNodes(_ field: FilterExpression.Field, _ values: [FilterExpression.Value]) -> Set<String> {
        var ids: Set<String> = []
        for n in directory.nodes.values where values.contains(where: { Resolver.attribute(field, of: n, is: $0.text) }) {
            ids.insert(n.stableID)
        }
        return ids
    }

    /// Whether the change's target is a node.
    static func isNode(_ c: ConfigChange) -> Bool {
        c.targetType?.uppercased() == "NODE"
    }

    /// The strings of a compact JSON value (`["tag:a","tag:b"]` → `tag:a`, `tag:b`; `"x"` → `x`),
    /// escapes undone only for quotes and backslashes (tags hold neither).
    static func jsonStrings(_ json: String?) -> [String] {
        guard let json else { return [] }
        var out: [String] = []
        var current = ""
        var inString = false, escaped = false
        for ch in json {
            if inString {
                if escaped {
                    current.append(ch)
                    escaped = false
                } else if ch == "\\" {
                    escaped = true
                } else if ch == "\"" {
                    out.append(current)
                    current = ""
                    inString = false
                } else {
                    current.append(ch)
                }
            } else if ch == "\"" {
                inString = true
            }
        }
        return out
    }
}
