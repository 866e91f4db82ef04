public import FlowFormat
public import FlowModel
import FlowStore
import Foundation

/// The configuration changes asked for: a window and optional filters (SPEC §13).
///
/// For example:
/// ```swift
/// var q = ChangeQuery(window: try TimeWindow.parse(from: "-24h", to: "now"))
/// q.target = "db-1"
/// let report = try engine.changes(q)
/// ```
public struct ChangeQuery: Sendable, Equatable {
    public var window: TimeWindow
    /// The actor: its ID, login name or display name (case-insensitive), or a login's part before `@`.
    public var actor: String?
    /// The target: an endpoint argument naming a node (its stable ID, full name or first label),
    /// or any target's ID or name (users, keys, the tailnet), case-insensitive.
    public var target: String?
    /// The target's type (`NODE`, `USER`, `TAILNET`, …) or the changed property (`TAGS`, `ACL`, …), case-insensitive.
    public var type: String?
    /// At most this many changes (oldest first); nil for all.
    public var limit: Int?
    /// `--where`: the filter language of the flows (SPEC §11), its terms read over changes:
    /// `node` is the changed node, `endpoint` the changed or the acting node, `tag`, `user` and `os`
    /// attributes of the changed node (`user` also the actor, `tag` also a tag the change set or
    /// removed). `src`, `dst`, `kind`, `proto` and `port` are usage errors. Combined with the other
    /// filters by `and`.
    public var filter: FilterExpression?

    public init(window: TimeWindow, actor: String? = nil, target: String? = nil, type: String? = nil, limit: Int? = nil,
                filter: FilterExpression? = nil) {
        self.window = window
        self.actor = actor
        self.target = target
        self.type = type
        self.limit = limit
        self.filter = filter
    }
}

extension QueryEngine {
    /// The configuration audit log records of the window that pass the filters, oldest first.
    ///
    /// - throws: ``StoreError`` when the store cannot be read; ``QueryError`` (a usage error) when
    ///   the `where` expression names a term that does not apply to changes or a name that is nothing.
    public func changeRecords(_ q: ChangeQuery) throws -> [ConfigChange] {
        try store.read { snapshot in
            var targetIDs: Set<String> = []
            let directory = q.target != nil || q.filter != nil ? try Directory(snapshot) : nil
            if let target = q.target, let directory {
                if let e = try? directory.resolve(target), let node = directory.node(e) { targetIDs.insert(node.stableID) }
            }
            var all: [ConfigChange] = []
            try snapshot.changes(from: q.window.from, to: q.window.to) { c in
                all.append(c)
                return true
            }
            var filter: ChangeFilter? = nil
            if let expression = q.filter, let directory {
                do throws(FilterError) {
                    filter = try ChangeFilter(expression, directory: directory, changes: all)
                } catch {
                    throw error.queryError
                }
            }
            let out = all.filter { c in
                if let actor = q.actor, !Self.matchesActor(c, actor) { return false }
                if let target = q.target, !Self.matchesTarget(c, target, nodeIDs: targetIDs) { return false }
                if let type = q.type, !Self.matchesType(c, type) { return false }
                return filter?.matches(c) ?? true
            }
            return out
        }
    }

    /// `changes`: the configuration changes of the window as a report.
    ///
    /// An empty answer says, in its notes, which time range the store's changes cover.
    ///
    /// - throws: ``StoreError`` when the store cannot be read.
    public func changes(_ q: ChangeQuery) throws -> Report {
        let all = try changeRecords(q)
        var report = Report.changes(q.limit.map { Array(all.prefix($0)) } ?? all)
        if let limit = q.limit, all.count > limit { report.cut = .init(total: all.count) }
        if all.isEmpty {
            let range = try store.read { try $0.changeTimeRange() }
            if let range {
                report.notes.append("no configuration changes match in this window; the store holds changes from \(Timestamp.formatRFC3339(range.lowerBound)) to \(Timestamp.formatRFC3339(range.upperBound))")
            } else {
                report.notes.append("the store holds no configuration changes (ingest, receive or pull the configuration audit log: `tailflow pull --logs configuration`)")
            }
        }
        return report
    }

    /// The changes `scope --endpoint E` lists beside E's traffic: those whose target is E's node
    /// (by stable ID), and the tailnet-wide ones (policy file, DNS, tailnet settings).
    ///
    /// - parameter endpoint: the endpoint argument; an address or `*` has only the tailnet-wide ones.
    /// - throws: ``StoreError``.
    public func scopeChanges(window: TimeWindow, endpoint: String) throws -> [ConfigChange] {
        try store.read { snapshot in
            let directory = try Directory(snapshot)
            let nodeID = (try? directory.resolve(endpoint)).flatMap { directory.node($0)?.stableID }
            var out: [ConfigChange] = []
            try snapshot.changes(from: window.from, to: window.to) { c in
                if c.isTailnetWide || (nodeID != nil && c.targetID == nodeID) { out.append(c) }
                return true
            }
            return out
        }
    }

