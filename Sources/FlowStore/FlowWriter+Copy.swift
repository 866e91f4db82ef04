import FlowModel
import GRDB

/// A node as one store knows it, to merge into another (export, import): its facts, when
/// they were reported, when it was seen and reported, and every address it owns.
struct CopiedNode {
    var stableID: String
    /// What the latest report said, and its time (nil: only known by its ID).
    var info: NodeInfo?
    var infoNs: Int64?
    var firstSeen: Int64?
    var lastSeen: Int64?
    /// Not nil: the node is a reporter (SPEC §2), whether or not any of its messages is copied.
    var firstReport: Int64?
    var lastReport: Int64?
    /// The `node_addresses` rows naming it: (address text, time of the report that said so).
    var owned: [(ip: IPAddress, infoNs: Int64)]
}

extension FlowWriter {
    /// Creates a node with the id it has in another store, unless the id or the node is taken:
    /// an export keeps the source's ids, so that answers that carry them (`flows` cursors) and
    /// their order match the source's exactly.
    func reserveNode(id: Int64, stableID: String) throws {
        precondition(inTransaction, "reserveNode outside a batch")
        guard nodes.index(of: NodeKey(stableID)) == nil else { return }
        try db.execute(sql: "INSERT OR IGNORE INTO nodes (id, stable_id) VALUES (?, ?)", arguments: [id, stableID])
    }

    /// Merges what another store knows of a node, as ingest would have learnt it: the latest
    /// report wins (per node, and per address for ownership), seen and reported times widen.
    ///
    /// Carrying the reporter times is what keeps the edge model exact for a partial copy:
    /// a node that reports counts its own edges, even when none of its messages was copied.
    func merge(_ n: CopiedNode) throws {
        precondition(inTransaction, "merge(_:) outside a batch")
        let state = try node(n.stableID)
        if let info = n.info, let t = n.infoNs { state.learn(info, at: t) }
        for t in [n.firstSeen, n.lastSeen].compactMap({ $0 }) { state.seen(t) }
        for t in [n.firstReport, n.lastReport].compactMap({ $0 }) { state.reported(t) }
        for (ip, t) in n.owned {
            upsertNodeAddress.bind(1, try addressID(ip))
            upsertNodeAddress.bind(2, state.id)
            upsertNodeAddress.bind(3, t)
            try upsertNodeAddress.run()
        }
    }
}
