import ArgumentParser
import FlowClickHouse
import FlowFormat
import FlowModel
import FlowQuery
import Foundation
import FlowWeb

extension Tailflow {
    struct Top: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "top",
            abstract: "Rank endpoints, pairs, ports or protocols by traffic over a window.",
            discussion: "Each byte is counted once although both ends report it (the edge model of SPEC §3).")

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: ChartFormatOptions

        @Option(help: "What to rank: endpoint, pair, port or proto.")
        var by: TopDimension = .endpoint

        @Option(help: "Rank by bytes or packets.")
        var metric: Metric = .bytes

        @Option(help: "At most this many rows.")
        var limit = 20

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() throws {
            let q = try question { .top(try filters.options(window), by: by, metric: metric, limit: limit) }
            try output.print(q, store: store)
        }
    }

    struct Series: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "series",
            abstract: "Bytes and packets per step over a window, for everything, an endpoint, a pair or an edge.",
            discussion: "Dense: every bucket from the one holding --from to the one holding the last instant before --to, empty ones as zero.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: ChartFormatOptions

        @Option(help: "Bucket width: 1m, 5m, 1h, 1d, 1w … (1d and 1w are calendar days and Monday weeks in --tz; others epoch-aligned).")
        var step = "1h"

        @Option(help: ArgumentHelp("Both directions between two endpoints.", valueName: "A,B"))
        var pair: String?

        @Option(help: ArgumentHelp("One direction, from A to B.", valueName: "A,B"))
        var edge: String?

        func run() throws {
            let q = try question {
                var options = try filters.options(window)
                let step = try QuestionText.step(step)
                return .series(options, step: step, subject: try SeriesSubject.chosen(from: &options, pair: pair, edge: edge))
            }
            try output.print(q, store: store)
        }
    }

    struct Rollup: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rollup", abstract: "Bytes and packets per step, grouped by any of kind, proto, src, dst, tag, user, os and port.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: ChartFormatOptions

        @Option(help: "Bucket width: 1m, 5m, 1h, 1d, 1w … (1d and 1w are calendar days and Monday weeks in --tz).")
        var step = "1h"

        @Option(name: .customLong("group-by"), help: ArgumentHelp("Keys, comma-separated: kind, proto, src, dst (with srcName, dstName), tag, user, os (of a node at either end: an edge between two groups counts in both; null: neither end has one), port (the service port).", valueName: "keys"))
        var groupBy = ""

        func run() throws {
            let q = try question { .rollup(try filters.options(window), step: try QuestionText.step(step), groupBy: try QuestionText.groupBy(groupBy)) }
            try output.print(q, store: store)
        }
    }

    struct Scope: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scope",
            abstract: "Everything one endpoint touched in a window: every peer, both directions, ports, protocols, first and last seen.",
            discussion: """
                Who opened the connections: outboundPorts (PORTS OUT) are the service ports on the peer the endpoint \
                connected to, inboundPorts (PORTS IN) the service ports on the endpoint the peer connected to. The side \
                holding a row's service port (the lower non-zero of its two ports) answered, the other opened: a strong \
                hint, not proof (two ephemeral ports or a client bound to a low port read the wrong way). \
                The table is followed by the window's configuration changes that may explain the traffic: those whose \
                target is E's node, and the tailnet-wide ones (policy file, DNS, tailnet settings). --changes prints \
                only those, in any format (the fields of `tailflow changes`).
                """)

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: FormatOptions

        @Flag(help: "List the raw flow rows instead of the peers.")
        var flows = false

        @Flag(help: "List the window's configuration changes of E's node and the tailnet-wide ones, instead of the peers.")
        var changes = false

        @Option(help: "With --flows: at most this many rows.")
        var limit = 1000

        func validate() throws {
            if flows && changes { throw ValidationError("--flows and --changes are two different answers: ask for one") }
        }

        func run() throws {
            let q = try question { try .scope(try filters.options(window), flows: flows, limit: limit) }
            guard case .scope(let o) = q, let endpoint = o.endpoint else {
                try output.print(q, store: store, more: "--limit N for more, or page with tailflow flows --endpoint E --after CURSOR")
                return
            }
            let engine = QueryEngine(store: try store.openStorageForReading())
            if changes {
                output.print(Report.changes(try usage { try engine.scopeChanges(window: o.window, endpoint: endpoint) }))
                return
            }
            // The window's changes are read while the peers are answered (on ClickHouse, two round
            // trips of their own), and printed after them.
            let changes = Background { try engine.scopeChanges(window: o.window, endpoint: endpoint) }
            try output.print(q, engine: engine)
            let found = try usage { try changes.value() }
            guard !found.isEmpty else { return }
            if output.format == .table {
                Stdout.write("\nConfiguration changes in the window (\(endpoint)'s node and tailnet-wide):\n")
                Stdout.write(Report.changes(found).render(.table, wide: output.wide))
            } else {
                Stderr.write("tailflow: \(found.count) configuration change\(found.count == 1 ? "" : "s") in the window concern \(endpoint) or the whole tailnet: tailflow scope --changes lists them\n")
            }
        }
    }

    struct Flows: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "flows",
            abstract: "The raw flow rows of a window, newest first, as the admin console's log view shows them.",
            discussion: "Page with --limit and --after CURSOR, where CURSOR is the `cursor` field of the last row of the previous page (json, csv, ndjson).")

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: FormatOptions

        @Option(help: "A keyword matched against node IDs, names, users, tags, addresses and ports.")
        var match: String?

        @Option(help: "At most this many rows.")
        var limit = 100

        @Option(help: "Continue after this row's cursor.")
        var after: String?

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() throws {
            let q = try question { .flows(try filters.options(window), match: match, limit: limit, after: after) }
            try output.print(q, store: store, more: "--limit N or --after CURSOR for more")
        }
    }
}

