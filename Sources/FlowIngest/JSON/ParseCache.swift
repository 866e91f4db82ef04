#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FlowModel

/// Values decoded from byte spans seen before, keyed by the exact bytes.
///
/// Flow-log messages repeat the same `nodeId`, `srcNode` and `dstNodes` over
/// and over; decoding each only once saves most of the allocations of ingest.
/// Bounded: it forgets everything when it holds too many entries.
final class ParseCache {
    struct Entry<Value> {
        var bytes: [UInt8]
        var value: Value
    }

    static let limit = 4096
    private var nodes: [UInt64: Entry<NodeInfoBox>] = [:]
    private var strings: [UInt64: Entry<String>] = [:]

    func node(for span: UnsafeBufferPointer<UInt8>) -> NodeInfo? {
        guard let e = nodes[Self.hash(span)], Self.same(e.bytes, span) else { return nil }
        return e.value.info
    }

    func store(_ node: NodeInfo, for span: UnsafeBufferPointer<UInt8>) {
        if nodes.count >= Self.limit { nodes.removeAll(keepingCapacity: true) }
        nodes[Self.hash(span)] = Entry(bytes: Array(span), value: NodeInfoBox(info: node))
    }

    func string(for span: UnsafeBufferPointer<UInt8>) -> String? {
        guard let e = strings[Self.hash(span)], Self.same(e.bytes, span) else { return nil }
        return e.value
    }

    func store(_ string: String, for span: UnsafeBufferPointer<UInt8>) {
        if strings.count >= Self.limit { strings.removeAll(keepingCapacity: true) }
        strings[Self.hash(span)] = Entry(bytes: Array(span), value: string)
    }

    @inline(__always)
    static func same(_ a: [UInt8], _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        a.count == b.count && a.withUnsafeBufferPointer { memcmp($0.baseAddress!, b.baseAddress!, b.count) == 0 }
    }

    /// FNV-1a over 8-byte words: cheap, and collisions only cost a comparison.
    @inline(__always)
    static func hash(_ span: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let raw = UnsafeRawBufferPointer(span)
        var i = 0
        while i + 8 <= raw.count {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x100_0000_01b3
            h ^= h >> 29
            i += 8
        }
        while i < raw.count {
            h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3
            i += 1
        }
        return h ^ UInt64(raw.count)
    }
}


/// Keeps NodeInfo values out of the dictionary's inline storage.
struct NodeInfoBox {
    var info: NodeInfo
}
