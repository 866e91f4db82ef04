/// A report written row by row in a machine format, byte for byte as ``Report/render(_:)``
/// writes it whole: for answers too large to hold (raw flow rows).
///
/// Nothing is written before the first row or the end, so an error raised before any row
/// leaves the output empty.
///
/// For example:
/// ```swift
/// var stream = ReportStream(columns: columns, format: .ndjson)
/// for row in rows { write(stream.row(row)) }
/// write(stream.end())
/// ```
package struct ReportStream: Sendable {
    package let report: Report
    package let format: OutputFormat
    /// Rows written so far.
    package private(set) var count = 0

    /// - parameter format: `.json`, `.csv` or `.ndjson` (an aligned table needs every row first).
    package init(columns: [Column], format: OutputFormat) {
        precondition(format != .table, "an aligned table cannot be streamed")
        report = Report(columns: columns)
        self.format = format
    }

    /// The text of one more row (with the header or the opening bracket before the first).
    package mutating func row(_ cells: [Cell]) -> String {
        defer { count += 1 }
        switch format {
        case .json: return (count == 0 ? "[\n  " : ",\n  ") + report.jsonObject(cells, pretty: true)
        case .csv: return (count == 0 ? report.csvHeader() : "") + report.csvRow(cells)
        case .ndjson, .table: return report.jsonObject(cells, pretty: false) + "\n"
        }
    }

    /// The text that ends the report.
    package func end() -> String {
        switch format {
        case .json: count == 0 ? "[]\n" : "\n]\n"
        case .csv: count == 0 ? report.csvHeader() : ""
        case .ndjson, .table: ""
        }
    }
}
