public import FlowFormat
public import FlowQuery
import FlowModel
import FlowStore
import Foundation

/// The questions of SPEC §4 as ClickHouse SQL: the edge model (each byte counted once although
/// both ends report it, SPEC §3) and the resolution of addresses to nodes run on the server,
/// which returns only the answer rows; the rows print with the same reports as SQLite's answers.
///
/// Pushed down: `top` (every `--by`), `series`, `rollup` (not by tag, user or os), `scope` (not
/// `--flows`) (epoch-aligned or UTC steps), `nodes`, with `--kind`, `--proto`, `--endpoint`, `--tag`
/// and `--user`. The rest throws ``ClickHouseUnsupported``, and the ``QueryEngine`` answers it over
/// the store's snapshot (``ClickHouseStore/read(_:)``).
///
/// For example:
/// ```swift
/// let report = try ClickHouseQueries(store: store).answer(.top(options, by: .pair, metric: .bytes, limit: 10))
/// print(report.render(.json))
/// ```
public struct ClickHouseQueries: Sendable {
    public let store: ClickHouseStore
    var client: ClickHouseClient { store.client }

    public init(store: ClickHouseStore) {
        self.store = store
    }

    /// Answers a question as the report the CLI prints: pushed down as ClickHouse SQL where
    /// ``pushedDown(_:)`` can, else by the ``QueryEngine`` over the store's snapshot
    /// (``ClickHouseStore/read(_:)``), as SQLite answers it.
    ///
    /// - throws: ``QueryError`` for a question that cannot be answered as asked; ``ClickHouseError``.
    public func answer(_ question: Question) throws -> Report {
        try QueryEngine(store: store).answer(question)
    }

    /// The question as ClickHouse SQL (``ClickHouseStore/pushedDown(_:)`` asks it).
    ///
    /// - throws: ``ClickHouseUnsupported`` for what is not pushed down; ``QueryError``
    ///   for a question that cannot be answered as asked; ``ClickHouseError``.
    func pushedDown(_ question: Question) throws -> Report {
        var report: Report
        var arguments: [String] = []
        let options: QueryOptions
        // What the question reads before its answer, in one request with the store's check when
        // due (``ClickHouseStore/prelude(window:)``): the node tables and whether the window holds
        // data (for the notes). An answer whose SQL needs no node tables is asked at the same
        // time (two requests in flight, not one after the other).
        var prelude: Background<Prelude>?
        func begin(_ o: QueryOptions, early: Bool = false) throws -> Context {
            // What the engine answers instead is refused before anything is read.
            if o.filter != nil { throw ClickHouseUnsupported("--where") }
            let early = early && o.endpoint == nil && o.tag == nil && o.user == nil
            let store = self.store
            let read = early ? Background { try store.prelude(window: o.window) } : Background(done: try store.prelude(window: o.window))
            prelude = read
            return try Context(self, o, prelude: read, early: early)
        }
        switch question {
        case .nodes:
            return .nodes(try store.nodes())
        case .top(let o, let by, let metric, let limit):
            options = o
            let context = try begin(o, early: true)
            switch by {
            case .endpoint:
                let (rows, total) = try topEndpoints(context, metric: metric, limit: limit)
                report = .topEndpoints(rows)
                report.cut = Report.Cut(total: total)
            case .pair:
                let (rows, total) = try topPairs(context, metric: metric, limit: limit)
                report = .topPairs(rows)
                report.cut = Report.Cut(total: total)
            case .port:
                let (rows, total) = try topPorts(context, metric: metric, limit: limit)
                report = .topPorts(rows)
                report.cut = Report.Cut(total: total)
            case .proto:
                let (rows, total) = try topProtocols(context, metric: metric, limit: limit)
                report = .topProtocols(rows)
                report.cut = Report.Cut(total: total)
            }
        case .series(let o, let step, let subject):
            options = o
            _ = try uniformBuckets(o, step: step)
            let context = try begin(o, early: subject == .all)
            report = .series(try series(context, step: step, subject: subject))
            switch subject {
            case .all: break
            case .endpoint(let e): arguments = [e]
            case .pair(let a, let b), .edge(let a, let b): arguments = [a, b]
            }
        case .rollup(let o, let step, let groupBy):
            options = o
            for key in groupBy where [.tag, .user, .os].contains(key) {
                throw ClickHouseUnsupported("rollup --group-by \(key.rawValue)")
            }
            _ = try uniformBuckets(o, step: step)
            let context = try begin(o, early: true)
            report = .rollup(try rollup(context, step: step, groupBy: groupBy), groupBy: groupBy)
        case .scope(let o):
            options = o
            let context = try begin(o)
            report = .scope(try scope(context))
        case .scopeFlows(let o, let limit):
            options = o
            let context = try begin(o)
            let page = try flows(context, limit: limit, after: nil)
            report = .flows(page.rows)
            report.cut = Report.Cut(total: page.total, atLeast: page.atLeast)
        case .flows(let o, let match, let limit, let after):
            options = o
            let context = try begin(o)
            let page = try flows(context, match: match, limit: limit, after: after)
            report = .flows(page.rows)
            report.cut = Report.Cut(total: page.total, atLeast: page.atLeast)
        case .diff: throw ClickHouseUnsupported("diff")
        case .coverage: throw ClickHouseUnsupported("coverage")
        }
        if let e = options.endpoint { arguments.append(e) }
        let read = try prelude?.value()
        report.notes = try notes(options.window, arguments: arguments, directory: read?.directory, windowHasData: read?.windowHasData)
        return report
    }

    // MARK: The edge model in SQL

    /// What a question reads before its answer (``ClickHouseStore/prelude(window:)``): the node
    /// tables and whether the window holds any flow row (for the notes).
    typealias Prelude = ClickHouseStore.Prelude

    /// One question's filters and the directory its endpoint arguments resolve in.
    struct Context {
        let options: QueryOptions
        /// The resolved `--endpoint`.
        let endpoint: String?
        let queries: ClickHouseQueries
        /// The question's prelude: read before the answer's SQL is made (when the SQL needs it),
        /// or while the answer is computed (``select(_:)`` waits for it).
        let prelude: Background<Prelude>
        /// How the SQL resolves addresses and knows the reporters.
        let resolution: Resolution

        enum Resolution {
            /// The question's node tables as constants in the SQL: the owners as two array
            /// literals in the same order ('' → `*`) for `transform`, the reporters as the inside
            /// of an `IN (…)` (scalar subqueries over the tables instead ran once per level of the
            /// query's nesting, about half a day's `top` on the server).
            case constants(ips: String, owners: String, reporters: String)
            /// The node tables as the server reads them when it runs the answer (joined; the
            /// prelude is read at the same time, by another request).
            case tables
            /// The address owners of node tables kept from an earlier question (``NodeTablesCache``)
            /// sent with the answer as a small table of its own (``ownersTable``, joined as the
            /// server's tables are), while the prelude checks that they are still the server's;
            /// should they not be, and resolve an address or a reporter otherwise, the answer is
            /// asked again with the prelude's (``select(_:)``, ``Context/resolvesAlike(_:_:)``).
            /// The joins' tables over `node_addresses` and `reporters` (a `GROUP BY` of every
            /// address claim ever written, twice) were about 13 of an hour's `top`'s 33 ms on the server.
            case kept(version: String, directory: NodeDirectory)
        }

        /// - parameter early: the answer's SQL needs no node tables (no `--endpoint`, `--tag`,
        ///   `--user`), so it is asked while the prelude is read.
        init(_ queries: ClickHouseQueries, _ options: QueryOptions, prelude: Background<Prelude>, early: Bool) throws {
            if options.filter != nil { throw ClickHouseUnsupported("--where") }
            self.options = options
            self.queries = queries
            self.prelude = prelude
            labelMaker = Labels(queries.store, prelude)
            if early {
                precondition(options.endpoint == nil && options.tag == nil && options.user == nil, "an early answer with node filters")
                tagged = nil
                endpoint = nil
                resolution = queries.store.keptDirectory().map { Resolution.kept(version: $0.version, directory: $0.directory) } ?? .tables
                return
            }
            let directory = try prelude.value().directory
            // --tag and --user: the nodes that have the tag and the user (an edge counts when either end is one).
            if options.tag != nil || options.user != nil {
                tagged = directory.nodes.values.filter { n in
                    (options.tag.map { n.tags.contains($0) } ?? true) && (options.user.map { n.user == $0 } ?? true)
                }.map(\.stableID).sorted()
            } else {
                tagged = nil
            }
            endpoint = try options.endpoint.map { try queries.resolve($0, directory) }
            let owned = [("", "*")] + directory.owners.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            let reporting = directory.nodes.values.filter(\.isReporter).map(\.stableID).sorted()
            resolution = .constants(ips: "[" + owned.map { ClickHouseClient.quote($0.0) }.joined(separator: ", ") + "]",
                                    owners: "[" + owned.map { ClickHouseClient.quote($0.1) }.joined(separator: ", ") + "]",
                                    reporters: reporting.isEmpty ? ClickHouseClient.quote(unseen) : reporting.map(ClickHouseClient.quote).joined(separator: ", "))
        }

