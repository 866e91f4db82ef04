import Foundation
import Testing
import TestSupport

/// `serve --help` (and the other commands' help) read as a stranger reads it: every query endpoint and page named, and lines
/// broken by the parser between words, not by the source's own line ends in mid-sentence.
@Suite(.ownThreads)
struct ServeHelpTests {
    @Test func serveHelpNamesEveryEndpointAndWrapsOnlyAtParagraphs() async throws {
        let r = try await CLI.run(["serve", "--help"])
        #expect(r.status == 0, "\(r.stderr)")
        let text = r.stdout
        #expect(text.contains("GET /api/v1/{top|series|rollup|scope|flows|nodes|diff|coverage|changes}"), "\(text)")
        for page in ["/graph", "/endpoint/{E}", "/pair/{A}/{B}", "/flows", "/nodes", "/health", "/changes"] {
            #expect(text.contains(page), "\(page)")
        }
        for receiver in ["/services/collector/event", "/_bulk", "/api/v1/ingest", "/healthz", "/metrics"] {
            #expect(text.contains(receiver), "\(receiver)")
        }
        Self.checkParagraphs(text)
    }

    /// Before the usage line: a line that runs on into the next (not blank, not an indented list
    /// item) fills the width; a short one ends its sentence or introduces a list.
    static func checkParagraphs(_ text: String, _ command: String = "serve") {
        let head = text.components(separatedBy: "USAGE:")[0].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (line, next) in zip(head, head.dropFirst()) where !line.isEmpty && !next.isEmpty && !next.hasPrefix(" ") && !line.hasPrefix("OVERVIEW:") {
            let ends = line.hasSuffix(".") || line.hasSuffix(":") || line.hasSuffix(")")
            #expect(ends || line.count > 60, "\(command) --help breaks mid-sentence: \(line) | \(next)")
        }
        #expect(head.allSatisfy { $0.count <= 80 }, "\(command): \(head.filter { $0.count > 80 })")
    }

    @Test(arguments: [["ingest"], ["pull"], ["follow"], ["report"], ["prune"], ["check"], ["backup"], ["scope"], ["changes"], ["diff"], ["coverage"]])
    func otherHelpTextsWrapOnlyAtParagraphs(_ command: [String]) async throws {
        let r = try await CLI.run(command + ["--help"])
        #expect(r.status == 0, "\(r.stderr)")
        Self.checkParagraphs(r.stdout, command.joined(separator: " "))
    }
}
