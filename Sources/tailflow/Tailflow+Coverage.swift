import ArgumentParser
import FlowQuery

extension Tailflow {
    struct Coverage: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "coverage",
            abstract: "Can these answers be trusted? Per node: coverage, gaps, clock skew, asymmetry against its peers, rejects, and a verdict.",
            discussion: """
                One row per node that reported or was reported on in the window, worst first: silent, gaps, asymmetric, skew, ok. \
                The README defines each estimate. --endpoint, --tag and --user choose the nodes; --kind, --proto and --where the traffic \
                that counts as evidence.
                """)

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var output: FormatOptions

        @Option(help: "A period longer than this with no message from a node while its peers saw traffic with it is a gap (at least 1s).")
        var gap = "2m"

        func run() throws {
            let q = try question { .coverage(try filters.options(window), gap: try QuestionText.gap(gap)) }
            try output.print(q, store: store)
        }
    }
}
