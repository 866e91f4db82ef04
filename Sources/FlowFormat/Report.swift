import FlowModel

/// How an answer is printed: an aligned table for people, or exact machine-readable forms.
public enum OutputFormat: String, CaseIterable, Sendable {
    case table, json, csv, ndjson
}

/// One value of a report.
public enum Cell: Sendable, Equatable {
    case int(Int64)
    /// A byte count: IEC units in tables, an exact integer elsewhere.
    case bytes(Int64)
    /// A packet or row count: thousands separators in tables.
    case count(Int64)
    case string(String?)
    case strings([String])
    case ints([Int64])
    /// A time, ns since the epoch, printed as RFC 3339 UTC.
    case time(Int64?)
    case bool(Bool)
    /// A duration in seconds, printed with millisecond precision.
    case seconds(Double)
    /// A number that tables show by its name (a protocol: 6 is `tcp`); exact elsewhere.
    case named(Int64, String)
    /// Numbers that tables show by their names.
    case namedList([Int64], [String])
    /// A JSON value's text, embedded as is in JSON and NDJSON (a text in CSV and tables); nil is null.
    case json(String?)
    /// A decimal number (a ratio, a factor, seconds of skew), shortest exact enough text; nil is JSON null.
    case number(Double?)
    /// A string (or null) that tables show as the label when it is null: what an endpoint
    /// that is no node is (`DERP 1 (nyc)`, `(anonymised exit traffic)`). Exact elsewhere.
    case label(String?, String)
    /// Objects with these keys (JSON: an array of objects; CSV and tables: `a..b:c` items separated by spaces).
    indirect case objects(keys: [String], [[Cell]])
}

/// A column: its JSON/CSV key, its table header and whether the table right-aligns it.
public struct Column: Sendable {
    public var key: String
    public var header: String
    /// Whether the aligned table shows it (machine formats always carry every column).
    public var inTable: Bool
    /// The table shows it only when asked for every detail (`--wide`): node IDs beside names.
    public var wide: Bool
    /// The key of the column whose value the table shows where this one has none (a name's node ID or address).
    public var fallback: String?
    /// Longer cells are cut to this many characters, ending in `…`, unless the table is wide.
    public var maxWidth: Int?

    public init(_ key: String, _ header: String? = nil, table: Bool = true, wide: Bool = false, fallback: String? = nil, maxWidth: Int? = nil) {
        self.key = key
        self.header = header ?? key
        inTable = table
        self.wide = wide
        self.fallback = fallback
        self.maxWidth = maxWidth
    }
}

/// Rows of named cells, printable in every ``OutputFormat``.
///
/// For example:
/// ```swift
/// let report = Report(columns: [Column("endpoint"), Column("bytes")], rows: [[.string("*"), .bytes(53000)]])
/// print(report.render(.json), terminator: "")
/// ```
public struct Report: Sendable {
    public var columns: [Column]
    public var rows: [[Cell]]
    /// Set when a limit cut the answer: how many rows it holds without one.
    public var cut: Cut?
    /// What the person asking should know about the answer (why it is empty, …): stderr on
    /// the CLI. Never part of the machine-readable body.
    public var notes: [String] = []
    /// The finest rollup level (`1m`, `1h`, …) that answered time whose raw flow rows were
    /// pruned; nil when raw rows served the whole window. The server sends it as `Tailflow-Resolution`.
    public var resolution: String?
    /// Keys the table shows first, in this order; the other columns follow in their own order.
    public var tableOrder: [String] = []

    public init(columns: [Column], rows: [[Cell]] = []) {
        self.columns = columns
        self.rows = rows
    }

    /// How much a limit left out.
    public struct Cut: Sendable, Equatable {
        /// Rows of the whole answer, or a lower bound when ``atLeast``.
        public var total: Int
        /// Counting stopped at ``total``: there are more.
        public var atLeast: Bool