extension StoreOptions {
    /// Opens the store and answers the question; one that cannot be answered as asked is a usage error.
    func answer(_ question: Question) throws -> Report {
        // ClickHouse answers what it pushes down as SQL itself, the rest over its snapshot.
        let engine = QueryEngine(store: try openStorageForReading())
        return try usage { try engine.answer(question) }
    }
}

extension FormatOptions {
    /// Prints the report to stdout and, to stderr, its notes and what a limit left out.
    ///
    /// - parameter more: how to ask for the rest, after "showing 20 of 143 rows; ".
    func print(_ report: Report, more: String = "--limit N for more") {
        report.print(OutputFormat(rawValue: format.rawValue)!, wide: wide, more: more)
    }

    /// Answers the question: a page of up to 100,000 rows as a report (which says what its limit
    /// left out); larger answers in machine formats streamed as they are read (raw rows are never held whole).
    func print(_ question: Question, store: StoreOptions, more: String = "--limit N for more") throws {
        try print(question, engine: QueryEngine(store: try store.openStorageForReading()), more: more)
    }

    /// ``print(_:store:more:)`` with a store already open (one client, one retry budget, for
    /// a command that asks more than one question).
    func print(_ question: Question, engine: QueryEngine, more: String = "--limit N for more") throws {
        let limit: Int
        switch question {
        case .flows(_, _, let l, _), .scopeFlows(_, let l): limit = l
        default: limit = 0
        }
        let chosen = OutputFormat(rawValue: format.rawValue)!
        guard chosen != .table, limit > 100_000 else {
            try print(usage { try engine.answer(question) }, more: more)
            return
        }
        let out = BufferedStdout()
        try usage { try engine.answer(question, format: chosen, write: out.write) }
        out.flush()
    }
}

extension Report {
    /// Prints the report to stdout and, to stderr, its notes and what a limit left out.
    func print(_ format: OutputFormat, wide: Bool, more: String = "--limit N for more") {
        Stdout.write(render(format, wide: wide))
        for note in notes { Stderr.write("tailflow: \(note)\n") }
        if let cut = cutSummary { Stderr.write("tailflow: \(cut); \(more)\n") }
    }
}

/// Standard output in 64 KiB writes.
final class BufferedStdout {
    private var buffer: [UInt8] = []

    init() {
        buffer.reserveCapacity(1 << 16)
    }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}

/// `--format` of the questions that also draw: table, json, csv, ndjson or svg.
struct ChartFormatOptions: ParsableArguments {
    @Option(name: .long, help: "Output format: table, json, csv, ndjson, or svg (a chart, the same one the web pages draw).")
    var format: ChartFormatArgument = .table

    @Flag(help: "Tables: show node IDs beside names and every cell in full.")
    var wide = false

    enum ChartFormatArgument: String, ExpressibleByArgument, CaseIterable {
        case table, json, csv, ndjson, svg
    }

    func print(_ question: Question, store: StoreOptions) throws {
        guard format == .svg else {
            try store.answer(question).print(OutputFormat(rawValue: format.rawValue)!, wide: wide)
            return
        }
        let engine = QueryEngine(store: try store.openStorageForReading())
        Stdout.write(try usage { try AnswerCharts.svg(question, engine: engine) })
    }
}

