import ArgumentParser
import FlowModel
import FlowQuery

/// `--from` and `--to`.
struct WindowOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Window start: RFC 3339, a date, now, or relative (-15m, -24h, -7d).")
    var from = "-24h"

    @Option(parsing: .unconditional, help: "Window end (exclusive), in the same forms.")
    var to = "now"
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
}

/// The named parameters of a question, as the HTTP query API takes them too.
struct QuestionParameters {
    var values: [String: String] = [:]

    init(_ window: WindowOptions, _ filters: FilterOptions) {
        values["from"] = window.from
        values["to"] = window.to
        values["kind"] = filters.kind
        values["proto"] = filters.proto
        values["endpoint"] = filters.endpoint
        values["tag"] = filters.tag
        values["user"] = filters.user
    }

    subscript(_ name: String) -> String? {
        get { values[name] }
        set { values[name] = newValue }
    }
}

/// A question from the command line; one that cannot be answered as asked is a usage error (exit 2).
func question(_ command: String, _ parameters: QuestionParameters) throws -> Question {
    try usage { try Question(command: command, parameters: parameters.values) }
}
