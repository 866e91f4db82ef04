import FlowModel
import FlowStore

/// A ``FilterExpression`` resolved against one question's ``Directory``: node
/// names, addresses, networks, tags, users and operating systems become dense
/// per-node tables and a per-address cache, so that testing a counted edge costs
/// a few array reads.
///
/// A test depends only on what a rollup key holds (kind, src and dst address,
/// proto, service port) plus the reporter the rollup belongs to, and on node
/// attributes resolved now; so the planner still answers from rollups, exactly.
final class CompiledFilter {
    let program: Program
    /// Bit `k` set: the expression can hold for traffic kind `k` (lets the scan skip the others early).
    let kindMask: UInt8

    /// Resolves every value of `expression` against `directory`.
    ///
    /// - throws: ``FilterError`` at the column of a name that is no node, or names several.
    init(_ expression: FilterExpression, directory: Directory) throws(FilterError) {
        var resolver = Resolver(directory: directory, source: expression.source)
        program = try resolver.compile(expression.root)
        var mask: UInt8 = 0
        for k in TrafficKind.allCases where program.possible(kind: k.rawValue) != false { mask |= 1 << k.rawValue }
        kindMask = mask
    }

    /// Whether a counted edge `from`→`to` of an observation by `reporter` passes.
    @inline(__always)
    func matches(reporter: Int64, kind: TrafficKind, proto: UInt8, port: UInt16, from: Endpoint, to: Endpoint) -> Bool {
        program.eval(Facts(reporter: reporter, kind: kind.rawValue, proto: proto, port: port, from: from, to: to, also: nil))
    }

    /// Whether a raw flow row passes, reading `src` and `dst` as the row's own columns.
    ///
    /// As the `flows` view's `--endpoint` and `--tag` do, `endpoint` also matches the
    /// reporter of a physical row, and `tag`, `user` and `os` the reporter of any row.
    func matchesRow(reporter: Int64, kind: TrafficKind, proto: UInt8, port: UInt16, src: Endpoint, dst: Endpoint) -> Bool {
        program.eval(Facts(reporter: reporter, kind: kind.rawValue, proto: proto, port: port, from: src, to: dst,
                           also: Facts.Also(reporter: .node(reporter), physical: kind == .physical)))
    }
}

/// What one test reads.
struct Facts {
    struct Also {
        var reporter: Endpoint
        var physical: Bool
    }

    var reporter: Int64
    var kind: UInt8
    var proto: UInt8
    var port: UInt16
    var from: Endpoint
    var to: Endpoint
    /// Rows (not edges): the reporter counts as an end for some tests.
    var also: Also?
}

/// The compiled tree: leaves are table lookups.
indirect enum Program {
    case and(Program, Program)
    case or(Program, Program)
    case not(Program)
    case constant(Bool)
    case kinds(UInt8)
    case protos(ProtoSet)
    case ports([ClosedRange<UInt16>])
    case reporter(EndpointMatcher)
    case from(EndpointMatcher)
    case to(EndpointMatcher)
    /// Either end (`endpoint`).
    case either(EndpointMatcher)
    /// A node attribute at either end (`tag`, `user`, `os`).
    case attribute(EndpointMatcher)

    func eval(_ f: Facts) -> Bool {
        switch self {
        case .and(let a, let b): return a.eval(f) && b.eval(f)
        case .or(let a, let b): return a.eval(f) || b.eval(f)
        case .not(let a): return !a.eval(f)
        case .constant(let v): return v
        case .kinds(let mask): return mask & (1 << f.kind) != 0
        case .protos(let set): return set.contains(f.proto)
        case .ports(let ranges):
            for r in ranges where r.contains(f.port) { return true }
            return false
        case .reporter(let m): return m.containsNode(f.reporter)
        case .from(let m): return m.contains(f.from)
        case .to(let m): return m.contains(f.to)
        case .either(let m):
            if m.contains(f.from) || m.contains(f.to) { return true }
            if let also = f.also, also.physical { return m.contains(also.reporter) }
            return false
        case .attribute(let m):
            if m.contains(f.from) || m.contains(f.to) { return true }
            if let also = f.also { return m.contains(also.reporter) }
            return false
        }
    }

    /// Three-valued reading with only the kind known: false when no traffic of this kind can pass.
    func possible(kind: UInt8) -> Bool? {
        switch self {
        case .and(let a, let b):
            let x = a.possible(kind: kind), y = b.possible(kind: kind)
            if x == false || y == false { return false }
            return x == true && y == true ? true : nil
        case .or(let a, let b):
            let x = a.possible(kind: kind), y = b.possible(kind: kind)
            if x == true || y == true { return true }
            return x == false && y == false ? false : nil
        case .not(let a): return a.possible(kind: kind).map { !$0 }
        case .constant(let v): return v
        case .kinds(let mask): return mask & (1 << kind) != 0
        default: return nil
        }
    }
}

