import FlowCharts
import FlowFormat
import FlowModel
import FlowQuery
import FlowStore

/// `/flows`, `/nodes` and `/health`: the log view, the node list, what arrived.
extension WebPages {
    /// Coverage rows `/health` lists unless `nodes` asks for more (worst first).
    static let coverageShown = 25

    func flows(_ c: inout PageContext) throws -> PageModel {
        try c.check(allowed: Self.windowAndFilters.union(["match", "limit", "after"]))
        _ = try c.resolveWindow()
        let shownRows = "100"
        let own: [String: String?] = ["match": c.query["match"], "limit": c.query["limit"] ?? shownRows, "after": c.query["after"]]
        guard case .flows(let o, let match, let n, let after) = try c.question("flows", own) else { throw QueryError("internal: not flows") }
        let rows = try engine.flows(o, match: match, limit: n, after: after)
        var model = c.frame(heading: "Flows", title: "Flows")
        model.lead = "The raw flow rows, newest first, as each node reported them: tx went from src to dst, rx came back."
            + (match.map { " Rows matching “\($0)” in a node ID, name, user, tag, address or port." } ?? "")
        model.picker = c.picker(fields: ["from", "to", "match", "kind", "proto", "endpoint", "tag", "user", "where", "limit"], defaults: ["limit": shownRows])
        if rows.isEmpty { model.notice = [c.notice, "No flows in this window.", try c.storedRange()].compactMap { $0 }.joined(separator: " ") }
        var more: [PageModel.Link] = []
        if rows.count == n, let last = rows.last {
            more.append(.init(label: "older →", href: c.query.with(["after": last.cursor]).url(c.path)))
        }
        if after != nil { more.append(.init(label: "newest", href: c.query.with(["after": nil]).url(c.path))) }
        let links = c
        model.sections = [
            .init(title: rows.count == n ? "\(n) flows (more are older)" : "\(rows.count) flows", wide: true,
                  table: AnswerTable(answer: "flows", report: .flows(rows), link: { links.tableLink($0, $1) }),
                  downloads: c.downloads("flows", own, ndjson: true), command: c.command("flows", own), more: more),
        ]
        return model
    }

    func nodes(_ c: inout PageContext) throws -> PageModel {
        try c.check(allowed: [])
        let nodes = try c.nodes()
        var model = c.frame(heading: "Nodes", title: "Nodes")
        let reporters = nodes.filter(\.isReporter).count
        model.lead = "\(nodes.count) nodes known from their reports and device lists; \(reporters) report their own traffic. A node opens its endpoint page."
        let links = c
        model.sections = [
            .init(title: "Known nodes", wide: true,
                  table: AnswerTable(answer: "nodes", report: .nodes(nodes), link: { links.tableLink($0, $1) }),
                  downloads: c.downloads("nodes", filters: false), command: "tailflow nodes"),
        ]
        return model
    }