        /// The question's node tables (after ``select(_:)``, or for a question that is not early;
        /// empty should the prelude have failed, which ``select(_:)`` throws).
        var directory: NodeDirectory {
            (try? prelude.value().directory) ?? NodeDirectory([:])
        }

        /// Runs the answer's SELECT (``ClickHouseQueries/select(_:)``), then waits for the prelude:
        /// its error (a store missing or newer than this binary) comes first.
        ///
        /// Resolved by kept node tables (``Resolution/kept(version:directory:)``), the answer is
        /// asked again with the prelude's own when the server's version of them is not the kept one
        /// and what the answer read of them (``resolvesAlike(_:_:)``) differs.
        func select(_ sql: String) throws -> Answer {
            let answer: Answer
            do {
                answer = try queries.select(sql, external: externalTables)
            } catch {
                _ = try prelude.value()
                throw error
            }
            let read = try prelude.value()
            if case .kept(let version, let kept) = resolution, read.version != version,
               !Self.resolvesAlike(kept, read.directory) {
                return try queries.select(sql, external: [Self.ownersTable(read.directory)])
            }
            return answer
        }

        /// Whether two directories give the same ``ownersTable(_:)``: the same owner for every
        /// address, and each owner reporting in both or in neither. That table is all an answer
        /// resolved by kept node tables reads of them (its labels and notes come from the
        /// prelude's). The version changes with every insert into a node table, and an ingest
        /// inserts into `reporters` and `node_seen` with every batch: without this test, each
        /// question after a batch was answered twice.
        static func resolvesAlike(_ a: NodeDirectory, _ b: NodeDirectory) -> Bool {
            guard a.owners == b.owners else { return false }
            return a.owners.values.allSatisfy { (a.nodes[$0]?.isReporter == true) == (b.nodes[$0]?.isReporter == true) }
        }

        /// The tables sent with the answer (``Resolution/kept(version:directory:)``).
        var externalTables: [ClickHouseClient.ExternalTable] {
            if case .kept(_, let directory) = resolution { return [Self.ownersTable(directory)] }
            return []
        }

        /// `tf_owners (ip, o, rep)`: each owned address, its owner, and whether the owner reports
        /// (as the joins over the server's tables give them, ``from(_:)``).
        static func ownersTable(_ directory: NodeDirectory) -> ClickHouseClient.ExternalTable {
            var rows = ""
            for (ip, owner) in directory.owners {
                rows += TabSeparated.escape(ip) + "\t" + TabSeparated.escape(owner) + "\t"
                    + (directory.nodes[owner]?.isReporter == true ? "1" : "0") + "\n"
            }
            return ClickHouseClient.ExternalTable(name: "tf_owners", structure: "ip String, o String, rep UInt8", rows: Array(rows.utf8))
        }

        // The parts of the SQL that resolve ends and test reporters.

        /// A `WITH` clause the resolving SELECT starts with (the constant arrays), or nothing.
        var with: String {
            if case .constants(let ips, let owners, _) = resolution { return "WITH \(ips) AS ips, \(owners) AS owners" }
            return ""
        }

        /// The resolved source end `x` of a row (a physical row's is its reporter) and its destination `y`.
        var resolvedEnds: String {
            switch resolution {
            case .constants:
                return "if(kind = 3, reporter, transform(src, ips, owners, src)) AS x, transform(dst, ips, owners, dst) AS y"
            case .tables, .kept:
                return "if(kind = 3, reporter, if(src = '', '*', if(xo = '', src, xo))) AS x, if(dst = '', '*', if(yo = '', dst, yo)) AS y"
            }
        }

        /// The rows of `source` the resolving SELECT reads (joined with the address owners when
        /// resolved by the tables: `xo`, `yo` the owners of `src` and `dst`, '' for none, and
        /// `xrep`, `yrep` whether that owner is a reporter).
        ///
        /// Each join's table says whether its owner reports, so that the resolving SELECT tests
        /// no `IN (SELECT … FROM reporters)` per row: ClickHouse 18.16 built those sets for
        /// each of their copies in the query (an alias used in several expressions is copied into
        /// each), about a fifth of an hour's `top` on the server.
        func from(_ source: String) -> String {
            switch resolution {
            case .constants:
                return "(\n\(source)\n)"
            case .kept:
                return """
                    (SELECT * FROM (
                    \(source)
                    ) ANY LEFT JOIN (SELECT ip AS src, o AS xo, rep AS xrep FROM tf_owners) USING src
                    ) ANY LEFT JOIN (SELECT ip AS dst, o AS yo, rep AS yrep FROM tf_owners) USING dst
                    """
            case .tables:
                let owners = "SELECT ip, argMax(node, (info_ns, seq)) AS o FROM node_addresses GROUP BY ip"
                let reporting = "o IN (SELECT stable_id FROM reporters)"
                return """
                    (SELECT * FROM (
                    \(source)
                    ) ANY LEFT JOIN (SELECT ip AS src, o AS xo, \(reporting) AS xrep FROM (\(owners))) USING src
                    ) ANY LEFT JOIN (SELECT ip AS dst, o AS yo, \(reporting) AS yrep FROM (\(owners))) USING dst
                    """
            }
        }

        /// Whether each resolved end of a row is a reporter: `xr` and `yr`. From the joins' flags
        /// (``from(_:)``): a physical row's source is its reporter, an address without an owner
        /// and `*` are no node, so no reporter; else its owner's flag.
        ///
        /// A physical row's reporter is taken as a reporter without a test: every row of `flows`
        /// (and so of the rollups fed from it) has its reporter in `reporters`, which
        /// `reporters_feed` fills from the same inserts (on a cluster each shard from its own rows,
        /// read through the Distributed table).
        var reporterFlags: String {
            switch resolution {
            case .constants:
                return "x IN (\(reporters)) AS xr, y IN (\(reporters)) AS yr"
            case .tables, .kept:
                return "kind = 3 OR (src != '' AND xrep = 1) AS xr, dst != '' AND yrep = 1 AS yr"
            }
        }

        /// Whether the ends are resolved by joins (the server's tables or kept ones), not constants.
        var resolvedByJoins: Bool {
            if case .constants = resolution { return false }
            return true
        }

        /// The inside of an `IN (…)` of the reporters' stable IDs.
        var reporters: String {
            if case .constants(_, _, let reporters) = resolution { return reporters }
            return "SELECT stable_id FROM reporters"
        }

        let labelMaker: Labels
        /// The nodes `--tag` and `--user` select (nil: no such filter).
        let tagged: [String]?

        /// The tables' labels of the answer's endpoints that are no node (read when first needed).
        func labels() throws -> Labels { labelMaker }
    }

    /// The tables' labels for endpoints without a node name (``EndpointLabels``), read from the
    /// store only when an answer has an address or `*` to label.
    final class Labels {
        let store: ClickHouseStore
        /// The question's node tables (the labels read no others).
        let prelude: Background<Prelude>
        var labels: EndpointLabels?

        init(_ store: ClickHouseStore, _ prelude: Background<Prelude>) {
            self.store = store
            self.prelude = prelude
        }

        func label(_ key: String, ports: [UInt16] = [], starOnly: Bool? = false) throws -> String? {
            guard key == "*" || IPAddress(key) != nil else { return nil }
            return try made().tableLabel(key, ports: ports, starOnly: starOnly)
        }

        func rollupLabel(_ keys: Set<RollupKeyField>, _ field: RollupKeyField, _ key: String, other: String?, port: UInt16?) throws -> String? {
            guard key == "*" || IPAddress(key) != nil else { return nil }
            return try made().rollupLabel(keys, field, key, other: other, port: port)
        }

        func made() throws -> EndpointLabels {
            if let labels { return labels }
            let made = try EndpointLabels(try ClickHouseSnapshot(store.client, directory: try prelude.value().directory))
            labels = made
            return made
        }
    }

    /// An endpoint that matches nothing (a well-formed address no flow or node has).
    static let unseen = "\u{0}unseen"

