import ArgumentParser
import FlowFormat
import FlowModel
import FlowQuery

extension Tailflow {
    struct Top: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rank endpoints, pairs, ports or protocols by traffic over a window.",
            discussion: "Each byte is counted once although both ends report it (the edge model of SPEC §3).")

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: FormatOptions

        @Option(help: "What to rank: endpoint, pair, port or proto.")
        var by: TopBy = .endpoint

        @Option(help: "Rank by bytes or packets.")
        var metric: MetricArgument = .bytes

        @Option(help: "At most this many rows.")
        var limit = 20

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() throws {
            let options = try filters.options(window)
            let engine = QueryEngine(store: try store.open())
            let metric = Metric(rawValue: self.metric.rawValue)!
            let report: Report = try usage {
                switch by {
                case .endpoint: .topEndpoints(try engine.topEndpoints(options, metric: metric, limit: limit))
                case .pair: .topPairs(try engine.topPairs(options, metric: metric, limit: limit))
                case .port: .topPorts(try engine.topPorts(options, metric: metric, limit: limit))
                case .proto: .topProtocols(try engine.topProtocols(options, metric: metric, limit: limit))
                }
            }
            output.print(report)
        }
    }

    struct Series: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bytes and packets per step over a window, for everything, an endpoint, a pair or an edge.",
            discussion: "Dense: every bucket from the one holding --from to the one holding the last instant before --to, empty ones as zero.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: FormatOptions

        @Option(help: "Bucket width: 1m, 5m, 1h, 1d … (epoch-aligned, UTC).")
        var step = "1h"

        @Option(help: ArgumentHelp("Both directions between two endpoints.", valueName: "A,B"))
        var pair: String?

        @Option(help: ArgumentHelp("One direction, from A to B.", valueName: "A,B"))
        var edge: String?

        func run() throws {
            var options = try filters.options(window)
            let step = try usage { try TimeWindow.parseStep(self.step) }
            let subjects = [filters.endpoint != nil, pair != nil, edge != nil].filter { $0 }.count
            guard subjects <= 1 else { throw ValidationError("give at most one of --endpoint, --pair and --edge") }
            var subject = SeriesSubject.all
            if let e = filters.endpoint {
                subject = .endpoint(e)
                options.endpoint = nil
            } else if let pair {
                let (a, b) = try endpointPair(pair, option: "--pair")
                subject = .pair(a, b)
            } else if let edge {
                let (a, b) = try endpointPair(edge, option: "--edge")
                subject = .edge(a, b)
            }
            let engine = QueryEngine(store: try store.open())
            output.print(.series(try usage { try engine.series(options, step: step, subject: subject) }))
        }
    }

    struct Rollup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bytes and packets per step, grouped by any of kind, proto, src and dst.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: FormatOptions

        @Option(help: "Bucket width: 1m, 5m, 1h, 1d …")
        var step = "1h"

        @Option(name: .customLong("group-by"), help: ArgumentHelp("Keys, comma-separated: kind, proto, src, dst.", valueName: "keys"))
        var groupBy = ""

        func run() throws {
            let options = try filters.options(window)
            let step = try usage { try TimeWindow.parseStep(self.step) }
            var keys: [RollupKeyField] = []
            for part in groupBy.split(separator: ",") {
                guard let k = RollupKeyField(rawValue: part.trimmingCharacters(in: .whitespaces).lowercased()) else {
                    throw ValidationError("--group-by '\(part)' is not a key: use kind, proto, src or dst")
                }
                if !keys.contains(k) { keys.append(k) }
            }
            let engine = QueryEngine(store: try store.open())
            output.print(.rollup(try usage { try engine.rollup(options, step: step, groupBy: keys) }, groupBy: keys))
        }
    }

    struct Scope: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Everything one endpoint touched in a window: every peer, both directions, ports, protocols, first and last seen.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: FormatOptions

        @Flag(help: "List the raw flow rows instead of the peers.")
        var flows = false

        @Option(help: "With --flows: at most this many rows.")
        var limit = 1000

        func run() throws {
            guard filters.endpoint != nil else { throw ValidationError("scope needs --endpoint E") }
            let options = try filters.options(window)
            let engine = QueryEngine(store: try store.open())
            if flows {
                output.print(.flows(try usage { try engine.flows(options, limit: limit) }))
            } else {
                output.print(.scope(try usage { try engine.scope(options) }))
            }
        }
    }

    struct Flows: ParsableCommand {
        static let configuration = CommandConfiguration(
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
            let options = try filters.options(window)
            let engine = QueryEngine(store: try store.open())
            output.print(.flows(try usage { try engine.flows(options, match: match, limit: limit, after: after) }))
        }
    }
}

enum TopBy: String, ExpressibleByArgument, CaseIterable {
    case endpoint, pair, port, proto
}

enum MetricArgument: String, ExpressibleByArgument, CaseIterable {
    case bytes, packets
}

/// Questions that cannot be answered as asked are usage errors (exit 2).
func usage<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as QueryError {
        throw ValidationError(e.message)
    }
}

extension FormatOptions {
    func print(_ report: Report) {
        Stdout.write(report.render(OutputFormat(rawValue: format.rawValue)!))
    }
}
