public import ArgumentParser
import FlowQuery

extension Tailflow {
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "What is new: pairs, endpoints or ports whose traffic in a window is new, gone, or changed by a factor against a baseline.",
            discussion: """
                Both windows are answered exactly as `top` answers them; the factor compares bytes per second, so windows of \
                different lengths compare. The baseline defaults to the 7 days before --from.
                """)

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: FormatOptions

        @Option(help: ArgumentHelp("The period to compare with: FROM..TO (-14d..-7d, 2026-11-01..2026-11-08) or a duration (30d: the 30 days before --from). Default: the 7 days before --from.",
                                   valueName: "FROM..TO"))
        var baseline: String?

        @Option(help: "What to compare: pair, endpoint or port.")
        var by: DiffDimension = .pair

        @Option(help: "List keys whose bytes per second changed by at least this factor either way (at least 1; 1 lists every key).")
        var factor = "10"

        @Option(help: "At most this many rows.")
        var limit = 20

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() throws {
            let q = try question {
                let options = try filters.options(window)
                return .diff(options, baseline: try QuestionText.baseline(baseline, window: options.window, zone: options.zone),
                             by: by, factor: try QuestionText.factor(factor), limit: limit)
            }
            try output.print(q, store: store)
        }
    }
}

extension DiffDimension: ExpressibleByArgument {}