    /// The changes a time chart of `subject` marks: every change of the window for all traffic;
    /// for an endpoint, those ``scopeChanges(window:endpoint:)`` lists; for a pair or an edge, those
    /// of either end (each once), oldest first.
    ///
    /// - throws: ``StoreError``.
    package func chartChanges(window: TimeWindow, subject: SeriesSubject) throws -> [ConfigChange] {
        switch subject {
        case .all:
            return try changeRecords(ChangeQuery(window: window))
        case .endpoint(let e):
            return try scopeChanges(window: window, endpoint: e)
        case .pair(let a, let b), .edge(let a, let b):
            var seen: Set<ConfigChange> = []
            return (try scopeChanges(window: window, endpoint: a) + scopeChanges(window: window, endpoint: b))
                .filter { seen.insert($0).inserted }
                .sorted { $0.time < $1.time }
        }
    }

    /// What `diff` and `coverage` say about the configuration changes that may explain their answer
    /// (SPEC §13): how many there are and how to list them. `diff` counts those from the baseline's
    /// end to the window's, `coverage` those of its window; nothing when there are none.
    ///
    /// - throws: ``StoreError``.
    func changeNotes(_ question: Question) throws -> [String] {
        let window: TimeWindow
        switch question {
        case .diff(let o, let baseline, _, _, _): window = TimeWindow(from: min(baseline.to, o.window.from), to: o.window.to)
        case .coverage(let o, _): window = o.window
        default: return []
        }
        guard window.from < window.to else { return [] }
        let n = try changeRecords(ChangeQuery(window: window)).count
        guard n > 0 else { return [] }
        let from = Timestamp.formatRFC3339(window.from), to = Timestamp.formatRFC3339(window.to)
        return ["\(n) configuration change\(n == 1 ? "" : "s") from \(from) to \(to) may explain this: tailflow changes --from \(from) --to \(to)"]
    }

    static func matchesActor(_ c: ConfigChange, _ actor: String) -> Bool {
        let a = actor.lowercased()
        for field in [c.actorID, c.actorLogin, c.actorName] {
            guard let f = field?.lowercased() else { continue }
            if f == a { return true }
            if let at = f.firstIndex(of: "@"), f[..<at] == a { return true }
        }
        return false
    }

    static func matchesTarget(_ c: ConfigChange, _ target: String, nodeIDs: Set<String>) -> Bool {
        if let id = c.targetID, nodeIDs.contains(id) { return true }
        let t = target.lowercased()
        if c.targetID?.lowercased() == t { return true }
        guard let name = c.targetName?.lowercased() else { return false }
        return name == t || name == t + "." || name.split(separator: ".", maxSplits: 1).first.map(String.init) == t
    }

    static func matchesType(_ c: ConfigChange, _ type: String) -> Bool {
        let t = type.lowercased()
        return c.targetType?.lowercased() == t || c.property?.lowercased() == t
    }
}

extension Report {
    /// The columns of configuration changes (`changes`, and the changes of `scope`).
    static let changeColumns: [Column] = [
        Column("time", "TIME"), Column("action", "ACTION"), Column("origin", "ORIGIN", wide: true),
        Column("actorId", "ACTOR ID", wide: true), Column("actorLogin", "ACTOR", fallback: "actorName", maxWidth: 28), Column("actorName", "ACTOR NAME", wide: true),
        Column("targetId", "TARGET ID", wide: true), Column("targetName", "TARGET", fallback: "targetId", maxWidth: 28),
        Column("targetType", "TYPE"), Column("property", "PROPERTY"),
        Column("old", "OLD", maxWidth: 24), Column("new", "NEW", maxWidth: 24),
        Column("details", "DETAILS", wide: true), Column("error", "ERROR", maxWidth: 24),
    ]

    /// One change's cells, in ``changeColumns``' order.
    static func changeCells(_ c: ConfigChange) -> [Cell] {
        [.time(c.time), .string(c.action), .string(c.origin), .string(c.actorID), .string(c.actorLogin), .string(c.actorName),
         .string(c.targetID), .string(c.targetName), .string(c.targetType), .string(c.property),
         .json(c.old), .json(c.new), .string(c.details), .string(c.error)]
    }

    /// `changes`: configuration audit log records, oldest first.
    public static func changes(_ changes: [ConfigChange]) -> Report {
        Report(columns: changeColumns, rows: changes.map(changeCells))
    }
}
