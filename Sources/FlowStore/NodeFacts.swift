package import FlowModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a writer knows of one node while it writes, and the rules every backend's
/// writer merges new reports by: the latest report of a node's facts wins, routes
/// (which messages never carry) stand from the device list, and the seen range only
/// widens. The `Dirty` flags say what to write back at commit.
package class NodeFacts {
    // Not checked for exclusive access at run time: a writer's facts are its thread's alone, and
    // `seen` and `learn` run for every node of every message (a tenth of the writer in checks).
    @exclusivity(unchecked) package var info: NodeInfo?
    @exclusivity(unchecked) package var infoNs: Int64?
    @exclusivity(unchecked) package var infoDirty = false
    @exclusivity(unchecked) package var firstSeen: Int64?
    @exclusivity(unchecked) package var lastSeen: Int64?
    @exclusivity(unchecked) package var seenDirty = false
    /// The store's number for the node, where the writer numbers nodes itself (ClickHouse's
    /// `node_ids`); nil until the writer has looked it up or given it.
    @exclusivity(unchecked) package var storeID: Int64?

    package init() {}

    package func seen(_ t: Int64) {
        if firstSeen.map({ t < $0 }) ?? true { firstSeen = t; seenDirty = true }
        if lastSeen.map({ t > $0 }) ?? true { lastSeen = t; seenDirty = true }
    }

    /// Takes `info` if it is at least as recent as what the node has; the latest report wins.
    package func learn(_ info: NodeInfo, at t: Int64) {
        if let infoNs, t < infoNs { return }
        // The facts known already (most reports of a node): only the time moves. Compared in
        // place: copying both reports to compare them was most of this function's time.
        if let known = self.info, Self.same(known, info) {
            // Kept in the report's storage, if it is another (another decoder's cache), so that
            // that decoder's next report compares by its bits (``learn(at:_:)``); unless that
            // would drop the routes a device list gave.
            if info.routes != nil || known.routes == nil { self.info = info }
            if t > infoNs ?? .min { infoNs = t; infoDirty = true }
            return
        }
        // Messages say nothing of routes: what a device list said stands.
        var info = info
        if info.routes == nil { info.routes = self.info?.routes }
        self.info = info
        infoNs = t
        infoDirty = true
    }

    /// ``learn(_:at:)`` of the facts at `info`, read in place: most reports of a node are the very
    /// value it learnt last (the decoder's cache hands out one value per node, so their fields share
    /// storage), and equal bits are equal facts. Copying a report to hand it over retained and
    /// released each of its seven fields; comparing bits takes neither.
    package func learn(at info: UnsafePointer<NodeInfo>, _ t: Int64) {
        if let infoNs, t < infoNs { return }
        if self.info != nil, withUnsafeBytes(of: &self.info, { memcmp($0.baseAddress!, info, MemoryLayout<NodeInfo>.size) == 0 }) {
            if t > infoNs ?? .min { infoNs = t; infoDirty = true }
            return
        }
        learn(info.pointee, at: t)
    }

    /// Whether `new` says what `known` says (routes too, unless `new` says nothing of them).
    @inline(__always)
    static func same(_ known: NodeInfo, _ new: NodeInfo) -> Bool {
        known.nodeID == new.nodeID && known.name == new.name && known.os == new.os && known.user == new.user
            && known.tags == new.tags && known.addresses == new.addresses && (new.routes == nil || new.routes == known.routes)
    }
}
