import FlowCharts
import FlowFormat
import FlowModel
import FlowQuery
import FlowStore

/// `/changes`: Tailscale's configuration audit log over the window (SPEC §13), and the markers
/// the series charts draw for it.
extension WebPages {
    func changes(_ c: inout PageContext) throws -> PageModel {
        try c.check(allowed: ["from", "to", "actor", "target", "type", "limit"])
        let w = try c.resolveWindow()
        let limitText = c.query["limit"] ?? "500"
        guard let limit = Int(limitText), limit > 0 else { throw QueryError("limit '\(limitText)' must be a positive whole number") }
        let query = ChangeQuery(window: w, actor: c.query["actor"], target: c.query["target"], type: c.query["type"], limit: limit)
        let report = try engine.changes(query)
        var model = c.frame(heading: "Configuration changes", title: "Changes")
        model.lead = "Who changed what in the tailnet, oldest first: policy edits, node approvals and removals, tags, keys, DNS. "
            + "The same changes are marked on the traffic charts (hover a marker for the actor and the action)."
        model.picker = c.picker(fields: ["from", "to", "actor", "target", "type", "limit"])
        if report.rows.isEmpty { model.notice = [c.notice, report.notes.first].compactMap { $0 }.joined(separator: " ") }
        var own: [(String, String)] = [("from", Timestamp.formatRFC3339(w.from)), ("to", Timestamp.formatRFC3339(w.to))]
        for name in ["actor", "target", "type"] { if let v = c.query[name] { own.append((name, v)) } }
        own.append(("limit", String(limit)))
        let base = PageQuery(own)
        let command = (["tailflow", "changes"] + own.flatMap { ["--" + $0.0, PageContext.shellQuoted($0.1)] }).joined(separator: " ")
        let links = c
        let shown = report.rows.count
        model.sections = [
            .init(title: report.cut.map { "\(shown) of \($0.total) changes" } ?? "\(shown) change\(shown == 1 ? "" : "s")", wide: true,
                  table: AnswerTable(answer: "changes", report: report, link: { key, row in
                      guard key == "targetName" || key == "targetId", case .string("NODE")? = row["targetType"],
                            case .string(let id?)? = row["targetId"] else { return nil }
                      return links.endpointLink(id)
                  }),
                  downloads: [.init(label: "JSON", href: base.url("/api/v1/changes")),
                              .init(label: "CSV", href: base.with(["format": "csv"]).url("/api/v1/changes")),
                              .init(label: "NDJSON", href: base.with(["format": "ndjson"]).url("/api/v1/changes"))],
                  command: command),
        ]
        return model
    }

    /// The markers of `changes` on a series chart: the time, with who did what to which target as the hover text.
    static func markers(_ changes: [ConfigChange]) -> [StackedChart.Marker] {
        changes.map { c in
            var who = c.actorLogin ?? c.actorName ?? c.actorID ?? "unknown actor"
            if let name = c.actorName, c.actorLogin != nil, name != who { who += " (\(name))" }
            var what = c.action + (c.property.map { " " + $0 } ?? "")
            if let target = c.targetName ?? c.targetID { what += " on " + target }
            var lines = [TimeTicks.describe(c.time), "\(who): \(what)"]
            if c.old != nil || c.new != nil { lines.append(Chart.clip(c.old ?? "–", 60) + " → " + Chart.clip(c.new ?? "–", 60)) }
            if let error = c.error { lines.append("failed: " + error) }
            return StackedChart.Marker(time: c.time, label: lines.joined(separator: "\n"))
        }
    }
}
