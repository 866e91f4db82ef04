/// SVG markup, written by hand and escaped everywhere.
///
/// Every attribute value and text node goes through ``SVG/escape(_:)``, so a node
/// named `<script>` or a tag with quotes stays text. Numbers are written with at most
/// one decimal, so the same chart is the same bytes on every run.
///
/// For example:
/// ```swift
/// var svg = SVG(width: 200, height: 100)
/// svg.open("g", ["class": "bars"])
/// svg.element("rect", [("x", SVG.number(10)), ("y", "0"), ("width", "20"), ("height", "50")], title: "db-1: 42 bytes")
/// svg.close("g")
/// let markup = svg.finish()
/// ```
package struct SVG: Sendable {
    package private(set) var text: String
    private var stack: [String] = []

    /// Starts an `<svg>` element of the given size (a `viewBox` of the same size, so it scales).
    package init(width: Double, height: Double, attributes: [(String, String)] = []) {
        text = ""
        text.reserveCapacity(16 * 1024)
        var root: [(String, String)] = [
            ("xmlns", "http://www.w3.org/2000/svg"),
            ("viewBox", "0 0 \(Self.number(width)) \(Self.number(height))"),
            ("width", Self.number(width)), ("height", Self.number(height)),
            ("font-family", "DejaVu Sans, Verdana, sans-serif"), ("font-size", "12"),
        ]
        root += attributes
        open("svg", root)
    }

    /// Opens an element that later content goes into.
    package mutating func open(_ name: String, _ attributes: [(String, String)] = []) {
        text += "<" + name + Self.attributes(attributes) + ">"
        stack.append(name)
    }

    /// Closes the innermost open element (its name is checked).
    package mutating func close(_ name: String) {
        precondition(stack.last == name, "SVG: closing <\(name)> but <\(stack.last ?? "none")> is open")
        stack.removeLast()
        text += "</" + name + ">"
    }

    /// An element with no children but an optional `<title>` (the hover text).
    package mutating func element(_ name: String, _ attributes: [(String, String)], title: String? = nil) {
        if let title {
            text += "<" + name + Self.attributes(attributes) + "><title>" + Self.escape(title) + "</title></" + name + ">"
        } else {
            text += "<" + name + Self.attributes(attributes) + "/>"
        }
    }

    /// A `<text>` element holding `content` as text.
    package mutating func text(_ content: String, _ attributes: [(String, String)]) {
        text += "<text" + Self.attributes(attributes) + ">" + Self.escape(content) + "</text>"
    }

    /// A `<title>` for the element that is open (hover text).
    package mutating func title(_ content: String) {
        text += "<title>" + Self.escape(content) + "</title>"
    }

    /// Closes every open element and returns the markup.
    package mutating func finish() -> String {
        while let name = stack.last { close(name) }
        return text
    }

    static func attributes(_ list: [(String, String)]) -> String {
        var out = ""
        for (name, value) in list {
            out += " " + name + "=\"" + escape(value) + "\""
        }
        return out
    }

    /// Escapes text for an XML attribute value or text node: `& < > " '`, and drops
    /// the control characters XML 1.0 does not allow.
    package static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 || $0 < 0x20 || $0 == 0x7F }) else {
            return s
        }
        var out = ""
        out.reserveCapacity(s.utf8.count + 16)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// A coordinate with at most one decimal (`12`, `12.5`, `-3.2`).
    package static func number(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let tenths = Int64((v * 10).rounded())
        if tenths % 10 == 0 { return String(tenths / 10) }
        let sign = tenths < 0 ? "-" : ""
        let m = tenths.magnitude
        return sign + String(m / 10) + "." + String(m % 10)
    }
}
