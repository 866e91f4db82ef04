import ArgumentParser
import FlowStore
import FlowIngest
import Foundation

/// The `tailflow` command: network flow logs in one SQLite file, and answers from them.
@main
struct Tailflow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tailflow",
        abstract: "Store Tailscale network flow logs in one SQLite file and answer questions about them.",
        discussion: """
            The database defaults to ./tailflow.db; --db or TAILFLOW_DB choose another. \
            Exit status: 0 success, 1 failure, 2 usage error, 3 (ingest, pull, follow) some input rejected but the rest stored.
            """,
        subcommands: [Ingest.self, Top.self, Series.self, Rollup.self, Scope.self, Flows.self, Diff.self, Coverage.self, Changes.self, Nodes.self, Derp.self, Rejects.self,
                      ReportCommand.self, Generate.self, Serve.self, Pull.self, Follow.self,
                      Prune.self, Check.self, Backup.self, Export.self, Import.self]
    )

    /// Runs a command with SPEC §5's exit statuses: usage errors exit 2, failures 1.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch let error as ValidationError {
            // Raised by a command while it runs: a question that cannot be answered as asked.
            FileHandle.standardError.write(Data("tailflow: error: \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help, --version
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            FileHandle.standardError.write(Data("tailflow: \(Self.describe(error))\n".utf8))
            Foundation.exit(1)
        }
    }

    static func describe(_ error: any Error) -> String {
        String(describing: error)
    }
}

/// The `--db` option shared by every command that opens the store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The database file (default: $TAILFLOW_DB or ./tailflow.db).", valueName: "path"))
    var db: String?

    /// The store when no flag or variable names one.
    static let defaultPath = "tailflow.db"

    /// The store named by `--db`, else by `TAILFLOW_DB` (read here only), else nil.
    var explicitPath: String? {
        db ?? ProcessInfo.processInfo.environment["TAILFLOW_DB"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The store to open: `--db`, `TAILFLOW_DB`, or ./tailflow.db.
    var path: String {
        explicitPath ?? Self.defaultPath
    }

    /// Opens the store to write, creating it when missing.
    func open() throws -> FlowStore {
        try FlowStore(path: path)
    }

    /// Opens the store to answer questions: never creates or changes it.
    func openForReading() throws -> FlowStore {
        try FlowStore(path: path, access: .readOnly)
    }
}

/// `--format` for commands that print reports.
struct FormatOptions: ParsableArguments {
    @Option(name: .long, help: "Output format: table, json, csv or ndjson.")
    var format: OutputFormatArgument = .table

    @Flag(help: "Tables: show node IDs beside names and every cell in full.")
    var wide = false
}

enum OutputFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv, ndjson
}

/// Writes to standard error.
enum Stderr {
    static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static var isTerminal: Bool { isatty(2) == 1 }
}

/// Writes a whole report to standard output.
enum Stdout {
    static func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
