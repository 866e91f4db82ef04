import FlowCharts
import FlowFormat
import FlowModel
import FlowQuery
import FlowStore

/// `/endpoint/{E}` and `/pair/{A}/{B}`: one endpoint's scope, one pair's conversation.
extension WebPages {
    /// The printed key of an endpoint argument (a name becomes its node ID).
    func canonical(_ argument: String, _ options: QueryOptions) throws -> String {
        try engine.endpointKey(argument, options)
    }

    /// Peers the endpoint page lists unless `peers` asks for more: the busiest, by bytes.
    static let peersShown = 25
    /// Raw flows the endpoint page lists unless `limit` asks for more; older ones page by `after`.
    static let flowsShown = 25

    /// The page's `peers`: how many peers to list (default ``peersShown``).
    static func peers(_ text: String?) throws -> Int {
        try shown(text, parameter: "peers", default: peersShown)
    }

    /// A page's count parameter (`peers`, `nodes`): how many rows of a long table to list.
    static func shown(_ text: String?, parameter: String, default shown: Int) throws -> Int {
        guard let text else { return shown }
        guard let n = Int(text), n > 0 else { throw QueryError("\(parameter) '\(text)' must be a positive whole number") }
        return n
    }

    func endpoint(_ e: String, _ c: inout PageContext) throws -> PageModel {
        try c.check(allowed: Self.windowAndFilters.union(["step", "limit", "after", "peers"]).subtracting(["endpoint"]))
        let w = try c.resolveWindow()
        let step = try c.step(w)
        let stepText = DurationText.format(step)
        let rollupOwn: [String: String?] = ["endpoint": e, "step": stepText, "group-by": "src"]
        let rollupQuestion = try c.question("rollup", rollupOwn)
        guard case .rollup(let o, _, _) = rollupQuestion else { throw QueryError("internal: not a rollup") }
        let me = try canonical(e, o)
        // The machine table is the endpoint's series (one row per bucket); the chart's split by
        // direction comes from the rollup by source, which is a download (it has a row per peer and bucket).
        // Both are the endpoint's edges per step: one read.
        let seriesOwn: [String: String?] = ["endpoint": e, "step": stepText]
        let scopeOwn: [String: String?] = ["endpoint": e]
        let answers = try engine.answers([rollupQuestion, try c.question("series", seriesOwn), try c.question("scope", scopeOwn)])
        guard case .rollup(let rows) = answers[0], case .series(let points) = answers[1], case .scope(let peers) = answers[2] else {
            throw QueryError("internal: answers out of order")
        }
        let series = Report.series(points)
        let out = rows.filter { $0.src == me }, into = rows.filter { $0.src != me }
        func layer(_ name: String, _ part: [RollupRow]) -> [RollupRow] {
            part.map { row in
                var r = row
                (r.kind, r.src) = (name, nil)
                return r
            }
        }
        var chart = try AnswerCharts.rollup(layer("sent", out) + layer("received", into), groupBy: [.kind], window: w, step: step)
        chart.layers = chart.layers.sorted { $0.name > $1.name }  // sent below, received above
        for i in chart.layers.indices { chart.layers[i].color = chart.layers[i].name == "sent" ? Palette.color(0) : Palette.color(2) }
        chart.markers = AnswerCharts.markers(try engine.chartChanges(window: w, subject: .endpoint(e)))

        var scope = Report.scope(peers)
        // The busiest peers only, by default (a busy node has hundreds): the rest one link away.
        let shownPeers = try Self.peers(c.query["peers"])
        let allPeers = scope.rows.count
        scope.rows = Array(scope.rows.prefix(shownPeers))
        let limit = c.query["limit"] ?? String(Self.flowsShown)
        let flowsOwn: [String: String?] = ["endpoint": e, "limit": limit, "after": c.query["after"]]
        guard case .flows(let fo, _, let n, let after) = try c.question("flows", flowsOwn) else { throw QueryError("internal: not flows") }
        let flows = try engine.flows(fo, limit: n, after: after)

        let node = try c.nodes().first { $0.nodeID == me }
        let name = node?.name.map { AnswerCharts.label(me, name: $0) } ?? me
        var model = c.frame(heading: name == me ? me : "\(name) (\(me))", title: name)
        var facts: [String] = []
        if let node {
            if let full = node.name { facts.append(full) }
            if let user = node.user { facts.append("user \(user)") }
            if !node.tags.isEmpty { facts.append("tags " + node.tags.joined(separator: ", ")) }
            if let os = node.os { facts.append(os) }
            if !node.addresses.isEmpty { facts.append(node.addresses.joined(separator: ", ")) }
            facts.append(node.isReporter ? "reports its traffic" : "does not report (seen from its peers only)")
        } else {
            facts.append(me == "*" ? "addresses removed by anonymisation" : "an address that is not a tailnet node")
        }
        model.lead = facts.joined(separator: " · ")
        model.picker = c.picker(fields: Self.pickerFields(c.route))
        let links = c
        let cell = { (key: String, row: [String: FlowFormat.Cell]) -> String? in
            if key == "peer" || key == "peerName", case .string(let peer?)? = row["peer"] { return links.pairLink(me, peer) }
            return links.tableLink(key, row)
        }
        var peerLinks: [PageModel.Link] = []
        var peersLead = "sent: from \(name) to the peer; received: from the peer. A peer opens the pair's page."
        if allPeers > scope.rows.count {
            peersLead = "The \(scope.rows.count) busiest of \(allPeers) peers, by bytes. " + peersLead
            peerLinks.append(.init(label: "all \(allPeers) peers →", href: c.query.with(["peers": String(allPeers)]).url(c.path)))
        } else if c.query["peers"] != nil, allPeers > Self.peersShown {
            peerLinks.append(.init(label: "the \(Self.peersShown) busiest peers", href: c.query.with(["peers": nil]).url(c.path)))
        }
        var more: [PageModel.Link] = []
        if flows.count == n, let last = flows.last {
            more.append(.init(label: "older flows →", href: c.query.with(["after": last.cursor]).url(c.path)))
        }
        if c.query["after"] != nil { more.append(.init(label: "newest flows", href: c.query.with(["after": nil]).url(c.path))) }
        // What is new: its pairs against the 7 days before the window.
        let diffOwn: [String: String?] = ["endpoint": e, "by": "pair", "limit": "10"]
        let diff = try engine.answer(try c.question("diff", diffOwn))
        let diffCell = { (key: String, row: [String: FlowFormat.Cell]) -> String? in
            guard key == "a" || key == "aName" || key == "b" || key == "bName", case .string(let a?)? = row["a"], case .string(let b?)? = row["b"] else {
                return nil
            }
            return links.pairLink(a, b)
        }
        let baseline = DiffQuestion.defaultBaseline(w)
        // As `diff` notes them: the changes from the baseline's end to the window's, to E's node and tailnet-wide.
        let changeWindow = TimeWindow(from: min(baseline.to, w.from), to: w.to)
        model.sections = [
            .init(title: "Traffic in and out", wide: true, chart: Inline.svg(chart.svg(width: 1260, height: 240)),
                  table: AnswerTable(answer: "series", report: series), folded: true,
                  downloads: c.downloads("series", seriesOwn)
                      + c.downloads("rollup", rollupOwn).map { .init(label: "by source " + $0.label, href: $0.href) },
                  command: c.command("series", seriesOwn)),
            .init(title: "Every peer, both directions", wide: true,
                  lead: peersLead,
                  table: AnswerTable(answer: "scope", report: scope, link: cell),
                  downloads: c.downloads("scope", scopeOwn), command: c.command("scope", scopeOwn), more: peerLinks),
            .init(title: "What is new: peers against the 7 days before", wide: true,
                  lead: "Pairs with \(name) whose traffic is new, gone, or ten times more or less per second than over \(HTMLReport.describe(baseline)).",
                  table: AnswerTable(answer: "diff", report: diff, link: diffCell),
                  downloads: c.downloads("diff", diffOwn), command: c.command("diff", diffOwn),
                  note: diff.rows.isEmpty ? "Nothing new, gone or ten times changed." : diff.cutSummary,
                  changes: Self.changesAside(try engine.scopeChanges(window: changeWindow, endpoint: e), window: changeWindow, endpoint: e, links: links)),
            .init(title: "Raw flows, newest first", wide: true,
                  table: AnswerTable(answer: "flows", report: .flows(flows), link: { links.tableLink($0, $1) }),
                  downloads: c.downloads("flows", flowsOwn, ndjson: true) + c.downloads("scope", ["endpoint": e, "flows": "true", "limit": "100000"])
                      .map { .init(label: "all flows " + $0.label, href: $0.href) },
                  command: c.command("scope", ["endpoint": e, "flows": "true", "limit": "100000"]), more: more),
        ]
        return model
    }

