/// JSON text for strings, written by hand where a whole encoder is not wanted
/// (reports, the store's array columns).
package enum JSONText {
    /// A JSON string literal: quotes, backslashes and control characters escaped.
    package static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// A JSON array of strings.
    package static func array(_ items: [String]) -> String {
        "[" + items.map(quoted).joined(separator: ",") + "]"
    }
}

extension JSONText {
    /// The text of a JSON string literal (`"a\"b"` → `a"b`), every escape undone; nil when
    /// `json` is not one string literal (an object, an array, a number, …, or broken text).
    package static func unquoted(_ json: String) -> String? {
        let scalars = Array(json.unicodeScalars)
        guard scalars.count >= 2, scalars.first == "\"", scalars.last == "\"" else { return nil }
        var out = String.UnicodeScalarView()
        var i = 1
        let end = scalars.count - 1
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= end else { return nil }
            return UInt32(String(String.UnicodeScalarView(scalars[at..<at + 4])), radix: 16)
        }
        while i < end {
            let u = scalars[i]
            if u == "\"" { return nil }
            guard u == "\\" else {
                out.append(u)
                i += 1
                continue
            }
            guard i + 1 < end else { return nil }
            switch scalars[i + 1] {
            case "\"": out.append("\"")
            case "\\": out.append("\\")
            case "/": out.append("/")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "u":
                guard var v = hex4(i + 2) else { return nil }
                i += 4
                // A surrogate pair spells one scalar beyond the first plane.
                if v >= 0xD800, v < 0xDC00, i + 3 < end, scalars[i + 2] == "\\", scalars[i + 3] == "u", let low = hex4(i + 4), low >= 0xDC00, low < 0xE000 {
                    v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            default: return nil
            }
            i += 2
        }
        return String(out)
    }

    /// JSON text indented two spaces a level, one member or element a line, in its own order;
    /// strings are left as they are. Text that is not JSON comes back re-spaced but otherwise whole.
    package static func pretty(_ json: String) -> String {
        var out = ""
        var depth = 0
        var inString = false, escaped = false
        let chars = Array(json)
        var i = 0
        func newline() { out += "\n" + String(repeating: "  ", count: max(depth, 0)) }
        while i < chars.count {
            let c = chars[i]
            i += 1
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
                continue
            }
            switch c {
            case "\"":
                inString = true
                out.append(c)
            case "{", "[":
                // An empty object or array stays on one line.
                var j = i
                while j < chars.count, chars[j].isWhitespace { j += 1 }
                if j < chars.count, chars[j] == (c == "{" ? "}" : "]") {
                    out += c == "{" ? "{}" : "[]"
                    i = j + 1
                } else {
                    out.append(c)
                    depth += 1
                    newline()
                }
            case "}", "]":
                depth -= 1
                newline()
                out.append(c)
            case ",":
                out.append(c)
                newline()
            case ":":
                out += ": "
            case _ where c.isWhitespace:
                continue
            default:
                out.append(c)
            }
        }
        return out
    }
}
