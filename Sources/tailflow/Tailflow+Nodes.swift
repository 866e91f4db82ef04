import ArgumentParser
import FlowFormat
import FlowIngest
import FlowModel
import FlowQuery
import FlowStore
import Foundation

extension Tailflow {
    struct Nodes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nodes",
            abstract: "List the known nodes, or import a device list.",
            subcommands: [List.self, Import.self, Sync.self],
            defaultSubcommand: List.self
        )

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "list",
                abstract: "List the known nodes with names, users, tags, addresses and when they were seen."
            )

            @OptionGroup var store: StoreOptions
            @OptionGroup var output: FormatOptions

            func run() throws {
                output.print(.nodes(try store.openStorageForReading().nodes()))
            }
        }

        struct Import: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "import",
                abstract: "Import a Tailscale device list (GET /api/v2/tailnet/{tailnet}/devices).",
                discussion: "Names nodes whose messages carry no srcNode/dstNodes. Its facts count as reported now: newer messages override them."
            )

            @OptionGroup var store: StoreOptions

            @Argument(help: "The device list JSON file; - for standard input.")
            var file: String

            func run() throws {
                let nodes = try DeviceList.read(path: file)
                let now = Int64(Date().timeIntervalSince1970 * 1e9)
                let storage = try store.openStorage()
                try storage.importNodes(nodes, at: now)
                // New owners or reporters change how the long buckets' edges count (schema/010).
                if let sqlite = storage as? FlowStore { try EdgeSumCache.refresh(sqlite) }
                Stdout.write("imported \(nodes.count) node\(nodes.count == 1 ? "" : "s")\n")
            }
        }
    }

    struct Rejects: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rejects", abstract: "List the input that was rejected, with where and why.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: FormatOptions

        @Option(help: "At most this many, newest first.")
        var limit: Int = 100

        func run() throws {
            let rejects = try store.openStorageForReading().rejects(limit: limit)
            let report = Report(
                columns: [Column("recorded", "RECORDED"), Column("source", "SOURCE"), Column("line", "LINE"),
                          Column("offset", "OFFSET"), Column("reason", "REASON")],
                rows: rejects.map { r in
                    [.time(r.recorded), .string(r.location.source), r.location.line.map { .int(Int64($0)) } ?? .string(nil), .int(r.location.offset), .string(r.reason)]
                })
            Stdout.write(report.render(OutputFormat(rawValue: output.format.rawValue)!))
        }
    }
}