        public init(total: Int, atLeast: Bool = false) {
            self.total = total
            self.atLeast = atLeast
        }
    }

    /// "showing 1,000 of 44,467 rows", or nil when nothing was cut.
    public var cutSummary: String? {
        guard let cut, cut.total > rows.count || cut.atLeast else { return nil }
        return "showing \(Units.grouped(Int64(rows.count))) of \(cut.atLeast ? "more than " : "")\(Units.grouped(Int64(cut.total))) rows"
    }

    /// The whole report as text (ending with a line break, except empty CSV/NDJSON bodies).
    ///
    /// - parameter wide: tables show every column (node IDs too) and cut no cell.
    public func render(_ format: OutputFormat, wide: Bool = false) -> String {
        switch format {
        case .table: renderTable(wide: wide)
        case .json: renderJSON()
        case .csv: renderCSV()
        case .ndjson: rows.map { jsonObject($0, pretty: false) + "\n" }.joined()
        }
    }

    // MARK: JSON

    func renderJSON() -> String {
        if rows.isEmpty { return "[]\n" }
        return "[\n" + rows.map { "  " + jsonObject($0, pretty: true) }.joined(separator: ",\n") + "\n]\n"
    }

    func jsonObject(_ row: [Cell], pretty: Bool) -> String {
        var parts: [String] = []
        for (column, cell) in zip(columns, row) {
            parts.append(JSON.string(column.key) + (pretty ? ": " : ":") + Self.json(cell))
        }
        return "{" + parts.joined(separator: pretty ? ", " : ",") + "}"
    }

    /// A cell as JSON writes it.
    package static func jsonValue(_ cell: Cell) -> String { json(cell) }

    static func json(_ cell: Cell) -> String {
        switch cell {
        case .int(let v), .bytes(let v), .count(let v), .named(let v, _): String(v)
        case .string(let s), .label(let s, _): s.map(JSON.string) ?? "null"
        case .json(let s): s ?? "null"
        case .strings(let a): "[" + a.map(JSON.string).joined(separator: ",") + "]"
        case .ints(let a), .namedList(let a, _): "[" + a.map(String.init).joined(separator: ",") + "]"
        case .time(let t): t.map { JSON.string(Timestamp.formatRFC3339($0)) } ?? "null"
        case .bool(let b): b ? "true" : "false"
        case .seconds(let d): Self.decimal(d)
        case .number(let d): d.map(Self.number) ?? "null"
        case .objects(let keys, let items):
            "[" + items.map { item in
                "{" + zip(keys, item).map { JSON.string($0) + ":" + json($1) }.joined(separator: ",") + "}"
            }.joined(separator: ",") + "]"
        }
    }

    /// A decimal as JSON and CSV write it: six significant digits, no exponent between 1e-6 and 1e15.
    package static func number(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == 0 { return "0" }
        var magnitude = 0
        var m = abs(d)
        while m >= 10 { m /= 10; magnitude += 1 }
        while m < 1 { m *= 10; magnitude -= 1 }
        let decimals = max(0, 5 - magnitude)
        if decimals == 0 || magnitude > 15 {
            return magnitude > 15 ? String(d) : String(Int64(d.rounded()))
        }
        if magnitude < -6 { return String(d) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(d) * scale).rounded()
        var digits = String(Int64(scaled))
        if digits.count <= decimals { digits = String(repeating: "0", count: decimals - digits.count + 1) + digits }
        var text = String(digits.dropLast(decimals)) + "." + String(digits.suffix(decimals))
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return (d < 0 ? "-" : "") + text
    }

