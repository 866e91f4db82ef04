package import FlowStore
import FlowModel

extension CaseSelection {
    /// The messages an incident export takes, read as the questions read them: with
    /// `endpoint`, those that touch it (it reported them, or a flow row's source or
    /// destination resolves to it); with `filter`, those with a flow row that the
    /// ``FilterExpression`` passes, as a raw row (as `flows` tests it) or as either of the
    /// row's two edges (as every other question tests them). Both given: a row must do both.
    ///
    /// So every counted edge, flow row and peer a question asks about with that endpoint
    /// and filter is in the case, and the nodes the filter names resolve there too.
    ///
    /// For example:
    /// ```swift
    /// let manifest = try store.exportCase(to: "case.db", from: from, to: to, endpoint: "db-1") { snapshot in
    ///     try CaseSelection.matching(endpoint: "db-1", filter: nil, in: snapshot)
    /// }
    /// ```
    ///
    /// - returns: nil (every message) when neither is given.
    /// - throws: ``QueryError`` for an endpoint or filter value that names no node.
    package static func matching(endpoint: String?, filter: FilterExpression?, in snapshot: any StoreSnapshot) throws -> CaseSelection? {
        guard endpoint != nil || filter != nil else { return nil }
        let directory = try Directory(snapshot)
        let e = try endpoint.map { try directory.resolve($0) }
        let compiled = try QueryContext.compile(filter, directory)
        var nodes: [Int64] = []
        if let n = e?.nodeID { nodes.append(n) }
        if let compiled { nodes += compiled.program.namedNodes() }
        let key = try e.map { e in e == .unseen ? (endpoint ?? "") : try directory.label(e) }
        return CaseSelection(includes: { h, rows in
            for r in rows {
                let src = directory.endpoint(address: r.src), dst = directory.endpoint(address: r.dst)
                if let e, h.reporter != e.nodeID, src != e, dst != e { continue }
                if let f = compiled {
                    let port = r.servicePort
                    let x = r.kind == .physical ? Endpoint.node(h.reporter) : src
                    guard f.matchesRow(reporter: h.reporter, kind: r.kind, proto: r.proto, port: port, src: src, dst: dst)
                        || f.matches(reporter: h.reporter, kind: r.kind, proto: r.proto, port: port, from: x, to: dst)
                        || f.matches(reporter: h.reporter, kind: r.kind, proto: r.proto, port: port, from: dst, to: x) else { continue }
                }
                return true
            }
            return false
        }, nodes: nodes, endpointKey: key)
    }
}

extension Program {
    /// The nodes the endpoint terms (`src`, `dst`, `endpoint`, `node`) name: a case keeps
    /// them, so that the same filter resolves on it.
    func namedNodes() -> [Int64] {
        switch self {
        case .and(let a, let b), .or(let a, let b): a.namedNodes() + b.namedNodes()
        case .not(let a): a.namedNodes()
        case .reporter(let m), .from(let m), .to(let m), .either(let m):
            m.nodes.indices.filter { m.nodes[$0] }.map(Int64.init)
        default: []
        }
    }
}