/// 256 bits, one per IP protocol number.
struct ProtoSet {
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    mutating func insert(_ p: UInt8) {
        let bit = UInt64(1) << UInt64(p & 63)
        switch p >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    @inline(__always)
    func contains(_ p: UInt8) -> Bool {
        let word = switch p >> 6 {
        case 0: words.0
        case 1: words.1
        case 2: words.2
        default: words.3
        }
        return word & (UInt64(1) << UInt64(p & 63)) != 0
    }
}

/// A set of endpoints: nodes in a dense table, bare addresses through a dense
/// per-address-id cache (networks are tested once per address), and `*`.
final class EndpointMatcher {
    let directory: Directory
    var nodes: [Bool]
    var star = false
    var addresses: Set<Int64> = []
    var networks: [Network] = []
    /// Per address id: 0 not yet known, 1 in the set, 2 not.
    var addressState: [UInt8]

    init(_ directory: Directory) {
        self.directory = directory
        nodes = Array(repeating: false, count: Int(directory.nodes.keys.max() ?? 0) + 1)
        addressState = Array(repeating: 0, count: directory.owner.count)
    }

    func insert(node id: Int64) {
        if id >= 0, id < nodes.count { nodes[Int(id)] = true }
    }

    @inline(__always)
    func containsNode(_ id: Int64) -> Bool {
        id >= 0 && id < nodes.count && nodes[Int(id)]
    }

    @inline(__always)
    func contains(_ e: Endpoint) -> Bool {
        let raw = e.raw
        if raw < 0 { return containsNode(-raw) }
        if raw == 0 { return star }
        if raw < addressState.count {
            let s = addressState[Int(raw)]
            if s != 0 { return s == 1 }
            let v = address(raw)
            addressState[Int(raw)] = v ? 1 : 2
            return v
        }
        return address(raw)
    }

    func address(_ id: Int64) -> Bool {
        if addresses.contains(id) { return true }
        guard !networks.isEmpty, let text = directory.recordingAddressText(id), let ip = IPAddress(text) else { return false }
        return networks.contains { $0.contains(ip) }
    }
}

/// Turns the tree into a ``Program``, resolving values.
struct Resolver {
    let directory: Directory
    let source: String
    /// Every address of every node: those it lists and those that resolve to it.
    var nodeAddresses: [Int64: [IPAddress]]? = nil

    init(directory: Directory, source: String) {
        self.directory = directory
        self.source = source
    }

    mutating func compile(_ n: FilterExpression.Node) throws(FilterError) -> Program {
        switch n {
        case .and(let a, let b): return .and(try compile(a), try compile(b))
        case .or(let a, let b): return .or(try compile(a), try compile(b))
        case .not(let a): return .not(try compile(a))
        case .test(let t):
            let leaf = try compile(t)
            return t.op.isNegated ? .not(leaf) : leaf
        }
    }