    static func decimal(_ d: Double) -> String {
        let ms = Int64((d * 1000).rounded())
        let frac = String(ms % 1000)
        return "\(ms / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }

    // MARK: CSV

    func renderCSV() -> String {
        var out = csvHeader()
        for row in rows { out += csvRow(row) }
        return out
    }

    func csvHeader() -> String {
        columns.map { CSV.field($0.key) }.joined(separator: ",") + "\r\n"
    }

    func csvRow(_ row: [Cell]) -> String {
        row.map { cell -> String in
            switch cell {
            case .int(let v), .bytes(let v), .count(let v), .named(let v, _): String(v)
            case .string(let s), .json(let s), .label(let s, _): CSV.field(s ?? "")
            case .strings(let a): CSV.field(a.joined(separator: " "))
            case .ints(let a), .namedList(let a, _): a.map(String.init).joined(separator: " ")
            case .time(let t): t.map { Timestamp.formatRFC3339($0) } ?? ""
            case .bool(let b): b ? "true" : "false"
            case .seconds(let d): Self.decimal(d)
            case .number(let d): d.map(Self.number) ?? ""
            case .objects(_, let items): CSV.field(Self.itemsText(items))
            }
        }.joined(separator: ",") + "\r\n"
    }

    /// Objects as one line of text: each object's values joined `a..b:c`, objects separated by spaces.
    static func itemsText(_ items: [[Cell]]) -> String {
        items.map { item in
            item.enumerated().map { i, c in
                let text: String = switch c {
                case .time(let t): t.map { Timestamp.formatRFC3339(Timestamp.bucketStart($0, step: Timestamp.nanosPerSecond)) } ?? "-"
                default: human(c)
                }
                return (i == 0 ? "" : i == 1 ? ".." : ":") + text
            }.joined()
        }.joined(separator: " ")
    }

    // MARK: Table

    func renderTable(wide: Bool) -> String {
        // The table's columns: shown ones, `tableOrder` first; a column's nil cells show its fallback's.
        let key = Dictionary(columns.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { a, _ in a })
        var shown = columns.indices.filter { columns[$0].inTable && (wide || !columns[$0].wide) }
        let first = tableOrder.compactMap { key[$0] }.filter(shown.contains)
        shown = first + shown.filter { !first.contains($0) }
        let units = shown.map { i in Self.byteUnit(rows.map { $0[i] }) }
        let cells: [[String]] = rows.map { row in
            shown.enumerated().map { n, i in
                var cell = row[i]
                if case .string(nil) = cell, let f = columns[i].fallback.flatMap({ key[$0] }), !wide { cell = row[f] }
                var text = Self.human(cell, unit: units[n])
                if !wide, let max = columns[i].maxWidth, text.count > max { text = String(text.prefix(max - 1)) + "…" }
                return text
            }
        }
        let headers = shown.map { columns[$0].header }
        let rightAligned: [Bool] = shown.map { i in
            rows.first.map { row in
                switch row[i] {
                case .int, .bytes, .count, .seconds, .number: true
                default: false
                }
            } ?? false
        }
        var widths = headers.map(\.count)
        for row in cells {
            for (i, s) in row.enumerated() { widths[i] = max(widths[i], s.count) }
        }
        func line(_ items: [String]) -> String {
            var parts: [String] = []
            for (i, s) in items.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - s.count)
                let last = i == items.count - 1
                parts.append(rightAligned[i] ? pad + s : (last ? s : s + pad))
            }
            return parts.joined(separator: "  ")
        }
        var out = line(headers) + "\n"
        for row in cells { out += line(row) + "\n" }
        return out
    }

    /// The one IEC unit a column of byte counts is shown in (the largest value's), so that its numbers line up.
    static func byteUnit(_ cells: [Cell]) -> Int? {
        var largest: Int64 = -1
        for c in cells { if case .bytes(let v) = c { largest = max(largest, v == .min ? .max : abs(v)) } }
        return largest < 0 ? nil : Units.unit(of: largest)
    }

    /// Text as one table cell: control characters would break the table's lines or restyle
    /// the terminal, so they are shown escaped (`\n`, `\t`, `\x1b`, `\u{2028}`); machine formats keep the exact value.
    static func oneLine(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            guard needsEscape(u) else {
                out.append(u)
                continue
            }
            let text: String
            switch u {
            case "\n": text = "\\n"
            case "\r": text = "\\r"
            case "\t": text = "\\t"
            default:
                let hex = String(u.value, radix: 16)
                text = u.value < 0x80 ? "\\x" + (hex.count < 2 ? "0" : "") + hex : "\\u{" + hex + "}"
            }
            out.append(contentsOf: text.unicodeScalars)
        }
        return String(out)
    }

    /// C0 and C1 controls, DEL, line and paragraph separators, and bidirectional overrides
    /// (which would reorder the rest of a row on screen).
    @inline(__always)
    static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return v < 0x20 || (v >= 0x7F && v <= 0x9F) || v == 0x2028 || v == 0x2029
            || (v >= 0x202A && v <= 0x202E) || (v >= 0x2066 && v <= 0x2069)
    }

    static func human(_ cell: Cell, unit: Int? = nil) -> String {
        switch cell {
        case .int(let v): String(v)
        case .bytes(let v): unit.map { Units.iec(v, unit: $0) } ?? Units.iec(v)
        case .named(_, let name): oneLine(name)
        case .namedList(_, let names): names.isEmpty ? "-" : names.map(oneLine).joined(separator: ",")
        case .count(let v): Units.grouped(v)
        case .string(let s): s.map(oneLine) ?? "-"
        // A JSON string as its text: a policy file reads as itself, not as an escaped literal.
        case .json(let s): s.map { oneLine(JSONText.unquoted($0) ?? $0) } ?? "-"
        case .label(let s, let label): oneLine(s ?? label)
        case .strings(let a): a.isEmpty ? "-" : a.map(oneLine).joined(separator: ",")
        case .ints(let a): a.isEmpty ? "-" : a.map(String.init).joined(separator: ",")
        case .time(let t): t.map { Timestamp.formatRFC3339(Timestamp.bucketStart($0, step: Timestamp.nanosPerSecond)) } ?? "-"
        case .bool(let b): b ? "yes" : "no"
        case .seconds(let d): decimal(d) + "s"
        case .number(let d): d.map(Self.number) ?? "-"
        case .objects(_, let items): items.isEmpty ? "-" : itemsText(items)
        }
    }
}

