import ArgumentParser

extension Tailflow {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write deterministic synthetic flow logs (not yet available).")
        func run() throws { throw ValidationError("generate is not built yet") }
    }
}