    func healthPage(_ c: inout PageContext) throws -> PageModel {
        try c.check(allowed: ["from", "to", "gap", "nodes"])
        let nodes = try c.nodes()
        // Coverage over the last hour by default (or the hour up to the latest stored traffic), or the window asked for.
        var w = try TimeWindow.parse(from: c.query["from"] ?? "-1h", to: c.query["to"] ?? "now", now: c.now)
        if c.query["from"] == nil, c.query["to"] == nil, let latest = nodes.compactMap(\.lastSeen).max(), latest < w.from {
            let hour: Int64 = 3_600_000_000_000
            w = TimeWindow(from: (latest / hour) * hour, to: (latest / hour + 1) * hour)
        }
        c.window = w
        let coverageOwn: [String: String?] = ["gap": c.query["gap"]]
        var coverage = try engine.answer(try c.question("coverage", coverageOwn, filters: false))
        let untrusted = coverage.rows.filter { row in
            guard let i = coverage.columns.firstIndex(where: { $0.key == "verdict" }) else { return false }
            return row[i] != .string("ok")
        }.count
        // The worst nodes only, by default (a tailnet has hundreds): the rest one link away.
        let allNodes = coverage.rows.count
        coverage.rows = Array(coverage.rows.prefix(try Self.shown(c.query["nodes"], parameter: "nodes", default: Self.coverageShown)))
        let rejects = try engine.store.rejects(limit: 50)
        var model = c.frame(heading: "Health", title: "Health")
        model.lead = (try c.storedRange() ?? "") + " What arrived, from whom and when last; what was rejected; the writer's state."
        let reporters = nodes.filter(\.isReporter).sorted { ($0.lastSeen ?? 0, $1.nodeID) > ($1.lastSeen ?? 0, $0.nodeID) }
        let arrivals = Report(
            columns: [Column("nodeId", "NODE ID"), Column("name", "NAME"), Column("firstSeen", "FIRST SEEN"), Column("lastSeen", "LAST SEEN")],
            rows: reporters.map { [.string($0.nodeID), .string($0.name), .time($0.firstSeen), .time($0.lastSeen)] })
        let rejected = Report(
            columns: [Column("recorded", "RECORDED"), Column("source", "SOURCE"), Column("line", "LINE"), Column("offset", "OFFSET"), Column("reason", "REASON")],
            rows: rejects.map { r in
                [.time(r.recorded), .string(r.location.source), r.location.line.map { .int(Int64($0)) } ?? .string(nil), .int(r.location.offset), .string(r.reason)]
            })
        let state = health()
        let writer = Report(columns: [Column("field", "FIELD"), Column("label", "WHAT"), Column("value", "VALUE")],
                            rows: state.map { [.string($0.field), .string($0.label), .string($0.value)] })
        let links = c
        let coverageLead = "Per node over \(HTMLReport.describe(w)): the share of the window its messages cover, periods it sent nothing while "
            + "its peers saw traffic with it (gaps), its clock skew, how much less it reports than its peers (asymmetry). Worst first; "
            + (untrusted == 0 ? "every node is ok." : "\(untrusted) of \(allNodes) nodes are not ok.")
            + (allNodes > coverage.rows.count ? " The \(coverage.rows.count) worst are listed." : "")
        var windows: [PageModel.Link] = []
        if allNodes > coverage.rows.count {
            windows.append(.init(label: "all \(allNodes) nodes →", href: c.query.with(["nodes": String(allNodes)]).url(c.path)))
        }
        for (label, span) in [("last hour", "-1h"), ("last 24 hours", "-24h")] {
            windows.append(.init(label: label, href: PageQuery([("from", span)]).url("/health")))
        }
        model.sections = [
            .init(title: "Can these answers be trusted? Coverage per node", wide: true, lead: coverageLead,
                  // The CLI's wide columns (node ID, asymmetry peer) stay in the downloads: the name links to the node,
                  // and the table fits a 1400-pixel screen without scrolling sideways.
                  table: AnswerTable(answer: "coverage", report: coverage, hidden: ["node", "asymmetryPeer"], link: { key, row in
                      key == "name" ? links.tableLink("nodeId", ["nodeId": row["node"] ?? .string(nil)]) : nil
                  }),
                  downloads: c.downloads("coverage", coverageOwn, filters: false), command: c.command("coverage", coverageOwn, filters: false),
                  more: windows, note: coverage.rows.isEmpty ? "No node reported or was reported on in this window." : nil,
                  changes: Self.changesAside(try engine.changeRecords(ChangeQuery(window: w)), window: w, links: links)),
            .init(title: "Reporting nodes, latest first", wide: true,
                  table: AnswerTable(answer: "health", report: arrivals, link: { key, row in key == "name" ? links.tableLink("nodeId", row) : links.tableLink(key, row) }),
                  command: "tailflow nodes", more: [.init(label: "every node, as JSON", href: "/api/v1/nodes")]),
            .init(title: "Rejected input, newest first", wide: true,
                  table: AnswerTable(answer: "rejects", report: rejected), command: "tailflow rejects",
                  note: rejects.isEmpty ? "Nothing was rejected." : nil),
            .init(title: "The server", wide: true,
                  table: AnswerTable(answer: "writer", report: writer),
                  note: state.isEmpty ? "This server reports no writer state." : "Also as Prometheus metrics at /metrics."),
        ]
        return model
    }
}