    /// Resolves an endpoint argument as SQLite's directory does: `*`, a stable node ID, an IP
    /// address (its owner node, else the address), a full node name or its first label.
    ///
    /// - throws: ``QueryError`` for an unknown or ambiguous name.
    func resolve(_ argument: String, _ directory: NodeDirectory) throws -> String {
        let arg = argument.trimmingCharacters(in: .whitespaces)
        if arg == "*" { return "*" }
        if directory.nodes[arg] != nil { return arg }
        if let ip = IPAddress(arg) {
            let text = ip.description
            if let owner = directory.owners[text] { return owner }
            return try seen(text) ? text : Self.unseen
        }
        let lower = arg.lowercased()
        var matches = directory.nodes.values.filter { ($0.name?.lowercased()).map { $0 == lower || $0 == lower + "." } ?? false }
        if matches.isEmpty {
            matches = directory.nodes.values.filter { n in
                guard let name = n.name?.lowercased() else { return false }
                return name.split(separator: ".", maxSplits: 1).first.map(String.init) == lower
            }
        }
        if matches.count == 1 { return matches[0].stableID }
        if matches.isEmpty {
            throw QueryError("unknown endpoint '\(argument)': not a node ID or node name in this store, nor an IP address (`tailflow nodes` lists them)")
        }
        let list = matches.sorted { $0.stableID < $1.stableID }.map { "\($0.stableID) (\($0.name ?? "unnamed"))" }
        throw QueryError("ambiguous endpoint '\(argument)': it names \(matches.count) nodes: \(list.joined(separator: ", ")); use a full name or a node ID")
    }

    /// Whether any flow row or node claim has the address.
    func seen(_ address: String) throws -> Bool {
        let q = ClickHouseClient.quote(address)
        let rows = try client.rows("""
            SELECT (SELECT count() FROM (SELECT 1 FROM flows WHERE src = \(q) OR dst = \(q) LIMIT 1))
                 + (SELECT count() FROM (SELECT 1 FROM node_addresses WHERE ip = \(q) LIMIT 1))
            """)
        return (rows.first.flatMap { Int($0[0]) } ?? 0) > 0
    }

    /// The counted edges of the window, one row per edge observation that counts:
    /// `start_ns, reporter, proto, port` (the service port: the lower non-zero of the row's two),
    /// `ef` (from), `et` (to), `ep` (packets), `eb` (bytes).
    ///
    /// Each flow row is two observations, src→dst with its tx counters and dst→src with its rx
    /// counters (a physical row: reporter→dst and back); an edge X→Y counts from X's reports
    /// when X is a reporter, else from Y's when Y is, else from anyone's (SPEC §3).
    ///
    /// The rows come from the rollup tables where the planner's levels cover whole buckets of the
    /// window, from raw rows at its ragged edges (``ClickHouseRollups/source(_:step:first:conditions:raw:)``);
    /// a rollup row's `start_ns` is its bucket's start.
    /// - parameter step: the answer's bucket width and `first` its first bucket's start, when bucketed.
    /// - parameter raw: raw rows only (each `start_ns` a message's own window start).
    /// - parameter parts: instead of the question's window, these windows (each read with levels
    ///   finer than its `below` seconds), the rows of each with its index as column `bi`.
    /// - parameter windowSightings: the window's rollup segments from schema 004's sightings
    ///   tables instead (``windowSightingsSource(_:conditions:prewhere:)``).
    static func edges(_ c: Context, kindColumn: Bool = false, direction: Bool = false,
                      step: Nanoseconds? = nil, first: Nanoseconds? = nil, raw: Bool = false,
                      parts: [(window: TimeWindow, below: Int64)]? = nil, windowSightings: Bool = false) -> String {
        let (source, taggedFilter) = Self.source(c, step: step, first: first, raw: raw, parts: parts, windowSightings: windowSightings)
        let outer = endFilter(c, taggedFilter, "ef", "et")
        // Whether each end reports: from the owner joins' flags when resolved by the tables (as in
        // ``countedRows(_:step:first:)``), carried with each observation (`e.5` its from end,
        // `e.6` its to end); with constants, a test of the observation's ends against the literal set.
        let observations: String, counts: String
        if c.resolvedByJoins {
            observations = "\(c.reporterFlags),\n           arrayJoin([(x, y, tx_packets, tx_bytes, xr, yr), (y, x, rx_packets, rx_bytes, yr, xr)]) AS e"
            counts = "if(e.5, ef = reporter, if(e.6, et = reporter, 1))"
        } else {
            observations = "arrayJoin([(x, y, tx_packets, tx_bytes), (y, x, rx_packets, rx_bytes)]) AS e"
            counts = "if(ef IN (\(c.reporters)), ef = reporter,\n         if(et IN (\(c.reporters)), et = reporter, 1))"
        }
        return """
            SELECT start_ns, span, reporter, \(kindColumn ? "kind, " : "")\(direction ? "x AS source, side, " : "")\(parts == nil ? "" : "bi, ")proto, port,
                   e.1 AS ef, e.2 AS et, e.3 AS ep, e.4 AS eb
            FROM (
                \(c.with)
                SELECT start_ns, span, reporter, kind, proto, port, side,\(parts == nil ? "" : " bi,")
                       \(c.resolvedEnds),
                       \(observations)
                FROM \(c.from(source))
            )
            WHERE (ep != 0 OR eb != 0)
              AND \(counts)\(outer)
            """
    }

    /// The `--endpoint` and tagged-set conditions on a row's two ends, columns `a` and `b`
    /// (each an `AND` line, empty without them).
    static func endFilter(_ c: Context, _ taggedFilter: String?, _ a: String, _ b: String) -> String {
        var out = ""
        if let e = c.endpoint {
            let q = ClickHouseClient.quote(e)
            out = "\n  AND (\(a) = \(q) OR \(b) = \(q))"
        }
        if let set = taggedFilter {
            out += "\n  AND (\(a) IN (\(set)) OR \(b) IN (\(set)))"
        }
        return out
    }

    /// The edge model as ``edges(_:kindColumn:direction:step:first:raw:parts:)`` applies it, one
    /// row per physical row instead of one per observation, for answers that only sum counters.
    ///
    /// The answer's SELECT that reads the rows starts with `counted.with` and reads
    /// `FROM \(counted.from) WHERE \(counted.condition)`: the rows `start_ns, span, reporter, kind,
    /// proto, port, side, x, y` and the four counters, where `x` and `y` are the row's resolved ends;
    /// `fwd` says whether its observation x→y (the tx counters) counts and `rev` whether y→x (the
    /// rx counters) does. Rows where neither counts, and (with `--endpoint`, `--tag`, `--user`) rows
    /// whose ends do not match, are left out: both observations of a row have the same two ends,
    /// so those filters hold for both or neither.
    ///
    /// Sums over it equal the sums over the observations (an observation with zero counters adds
    /// nothing), without doubling every row first: a day's `series` took 1.5× as long that way.
    /// `fwd` and `rev` are the answer's own (not a level of their own between the answer and the
    /// resolved rows), and are made from columns the level below resolved: ClickHouse 18.16 sets
    /// each level of a nested query up again for every level above it, and copies an alias into
    /// each expression that uses it; the query had one level more, `fwd` and `rev` copying the
    /// resolution of both ends (an hour's `top` took 30-40% longer on the server).
    ///
    /// - parameter withoutDays: without the rows the planner reads from the day table (the
    ///   answer reads them from `day_sums`); nil when nothing else is left.
    static func countedRows(_ c: Context, step: Nanoseconds? = nil, first: Nanoseconds? = nil) -> Counted {
        countedRows(c, step: step, first: first, withoutDays: false)!
    }

    static func countedRows(_ c: Context, step: Nanoseconds? = nil, first: Nanoseconds? = nil, withoutDays: Bool) -> Counted? {
        let (source, taggedFilter) = Self.source(c, step: step, first: first, raw: false, parts: nil, withoutDays: withoutDays)
        if source.isEmpty { return nil }
        let outer = endFilter(c, taggedFilter, "x", "y")
        return Counted(
            with: "WITH if(xr, x = reporter, if(yr, y = reporter, 1)) AS fwd, if(yr, y = reporter, if(xr, x = reporter, 1)) AS rev",
            from: """
                (
                    \(c.with)
                    SELECT start_ns, span, reporter, kind, proto, port, side, tx_packets, tx_bytes, rx_packets, rx_bytes,
                           \(c.resolvedEnds),
                           \(c.reporterFlags)
                    FROM \(c.from(source))
                )
                """,
            condition: "(fwd OR rev)\(outer)")
    }

    /// What ``countedRows(_:step:first:)`` gives the answer's SELECT.
    struct Counted {
        /// Starts the SELECT: defines `fwd` and `rev`.
        let with: String
        /// What it reads (`FROM …`).
        let from: String
        /// Its `WHERE`.
        let condition: String
    }

    /// The raw and rollup rows a question reads, with its filters (``ClickHouseRollups/source(_:step:first:conditions:prewhere:raw:below:)``);
    /// and the `--tag`/`--user` nodes as the inside of an `IN (…)`.
    static func source(_ c: Context, step: Nanoseconds?, first: Nanoseconds?, raw: Bool,
                       parts: [(window: TimeWindow, below: Int64)]?, windowSightings: Bool = false, withoutDays: Bool = false) -> (String, String?) {
        let w = c.options.window
        let (conditions, prewhere) = rowFilters(c)
        let tagged = c.tagged.map { t in t.isEmpty ? ClickHouseClient.quote(unseen) : t.map(ClickHouseClient.quote).joined(separator: ", ") }
        let source = windowSightings ? Self.windowSightingsSource(w, conditions: conditions, prewhere: prewhere)
            : parts.map { Self.partsSource($0, conditions: conditions, prewhere: prewhere) }
            ?? ClickHouseRollups.source(w, step: step, first: first, conditions: conditions, prewhere: prewhere, raw: raw, withoutDays: withoutDays)
        return (source, tagged)
    }

