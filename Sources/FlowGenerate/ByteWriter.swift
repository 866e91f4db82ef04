/// A growable byte buffer with hand-rolled JSON scalar formatting.
///
/// Non-copyable so that exactly one owner frees the storage; passed `inout`
/// through the hot loop, which keeps exclusivity checks static.
struct ByteWriter: ~Copyable {
    var base: UnsafeMutablePointer<UInt8>
    var count = 0
    var capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    mutating func grow(_ extra: Int) {
        var newCapacity = capacity * 2
        while newCapacity < count + extra { newCapacity *= 2 }
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        p.update(from: base, count: count)
        base.deallocate()
        base = p
        capacity = newCapacity
    }

    @inline(__always)
    mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(n) }
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count += 1
    }

    @inline(__always)
    mutating func raw(_ p: UnsafePointer<UInt8>, _ n: Int) {
        reserve(n)
        (base + count).update(from: p, count: n)
        count += n
    }

    @inline(__always)
    mutating func lit(_ s: StaticString) {
        raw(s.utf8Start, s.utf8CodeUnitCount)
    }

    mutating func bytes(_ a: [UInt8]) {
        a.withUnsafeBufferPointer { if let p = $0.baseAddress { raw(p, $0.count) } }
    }

    mutating func string(_ s: String) {
        bytes(Array(s.utf8))
    }

    /// Decimal digits of `v`.
    @inline(__always)
    mutating func uint(_ v: UInt64) {
        reserve(20)
        if v < 10 {
            base[count] = 48 &+ UInt8(truncatingIfNeeded: v)
            count += 1
            return
        }
        var len = 2
        var limit: UInt64 = 100
        while len < 20 && v >= limit { len += 1; limit = limit &* 10 }
        let pairs = ByteWriter.pairs
        var v = v
        var i = count + len
        while v >= 100 {
            let q = v / 100
            let r = Int(truncatingIfNeeded: v &- q &* 100) &* 2
            v = q
            i -= 2
            base[i] = pairs[r]
            base[i + 1] = pairs[r + 1]
        }
        if v >= 10 {
            let r = Int(truncatingIfNeeded: v) &* 2
            base[i - 2] = pairs[r]
            base[i - 1] = pairs[r + 1]
        } else {
            base[i - 1] = 48 &+ UInt8(truncatingIfNeeded: v)
        }
        count += len
    }

    /// Two zero-padded digits.
    @inline(__always)
    mutating func two(_ v: Int) {
        base[count] = ByteWriter.pairs[v &* 2]
        base[count + 1] = ByteWriter.pairs[v &* 2 + 1]
        count += 2
    }

    /// RFC 3339 UTC with nine fractional digits: `2026-11-01T10:00:04.999812345Z`.
    mutating func time(_ ns: Int64) {
        reserve(32)
        var secs = ns / 1_000_000_000
        var frac = ns - secs * 1_000_000_000
        if frac < 0 { frac += 1_000_000_000; secs -= 1 }
        var days = secs / 86400
        var sod = secs - days * 86400
        if sod < 0 { sod += 86400; days -= 1 }
        let (y, m, d) = Civil.date(days: days)
        let yy = Int(y)
        two(yy / 100 % 100)
        two(yy % 100)
        base[count] = UInt8(ascii: "-"); count += 1
        two(m)
        base[count] = UInt8(ascii: "-"); count += 1
        two(d)
        base[count] = UInt8(ascii: "T"); count += 1
        let s = Int(sod)
        two(s / 3600)
        base[count] = UInt8(ascii: ":"); count += 1
        two(s / 60 % 60)
        base[count] = UInt8(ascii: ":"); count += 1
        two(s % 60)
        base[count] = UInt8(ascii: "."); count += 1
        let f = Int(frac)
        base[count] = 48 &+ UInt8(truncatingIfNeeded: f / 100_000_000); count += 1
        two(f / 1_000_000 % 100)
        two(f / 10_000 % 100)
        two(f / 100 % 100)
        two(f % 100)
        base[count] = UInt8(ascii: "Z"); count += 1
    }

    /// "000102…99": the two digits of every number below 100.
    @inline(__always)
    static var pairs: UnsafePointer<UInt8> {
        ("00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899" as StaticString).utf8Start
    }
}

/// Proleptic Gregorian calendar arithmetic (Howard Hinnant's algorithms).
enum Civil {
    /// The (year, month, day) of a day count since 1970-01-01.
    static func date(days: Int64) -> (Int64, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        if m <= 2 { y += 1 }
        return (y, m, d)
    }
}
