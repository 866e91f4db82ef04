import ArgumentParser
import FlowModel
import FlowQuery

/// `--from` and `--to`.
struct WindowOptions: ParsableArguments {
    @Option(help: "Window start: RFC 3339, a date, now, or relative (-15m, -24h, -7d).")
    var from = "-24h"

    @Option(help: "Window end (exclusive), in the same forms.")
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

    static func parseKinds(_ text: String) throws -> Set<TrafficKind> {
        var kinds: Set<TrafficKind> = []
        for part in text.split(separator: ",") {
            guard let k = TrafficKind(name: part.trimmingCharacters(in: .whitespaces).lowercased()) else {
                throw ValidationError("--kind '\(part)' is not a traffic kind: use virtual, subnet, exit or physical")
            }
            kinds.insert(k)
        }
        guard !kinds.isEmpty else { throw ValidationError("--kind needs at least one kind") }
        return kinds
    }

    static func parseProto(_ text: String) throws -> UInt8 {
        switch text.lowercased() {
        case "tcp": return 6
        case "udp": return 17
        case "icmp": return 1
        case "icmpv6", "ipv6-icmp": return 58
        case "sctp": return 132
        default:
            guard let n = UInt8(text) else { throw ValidationError("--proto '\(text)' is not a protocol: use a number (0-255) or tcp, udp, icmp, icmpv6") }
            return n
        }
    }

    /// The query options for a window, validated (usage errors exit 2).
    func options(_ window: WindowOptions) throws -> QueryOptions {
        var o: QueryOptions
        do {
            o = QueryOptions(window: try TimeWindow.parse(from: window.from, to: window.to))
        } catch let e as QueryError {
            throw ValidationError(e.message)
        }
        if let kind { o.kinds = try Self.parseKinds(kind) }
        if let proto { o.proto = try Self.parseProto(proto) }
        o.endpoint = endpoint
        o.tag = tag
        o.user = user
        return o
    }
}

/// Splits `A,B` into two endpoint arguments.
func endpointPair(_ text: String, option: String) throws -> (String, String) {
    let parts = text.split(separator: ",", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw ValidationError("\(option) takes two endpoints separated by a comma, such as db-1,alice-laptop")
    }
    return (parts[0], parts[1])
}