    /// The filters on a stored row's own columns (raw, rollup or sightings row): `--kind`,
    /// `--proto` and `--endpoint` (the last as a `PREWHERE` on one server).
    static func rowFilters(_ c: Context) -> (conditions: [String], prewhere: String?) {
        let kinds = c.options.candidateKinds.map { String($0.rawValue) }.sorted().joined(separator: ", ")
        var conditions = ["kind IN (\(kinds.isEmpty ? "254" : kinds))"]
        if let p = c.options.proto { conditions.append("proto = \(p)") }
        var prewhere: String?
        if let e = c.endpoint {
            let q = ClickHouseClient.quote(e)
            // Before any resolution, only rows that can make an edge with it: an end resolves to it
            // when its address is one it owns (or it is that unowned address; '' is `*`), and a
            // physical row's source is its reporter.
            var addresses = Set(c.directory.owners.filter { $0.value == e }.keys)
            addresses.insert(e == "*" ? "" : e)
            let set = addresses.sorted().map(ClickHouseClient.quote).joined(separator: ", ")
            let filter = "(src IN (\(set)) OR dst IN (\(set)) OR (kind = 3 AND reporter = \(q)))"
            // Selective: tested first on the few columns it reads (PREWHERE), so that the rest of
            // a row is read and tested only for rows it keeps (the rollups' rows, and raw rows
            // over whole windows). A scope's raw rows of its peers' first and last minutes test
            // the minutes first instead (``partsSource(_:conditions:prewhere:)``). One server only:
            // a Distributed table in ClickHouse 18.16 takes no PREWHERE.
            if c.queries.client.url.cluster == nil { prewhere = filter } else { conditions.append(filter) }
        }
        return (conditions, prewhere)
    }

    /// The rows of each of `parts` with its index as `bi`. Minute buckets (read as raw rows) are
    /// one scan for all of them: a peer's first and last minutes are hundreds of small windows.
    static func partsSource(_ parts: [(window: TimeWindow, below: Int64)], conditions: [String], prewhere: String? = nil) -> String {
        let minute = RollupStep.all[0]
        var selects: [String] = []
        var minutes: [(start: Int64, index: Int)] = []
        for (i, p) in parts.enumerated() {
            if p.below <= minute, p.window.to - p.window.from == minute * Timestamp.nanosPerSecond,
               p.window.from % (minute * Timestamp.nanosPerSecond) == 0 {
                minutes.append((p.window.from / Timestamp.nanosPerSecond, i))
            } else {
                selects.append("SELECT *, toUInt32(span * 0 + \(i)) AS bi FROM (\(ClickHouseRollups.source(p.window, conditions: conditions, prewhere: prewhere, below: p.below)))")
            }
        }
        if let lo = minutes.map(\.start).min(), let hi = minutes.map(\.start).max() {
            let starts = minutes.map { String($0.start) }.joined(separator: ", ")
            let indices = minutes.map { String($0.index) }.joined(separator: ", ")
            let nanos = minute * Timestamp.nanosPerSecond
            let bucket = "intDiv(start_ns, \(nanos)) * \(minute)"
            // The minutes themselves as a set (a hash lookup per row, on the one column of the sort
            // key), within at most 4 ranges of the sort key that cover them (the key skips
            // the granules outside). One range per run of consecutive minutes, hundreds of them for
            // a busy endpoint's day, cost ClickHouse 18.16 seconds to analyse (17 s for 288 runs; the
            // analysis grows with the ranges: 0.10 s for a day's 1,011,096 rows in 1 range, 0.19 s in 16).
            let set = "intDiv(start_ns, \(nanos)) IN (\(Set(minutes.map(\.start)).sorted().map { String($0 / minute) }.joined(separator: ", ")))"
            let ranges = Self.coveringRanges(minutes.map(\.start), width: minute, spans: 4).map {
                "(start_ns >= \($0.0 * Timestamp.nanosPerSecond) AND start_ns < \($0.1 * Timestamp.nanosPerSecond))"
            }
            // The minutes are tested first where a PREWHERE is possible (one column, cheap), the
            // endpoint's filter after them: only the rows of those minutes read the address columns.
            let part: String
            if let prewhere {
                let extra = conditions.map { " AND " + $0 }.joined() + " AND (\(ranges.joined(separator: " OR "))) AND \(prewhere)"
                part = ClickHouseRollups.rawPart(lo * Timestamp.nanosPerSecond, (hi + minute) * Timestamp.nanosPerSecond, extra, prewhere: set)
            } else {
                let extra = conditions.map { " AND " + $0 }.joined() + " AND (\(ranges.joined(separator: " OR "))) AND \(set)"
                part = ClickHouseRollups.rawPart(lo * Timestamp.nanosPerSecond, (hi + minute) * Timestamp.nanosPerSecond, extra)
            }
            // Each row's part by its minute: a hash lookup (`transform`), not a search of the list per row.
            selects.append("""
                SELECT *, toUInt32(span * 0 + transform(\(bucket), [\(starts)], [\(indices)], 0)) AS bi FROM (
                    \(part)
                )
                """)
        }
        return selects.joined(separator: "\nUNION ALL\n")
    }

    /// At most `spans` ranges `[from, to)` (seconds) that cover every one of `starts` (each a
    /// `width`-second bucket start): the runs of consecutive buckets, joined across the smallest gaps.
    static func coveringRanges(_ starts: [Int64], width: Int64, spans: Int) -> [(Int64, Int64)] {
        var runs: [(Int64, Int64)] = []
        for m in Set(starts).sorted() {
            if let last = runs.last, last.1 == m { runs[runs.count - 1].1 = m + width } else { runs.append((m, m + width)) }
        }
        guard runs.count > spans, spans > 0 else { return runs }
        // Keep the spans - 1 widest gaps; join the runs across the others.
        let gaps = (1..<runs.count).sorted { (runs[$0].0 - runs[$0 - 1].1, $1) > (runs[$1].0 - runs[$1 - 1].1, $0) }
        let cuts = Set(gaps.prefix(spans - 1))
        var out: [(Int64, Int64)] = [runs[0]]
        for i in 1..<runs.count {
            if cuts.contains(i) { out.append(runs[i]) } else { out[out.count - 1].1 = runs[i].1 }
        }
        return out
    }

    /// The rows of a sightings table (schema 004) `within` a condition on `bucket`, as rows the
    /// edge model reads like raw rows (``sightingsSource(_:conditions:prewhere:)``), with `bi` when given.
    static func sightingsRows(_ table: String, within: String, bi: String?, extra: String, prewhere: String?) -> String {
        // Counters and span derived from columns: a constant column through a Distributed table
        // under UNION ALL is refused by ClickHouse 18.16 (see ClickHouseRollups.rawPart).
        """
        SELECT s.1 AS start_ns, reporter, kind, proto, toUInt16(kind * 0) AS port, toUInt8(kind * 0 + 1) AS side, src, dst,
               s.2 AS tx_packets, toUInt64(kind * 0) AS tx_bytes, s.3 AS rx_packets, toUInt64(kind * 0) AS rx_bytes,
               s.1 - s.1 AS span\(bi == nil ? "" : ", bi")
        FROM (
            SELECT reporter, kind, proto, src, dst,\(bi.map { " toUInt32(\($0)) AS bi," } ?? "")
                   finalizeAggregation(tx_first) AS tf, finalizeAggregation(tx_last) AS tl,
                   finalizeAggregation(rx_first) AS rf, finalizeAggregation(rx_last) AS rl,
                   arrayJoin([(tf, toUInt64(tf != toInt64(\(noFirst))), toUInt64(0)), (tl, toUInt64(tl != toInt64(\(noLast))), toUInt64(0)),
                              (rf, toUInt64(0), toUInt64(rf != toInt64(\(noFirst)))), (rl, toUInt64(0), toUInt64(rl != toInt64(\(noLast))))]) AS s
            FROM \(table) \(prewhere.map { "PREWHERE \($0) " } ?? "")WHERE \(within)\(extra)
        )
        """
    }

