import ArgumentParser
import FlowModel
import FlowQuery
import FlowWeb
import Foundation

extension Tailflow {
    struct ReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Write one self-contained HTML report of a window: totals, traffic by kind, top endpoints, pairs and ports, a rollup per day, configuration changes.",
            discussion: """
                The file holds its charts (SVG) and style inline and refers to nothing outside itself, so it can be \
                mailed or archived; names, tags and users from the logs are escaped. For example:
                  tailflow report --from -7d --to now -o weekly.html
                """)

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions

        @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The HTML file to write; - writes to standard output.", valueName: "file"))
        var output: String

        @Option(help: "Rows in each ranking.")
        var limit = 20

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
            guard !output.isEmpty else { throw ValidationError("-o needs a file name") }
        }

        func run() throws {
            let options = try usage { try filters.options(window) }
            var report = HTMLReport(engine: QueryEngine(store: try store.openStorageForReading()), options: options, command: commandLine())
            report.limit = limit
            let html = try usage { try report.render() }
            if output == "-" {
                Stdout.write(html)
                return
            }
            do {
                try Data(html.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                throw ValidationError("cannot write \(output): \((error as NSError).localizedDescription)")
            }
            Stdout.write("wrote \(output) (\(html.utf8.count / 1024) KiB)\n")
        }

        /// The command that makes the same report (without the store path and output file).
        func commandLine() -> String {
            var parts = ["tailflow report", "--from", window.from, "--to", window.to]
            for (flag, value) in [("--kind", filters.kind), ("--proto", filters.proto), ("--endpoint", filters.endpoint),
                                  ("--tag", filters.tag), ("--user", filters.user)] {
                if let value { parts += [flag, value] }
            }
            return parts.joined(separator: " ")
        }
    }
}
