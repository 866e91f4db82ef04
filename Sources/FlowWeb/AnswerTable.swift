import FlowFormat
import FlowModel
import Mustache

/// An answer as an HTML table for people and machines: `<table data-answer="top-endpoint">`,
/// each cell with `data-field` (the JSON field name) and `data-value` (the exact value, as
/// the JSON answer has it), and a human form as its text. Rendered by the `table` template,
/// which escapes every value.
struct AnswerTable: Sendable {
    struct Column: Sendable {
        var header: String
        var numeric: Bool
    }

    struct Cell: Sendable {
        var field: String
        /// The exact value: integers in decimal, times in RFC 3339, lists as JSON; nil for null.
        var value: String?
        var hasValue: Bool
        var text: String
        var numeric: Bool
        var href: String?
        /// The full value when the text shortens it (a node's full name).
        var title: String?
        /// A long value in full, one click away (`<details>`): a policy file, a long list.
        var full: String?
    }

    struct Row: Sendable {
        var cells: [Cell]
    }

    var answer: String
    var columns: [Column]
    var rows: [Row]
    /// Said under the table when it has no rows.
    var empty: Bool

    /// Builds the table of a report; `link` gives a cell's target from its column key and the row's cells by key.
    ///
    /// - parameter hidden: column keys left out of the human table (they stay in the JSON and CSV).
    init(answer: String, report: Report, hidden: Set<String> = [],
                link: (_ key: String, _ row: [String: FlowFormat.Cell]) -> String? = { _, _ in nil }) {
        self.answer = answer
        let shown = report.columns.indices.filter { report.columns[$0].inTable && !hidden.contains(report.columns[$0].key) }
        let numericColumn = shown.map { i in report.rows.first.map { Self.isNumeric($0[i]) } ?? false }
        columns = zip(shown, numericColumn).map { i, numeric in Column(header: report.columns[i].header, numeric: numeric) }
        rows = report.rows.map { row in
            var byKey: [String: FlowFormat.Cell] = [:]
            for (column, cell) in zip(report.columns, row) { byKey[column.key] = cell }
            return Row(cells: shown.map { i in
                let key = report.columns[i].key
                let value = Self.exact(row[i])
                var text = Self.human(row[i])
                // A missing value shows its column's fallback (a node without a name: its ID), as the CLI's table does.
                if case .string(nil) = row[i], let fallback = report.columns[i].fallback, let other = byKey[fallback] {
                    text = Self.human(other)
                }
                var title: String?
                var full: String?
                if case .json(let json?) = row[i] { (text, full) = Self.jsonText(json) }
                // Node names show their first label (the tailnet's suffix is the same on every row); the full name on hover.
                if key == "name" || key.hasSuffix("Name"), case .string(let name?) = row[i], let dot = name.firstIndex(of: "."), dot != name.startIndex {
                    text = String(name[..<dot])
                    title = name
                }
                return Cell(field: key, value: value, hasValue: value != nil, text: text, numeric: Self.isNumeric(row[i]),
                            href: link(key, byKey), title: title, full: full)
            })
        }
        empty = rows.isEmpty
    }

    /// Characters of a JSON value shown in a cell before the rest folds away.
    static let jsonShown = 40

    /// A JSON value (a change's `old` and `new`) for people: a string as its text, not as an
    /// escaped literal; a long value or one that is itself a JSON document (a policy file) cut to
    /// ``jsonShown`` characters, in full and indented behind a click.
    static func jsonText(_ json: String) -> (text: String, full: String?) {
        let value = JSONText.unquoted(json) ?? json
        let line = String(value.map { $0 == "\n" || $0 == "\r" || $0 == "\t" ? " " : $0 })
        let first = value.first { !$0.isWhitespace }
        let document = first == "{" || first == "["
        guard line.count > jsonShown || (document && value.contains("\n")) else { return (line, nil) }
        return (String(line.prefix(jsonShown - 1)) + "…", document ? JSONText.pretty(value) : value)
    }

    static func isNumeric(_ cell: FlowFormat.Cell) -> Bool {
        switch cell {
        case .int, .bytes, .count, .seconds, .number: true
        default: false
        }
    }

    /// The value as the JSON answer holds it (strings unquoted).
    static func exact(_ cell: FlowFormat.Cell) -> String? {
        switch cell {
        case .int(let v), .bytes(let v), .count(let v), .named(let v, _): String(v)
        case .string(let s), .json(let s), .label(let s, _): s
        case .strings(let a): "[" + a.map(JSON.string).joined(separator: ",") + "]"
        case .ints(let a), .namedList(let a, _): "[" + a.map(String.init).joined(separator: ",") + "]"
        case .time(let t): t.map { Timestamp.formatRFC3339($0) }
        case .bool(let b): b ? "true" : "false"
        case .seconds(let d): String(d)
        case .number(let d): d.map(Report.number)
        case .objects: Report.jsonValue(cell)
        }
    }

    /// The value for people: IEC units for bytes, grouped digits for counts.
    static func human(_ cell: FlowFormat.Cell) -> String {
        switch cell {
        case .int(let v): String(v)
        case .bytes(let v): Units.iec(v)
        case .count(let v): Units.grouped(v)
        case .string(let s), .json(let s): s ?? "–"
        case .label(let s, let label): s ?? label
        case .strings(let a): a.isEmpty ? "–" : a.joined(separator: ", ")
        case .ints(let a): a.isEmpty ? "–" : a.map(String.init).joined(separator: ", ")
        case .named(_, let name): name
        case .namedList(_, let names): names.isEmpty ? "–" : names.joined(separator: ", ")
        // To the second for people; data-value keeps the nanoseconds.
        case .time(let t): t.map { Timestamp.formatRFC3339($0 - (($0 % 1_000_000_000) + 1_000_000_000) % 1_000_000_000).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "") } ?? "–"
        case .bool(let b): b ? "yes" : "no"
        case .seconds(let d): String(d) + " s"
        case .number(let d): d.map(Report.number) ?? "–"
        case .objects(_, let items): items.isEmpty ? "–" : items.map { item in item.map(human).joined(separator: " ") }.joined(separator: "; ")
        }
    }
}

extension String {
    func replacingOccurrences(of target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}

/// Cells are the most looked-up objects of a page: answer by name instead of by reflection.
extension AnswerTable.Cell: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "field": field
        case "value": value
        case "hasValue": hasValue
        case "text": text
        case "numeric": numeric
        case "href": href
        case "title": title
        case "full": full
        default: nil
        }
    }
}