    /// The window's rows as the planner reads them (``ClickHouseRollups/source(_:step:first:conditions:prewhere:raw:below:)``),
    /// each rollup segment from the sightings table of its level instead (the 2- to 16-day levels
    /// from the day table), raw segments as raw rows: the earliest and latest counted observation
    /// of a peer among them are its first and last sighting in the window, to the raw row.
    static func windowSightingsSource(_ window: TimeWindow, conditions: [String], prewhere: String?) -> String {
        let segments = window.from < window.to ? Planner.plan(window, step: nil, below: nil) : []
        let extra = conditions.map { " AND " + $0 }.joined()
        var parts: [String] = []
        for segment in segments {
            switch segment {
            case .rollup(let s, let from, let to):
                let table = s < 3600 ? "sightings_1m" : s < RollupStep.day ? "sightings_1h" : "sightings_1d"
                parts.append(sightingsRows(table, within: "bucket >= \(from / Timestamp.nanosPerSecond) AND bucket < \(to / Timestamp.nanosPerSecond)",
                                           bi: nil, extra: extra, prewhere: prewhere))
            case .raw(let from, let to), .missing(let from, let to):
                parts.append(ClickHouseRollups.rawPart(from, to, extra, prewhere: prewhere))
            }
        }
        if parts.isEmpty { parts.append(ClickHouseRollups.rawPart(window.from, window.to, extra, prewhere: prewhere)) }
        return parts.joined(separator: "\nUNION ALL\n")
    }

    /// The rollup buckets of the window (as the planner reads it) whose sightings rows (schema 004)
    /// do not cover the same keys as their rollup rows: `bucket` (Unix seconds) per bucket where the
    /// number of distinct keys (reporter, kind, proto, both ends) with traffic differs, under the
    /// question's `--kind`, `--proto` and `--endpoint`. A store upgraded while a writer inserted, a
    /// cluster whose other shard is not filled yet, a run that died between an insert and its sums:
    /// their sightings lack keys of some buckets, and those buckets' sightings are not taken.
    static func uncoveredBuckets(_ c: Context) -> String {
        let (conditions, prewhere) = rowFilters(c)
        let w = c.options.window
        let extra = conditions.map { " AND " + $0 }.joined()
        let pre = prewhere.map { "PREWHERE \($0) " } ?? ""
        let segments = w.from < w.to ? Planner.plan(w, step: nil, below: nil) : []
        var parts: [String] = []
        for case .rollup(let s, let from, let to) in segments {
            let range = "bucket >= \(from / Timestamp.nanosPerSecond) AND bucket < \(to / Timestamp.nanosPerSecond)"
            let level = s < 3600 ? "1m" : s < RollupStep.day ? "1h" : "1d"
            parts.append("""
                SELECT bucket, uniqExact(reporter, kind, proto, src, dst) AS r, toUInt64(0) AS k FROM rollup_\(level)
                \(pre)WHERE \(range)\(extra) AND (tx_packets != 0 OR tx_bytes != 0 OR rx_packets != 0 OR rx_bytes != 0) GROUP BY bucket
                UNION ALL
                SELECT bucket, toUInt64(0) AS r, uniqExact(reporter, kind, proto, src, dst) AS k FROM sightings_\(level)
                \(pre)WHERE \(range)\(extra)
                  AND (finalizeAggregation(tx_first) != toInt64(\(noFirst)) OR finalizeAggregation(rx_first) != toInt64(\(noFirst))) GROUP BY bucket
                """)
        }
        if parts.isEmpty { return "" }
        return """
            SELECT bucket FROM (
            \(parts.joined(separator: "\nUNION ALL\n"))
            ) GROUP BY bucket HAVING sum(r) != sum(k)
            """
    }

    /// A direction without raw rows in a sightings row (schema 004's sentinels).
    static let noFirst = "9223372036854775807"
    static let noLast = "-9223372036854775807"

    // MARK: flows

    /// The most matching rows a `flows` page counts past its own (as the engine's bound).
    static let flowCountBound = 1_000_000

    /// A page of raw rows, newest first (window start, then the reporter's node id, digest and
    /// row), after `after`; with how many rows match from the cursor on (up to a bound).
    /// - parameter match: a keyword matched, case-insensitively, against the node IDs, names, users
    ///   and tags of the reporter and both ends, the addresses, and the ports (as the engine does).
    func flows(_ c: Context, match: String? = nil, limit: Int, after: String?) throws -> (rows: [FlowLogRow], total: Int, atLeast: Bool) {
        let position = try after.map(FlowPosition.init(parsing:))
        // The node ids (the cursor's reporter, the order within a window start) and the labels.
        let snapshot = try ClickHouseSnapshot(client, directory: c.directory)
        let labels = try EndpointLabels(snapshot)
        let ids = snapshot.nodeIDs.sorted { $0.key < $1.key }
        let w = c.options.window
        var upper = w.to
        if let position { upper = min(upper, position.start + 1) }
        let kinds = c.options.candidateKinds.map { String($0.rawValue) }.sorted().joined(separator: ", ")
        var inner = ["start_ns >= \(w.from)", "start_ns < \(upper)", "kind IN (\(kinds.isEmpty ? "254" : kinds))"]
        if let p = c.options.proto { inner.append("proto = \(p)") }
        var outer: [String] = []
        if let e = c.endpoint {
            let q = ClickHouseClient.quote(e)
            outer.append("(x = \(q) OR y = \(q) OR (kind = 3 AND reporter = \(q)))")
        }
        if let tagged = c.tagged {
            let set = tagged.isEmpty ? ClickHouseClient.quote(Self.unseen) : tagged.map(ClickHouseClient.quote).joined(separator: ", ")
            outer.append("(x IN (\(set)) OR y IN (\(set)) OR reporter IN (\(set)))")
        }
        if let needle = match?.lowercased() {
            // The nodes the keyword names (few: the directory is small), then the raw addresses and ports.
            let named = c.directory.nodes.values.filter { n in
                n.stableID.lowercased().contains(needle) || (n.name?.lowercased().contains(needle) ?? false)
                    || (n.user?.lowercased().contains(needle) ?? false) || n.tags.contains { $0.lowercased().contains(needle) }
            }.map(\.stableID).sorted()
            let set = named.isEmpty ? ClickHouseClient.quote(Self.unseen) : named.map(ClickHouseClient.quote).joined(separator: ", ")
            let q = ClickHouseClient.quote(needle)
            var any = ["reporter IN (\(set))", "x IN (\(set))", "y IN (\(set))",
                       "(src != '' AND position(src, \(q)) > 0)", "(dst != '' AND position(dst, \(q)) > 0)"]
            if let port = UInt16(needle) { any.append("src_port = \(port) OR dst_port = \(port)") }
            outer.append("(" + any.joined(separator: " OR ") + ")")
        }
        if let p = position {
            outer.append("""
                (start_ns < \(p.start) OR (start_ns = \(p.start) AND (ord < \(p.reporter) OR (ord = \(p.reporter) \
                AND (digest < \(p.digest) OR (digest = \(p.digest) AND row > \(p.index)))))))
                """)
        }
        let rows = """
            SELECT start_ns, end_ns, reporter, ord, digest, row, kind, proto, src, src_port, dst, dst_port,
                   tx_packets, tx_bytes, rx_packets, rx_bytes, x, y
            FROM (
                \(c.with)
                SELECT start_ns, end_ns, reporter, digest, row, kind, proto, src, src_port, dst, dst_port,
                       tx_packets, tx_bytes, rx_packets, rx_bytes,
                       transform(src, ips, owners, src) AS x, transform(dst, ips, owners, dst) AS y,
                       transform(reporter, [\(ids.map { ClickHouseClient.quote($0.key) }.joined(separator: ", "))],
                                 [\(ids.map { "toUInt64(\($0.value))" }.joined(separator: ", "))], toUInt64(0)) AS ord
                FROM flows
                WHERE \(inner.joined(separator: " AND "))
            )
            \(outer.isEmpty ? "" : "WHERE " + outer.joined(separator: " AND "))
            """
        let cap = max(Self.flowCountBound, limit)
        let counted = try client.rows("SELECT count() FROM (SELECT 1 FROM (\(rows)) LIMIT \(cap + 1))")
        let total = counted.first.flatMap { Int($0[0]) } ?? 0
        let page = try c.select(rows + "\nORDER BY start_ns DESC, ord DESC, digest DESC, row ASC\nLIMIT \(limit)")
        let out = page.rows.map { f -> FlowLogRow in
            let reporter = f.string(2)
            let src = f.string(8), dst = f.string(10), x = f.string(16), y = f.string(17)
            let srcNode = c.directory.nodes[x] != nil ? x : nil, dstNode = c.directory.nodes[y] != nil ? y : nil
            let srcName = c.directory.name(x), dstName = c.directory.name(y)
            let srcPort = UInt16(truncatingIfNeeded: f.int(9)), dstPort = UInt16(truncatingIfNeeded: f.int(11))
            return FlowLogRow.make(
                start: f.int(0), end: f.int(1), reporter: reporter, reporterName: c.directory.name(reporter),
                kind: TrafficKind(rawValue: UInt8(truncatingIfNeeded: f.int(6))) ?? .virtual, proto: UInt8(truncatingIfNeeded: f.int(7)),
                src: src.isEmpty ? nil : src, srcPort: srcPort, srcNode: srcNode, srcName: srcName,
                dst: dst.isEmpty ? nil : dst, dstPort: dstPort, dstNode: dstNode, dstName: dstName,
                txPackets: f.int(12), txBytes: f.int(13), rxPackets: f.int(14), rxBytes: f.int(15),
                cursor: FlowPosition.text(start: f.int(0), reporter: f.int(3), digest: f.int(4), index: Int(f.int(5))),
                srcLabel: srcName == nil ? labels.flowLabel(src.isEmpty ? nil : src, port: srcPort, other: dst.isEmpty ? nil : dst) : nil,
                dstLabel: dstName == nil ? labels.flowLabel(dst.isEmpty ? nil : dst, port: dstPort, other: src.isEmpty ? nil : src) : nil)
        }
        return (out, min(total, cap), total > cap)
    }

