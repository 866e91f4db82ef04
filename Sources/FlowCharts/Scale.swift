/// A linear map from data values to pixels.
///
/// For example:
/// ```swift
/// let y = LinearScale(domain: 0...1000, range: 300...20)   // y grows downwards
/// y(500)   // 160
/// ```
package struct LinearScale: Sendable, Equatable {
    package var domain: ClosedRange<Double>
    package var range: ClosedRange<Double>
    /// Whether the range runs from its upper bound to its lower one (screen y axes).
    package var inverted: Bool

    /// A scale from `domain` to `range`; write the range as `high...low` by passing `inverted: true`.
    package init(domain: ClosedRange<Double>, range: ClosedRange<Double>, inverted: Bool = false) {
        self.domain = domain
        self.range = range
        self.inverted = inverted
    }

    package func callAsFunction(_ value: Double) -> Double {
        let span = domain.upperBound - domain.lowerBound
        let t = span == 0 ? 0 : (value - domain.lowerBound) / span
        let width = range.upperBound - range.lowerBound
        return inverted ? range.upperBound - t * width : range.lowerBound + t * width
    }
}

/// Round tick values for a numeric axis, "nice" steps of 1, 2 or 5 times a power of ten.
package enum NiceTicks {
    /// The step of about `count` intervals over `0...max`: 1, 2 or 5 × 10^n.
    package static func step(max: Double, count: Int) -> Double {
        guard max > 0, count > 0 else { return 1 }
        let raw = max / Double(count)
        var magnitude = 1.0
        while magnitude * 10 <= raw { magnitude *= 10 }
        while magnitude > raw { magnitude /= 10 }
        for m in [1.0, 2, 5, 10] where m * magnitude >= raw {
            return m * magnitude
        }
        return 10 * magnitude
    }

    /// Ticks from 0 to the first multiple of the step at or above `max` (so the top tick bounds the data).
    package static func ticks(max: Double, count: Int = 5) -> [Double] {
        let step = step(max: max, count: count)
        var ticks = [0.0]
        var v = 0.0
        var i = 1.0
        while v < max {
            v = step * i
            ticks.append(v)
            i += 1
        }
        return ticks
    }
}