    func pair(_ a: String, _ b: String, _ c: inout PageContext) throws -> PageModel {
        try c.check(allowed: Self.windowAndFilters.union(["step"]).subtracting(["endpoint"]))
        let w = try c.resolveWindow()
        let step = try c.step(w)
        let stepText = DurationText.format(step)
        let pairOwn: [String: String?] = ["pair": "\(a),\(b)", "step": stepText]
        guard case .series(let o, _, _) = try c.question("series", pairOwn) else { throw QueryError("internal: not a series") }
        let scopeOwn: [String: String?] = ["endpoint": a]
        // The three series read the pair's two reporters once.
        let answers = try engine.answers([.series(o, step: step, subject: .edge(a, b)), .series(o, step: step, subject: .edge(b, a)),
                                          .series(o, step: step, subject: .pair(a, b)), try c.question("scope", scopeOwn)])
        guard case .series(let ab) = answers[0], case .series(let ba) = answers[1], case .series(let both) = answers[2],
              case .scope(let peersOfA) = answers[3] else { throw QueryError("internal: answers out of order") }
        let nodes = try c.nodes()
        let ca = try canonical(a, o), cb = try canonical(b, o)
        func short(_ e: String) -> String { AnswerCharts.label(e, name: nodes.first { $0.nodeID == e }?.name) }
        let na = short(ca), nb = short(cb)
        var chart = StackedChart(times: ab.map(\.time), step: step, unit: .bytes, layers: [
            .init(name: "\(na) → \(nb)", values: ab.map(\.bytes), color: Palette.color(0)),
            .init(name: "\(nb) → \(na)", values: ba.map(\.bytes), color: Palette.color(2)),
        ], caption: "bytes per \(stepText), UTC")
        chart.markers = AnswerCharts.markers(try engine.chartChanges(window: w, subject: .pair(a, b)))

        var scope = Report.scope(peersOfA)
        if let peer = scope.columns.firstIndex(where: { $0.key == "peer" }) {
            scope.rows = scope.rows.filter { $0[peer] == .string(cb) }
        }
        var model = c.frame(heading: "\(na) ↔ \(nb)", title: "\(na) ↔ \(nb)")
        model.lead = "Both directions between \(ca) and \(cb)."
        model.picker = c.picker(fields: Self.pickerFields(c.route))
        let links = c
        model.sections = [
            .init(title: "Both directions over time", wide: true, chart: Inline.svg(chart.svg(width: 1260, height: 240)),
                  table: AnswerTable(answer: "series", report: .series(both)), folded: true,
                  downloads: c.downloads("series", pairOwn) + c.downloads("series", ["edge": "\(a),\(b)", "step": stepText]).map { .init(label: "\(na) → \(nb) " + $0.label, href: $0.href) }
                      + c.downloads("series", ["edge": "\(b),\(a)", "step": stepText]).map { .init(label: "\(nb) → \(na) " + $0.label, href: $0.href) },
                  command: c.command("series", pairOwn)),
            .init(title: "Ports, protocols, first and last seen", wide: true,
                  lead: "sent: from \(na) to \(nb); received: from \(nb) to \(na).",
                  table: AnswerTable(answer: "scope", report: scope, link: { links.tableLink($0, $1) }),
                  downloads: c.downloads("scope", scopeOwn), command: c.command("scope", scopeOwn),
                  more: [.init(label: "\(na)'s page", href: c.endpointLink(ca)), .init(label: "\(nb)'s page", href: c.endpointLink(cb)),
                         .init(label: "raw flows of \(na)", href: c.carried(dropping: ["endpoint"]).with(["endpoint": ca]).url("/flows"))]),
        ]
        return model
    }
}
