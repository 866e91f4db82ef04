import ArgumentParser
import FlowClickHouse
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
            The database defaults to ./tailflow.db; --db or TAILFLOW_DB choose another. --store or TAILFLOW_STORE choose \
            another backend: clickhouse://[user@]host:port/database[?cluster=NAME] (every command but prune, check, backup, export and import). \
            Exit status: 0 success, 1 failure, 2 usage error, 3 (ingest, pull, follow) some input rejected but the rest stored.
            """,
        version: FlowStore.tailflowVersion,
        subcommands: [Ingest.self, Top.self, Series.self, Rollup.self, Scope.self, Flows.self, Diff.self, Coverage.self, Changes.self, Nodes.self, Derp.self, Rejects.self,
                      ReportCommand.self, Generate.self, Serve.self, Pull.self, Follow.self,
                      Prune.self, Check.self, Backup.self, Export.self, Import.self, Migrate.self]
    )

    /// Runs a command with SPEC §5's exit statuses: usage errors exit 2, failures 1.
    static func main() async {
        do {
            var command = try parseAsRoot()
            try refuseOnClickHouse(command)
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

    /// The commands that work on the ClickHouse backend (questions it cannot answer yet refuse
    /// themselves, naming the question); the others refuse here, before they open anything.
    static let onClickHouse: [any ParsableCommand.Type] = [Ingest.self, Top.self, Series.self, Rollup.self, Scope.self, Flows.self,
                                                           Diff.self, Coverage.self, Changes.self, ReportCommand.self, Pull.self, Follow.self, Serve.self,
                                                           Nodes.List.self, Nodes.Import.self, Nodes.Sync.self, Rejects.self, Derp.List.self, Derp.Import.self,
                                                           Generate.self, Migrate.self]

    /// Refuses a command that does not work on the ClickHouse backend yet when `--store` or
    /// `TAILFLOW_STORE` (without `--db`) chooses it.
    static func refuseOnClickHouse(_ command: any ParsableCommand) throws {
        let arguments = CommandLine.arguments.dropFirst()
        let byFlag = arguments.contains { $0 == "--store" || $0.hasPrefix("--store=") }
        let byEnvironment = !(ProcessInfo.processInfo.environment["TAILFLOW_STORE"] ?? "").isEmpty
            && !arguments.contains { $0 == "--db" || $0.hasPrefix("--db=") }
            && ProcessInfo.processInfo.environment["TAILFLOW_DB"].map(\.isEmpty) ?? true
        guard byFlag || byEnvironment else { return }
        let type = Swift.type(of: command)
        guard !onClickHouse.contains(where: { $0 == type }) else { return }
        throw ClickHouseUnsupported("tailflow \(type._commandName)")
    }

    /// Brings `coverage`'s hour summaries (schema/011) up to date once a command has stored
    /// messages: the hours whose messages changed, and after an upgrade every hour. A cache:
    /// failing to fill it loses nothing (`coverage` reads those hours' messages), and what was
    /// stored is committed, so it is a warning, not the command's failure. ClickHouse keeps none.
    static func refreshCoverageSummaries(_ storage: any FlowStorage) {
        guard let sqlite = storage as? FlowStore else { return }
        do { try sqlite.refreshCoverageHours() } catch {
            Stderr.write("tailflow: warning: the hour summaries for coverage were not brought up to date (\(error)); coverage reads those hours' messages instead\n")
        }
    }

    static func describe(_ error: any Error) -> String {
        String(describing: error)
    }
}

/// The `--db` and `--store` options shared by every command that opens the store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The database file (default: $TAILFLOW_DB or ./tailflow.db).", valueName: "path"))
    var db: String?

    @Option(name: .customLong("store"),
            help: ArgumentHelp("Another backend (default: $TAILFLOW_STORE): clickhouse://[user@]host:port/database[?cluster=NAME], password from $TAILFLOW_CLICKHOUSE_PASSWORD; every command but prune, check, backup, export and import works on it.",
                               valueName: "url"))
    var storeURL: String?

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

    /// The ClickHouse store named by `--store`, else by `TAILFLOW_STORE` unless `--db` names a file; nil for SQLite.
    ///
    /// - throws: ``ValidationError`` for both `--db` and `--store`, or a URL that cannot be read.
    func clickHouseURL() throws -> ClickHouseURL? {
        if storeURL != nil && db != nil { throw ValidationError("--db and --store name two stores: give one") }
        let text = storeURL ?? (db == nil ? ProcessInfo.processInfo.environment["TAILFLOW_STORE"].flatMap { $0.isEmpty ? nil : $0 } : nil)
        guard let text else { return nil }
        guard ClickHouseURL.names(text) else {
            throw ValidationError("--store '\(text)': unknown backend (clickhouse://[user@]host:port/database; the SQLite store is --db FILE)")
        }
        do {
            return try ClickHouseURL(text)
        } catch let e as ClickHouseURLError {
            throw ValidationError(e.description)
        }
    }

    /// Opens the ClickHouse store, when one is chosen; `create` makes it (database and schema) when missing.
    func openClickHouse(create: Bool, sharesNodeTables: Bool = false) throws -> ClickHouseStore? {
        guard let url = try clickHouseURL() else { return nil }
        return try Self.openClickHouse(url, create: create, sharesNodeTables: sharesNodeTables)
    }

    /// Opens the ClickHouse store at `url` (password from `TAILFLOW_CLICKHOUSE_PASSWORD`).
    /// - parameter sharesNodeTables: a command's reads after the first take the first one's node
    ///   tables (``ClickHouseStore/init(client:create:sharesNodeTables:)``).
    static func openClickHouse(_ url: ClickHouseURL, create: Bool, sharesNodeTables: Bool = false) throws -> ClickHouseStore {
        let password = ProcessInfo.processInfo.environment["TAILFLOW_CLICKHOUSE_PASSWORD"]
        let client = ClickHouseClient(url: url, password: password) { attempt, error in
            Stderr.write("tailflow: \(error); retrying (attempt \(attempt + 1))\n")
        }
        return try ClickHouseStore(client: client, create: create, sharesNodeTables: sharesNodeTables)
    }

    /// Opens the store to write, creating it when missing: SQLite or ClickHouse.
    func openStorage() throws -> any FlowStorage {
        try openClickHouse(create: true) ?? FlowStore(path: path)
    }

    /// Opens the store to read, never creating it: SQLite or ClickHouse. A command answers from
    /// one view of the nodes: on ClickHouse its reads share the first one's node tables.
    func openStorageForReading() throws -> any FlowStorage {
        try openClickHouse(create: false, sharesNodeTables: true) ?? FlowStore(path: path, access: .readOnly)
    }

    /// Opens the SQLite store to write, creating it when missing (commands the ClickHouse backend lacks).
    func open() throws -> FlowStore {
        if try clickHouseURL() != nil { throw ClickHouseUnsupported("this command") }
        return try FlowStore(path: path)
    }

    /// Opens the SQLite store to answer questions: never creates or changes it.
    func openForReading() throws -> FlowStore {
        if try clickHouseURL() != nil { throw ClickHouseUnsupported("this command") }
        return try FlowStore(path: path, access: .readOnly)
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
