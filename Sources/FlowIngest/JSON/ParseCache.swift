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

    /// Node objects by their first ``prefixLength`` bytes, one per slot (the latest stored wins):
    /// found before the object is scanned, so that a node seen before costs one comparison.
    private var byPrefix: [PrefixEntry?] = Array(repeating: nil, count: ParseCache.prefixSlots)
    static let prefixLength = 32
    static let prefixSlots = 1024

    final class PrefixEntry {
        let bytes: [UInt8]
        let info: NodeInfo

        init(bytes: [UInt8], info: NodeInfo) {
            self.bytes = bytes
            self.info = info
        }
    }

    /// The node whose whole object (as stored before) starts `bytes` at `start`, and its length.
    ///
    /// A JSON object ends where its bytes say: input that begins with the exact bytes of an
    /// object read before (valid, and decoded without a problem) holds that same object, whatever
    /// follows it. Nil when nothing stored matches, or the buffer ends before the stored length.
    func node(startingAt start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (info: NodeInfo, length: Int)? {
        let available = bytes.count - start
        guard available >= Self.prefixLength else { return nil }
        let base = bytes.baseAddress! + start
        let slot = Int(truncatingIfNeeded: Self.hash(UnsafeBufferPointer(start: base, count: Self.prefixLength))) & (Self.prefixSlots - 1)
        guard let e = byPrefix[slot], e.bytes.count <= available,
              e.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, base, $0.count) == 0 }) else { return nil }
        return (e.info, e.bytes.count)
    }

    func node(for span: UnsafeBufferPointer<UInt8>) -> NodeInfo? {
        guard let e = nodes[Self.hash(span)], Self.same(e.bytes, span) else { return nil }
        return e.value.info
    }

    func store(_ node: NodeInfo, for span: UnsafeBufferPointer<UInt8>) {
        if nodes.count >= Self.limit { nodes.removeAll(keepingCapacity: true) }
        let bytes = Array(span)
        nodes[Self.hash(span)] = Entry(bytes: bytes, value: NodeInfoBox(info: node))
        if span.count >= Self.prefixLength {
            let slot = Int(truncatingIfNeeded: Self.hash(UnsafeBufferPointer(rebasing: span[..<Self.prefixLength]))) & (Self.prefixSlots - 1)
            byPrefix[slot] = PrefixEntry(bytes: bytes, info: node)
        }
    }

    /// Socket addresses read before, by their text (one per slot, the latest stored wins): the
    /// IPv6 ones (`[fd7a:…]:port`) cost a thousand instructions to read, and a node's few addresses
    /// come back in every row it reports.
    private var sockets: [SocketEntry?] = Array(repeating: nil, count: ParseCache.socketSlots)
    static let socketSlots = 512

    struct SocketEntry {
        var bytes: [UInt8]
        var address: SocketAddress
    }

    func socket(for span: UnsafeBufferPointer<UInt8>) -> SocketAddress? {
        let slot = Int(truncatingIfNeeded: Self.hash(span)) & (Self.socketSlots - 1)
        guard let e = sockets[slot], Self.same(e.bytes, span) else { return nil }
        return e.address
    }

    func store(_ address: SocketAddress, for span: UnsafeBufferPointer<UInt8>) {
        let slot = Int(truncatingIfNeeded: Self.hash(span)) & (Self.socketSlots - 1)
        sockets[slot] = SocketEntry(bytes: Array(span), address: address)
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
