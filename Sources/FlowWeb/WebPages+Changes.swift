import FlowCharts
import FlowFormat
import FlowModel
import FlowQuery
import FlowStore

/// `/changes`: Tailscale's configuration audit log over the window (SPEC §13), and the markers
/// the series charts draw for it.
extension WebPages {
    /// Changes the page lists unless `limit` asks for another number.
    static let changesShown = 500

    func changes(_ c: inout PageContext) throws -> PageModel {
        try c.check(allowed: ["from", "to", "actor", "target", "type", "where", "limit"])
        let w = try c.resolveWindow()
        let limitText = c.query["limit"] ?? String(Self.changesShown)
        guard let limit = Int(limitText), limit > 0 else { throw QueryError("limit '\(limitText)' must be a positive whole number") }
        let query = ChangeQuery(window: w, actor: c.query["actor"], target: c.query["target"], type: c.query["type"], limit: limit,
                                filter: try QuestionText.filter(c.query["where"]))
        let report = try engine.changes(query)
        var model = c.frame(heading: "Configuration changes", title: "Changes")
        model.lead = "Who changed what in the tailnet, oldest first: policy edits, node approvals and removals, tags, keys, DNS. "
            + "The same changes are marked on the traffic charts (hover a marker for the actor and the action)."
        model.picker = c.picker(fields: Self.pickerFields(.changes), defaults: ["limit": String(Self.changesShown)],
                                placeholders: ["where": "node = db-1 or tag = prod"])
        if report.rows.isEmpty { model.notice = [c.notice, report.notes.first].compactMap { $0 }.joined(separator: " ") }
        var own: [(String, String)] = [("from", Timestamp.formatRFC3339(w.from)), ("to", Timestamp.formatRFC3339(w.to))]
        for name in ["actor", "target", "type", "where"] { if let v = c.query[name] { own.append((name, v)) } }
        own.append(("limit", String(limit)))
        let base = PageQuery(own)
        let command = (["tailflow", "changes"] + own.flatMap { ["--" + $0.0, PageContext.shellQuoted($0.1)] }).joined(separator: " ")
        let links = c
        let shown = report.rows.count
        model.sections = [
            .init(title: report.cut.map { "\(shown) of \($0.total) changes" } ?? "\(shown) change\(shown == 1 ? "" : "s")", wide: true,
                  // IDs and display names stay in the downloads: the names link to the nodes, and the page fits.
                  table: Self.changeTable(report, hidden: ["actorId", "actorName", "targetId"], links: links),
                  downloads: [.init(label: "JSON", href: base.url("/api/v1/changes")),
                              .init(label: "CSV", href: base.with(["format": "csv"]).url("/api/v1/changes")),
                              .init(label: "NDJSON", href: base.with(["format": "ndjson"]).url("/api/v1/changes"))],
                  command: command),
        ]
        return model
    }

    /// A table of changes whose node targets link to their endpoint pages.
    static func changeTable(_ report: Report, hidden: Set<String>, links: PageContext) -> AnswerTable {
        AnswerTable(answer: "changes", report: report, hidden: hidden, link: { key, row in
            guard key == "targetName" || key == "targetId", case .string("NODE")? = row["targetType"],
                  case .string(let id?)? = row["targetId"] else { return nil }
            return links.endpointLink(id)
        })
    }

    /// The configuration changes beside an answer over `window` (the coverage of `/health`, the
    /// "what is new" of an endpoint): who changed what, that may explain it, and a link to the
    /// `/changes` page of the window. Said in one line when there are none.
    ///
    /// - parameter endpoint: the endpoint whose node's changes (and the tailnet-wide ones) these are;
    ///   nil for every change of the window. Chooses the downloads: `scope?changes=true` or `changes`.
    static func changesAside(_ changes: [ConfigChange], window: TimeWindow, endpoint: String? = nil, links: PageContext) -> PageModel.Aside {
        let span = HTMLReport.describe(window)
        let base = PageQuery([("from", Timestamp.formatRFC3339(window.from)), ("to", Timestamp.formatRFC3339(window.to))])
        guard !changes.isEmpty else { return PageModel.Aside(title: "No configuration changes from \(span).") }
        let n = changes.count
        let api = endpoint.map { base.with(["endpoint": $0, "changes": "true"]) } ?? base
        let path = endpoint == nil ? "/api/v1/changes" : "/api/v1/scope"
        return PageModel.Aside(title: "\(n) configuration change\(n == 1 ? "" : "s") from \(span) that may explain this",
                               table: changeTable(.changes(changes), hidden: ["origin", "actorId", "actorName", "targetId", "details"], links: links),
                               more: [.init(label: "the changes page of this window →", href: base.url("/changes"))],
                               downloads: [.init(label: "JSON", href: api.url(path)), .init(label: "CSV", href: api.with(["format": "csv"]).url(path))])
    }
}
