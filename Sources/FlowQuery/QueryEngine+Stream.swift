public import FlowFormat

extension QueryEngine {
    /// Writes a question's answer in `format` as it is read: raw flow rows (`flows`,
    /// `scope --flows`) one at a time in the machine formats, so an answer of any size needs
    /// little memory; an aligned table, and the other answers (bounded by the store's
    /// endpoints and buckets), whole. The bytes are those of `answer(question).render(format)`.
    ///
    /// For example:
    /// ```swift
    /// try engine.answer(.flows(options, match: nil, limit: 10_000_000, after: nil), format: .ndjson) { print($0, terminator: "") }
    /// ```
    ///
    /// - parameter write: called with consecutive pieces of the text; nothing before the first row, so
    ///   an error raised before any row leaves the output empty.
    /// - throws: ``QueryError`` for a question that cannot be answered as asked.
    public func answer(_ question: Question, format: OutputFormat, write: (String) throws -> Void) throws {
        switch question {
        case .flows(let o, let match, let limit, let after) where format != .table:
            try streamFlows(o, match: match, limit: limit, after: after, format: format, write: write)
        case .scopeFlows(let o, let limit) where format != .table:
            try streamFlows(o, match: nil, limit: limit, after: nil, format: format, write: write)
        default:
            try write(answer(question).render(format))
        }
    }

    func streamFlows(_ o: QueryOptions, match: String?, limit: Int, after: String?, format: OutputFormat,
                     write: (String) throws -> Void) throws {
        var stream = ReportStream(columns: Report.flowColumns, format: format)
        try flows(o, match: match, limit: limit, after: after) { try write(stream.row(Report.flowCells($0))) }
        try write(stream.end())
    }
}
