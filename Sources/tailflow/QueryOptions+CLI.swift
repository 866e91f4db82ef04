public import ArgumentParser
import FlowModel
import FlowQuery

/// `--from` and `--to`.
struct WindowOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Window start: RFC 3339, a date, now, relative (-15m, -24h, -7d), or today, yesterday, this-week, last-week, this-month, last-month.")
    var from = "-24h"

    @Option(parsing: .unconditional, help: "Window end (exclusive), in the same forms; a calendar word as --to is its period's end.")
    var to = "now"

    @Option(help: ArgumentHelp("The IANA time zone of dates, calendar words and --step 1d/1w buckets (default UTC).", valueName: "zone"))
    var tz: String?
}

/// The filters every question takes.
struct FilterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Traffic kinds, comma-separated: virtual, subnet, exit, physical (default: virtual,subnet,exit).", valueName: "kinds"))
    var kind: String?

    @Option(help: ArgumentHelp("Only this protocol: a number or tcp, udp, icmp, icmpv6.", valueName: "proto"))
    var proto: String?

    @Option(help: ArgumentHelp("Only traffic with this endpoint at either end: a node ID, node name, IP address or *.", valueName: "E"))
    var endpoint: String?

    @Option(help: ArgumentHelp("Only traffic with a node carrying this tag at either end (e.g. tag:prod).", valueName: "tag"))
    var tag: String?

    @Option(help: ArgumentHelp("Only traffic with a node of this user at either end.", valueName: "login"))
    var user: String?

    @Option(name: .customLong("where"),
            help: ArgumentHelp("A filter expression, e.g. 'tag = prod and port in (22, 3389) and not kind = exit' (see the README).", valueName: "expr"))
    var expression: String?
}

extension FilterOptions {
    /// The window and the filters, read by the same parsers as the HTTP API's parameters.
    func options(_ window: WindowOptions) throws -> QueryOptions {
        try QuestionText.options(from: window.from, to: window.to, kind: kind, proto: proto, endpoint: endpoint, tag: tag, user: user,
                                  where: expression, tz: window.tz)
    }
}

/// `--by` and `--metric` read as the HTTP API reads `by` and `metric` (their raw values).
extension TopDimension: ExpressibleByArgument {}
extension Metric: ExpressibleByArgument {}

/// Builds a question from the command line; one that cannot be answered as asked is a usage
/// error (exit 2) whose message spells parameters as flags (`--step`).
func question(_ build: () throws -> Question) throws -> Question {
    try usage(build)
}

/// Questions that cannot be answered as asked are usage errors (exit 2).
func usage<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as QueryError {
        throw ValidationError(e.message(for: .commandLine))
    }
}
