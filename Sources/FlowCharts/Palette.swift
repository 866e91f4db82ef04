import Foundation

/// Colours that stay apart in greyscale: each step of a palette has a clearly different
/// lightness, so a chart printed in black and white (or seen with colour blindness)
/// still tells its series apart, and the legend names them in the same order.
package enum Palette {
    /// Categorical colours, dark to light (Okabe–Ito hues, lightness spaced).
    package static let categories: [String] = [
        "#1b3a6b",  // dark blue
        "#d55e00",  // vermilion
        "#7fbfe8",  // sky blue, light
        "#5b2a6e",  // dark purple
        "#e6a817",  // orange-yellow, light
        "#2e7d32",  // green, middle
        "#b8b8b8",  // light grey
        "#8c4b2f",  // brown, dark-middle
    ]
    /// The colour of "other" (everything beyond the named series): a mid grey.
    package static let other = "#6f6f6f"

    /// The colour of category `i` (cycling).
    package static func color(_ i: Int) -> String {
        categories[((i % categories.count) + categories.count) % categories.count]
    }

    /// The traffic kinds' colours, fixed so that every chart shows a kind alike.
    package static func kind(_ name: String) -> String {
        switch name {
        case "virtual": "#1b3a6b"
        case "subnet": "#e6a817"
        case "exit": "#d55e00"
        case "physical": "#d4d4d4"
        default: other
        }
    }

    /// Relative luminance (0 black … 1 white) of `#rrggbb`, to check the greyscale promise.
    package static func luminance(_ hex: String) -> Double {
        let digits = Array(hex.utf8.dropFirst())
        guard digits.count == 6 else { return 0 }
        func channel(_ i: Int) -> Double {
            let s = String(decoding: digits[i..<(i + 2)], as: UTF8.self)
            let c = Double(Int(s, radix: 16) ?? 0) / 255
            return c <= 0.03928 ? c / 12.92 : pow(((c + 0.055) / 1.055), 2.4)
        }
        return 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    }
}
