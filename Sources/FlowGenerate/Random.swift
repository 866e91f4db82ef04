/// A small, seedable pseudo-random number generator (xoshiro256**, seeded by SplitMix64).
///
/// The generator never touches the system random source, and every derived
/// quantity uses only correctly rounded IEEE operations (`+ - * /`, `sqrt`) or
/// the portable `DetMath` routines, so the same seed produces the same stream
/// on every platform.
struct Xoshiro256: Sendable {
    var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var sm = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(&sm); s1 = splitmix(&sm); s2 = splitmix(&sm); s3 = splitmix(&sm)
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// A uniform double in [0, 1).
    @inline(__always)
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A uniform integer in `0..<n` (n > 0).
    @inline(__always)
    mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// A uniform integer in `range`.
    @inline(__always)
    mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }

    @inline(__always)
    mutating func chance(_ p: Double) -> Bool { uniform() < p }

    /// An approximately standard normal variate (Irwin–Hall sum of four uniforms, rescaled).
    @inline(__always)
    mutating func normal() -> Double {
        let s = uniform() + uniform() + uniform() + uniform()
        return (s - 2.0) * 1.7320508075688772
    }

    /// A log-normal variate with the given mean and log-space spread.
    @inline(__always)
    mutating func lognormal(mean: Double, sigma: Double) -> Double {
        mean * DetMath.exp(sigma * normal() - 0.5 * sigma * sigma)
    }

    /// An exponential variate with the given mean.
    @inline(__always)
    mutating func exponential(mean: Double) -> Double {
        -mean * DetMath.log(1.0 - uniform())
    }

    /// A Poisson count with mean `lambda` (normal approximation above 30).
    mutating func poisson(_ lambda: Double) -> Int {
        if lambda <= 0 { return 0 }
        if lambda > 30 {
            let v = lambda + lambda.squareRoot() * normal() + 0.5
            return v < 0 ? 0 : Int(v)
        }
        let limit = DetMath.exp(-lambda)
        var k = 0
        var p = uniform()
        while p > limit { k += 1; p *= uniform() }
        return k
    }

    /// An index drawn from cumulative weights `cum` (last element = total).
    mutating func pick(cumulative cum: [Double]) -> Int {
        let x = uniform() * cum[cum.count - 1]
        var lo = 0, hi = cum.count - 1
        while lo < hi {
            let mid = (lo + hi) >> 1
            if cum[mid] > x { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}

/// `exp` and `log` from basic IEEE arithmetic only, so results never depend on the platform's libm.
enum DetMath {
    static let ln2Hi = 0.693_147_180_369_123_816_49
    static let ln2Lo = 1.908_214_929_270_587_700_02e-10

    static func exp(_ xIn: Double) -> Double {
        let x = min(max(xIn, -700), 700)
        let k = (x * 1.442_695_040_888_963_4).rounded()
        let r = (x - k * ln2Hi) - k * ln2Lo
        // Taylor series to r^12 on |r| <= 0.35: relative error < 1e-15.
        var p = 1.0 / 479_001_600.0
        p = p * r + 1.0 / 39_916_800.0
        p = p * r + 1.0 / 3_628_800.0
        p = p * r + 1.0 / 362_880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        return scale(p, Int(k))
    }

    static func log(_ x: Double) -> Double {
        if !(x > 0) { return -745 }
        var e = Int(x.exponent)
        var m = x.significand  // [1, 2)
        if m > 1.414_213_562_373_095 { m *= 0.5; e += 1 }
        let s = (m - 1) / (m + 1)
        let s2 = s * s
        var p = 1.0 / 19.0
        p = p * s2 + 1.0 / 17.0
        p = p * s2 + 1.0 / 15.0
        p = p * s2 + 1.0 / 13.0
        p = p * s2 + 1.0 / 11.0
        p = p * s2 + 1.0 / 9.0
        p = p * s2 + 1.0 / 7.0
        p = p * s2 + 1.0 / 5.0
        p = p * s2 + 1.0 / 3.0
        p = p * s2 + 1.0
        return 2 * s * p + Double(e) * ln2Hi + Double(e) * ln2Lo
    }

    /// `v * 2^k`, exact.
    static func scale(_ v: Double, _ k: Int) -> Double {
        var v = v, k = k
        while k > 1000 { v *= 0x1p1000; k -= 1000 }
        while k < -1000 { v *= 0x1p-1000; k += 1000 }
        return v * Double(sign: .plus, exponent: k, significand: 1)
    }
}
