import FlowCharts
import FlowFormat
import FlowModel
import FlowQuery
import FlowStore
import Foundation

/// One page being rendered: its query, the window it resolves to, and the links, commands
/// and downloads built from them.
struct PageContext {
    let engine: QueryEngine
    var query: PageQuery
    /// Now, to the second (relative windows resolve against it).
    let now: Nanoseconds
    let route: WebPages.Route
    /// The window every question of the page is asked over, once resolved.
    var window: TimeWindow?
    var notice: String?
    /// Nodes of the store, read once per page.
    private(set) var nodeCache: [NodeRecord]?

    static let filters = ["kind", "proto", "endpoint", "tag", "user", "where"]
    static let presets: [(String, Int64)] = [("15m", 15 * 60), ("1h", 3600), ("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400)]
        .map { ($0.0, $0.1 * 1_000_000_000) }

    init(engine: QueryEngine, query: PageQuery, now: Nanoseconds, route: WebPages.Route) {
        self.engine = engine
        self.query = query
        self.now = now - ((now % 1_000_000_000) + 1_000_000_000) % 1_000_000_000
        self.route = route
    }

    mutating func nodes() throws -> [NodeRecord] {
        if let nodeCache { return nodeCache }
        let nodes = try engine.store.nodes()
        nodeCache = nodes
        return nodes
    }

    /// Rejects parameters the page does not take, as the API does.
    func check(allowed: Set<String>) throws {
        if let unknown = query.items.map(\.name).first(where: { !allowed.contains($0) }) {
            throw QueryError("this page takes no parameter '\(unknown)'; it takes \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// Resolves `from` and `to` (default: the last 24 hours). With neither given and nothing
    /// stored in the last 24 hours, it shows the 24 hours up to the latest stored traffic instead, and says so.
    mutating func resolveWindow() throws -> TimeWindow {
        var w = try TimeWindow.parse(from: query["from"] ?? "-24h", to: query["to"] ?? "now", now: now)
        if query["from"] == nil, query["to"] == nil, let latest = try nodes().compactMap(\.lastSeen).max(), latest < w.from {
            let hour: Int64 = 3_600_000_000_000
            let end = (latest / hour + 1) * hour
            w = TimeWindow(from: end - 24 * hour, to: end)
            notice = "Nothing arrived in the last 24 hours: this is the last day of stored traffic, up to \(TimeTicks.describe(latest))."
        }
        window = w
        return w
    }

    // MARK: questions

    /// A question's parameters: the window (absolute, so the page, its downloads and its command
    /// ask exactly the same), the page's filters, and the question's own.
    func parameters(_ own: [String: String?], filters: Bool = true) -> [(String, String)] {
        var p: [(String, String)] = []
        if let w = window {
            p.append(("from", Timestamp.formatRFC3339(w.from)))
            p.append(("to", Timestamp.formatRFC3339(w.to)))
        }
        if filters {
            for name in Self.filters where own[name] == nil {
                if let v = query[name] { p.append((name, v)) }
            }
        }
        for (name, value) in own.sorted(by: { $0.key < $1.key }) {
            if let value { p.append((name, value)) }
        }
        return p
    }

    func question(_ command: String, _ own: [String: String?] = [:], filters: Bool = true) throws -> Question {
        try Question(command: command, parameters: PageQuery(parameters(own, filters: filters)).dictionary, now: now)
    }

    /// Links to the JSON and CSV (and NDJSON) of an answer from the query API.
    func downloads(_ command: String, _ own: [String: String?] = [:], filters: Bool = true, ndjson: Bool = false) -> [PageModel.Link] {
        let base = PageQuery(parameters(own, filters: filters))
        var links = [PageModel.Link(label: "JSON", href: base.url("/api/v1/\(command)")),
                     PageModel.Link(label: "CSV", href: base.with(["format": "csv"]).url("/api/v1/\(command)"))]
        if ndjson { links.append(PageModel.Link(label: "NDJSON", href: base.with(["format": "ndjson"]).url("/api/v1/\(command)"))) }
        return links
    }

    /// The `tailflow` command that asks the same question.
    func command(_ command: String, _ own: [String: String?] = [:], filters: Bool = true) -> String {
        var words = ["tailflow", command]
        for (name, value) in parameters(own, filters: filters) {
            words.append("--" + name)
            if !(name == "flows" && value == "true") { words.append(Self.shellQuoted(value)) }
        }
        return words.joined(separator: " ")
    }

    static func shellQuoted(_ s: String) -> String {
        let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:,/@+=")
        if !s.isEmpty, s.unicodeScalars.allSatisfy({ safe.contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    // MARK: links

    /// The page's window and filters, for links to other pages (which keep them).
    func carried(dropping: Set<String> = []) -> PageQuery {
        var q = query.only(Set(["from", "to"] + Self.filters))
        for name in dropping { q[name] = nil }
        return q
    }

    func endpointLink(_ e: String) -> String {
        carried(dropping: ["endpoint"]).url("/endpoint/" + PageQuery.segment(e))
    }

    func pairLink(_ a: String, _ b: String) -> String {
        carried(dropping: ["endpoint"]).url("/pair/" + PageQuery.segment(a) + "/" + PageQuery.segment(b))
    }

    var path: String {
        switch route {
        case .overview: "/"
        case .graph: "/graph"
        case .flows: "/flows"
        case .nodes: "/nodes"
        case .health: "/health"
        case .changes: "/changes"
        case .endpoint(let e): "/endpoint/" + PageQuery.segment(e)
        case .pair(let a, let b): "/pair/" + PageQuery.segment(a) + "/" + PageQuery.segment(b)
        }
    }

    /// Links for table cells: endpoints to their pages, a pair's bytes to its pair page.
    func tableLink(_ key: String, _ row: [String: FlowFormat.Cell]) -> String? {
        func text(_ k: String) -> String? {
            if case .string(let s)? = row[k] { return s }
            return nil
        }
        switch key {
        case "endpoint", "peer", "reporter", "nodeId": return text(key).map(endpointLink)
        case "name": return text("endpoint").map(endpointLink)
        case "peerName": return text("peer").map(endpointLink)
        case "reporterName": return text("reporter").map(endpointLink)
        case "a", "aName": return text("a").map(endpointLink)
        case "b", "bName": return text("b").map(endpointLink)
        case "bytes", "abBytes", "baBytes":
            if let a = text("a"), let b = text("b") { return pairLink(a, b) }
            return nil
        case "srcName", "src": return (text("srcNode") ?? text("src")).map(endpointLink)
        case "dstName", "dst": return (text("dstNode") ?? text("dst")).map(endpointLink)
        default: return nil
        }
    }

    // MARK: frame

    static func navigation(_ route: WebPages.Route?, carried: PageQuery = PageQuery()) -> [PageModel.Link] {
        [PageModel.Link(label: "Overview", href: carried.url("/"), here: route == .overview),
         PageModel.Link(label: "Graph", href: carried.url("/graph"), here: route == .graph),
         PageModel.Link(label: "Flows", href: carried.url("/flows"), here: route == .flows),
         PageModel.Link(label: "Changes", href: carried.only(["from", "to"]).url("/changes"), here: route == .changes),
         PageModel.Link(label: "Nodes", href: "/nodes", here: route == .nodes),
         PageModel.Link(label: "Health", href: "/health", here: route == .health)]
    }

    func frame(heading: String, title: String? = nil) -> PageModel {
        var model = PageModel(title: title ?? heading, nav: Self.navigation(route, carried: carried(dropping: ["endpoint"])), heading: heading)
        model.notice = notice
        return model
    }

    /// The window picker: fields (values as the user wrote them), presets, previous/next/zoom out.
    ///
    /// - parameter defaults: the values the page uses for fields left empty (`limit`), shown as
    ///   their placeholders so that the form and the command under the table agree.
    /// - parameter placeholders: examples for fields whose usual example does not fit the page.
    func picker(fields: [String], defaults: [String: String] = [:], placeholders: [String: String] = [:]) -> PageModel.Picker {
        let labels: [String: (String, String)] = [
            "from": ("From", "-24h or 2026-11-01T06:00:00Z"), "to": ("To", "now"), "kind": ("Kinds", "virtual,subnet,exit"),
            "proto": ("Protocol", "tcp, udp, 6"), "endpoint": ("Endpoint", "name, ID or IP"), "tag": ("Tag", "tag:prod"),
            "user": ("User", "alice@example.com"), "limit": ("Rows", ""), "metric": ("Metric", "bytes"), "step": ("Step", "auto"),
            "match": ("Match", "keyword"), "where": ("Filter (SPEC §11)", "port = 443 and not tag = tag:ci"),
            "actor": ("Actor", "alice@example.com"), "target": ("Target", "node, user or tailnet"), "type": ("Type", "NODE, TAGS, ACL"),
        ]
        let shown = fields.map { name in
            PageModel.Field(name: name, label: labels[name]?.0 ?? name, value: query[name] ?? "",
                            placeholder: defaults[name] ?? placeholders[name] ?? labels[name]?.1 ?? "",
                            wide: name == "from" || name == "to" || name == "where")
        }
        let hidden = query.items.filter { !fields.contains($0.name) && $0.name != "after" }
            .map { PageModel.Field(name: $0.name, label: $0.name, value: $0.value, placeholder: "") }
        var presets: [PageModel.Link] = []
        var timenav: [PageModel.Link] = []
        var describe = ""
        if let w = window {
            let live = (query["to"] ?? "now") == "now" && notice == nil
            let span = w.to - w.from
            for (label, d) in Self.presets {
                let change: [String: String?] = live ? ["from": "-" + label, "to": nil, "after": nil, "step": nil]
                    : ["from": Timestamp.formatRFC3339(w.to - d), "to": Timestamp.formatRFC3339(w.to), "after": nil, "step": nil]
                presets.append(PageModel.Link(label: label, href: query.with(change).url(path), here: span == d))
            }
            func window(_ f: Int64, _ t: Int64) -> String {
                query.with(["from": Timestamp.formatRFC3339(f), "to": Timestamp.formatRFC3339(t), "after": nil, "step": nil]).url(path)
            }
            timenav = [PageModel.Link(label: "← previous", href: window(w.from - span, w.from)),
                       PageModel.Link(label: "next →", href: window(w.to, w.to + span)),
                       PageModel.Link(label: "zoom out", href: window(w.from - span / 2, w.to + span / 2))]
            if span >= 2 * 60_000_000_000 {
                timenav.append(PageModel.Link(label: "zoom in", href: window(w.from + span / 4, w.to - span / 4)))
            }
            describe = HTMLReport.describe(w) + " (" + DurationText.format(span) + ")"
        }
        return PageModel.Picker(action: path, fields: shown, hidden: hidden, presets: presets, timenav: timenav, window: describe)
    }

    /// The step of a page's time chart: `step` if given, else one that draws the window in at most 180 columns.
    func step(_ w: TimeWindow) throws -> Nanoseconds {
        if let s = query["step"] { return try TimeWindow.parseStep(s) }
        return Steps.auto(w)
    }

    /// Where the store's traffic starts and ends, for empty answers.
    mutating func storedRange() throws -> String? {
        let nodes = try self.nodes()
        guard let first = nodes.compactMap(\.firstSeen).min(), let last = nodes.compactMap(\.lastSeen).max() else {
            return "The store holds no traffic yet."
        }
        return "The store holds traffic from \(TimeTicks.describe(first)) to \(TimeTicks.describe(last))."
    }
}
