/// Sums per directed edge in an open-addressing table with a cheap multiplicative hash.
///
/// Aggregation runs once per counted edge of every row a question reads;
/// Swift's `Dictionary` would seed and run SipHash each time.
struct EdgeTable {
    private var from: [Int64]
    private var to: [Int64]
    private var used: [Bool]
    private var sums: [QueryEngine.Sum]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        from = Array(repeating: 0, count: size)
        to = Array(repeating: 0, count: size)
        used = Array(repeating: false, count: size)
        sums = Array(repeating: QueryEngine.Sum(), count: size)
        mask = size - 1
    }

    @inline(__always)
    static func slot(_ a: Int64, _ b: Int64, _ mask: Int) -> Int {
        let h = (UInt64(bitPattern: a) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(bitPattern: b) &* 0xC2B2_AE3D_27D4_EB4F)
        return Int(truncatingIfNeeded: (h ^ (h >> 29)) & UInt64(mask))
    }

    @inline(__always)
    mutating func add(_ a: Endpoint, _ b: Endpoint, _ packets: Int64, _ bytes: Int64) {
        var i = Self.slot(a.raw, b.raw, mask)
        while used[i] {
            if from[i] == a.raw && to[i] == b.raw {
                sums[i].add(packets, bytes)
                return
            }
            i = (i + 1) & mask
        }
        used[i] = true
        from[i] = a.raw
        to[i] = b.raw
        sums[i] = QueryEngine.Sum()
        sums[i].add(packets, bytes)
        count += 1
        if count * 2 > mask { grow() }
    }

    private mutating func grow() {
        var bigger = EdgeTable(capacity: (mask + 1))
        forEach { a, b, s in bigger.add(a, b, s.packets, s.bytes) }
        self = bigger
    }

    func forEach(_ body: (Endpoint, Endpoint, QueryEngine.Sum) throws -> Void) rethrows {
        for i in 0...mask where used[i] { try body(Endpoint(raw: from[i]), Endpoint(raw: to[i]), sums[i]) }
    }
}
