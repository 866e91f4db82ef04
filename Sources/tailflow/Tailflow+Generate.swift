import ArgumentParser
import FlowGenerate
import FlowModel
import Foundation

extension Tailflow {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write deterministic synthetic Tailscale flow logs, and the matching device list.",
            discussion: """
                A tailnet of --nodes nodes (servers that attract most traffic, clients, a subnet router, an exit node
                with anonymised traffic, old clients without node info, nodes that never report), with a daily rhythm.
                The same options and seed always give the same bytes. Output streams: any duration needs little memory.
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
    }
}