/// Number formatting for people.
package enum Units {
    /// `1.2 MiB`, `512 B`: IEC binary units, one decimal below 10 and none above.
    package static func iec(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let text = abs(value) < 10 ? String(format1: value) : String(Int((value).rounded()))
        return "\(text) \(units[unit])"
    }

    /// The IEC unit (0 = B, 1 = KiB, …) `iec` would show `bytes` in.
    package static func unit(of bytes: Int64) -> Int {
        var value = Double(bytes.magnitude)
        var unit = 0
        while value >= 1024, unit < 6 {
            value /= 1024
            unit += 1
        }
        return unit
    }

    /// `bytes` in a given unit, one decimal above bytes, thousands grouped: `0.3 MiB`, `1,023.9 MiB`.
    package static func iec(_ bytes: Int64, unit: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        guard unit > 0 else { return grouped(bytes) + " B" }
        var scale = 1.0
        for _ in 0..<unit { scale *= 1024 }
        let tenths = Int64((Double(bytes) / scale * 10).rounded())
        return grouped(tenths / 10) + "." + String((tenths % 10).magnitude) + " " + units[unit]
    }

    /// `1,234,567`
    package static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return value < 0 ? "-" + out : out
    }
}

extension String {
    /// One decimal place, without Foundation.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(abs(tenths % 10))"
    }
}

/// JSON string escaping.
package enum JSON {
    package static func string(_ s: String) -> String { JSONText.quoted(s) }
}

/// CSV quoting (RFC 4180): fields with a comma, quote or line break are quoted.
package enum CSV {
    package static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences("\"", "\"\"") + "\""
    }
}

extension String {
    func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