    // MARK: top

    func topEndpoints(_ c: Context, metric: Metric, limit: Int) throws -> ([TopEndpointRow], Int) {
        let order = metric == .bytes ? "bytes" : "packets"
        // Each row gives its two ends what they sent and received of its counted observations.
        // `*`'s label says whether its traffic is with `*` only, with others only, or both: every
        // row with `*` at an end is in `*`'s group, so the group's maxima of the two flags (of
        // counted observations with traffic) say it. Whole days come from `day_sums` (``summedDays(_:)``).
        let days = summedDays(c)
        // Without the day sums (`fills` nil), every row is resolved at query time.
        func resolved(_ withoutDays: Bool) -> String? { Self.countedRows(c, withoutDays: withoutDays).map { counted in
            """
                \(counted.with)
                SELECT if(fwd, tx_bytes, 0) AS fb, if(fwd, tx_packets, 0) AS fp, if(rev, rx_bytes, 0) AS rb_, if(rev, rx_packets, 0) AS rp_,
                       (fb != 0 OR fp != 0 OR rb_ != 0 OR rp_ != 0) AS traffic,
                       traffic AND x = '*' AND y = '*' AS ss, traffic AND ((x = '*') != (y = '*')) AS so,
                       arrayJoin([(x, fb, rb_, fp, rp_, ss, so), (y, rb_, fb, rp_, fp, ss, so)]) AS s
                FROM \(counted.from)
                WHERE \(counted.condition)
            """
        } }
        func sql(_ fills: [UInt64]?) -> String {
            let rows = [resolved(fills != nil).map { fills == nil ? $0 : "SELECT s FROM (\n\($0)\n)" }, fills.map { Self.daySumsEndpoints(c, $0) }]
            return """
                SELECT s.1 AS endpoint, sum(s.2) AS sb, sum(s.3) AS rb, sum(s.4) AS sp, sum(s.5) AS rp,
                       sb + rb AS bytes, sp + rp AS packets, max(s.6) AS with_star, max(s.7) AS with_others
                FROM (
                \(rows.compactMap { $0 }.joined(separator: "\nUNION ALL\n"))
                )
                GROUP BY endpoint
                HAVING bytes != 0 OR packets != 0
                ORDER BY \(order) DESC, endpoint ASC
                LIMIT \(limit)
                """
        }
        let answer = try days.flatMap { try daySummed(c, days: $0, rest: Self.countedRows(c, withoutDays: true) != nil, sql) } ?? c.select(sql(nil))
        var starOnly: Bool? = false
        if let star = answer.rows.first(where: { $0.string(0) == "*" }) {
            let withStar = star.int(7) == 1, withOthers = star.int(8) == 1
            starOnly = withStar && withOthers ? nil : withStar
        }
        let labels = try c.labels()
        let rows = try answer.rows.map { f in
            TopEndpointRow.make(endpoint: f.string(0), name: c.directory.name(f.string(0)), sentBytes: f.int(1), receivedBytes: f.int(2),
                                sentPackets: f.int(3), receivedPackets: f.int(4),
                                label: c.directory.name(f.string(0)) == nil ? try labels.label(f.string(0), starOnly: starOnly) : nil)
        }
        return (rows, answer.total)
    }

    func topPairs(_ c: Context, metric: Metric, limit: Int) throws -> ([TopPairRow], Int) {
        let order = metric == .bytes ? "bytes" : "packets"
        let days = summedDays(c)
        // Without the day sums (`fills` nil), every row is resolved at query time.
        func resolved(_ withoutDays: Bool) -> String? { Self.countedRows(c, withoutDays: withoutDays).map { counted in
            """
                \(counted.with)
                SELECT x <= y AS forward, if(forward, x, y) AS a, if(forward, y, x) AS b,
                       if(fwd AND forward, tx_bytes, 0) + if(rev AND y <= x, rx_bytes, 0) AS abB,
                       if(fwd AND NOT forward, tx_bytes, 0) + if(rev AND NOT (y <= x), rx_bytes, 0) AS baB,
                       if(fwd AND forward, tx_packets, 0) + if(rev AND y <= x, rx_packets, 0) AS abP,
                       if(fwd AND NOT forward, tx_packets, 0) + if(rev AND NOT (y <= x), rx_packets, 0) AS baP
                FROM \(counted.from)
                WHERE \(counted.condition)
            """
        } }
        func sql(_ fills: [UInt64]?) -> String {
            let rows = [resolved(fills != nil).map { fills == nil ? $0 : "SELECT a, b, abB, baB, abP, baP FROM (\n\($0)\n)" }, fills.map { Self.daySumsPairs(c, $0) }]
            return """
                SELECT a, b, sum(abB) AS ab_bytes, sum(baB) AS ba_bytes, sum(abP) AS ab_packets, sum(baP) AS ba_packets,
                       ab_bytes + ba_bytes AS bytes, ab_packets + ba_packets AS packets
                FROM (
                \(rows.compactMap { $0 }.joined(separator: "\nUNION ALL\n"))
                )
                GROUP BY a, b
                HAVING bytes != 0 OR packets != 0
                ORDER BY \(order) DESC, a ASC, b ASC
                LIMIT \(limit)
                """
        }
        let answer = try days.flatMap { try daySummed(c, days: $0, rest: Self.countedRows(c, withoutDays: true) != nil, sql) } ?? c.select(sql(nil))
        let labels = try c.labels()
        let rows = try answer.rows.map { f in
            let a = f.string(0), b = f.string(1)
            let aName = c.directory.name(a), bName = c.directory.name(b)
            return TopPairRow.make(a: a, b: b, aName: aName, bName: bName,
                                   abBytes: f.int(2), baBytes: f.int(3), abPackets: f.int(4), baPackets: f.int(5),
                                   aLabel: aName == nil ? try labels.label(a, starOnly: a == b) : nil,
                                   bLabel: bName == nil ? try labels.label(b, starOnly: a == b) : nil)
        }
        return (rows, answer.total)
    }

    func topPorts(_ c: Context, metric: Metric, limit: Int) throws -> ([TopPortRow], Int) {
        let counted = Self.countedRows(c)
        let answer = try c.select("""
            \(counted.with)
            SELECT proto, port, sum(if(fwd, tx_bytes, 0) + if(rev, rx_bytes, 0)) AS bytes,
                   sum(if(fwd, tx_packets, 0) + if(rev, rx_packets, 0)) AS packets
            FROM \(counted.from)
            WHERE \(counted.condition)
            GROUP BY proto, port
            HAVING bytes != 0 OR packets != 0
            ORDER BY \(metric == .bytes ? "bytes" : "packets") DESC, proto ASC, port ASC
            LIMIT \(limit)
            """)
        let rows = answer.rows.map { f in
            TopPortRow.make(proto: UInt8(truncatingIfNeeded: f.int(0)), port: UInt16(truncatingIfNeeded: f.int(1)), bytes: f.int(2), packets: f.int(3))
        }
        return (rows, answer.total)
    }

    func topProtocols(_ c: Context, metric: Metric, limit: Int) throws -> ([TopProtoRow], Int) {
        let counted = Self.countedRows(c)
        let answer = try c.select("""
            \(counted.with)
            SELECT proto, sum(if(fwd, tx_bytes, 0) + if(rev, rx_bytes, 0)) AS bytes,
                   sum(if(fwd, tx_packets, 0) + if(rev, rx_packets, 0)) AS packets
            FROM \(counted.from)
            WHERE \(counted.condition)
            GROUP BY proto
            HAVING bytes != 0 OR packets != 0
            ORDER BY \(metric == .bytes ? "bytes" : "packets") DESC, proto ASC
            LIMIT \(limit)
            """)
        let rows = answer.rows.map { f in TopProtoRow.make(proto: UInt8(truncatingIfNeeded: f.int(0)), bytes: f.int(1), packets: f.int(2)) }
        return (rows, answer.total)
    }

    // MARK: series

