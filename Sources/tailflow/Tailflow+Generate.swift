import ArgumentParser
import FlowGenerate
import FlowModel
import Foundation

extension Tailflow {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate",
            abstract: "Write deterministic synthetic Tailscale flow logs, and the matching device list.",
            discussion: """
                A tailnet of --nodes nodes (servers that attract most traffic, clients, a
                subnet router, an exit node with anonymised traffic, old clients without
                node info, nodes that never report), with a daily rhythm. The same options
                and seed always give the same bytes. Output streams: any duration needs
                little memory.

                --fault injects a reporting fault of one node, to try `tailflow coverage`
                on; repeat it for more. NODE is a stable ID, a DNS name or a host name
                (db-1); times are RFC 3339 or an offset from --start (40m). The node's
                traffic is simulated as usual, so its peers still report it; only what
                the node itself sends changes:
                  silent:NODE:FROM..TO  no message whose window starts in [FROM, TO)
                  skew:NODE:OFFSET      its clock runs OFFSET ahead (90s; -90s behind):
                                        its window times shift, `logged` does not
                  drop:NODE:SHARE       it loses this share of its messages (0.33 or
                                        33%), each independently
                  never:NODE            it never sends a message
                --omit-logged leaves `logged` out of every message, as log streaming and
                older files do (coverage then estimates skew from the peers' windows).
                """
        )

        @Option(help: "Nodes in the tailnet (at least 8).")
        var nodes = 50

        @Option(help: "First window start (RFC 3339).")
        var start = "2026-11-01T00:00:00Z"

        @Option(help: "How long to simulate: 90s, 15m, 24h, 30d, …")
        var duration = "1h"

        @Option(help: "Traffic intensity multiplier.")
        var rate = 1.0

        @Option(help: "Random seed.")
        var seed: UInt64 = 1

        @Option(help: "Container: \(GeneratedContainer.allCases.map(\.rawValue).joined(separator: ", ")).")
        var container = "jsonl"

        @Flag(help: "Compress the output with gzip.")
        var gzip = false

        @Flag(help: "Also write configuration audit log records (policy edits, node approvals and removals, tag and key-expiry changes, DNS edits) between the messages; the messages stay the same.")
        var changes = false

        @Option(name: .customLong("change-interval"), help: "With --changes: the mean time between configuration changes (default 20m).")
        var changeInterval = "20m"

        @Option(name: .customLong("fault"), help: ArgumentHelp(
            "A reporting fault of one node: silent:NODE:FROM..TO, skew:NODE:OFFSET, drop:NODE:SHARE or never:NODE (see above; repeatable).",
            valueName: "fault"))
        var faults: [String] = []

        @Flag(name: .customLong("omit-logged"), help: "Leave `logged` out of every message, as log streaming and older files do.")
        var omitLogged = false

        @Option(name: [.short, .long], help: "Output file (default: standard output).")
        var output: String?

        @Option(help: "Also write the device list ({\"devices\":[…]}) to this file.")
        var devices: String?

        func validate() throws {
            guard nodes >= 8 else { throw ValidationError("--nodes must be at least 8") }
            guard Timestamp.parseRFC3339(start) != nil else { throw ValidationError("--start must be an RFC 3339 time, such as 2026-11-01T00:00:00Z") }
            guard let d = DurationText.parse(duration), d > 0 else { throw ValidationError("--duration must be a positive duration such as 1h or 7d") }
            guard GeneratedContainer(rawValue: container) != nil else {
                throw ValidationError("--container must be one of \(GeneratedContainer.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be positive") }
            guard let gap = DurationText.parse(changeInterval), gap >= 1_000_000_000 else {
                throw ValidationError("--change-interval must be a duration of at least 1s, such as 20m")
            }
        }

        func run() throws {
            var config = GeneratorConfig(start: Timestamp.parseRFC3339(start)!, duration: DurationText.parse(duration)!)
            config.nodes = nodes
            config.rate = rate
            config.seed = seed
            config.changes = changes
            config.changeInterval = DurationText.parse(changeInterval)!
            config.omitLogged = omitLogged
            config.faults = try faults.map { try Self.fault($0, start: config.start, in: FlowLogGenerator(config)) }
            let generator = FlowLogGenerator(config)
            if let devices {
                try Data(generator.deviceList()).write(to: URL(fileURLWithPath: devices))
            }
            let handle: FileHandle
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil) else {
                    throw ValidationError("cannot create \(output)")
                }
                handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            } else {
                handle = FileHandle.standardOutput
            }
            let stats = try generator.write(container: GeneratedContainer(rawValue: container)!, gzip: gzip) { chunk in
                handle.write(Data(chunk))
            }
            if output != nil {
                try handle.close()
                let extra = changes ? ", \(stats.changes) configuration changes" : ""
                Stderr.write("wrote \(stats.messages) messages (\(stats.rows) rows\(extra), \(stats.bytes) bytes) to \(output!)\n")
            }
        }

        /// Parses one `--fault`: `KIND:NODE[:ARGUMENT]`, nodes named as ``FlowLogGenerator/nodeID(named:)`` takes them.
        static func fault(_ text: String, start: Int64, in generator: FlowLogGenerator) throws -> GeneratorFault {
            let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            func fail(_ why: String) -> ValidationError {
                ValidationError("--fault \(text): \(why) (expected silent:NODE:FROM..TO, skew:NODE:OFFSET, drop:NODE:SHARE or never:NODE)")
            }
            guard parts.count >= 2, !parts[1].isEmpty else { throw fail("no node") }
            guard let node = generator.nodeID(named: parts[1]) else {
                throw fail("no node \(parts[1]) in the generated tailnet (see --devices for its names)")
            }
            guard generator.reports(node) else { throw fail("\(parts[1]) is a node that never reports in this tailnet: a fault would change nothing") }
            let argument = parts.count == 3 ? parts[2] : nil
            func time(_ t: String) throws -> Int64 {
                if let at = Timestamp.parseRFC3339(t) { return at }
                if let offset = DurationText.parse(t) { return start + offset }
                throw fail("\(t.isEmpty ? "an empty time" : t) is neither an RFC 3339 time nor an offset from --start such as 40m")
            }
            switch parts[0] {
            case "silent":
                guard let argument, let dots = argument.range(of: "..") else { throw fail("silent needs FROM..TO") }
                let from = try time(String(argument[..<dots.lowerBound])), to = try time(String(argument[dots.upperBound...]))
                guard from < to else { throw fail("FROM must be before TO") }
                return .silent(node: node, from: from, to: to)
            case "skew":
                guard let argument else { throw fail("skew needs an OFFSET such as 90s") }
                let negative = argument.hasPrefix("-")
                guard let offset = DurationText.parse(negative ? String(argument.dropFirst()) : argument) else {
                    throw fail("\(argument) is not a duration such as 90s or -90s")
                }
                return .clockSkew(node: node, offset: negative ? -offset : offset)
            case "drop":
                guard let argument else { throw fail("drop needs a SHARE such as 0.33 or 33%") }
                let percent = argument.hasSuffix("%")
                guard let value = Double(percent ? String(argument.dropLast()) : argument), value.isFinite else {
                    throw fail("\(argument) is not a share such as 0.33 or 33%")
                }
                let share = percent ? value / 100 : value
                guard share > 0, share <= 1 else { throw fail("the share must be more than 0 and at most 1 (100%)") }
                return .dropReports(node: node, share: share)
            case "never":
                guard argument == nil else { throw fail("never takes no argument") }
                return .neverReports(node: node)
            default:
                throw fail("unknown fault \(parts[0])")
            }
        }
    }
}
