import ArgumentParser
import FlowFormat
import FlowIngest
import FlowModel
import FlowStore
import Foundation

extension Tailflow {
    struct Derp: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "derp",
            abstract: "List the DERP relay regions, or import Tailscale's DERP map, so physical rows to 127.3.3.40:N read as \"DERP N (nyc)\".",
            subcommands: [List.self, Import.self],
            defaultSubcommand: List.self
        )

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List the imported DERP regions.")

            @OptionGroup var store: StoreOptions
            @OptionGroup var output: FormatOptions

            func run() throws {
                let regions = try store.openStorageForReading().read { try $0.derpRegions() }
                let report = Report(columns: [Column("region", "REGION"), Column("code", "CODE"), Column("name", "NAME")],
                                    rows: regions.map { [.int(Int64($0.id)), .string($0.code), .string($0.name)] })
                Stdout.write(report.render(OutputFormat(rawValue: output.format.rawValue)!))
            }
        }

        struct Import: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "import",
                abstract: "Import a DERP map: {\"Regions\":{\"1\":{\"RegionID\":1,\"RegionCode\":\"nyc\",\"RegionName\":\"New York City\",…}}}.",
                discussion: """
                    Tailscale publishes its map at https://login.tailscale.com/derpmap/default (no key needed):
                      curl -s https://login.tailscale.com/derpmap/default | tailflow derp import -
                    A region imported again replaces what was known of it; other regions stay. The API that `pull` \
                    reads (api.tailscale.com/api/v2) does not serve the map, so `pull` does not sync it.
                    """
            )

            @OptionGroup var store: StoreOptions

            @Argument(help: "The DERP map JSON file; - for standard input.")
            var file: String

            func run() throws {
                let regions = try DERPMap.read(path: file)
                let now = Int64(Date().timeIntervalSince1970 * 1e9)
                try store.openStorage().importDERPRegions(regions, at: now)
                Stdout.write("imported \(regions.count) DERP region\(regions.count == 1 ? "" : "s")\n")
            }
        }
    }
}