    func series(_ c: Context, step: Nanoseconds, subject: SeriesSubject) throws -> [SeriesPoint] {
        let (starts, width) = try uniformBuckets(c, step: step)
        guard let first = starts.first else { return [] }
        // Which of a row's two observations match: x→y (`fwd`, its tx counters) and y→x (`rev`).
        var forward = "1", reverse = "1"
        func q(_ s: String) -> String { ClickHouseClient.quote(s) }
        switch subject {
        case .all:
            break
        case .endpoint(let e):
            let a = q(try resolve(e, c.directory))
            forward = "(x = \(a) OR y = \(a))"
            reverse = forward
        case .pair(let a, let b):
            let a = q(try resolve(a, c.directory)), b = q(try resolve(b, c.directory))
            forward = "((x = \(a) AND y = \(b)) OR (x = \(b) AND y = \(a)))"
            reverse = forward
        case .edge(let a, let b):
            let a = q(try resolve(a, c.directory)), b = q(try resolve(b, c.directory))
            forward = "(x = \(a) AND y = \(b))"
            reverse = "(y = \(a) AND x = \(b))"
        }
        let counted = Self.countedRows(c, step: width, first: first)
        let answer = try c.select("""
            \(counted.with)
            SELECT intDiv(start_ns - \(first), \(width)) AS i,
                   sum(if(fwd AND \(forward), tx_bytes, 0) + if(rev AND \(reverse), rx_bytes, 0)) AS bytes,
                   sum(if(fwd AND \(forward), tx_packets, 0) + if(rev AND \(reverse), rx_packets, 0)) AS packets
            FROM \(counted.from)
            WHERE \(counted.condition)
            GROUP BY i
            """)
        var points = starts.map { SeriesPoint.make(time: $0, bytes: 0, packets: 0) }
        for f in answer.rows {
            let i = f.int(0)
            guard i >= 0, i < points.count else { continue }
            points[Int(i)].bytes = f.int(1)
            points[Int(i)].packets = f.int(2)
        }
        return points
    }

    // MARK: scope

    /// Every peer the endpoint exchanged traffic with: both directions, protocols, service ports
    /// (outbound: on the peer, which the endpoint connected to; inbound: on the endpoint), first
    /// and last seen (the end of the last message window starting when the last traffic did).
    func scope(_ c: Context) throws -> [ScopePeer] {
        guard let e = c.endpoint else { throw QueryError("scope needs \(parameter: "endpoint")") }
        let q = ClickHouseClient.quote(e)
        // Sums, protocols and ports from the planner's rows (rollups where whole buckets fit); each
        // peer's first and last sighting as the planned row holding it (a raw row's window start,
        // or a rollup bucket, refined below).
        let sighting = """
            min(start_ns), argMin(span, start_ns), max(start_ns + span), argMax(span, start_ns + span),
            max(if(span = 0, start_ns, toInt64(-9223372036854775807)))
            """
        // Each peer's first and last sighting to the raw row, from schema 004's tables over the same
        // planned rows, asked at the same time as the sums (the prelude is read: the SQL holds its
        // constants). Checked against the sums' sightings below.
        let direct: Background<[String: (Sighting, Sighting)]>?
        let uncovered: Background<Set<Int64>>?
        if Self.rawRefinementOnly {
            direct = nil
            uncovered = nil
        } else {
            let sql = """
                SELECT if(ef = \(q), et, ef) AS peer, \(sighting)
                FROM (\(Self.edges(c, direction: true, windowSightings: true)))
                GROUP BY peer
                """
            let queries = self
            direct = Background {
                var out: [String: (Sighting, Sighting)] = [:]
                for f in try queries.select(sql).rows { out[f.string(0)] = Self.sightings(f, at: 1) }
                return out
            }
            let guardSQL = Self.uncoveredBuckets(c)
            uncovered = Background {
                guard !guardSQL.isEmpty else { return [] }
                return Set(try queries.select(guardSQL).rows.map { $0.int(0) * Timestamp.nanosPerSecond })
            }
        }
        let answer = try c.select("""
            SELECT if(ef = \(q), et, ef) AS peer,
                   sumIf(eb, ef = \(q)) AS sb, sumIf(eb, ef != \(q)) AS rb, sumIf(ep, ef = \(q)) AS sp, sumIf(ep, ef != \(q)) AS rp,
                   arraySort(groupUniqArray(proto)), arraySort(groupUniqArray(port)),
                   arraySort(groupUniqArrayIf(port, side != 1 AND (source = \(q)) = (side = 2))),
                   arraySort(groupUniqArrayIf(port, side != 1 AND (source = \(q)) != (side = 2))),
                   \(sighting)
            FROM (\(Self.edges(c, direction: true)))
            GROUP BY peer
            ORDER BY sb + rb DESC, peer ASC
            """)
        var firsts: [String: Sighting] = [:], lasts: [String: Sighting] = [:]
        for f in answer.rows {
            (firsts[f.string(0)], lasts[f.string(0)]) = Self.sightings(f, at: 9)
        }
        // A sighting in a rollup bucket takes the sightings tables' raw start when the tables cover
        // that bucket's keys and the start lies in it; the others are refined from raw rows below.
        if let found = try direct?.value(), let uncovered = try uncovered?.value() {
            func taken(_ s: Sighting, _ t: Sighting?) -> Sighting? {
                guard let t, t.span == 0, !uncovered.contains(s.start), t.start >= s.start, t.start < s.start + s.span else { return nil }
                return t
            }
            for (peer, s) in firsts where s.span > 0 {
                if let f = taken(s, found[peer]?.0) { firsts[peer] = f }
            }
            for (peer, s) in lasts where s.span > 0 {
                if let l = taken(s, found[peer]?.1) { lasts[peer] = l }
            }
        }
        try refine(c, &firsts, &lasts, sighting: sighting)
        let lastStarts = Set(lasts.values.map(\.start))
        var ends: [Int64: Int64] = [:]
        if !lastStarts.isEmpty {
            for f in try client.rows("SELECT start_ns, max(end_ns) FROM flows WHERE start_ns IN (\(lastStarts.sorted().map(String.init).joined(separator: ", "))) GROUP BY start_ns") {
                if let s = Int64(f[0]), let end = Int64(f[1]) { ends[s] = end }
            }
        }
        func numbers(_ v: Any) -> [Int64] { (v as? [Any])?.compactMap { ($0 as? NSNumber)?.int64Value } ?? [] }
        let labels = try c.labels()
        return try answer.rows.map { f in
            let ports = numbers(f.values[6]).map { UInt16(truncatingIfNeeded: $0) }
            let name = c.directory.name(f.string(0))
            return ScopePeer.make(peer: f.string(0), peerName: name, sentBytes: f.int(1), receivedBytes: f.int(2),
                                  sentPackets: f.int(3), receivedPackets: f.int(4),
                                  protocols: numbers(f.values[5]).map { UInt8(truncatingIfNeeded: $0) },
                                  ports: ports,
                                  outboundPorts: numbers(f.values[7]).map { UInt16(truncatingIfNeeded: $0) },
                                  inboundPorts: numbers(f.values[8]).map { UInt16(truncatingIfNeeded: $0) },
                                  firstSeen: firsts[f.string(0)]?.start ?? 0,
                                  lastSeen: lasts[f.string(0)].map { ends[$0.start] ?? $0.start + $0.span } ?? 0,
                                  peerLabel: name == nil ? try labels.label(f.string(0), ports: ports, starOnly: e == "*") : nil)
        }
    }

    /// Tests only: refine every sighting from the raw rows, as before schema 004
    /// (`TAILFLOW_CLICKHOUSE_RAW_SIGHTINGS=1`), to compare both paths on one store.
    static let rawRefinementOnly = ProcessInfo.processInfo.environment["TAILFLOW_CLICKHOUSE_RAW_SIGHTINGS"] == "1"

    /// Where a peer was first or last seen: a raw row's window start (`span` 0) or a rollup bucket.
    struct Sighting: Hashable {
        var start: Int64
        var span: Int64
    }

    /// A row's first and last sighting from the five columns at `i` (``scope(_:)``'s `sighting`):
    /// the earliest row (the planned rows are disjoint, so one span starts there) and the row that
    /// ends last (a raw row when one starts where a bucket ends, as the engine prefers the shorter).
    static func sightings(_ f: Fields, at i: Int) -> (Sighting, Sighting) {
        let first = Sighting(start: f.int(i), span: f.int(i + 1))
        let end = f.int(i + 2), lastRaw = f.int(i + 4)
        let last = lastRaw == end ? Sighting(start: end, span: 0) : Sighting(start: end - f.int(i + 3), span: f.int(i + 3))
        return (first, last)
    }

