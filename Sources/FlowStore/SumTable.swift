import FlowModel

/// A key the writer's tables hash with one multiply-xorshift mix of its own fields.
///
/// Swift's `Dictionary` runs every key through `Hasher` (SipHash, seeded per process):
/// on the writer thread that was about a tenth of the time. Some keys come from input a
/// sender chooses (addresses, node IDs, through `serve`'s receivers too): their hashes start
/// from ``hashSeed``, random per process, so that nobody can craft keys that share a slot
/// chain (linear probing would then cost a scan of the chain per look-up).
protocol MixHashable: Equatable {
    /// A well-mixed 64-bit hash: its low bits choose the slot.
    var mixedHash: UInt64 { get }
    /// The hash a ``MixTable`` uses, from its seed (``hashSeed``, read once per table): keys that
    /// come from input mix the seed in first; the writer's own keys ignore it.
    func mixedHash(seed: UInt64) -> UInt64
}

extension MixHashable {
    @inline(__always)
    func mixedHash(seed: UInt64) -> UInt64 { mixedHash }
}

/// An insert-only open-addressing table (linear probing, at most half full) whose
/// entries stay in insertion order in two dense arrays, so iterating is a loop over
/// `keys` and `values`.
///
/// For example:
/// ```swift
/// var sums = MixTable<RollupKey, Counters>()
/// sums.update(key, default: Counters()) { $0.add(counters) }
/// for i in sums.indices { print(sums.keys[i], sums.values[i]) }
/// ```
struct MixTable<Key: MixHashable, Value> {
    private(set) var keys: [Key] = []
    private(set) var values: [Value] = []
    /// Index + 1 into `keys` (0: empty slot).
    private var slots: [Int32]
    private var mask: Int
    /// ``hashSeed``, kept here: a global is read through a lazy initialiser's check each time.
    private let seed = hashSeed

    init(capacity: Int = 0) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = Array(repeating: 0, count: n)
        mask = n - 1
        keys.reserveCapacity(capacity)
        values.reserveCapacity(capacity)
    }

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }
    var indices: Range<Int> { 0..<keys.count }

    /// The index of `key` in `keys`, if present. Probes through the arrays' buffers: each key
    /// read out of `keys` by subscript is a copy (a retain and a release for a node ID).
    @inline(__always)
    func index(of key: Key) -> Int? {
        let seed = self.seed, mask = self.mask
        return slots.withUnsafeBufferPointer { slots -> Int? in
            keys.withUnsafeBufferPointer { keys -> Int? in
                var i = Int(truncatingIfNeeded: key.mixedHash(seed: seed)) & mask
                while true {
                    let s = Int(slots[i])
                    if s == 0 { return nil }
                    if keys[s - 1] == key { return s - 1 }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// The value of `key`, if present, read in place: for a table stored in a class, a
    /// non-mutating call such as ``index(of:)`` works on a copy of it (a retain and a release
    /// of each of its arrays); through `inout` it does not.
    @inline(__always)
    mutating func lookUp(_ key: Key) -> Value? {
        index(of: key).map { values[$0] }
    }

    subscript(key: Key) -> Value? {
        index(of: key).map { values[$0] }
    }

    /// Applies `change` to the value of `key`, inserting `initial` first when the key is new;
    /// returns the key's index in `keys`.
    @inline(__always)
    @discardableResult
    mutating func update(_ key: Key, default initial: @autoclosure () -> Value, _ change: (inout Value) -> Void) -> Int {
        var i = Int(truncatingIfNeeded: key.mixedHash(seed: seed)) & mask
        while true {
            let s = Int(slots[i])
            if s == 0 { break }
            if keys[s - 1] == key {
                change(&values[s - 1])
                return s - 1
            }
            i = (i + 1) & mask
        }
        var v = initial()
        change(&v)
        keys.append(key)
        values.append(v)
        slots[i] = Int32(truncatingIfNeeded: keys.count)
        if keys.count * 2 > slots.count { grow() }
        return keys.count - 1
    }

    /// Inserts `value` for a key that is not in the table yet.
    mutating func insertNew(_ key: Key, _ value: Value) {
        update(key, default: value) { _ in }
    }

    mutating func removeAll() {
        keys.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        for i in slots.indices { slots[i] = 0 }
    }

    private mutating func grow() {
        let n = slots.count * 2
        slots = Array(repeating: 0, count: n)
        mask = n - 1
        for j in keys.indices {
            var i = Int(truncatingIfNeeded: keys[j].mixedHash(seed: seed)) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = Int32(truncatingIfNeeded: j + 1)
        }
    }
}

/// The finishing mix of SplitMix64: every input bit reaches the low bits.
@inline(__always)
func mixBits(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Random per process: the start of the hashes of keys that come from input (see ``MixHashable``).
/// The order a ``MixTable`` iterates in is the order of insertion, whatever the seed.
let hashSeed = UInt64.random(in: .min ... .max)

extension IPAddress: MixHashable {
    /// Each half mixed on its own: the seed xored into one sum of both would leave the pairs
    /// with equal sums colliding under every seed.
    @inline(__always)
    var mixedHash: UInt64 { mixedHash(seed: 0) }

    @inline(__always)
    func mixedHash(seed: UInt64) -> UInt64 {
        mixBits(mixBits(high ^ seed) ^ low ^ (isIPv4 ? 0x5555_0000_0000_0000 : 0))
    }
}