    mutating func compile(_ t: FilterExpression.Test) throws(FilterError) -> Program {
        switch t.field {
        case .kind:
            return .kinds(t.values.reduce(UInt8(0)) { $0 | 1 << (TrafficKind(name: $1.text.lowercased())?.rawValue ?? 0) })
        case .proto:
            var set = ProtoSet()
            for v in t.values { if let p = FilterValues.proto(v.text) { set.insert(p) } }
            return .protos(set)
        case .port:
            return .ports(t.values.compactMap { FilterValues.ports($0.text) })
        case .src: return .from(try endpoints(t.values))
        case .dst: return .to(try endpoints(t.values))
        case .endpoint: return .either(try endpoints(t.values))
        case .node: return .reporter(try endpoints(t.values))
        case .tag, .user, .os:
            let m = EndpointMatcher(directory)
            for n in directory.nodes.values where t.values.contains(where: { Self.attribute(t.field, of: n, is: $0.text) }) {
                m.insert(node: n.id)
            }
            return .attribute(m)
        }
    }

    /// `tag = prod` also reads as `tag:prod`; users are exact (as `--user`); operating systems ignore case.
    static func attribute(_ field: FilterExpression.Field, of n: NodeEntry, is value: String) -> Bool {
        switch field {
        case .tag: n.tags.contains(value) || (!value.hasPrefix("tag:") && n.tags.contains("tag:" + value))
        case .user: n.user == value
        default: n.os.map { $0.lowercased() == value.lowercased() } ?? false
        }
    }

    mutating func endpoints(_ values: [FilterExpression.Value]) throws(FilterError) -> EndpointMatcher {
        let m = EndpointMatcher(directory)
        for v in values {
            if v.text == "*" {
                m.star = true
            } else if let net = FilterValues.network(v.text) {
                m.networks.append(net)
                for (id, ips) in allNodeAddresses() where ips.contains(where: net.contains) { m.insert(node: id) }
            } else {
                let e: Endpoint
                do {
                    e = try directory.resolve(v.text)
                } catch {
                    // A well-formed address that nothing has is an empty answer, not a mistake (SPEC §5).
                    if IPAddress(v.text) != nil { continue }
                    throw unknown(v, error)
                }
                if let n = e.nodeID { m.insert(node: n) } else if let a = e.addressID { m.addresses.insert(a) } else { m.star = true }
            }
        }
        return m
    }

    func unknown(_ v: FilterExpression.Value, _ error: any Error) -> FilterError {
        let message = (error as? QueryError)?.message ?? String(describing: error)
        if message.hasPrefix("ambiguous") {
            // "ambiguous endpoint 'x': it names 2 nodes: …; use a full name or a node ID"
            let detail = message.split(separator: ":", maxSplits: 1).last.map { String($0.drop { $0 == " " }) } ?? message
            return FilterError("'\(v.text)' is ambiguous: \(detail)", column: v.column, width: v.width, expression: source)
        }
        var words: [String] = []
        for n in directory.nodes.values {
            words.append(n.stableID)
            if let name = n.name {
                words.append(name)
                if let label = name.split(separator: ".").first { words.append(String(label)) }
            }
        }
        return FilterError("'\(v.text)' is no node of this store", column: v.column, width: v.width,
                           expected: "a node ID, node name, IP address or network (`tailflow nodes` lists the nodes)",
                           suggestion: Suggest.closest(v.text, among: words.sorted()), expression: source)
    }

    mutating func allNodeAddresses() -> [Int64: [IPAddress]] {
        if let nodeAddresses { return nodeAddresses }
        var out: [Int64: [IPAddress]] = [:]
        for n in directory.nodes.values { out[n.id] = n.addresses.compactMap { IPAddress($0) } }
        for (address, node) in directory.owner.enumerated() where node != 0 {
            if let text = directory.recordingAddressText(Int64(address)), let ip = IPAddress(text) { out[node, default: []].append(ip) }
        }
        nodeAddresses = out
        return out
    }
}

extension QueryContext {
    /// Compiles the question's `where` expression, as a usage error when it names what is not there.
    static func compile(_ expression: FilterExpression?, _ directory: Directory) throws -> CompiledFilter? {
        guard let expression else { return nil }
        do {
            return try CompiledFilter(expression, directory: directory)
        } catch {
            throw error.queryError
        }
    }
}