    /// Refines the sightings found in rollup buckets as the engine does: each such bucket read again
    /// with the levels finer than itself (down to raw rows), one query per round for all of them,
    /// until every sighting is a raw row's window start.
    func refine(_ c: Context, _ firsts: inout [String: Sighting], _ lasts: inout [String: Sighting], sighting: String) throws {
        let q = ClickHouseClient.quote(c.endpoint ?? "")
        while true {
            let buckets = Set(firsts.values.filter { $0.span > 0 } + lasts.values.filter { $0.span > 0 }).sorted { ($0.start, $0.span) < ($1.start, $1.span) }
            if buckets.isEmpty { return }
            // A bucket of a day or more goes straight to its minutes (a day's minute rows, tested
            // first against the endpoint, read faster than its hours and then their minutes; a
            // week's 2- and 4-day buckets took four rounds, 3.1 s, to reach raw rows); hour buckets
            // to their minutes. The sighting found is the same: the earliest (latest) minute
            // holding the peer holds its earliest (latest) raw row.
            let parts = buckets.map { b -> (window: TimeWindow, below: Int64) in
                let span = b.span / Timestamp.nanosPerSecond
                return (TimeWindow(from: b.start, to: b.start + b.span), span >= RollupStep.day ? 3600 : span)
            }
            let answer = try c.select("""
                SELECT bi, if(ef = \(q), et, ef) AS peer, \(sighting)
                FROM (\(Self.edges(c, direction: true, parts: parts)))
                GROUP BY bi, peer
                """)
            var found: [Sighting: [String: (Sighting, Sighting)]] = [:]
            for f in answer.rows {
                let i = Int(f.int(0))
                guard i >= 0, i < buckets.count else { continue }
                found[buckets[i], default: [:]][f.string(1)] = Self.sightings(f, at: 2)
            }
            var progressed = false
            for (peer, s) in firsts where s.span > 0 {
                if let f = found[s]?[peer]?.0 { firsts[peer] = f; progressed = true } else { firsts[peer] = Sighting(start: s.start, span: 0) }
            }
            for (peer, s) in lasts where s.span > 0 {
                if let l = found[s]?[peer]?.1 { lasts[peer] = l; progressed = true } else { lasts[peer] = Sighting(start: s.start + s.span, span: 0) }
            }
            if !progressed { return }
        }
    }

    // MARK: rollup

    func rollup(_ c: Context, step: Nanoseconds, groupBy: [RollupKeyField]) throws -> [RollupRow] {
        for key in groupBy where [.tag, .user, .os].contains(key) {
            throw ClickHouseUnsupported("rollup --group-by \(key.rawValue)")
        }
        let (starts, width) = try uniformBuckets(c, step: step)
        guard let first = starts.first else { return [] }
        // The keys in the order asked, each as it sorts: kinds by name, endpoints in byte order.
        let columns: [(RollupKeyField, String)] = groupBy.map { key in
            switch key {
            case .kind: (key, "transform(kind, [0, 1, 2, 3], ['virtual', 'subnet', 'exit', 'physical'], '')")
            case .proto: (key, "proto")
            case .port: (key, "port")
            case .src: (key, "ef")
            case .dst: (key, "et")
            case .tag, .user, .os: (key, "''")
            }
        }
        let keyList = columns.enumerated().map { "\($1.1) AS k\($0)" }
        let answer = try c.select("""
            SELECT intDiv(start_ns - \(first), \(width)) AS i\(keyList.map { ", " + $0 }.joined()), sum(eb) AS bytes, sum(ep) AS packets
            FROM (\(Self.edges(c, kindColumn: true, step: width, first: first)))
            GROUP BY i\(columns.indices.map { ", k\($0)" }.joined())
            HAVING bytes != 0 OR packets != 0
            ORDER BY i\(columns.indices.map { ", k\($0)" }.joined())
            """)
        let labels = try c.labels()
        let keys = Set(groupBy)
        return try answer.rows.compactMap { f -> RollupRow? in
            let i = f.int(0)
            guard i >= 0, i < starts.count else { return nil }
            var row = RollupRow(time: starts[Int(i)], bytes: f.int(columns.count + 1), packets: f.int(columns.count + 2))
            for (n, (key, _)) in columns.enumerated() {
                switch key {
                case .kind: row.kind = f.string(n + 1)
                case .proto: row.proto = UInt8(truncatingIfNeeded: f.int(n + 1))
                case .port: row.port = UInt16(truncatingIfNeeded: f.int(n + 1))
                case .src:
                    row.src = f.string(n + 1)
                    row.srcName = c.directory.name(f.string(n + 1))
                case .dst:
                    row.dst = f.string(n + 1)
                    row.dstName = c.directory.name(f.string(n + 1))
                case .tag, .user, .os: break
                }
            }
            if let src = row.src, row.srcName == nil {
                row.srcLabel = try labels.rollupLabel(keys, .src, src, other: row.dst, port: row.port)
            }
            if let dst = row.dst, row.dstName == nil {
                row.dstLabel = try labels.rollupLabel(keys, .dst, dst, other: row.src, port: row.port)
            }
            return row
        }
    }

    /// The question's buckets when they all have one width (epoch-aligned steps, UTC days and weeks).
    ///
    /// - throws: ``ClickHouseUnsupported`` for calendar buckets of different lengths (summer time).
    func uniformBuckets(_ c: Context, step: Nanoseconds) throws -> ([Nanoseconds], Nanoseconds) {
        try uniformBuckets(c.options, step: step)
    }

    func uniformBuckets(_ options: QueryOptions, step: Nanoseconds) throws -> ([Nanoseconds], Nanoseconds) {
        let buckets = try options.window.bucketing(step: step, zone: options.zone)
        guard let first = buckets.starts.first else { return ([], step) }
        let width = buckets.starts.count > 1 ? buckets.starts[1] - first : step
        for (a, b) in zip(buckets.starts, buckets.starts.dropFirst()) where b - a != width {
            throw ClickHouseUnsupported("--step \(Self.stepText(step)) in --tz \(options.zone.identifier) (buckets of different lengths)")
        }
        return (buckets.starts, width)
    }

    static func stepText(_ step: Nanoseconds) -> String {
        let s = step / Timestamp.nanosPerSecond
        if s % 604_800 == 0 { return "\(s / 604_800)w" }
        if s % 86_400 == 0 { return "\(s / 86_400)d" }
        if s % 3_600 == 0 { return "\(s / 3_600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }

    // MARK: Notes

    /// What the asker should know besides the rows, as SQLite's answers say it.
    /// - parameter directory: the question's node tables (else read here).
    /// - parameter windowHasData: whether the window holds any flow row, when already known.
    func notes(_ window: TimeWindow, arguments: [String], directory known: NodeDirectory? = nil, windowHasData: Bool? = nil) throws -> [String] {
        var notes: [String] = []
        for a in arguments {
            guard let ip = IPAddress(a.trimmingCharacters(in: .whitespaces)) else { continue }
            let directory = try known ?? store.directory()
            if directory.owners[ip.description] == nil, try !seen(ip.description) {
                notes.append("no flow or node in this store has the address \(ip.description): nothing matches it")
            }
        }
        let hasData = try windowHasData ?? (client.rows("""
            SELECT count() FROM (SELECT 1 FROM flows WHERE start_ns >= \(window.from) AND start_ns < \(window.to) LIMIT 1)
            """).first?.first != "0")
        guard !hasData else { return notes }
        let span = "no data in [\(Timestamp.formatRFC3339(window.from)), \(Timestamp.formatRFC3339(window.to)))"
        let range = try client.rows("SELECT count(), min(start_ns), max(start_ns) FROM flows")
        if let r = range.first, r.count == 3, r[0] != "0", let lo = Int64(r[1]), let hi = Int64(r[2]) {
            let end = try client.rows("SELECT max(end_ns) FROM flows WHERE start_ns = \(hi)").first.flatMap { Int64($0[0]) } ?? hi
            notes.append("\(span); the store holds \(Timestamp.formatRFC3339(lo)) … \(Timestamp.formatRFC3339(max(hi, end)))")
        } else {
            notes.append("\(span); the store holds no flow logs yet (tailflow ingest, pull or follow adds them)")
        }
        return notes
    }

    // MARK: Reading answers

    struct Answer {
        var rows: [Fields]
        /// The rows before the LIMIT.
        var total: Int
    }

    struct Fields {
        let values: [Any]
        func string(_ i: Int) -> String { values[i] as? String ?? "\(values[i])" }
        func int(_ i: Int) -> Int64 {
            if let n = values[i] as? NSNumber { return n.int64Value }
            if let s = values[i] as? String { return Int64(s) ?? 0 }
            return 0
        }
    }

    /// Runs a SELECT in JSONCompact (exact integers, and the row count before LIMIT).
    func select(_ sql: String, external: [ClickHouseClient.ExternalTable] = []) throws -> Answer {
        let bytes = try client.run(sql + "\nFORMAT JSONCompact", external: external)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let data = object["data"] as? [[Any]] else {
            throw ClickHouseError(.server(status: 200), server: client.url.server, "an answer that is not JSONCompact: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
        }
        let total = (object["rows_before_limit_at_least"] as? NSNumber)?.intValue ?? data.count
        return Answer(rows: data.map { Fields(values: $0) }, total: max(total, data.count))
    }
}
