import ArgumentParser
import FlowFormat
import FlowModel
import FlowQuery
import FlowStore
import Foundation

extension Tailflow {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write an incident case: a window's raw flow rows (of one endpoint, or what a filter passes) as a self-contained store.",
            discussion: """
                The case is a tailflow store of its own (open it with --db): the window's messages (with --endpoint only \
                those that touch it: it reported them, or a flow row's source or destination is it; with --where those \
                with a flow row the filter passes, as the questions test it), the nodes they name with their addresses \
                and whether they report, the rejects recorded in the window or naming one of those nodes, the \
                configuration changes of the window, rollups built as ingest builds them, and a manifest: window, \
                endpoint, filter, counts, when, which tailflow, and a SHA-256 of the content. Every question over that \
                window (scoped to the endpoint, with the same filter) answers the same from the case as from the store. \
                --verify CASE.db recomputes the SHA-256 and prints the manifest: exit 0 when it matches, 1 when not.
                """)

        @OptionGroup var store: StoreOptions
        @OptionGroup var window: WindowOptions

        @Option(help: ArgumentHelp("Only the messages that touch this endpoint: a node ID, node name, IP address or *.", valueName: "E"))
        var endpoint: String?

        @Option(name: .customLong("where"), help: ArgumentHelp("Only the messages with a flow row this filter expression passes.", valueName: "expr"))
        var expression: String?

        @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The case file to write.", valueName: "file"))
        var output: String?

        @Option(help: ArgumentHelp("Check a case instead: recompute its SHA-256 and print its manifest.", valueName: "file"))
        var verify: String?

        @Flag(help: "Replace the output file if it exists.")
        var force = false

        @Option(name: .long, help: "Output format: table (human) or json.")
        var format: OutputFormatArgument = .table

        func validate() throws {
            if (output == nil) == (verify == nil) { throw ValidationError("give -o FILE to export, or --verify FILE to check a case") }
            if format != .table && format != .json { throw ValidationError("--format: table or json") }
        }

        func run() throws {
            if let verify { return try Self.verify(verify, format: format) }
            guard let output else { return }
            let options = try usage {
                try QuestionText.options(from: window.from, to: window.to, kind: nil, proto: nil, endpoint: endpoint, tag: nil, user: nil,
                                         where: expression, tz: window.tz)
            }
            let source = try store.openForReading()
            let t0 = ContinuousClock.now
            let progress = Stderr.isTerminal ? ProgressLine(verb: "exporting") : nil
            let manifest: CaseManifest
            do {
                manifest = try source.exportCase(to: output, from: options.window.from, to: options.window.to, endpoint: endpoint,
                                                 filter: options.filter?.description, replace: force,
                                                 progress: progress.map { p in { p.show($0) } }) { snapshot in
                    try CaseSelection.matching(endpoint: options.endpoint, filter: options.filter, in: snapshot)
                }
            } catch let e as QueryError {
                progress?.clear()
                throw ValidationError(e.message(for: .commandLine))
            } catch {
                progress?.clear()
                throw error
            }
            progress?.clear()
            let seconds = (ContinuousClock.now - t0).seconds
            let bytes = ((try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int).map(Int64.init)) ?? 0
            if format == .json {
                struct Answer: Encodable {
                    var file: String
                    var bytes: Int64
                    var seconds: Double
                    var manifest: ManifestJSON
                }
                let answer = Answer(file: output, bytes: bytes, seconds: (seconds * 1000).rounded() / 1000, manifest: ManifestJSON(manifest))
                Stdout.write(String(decoding: try JSONEncoder.sorted.encode(answer), as: UTF8.self) + "\n")
            } else {
                Stdout.write(Self.describe(manifest, file: output)
                             + String(format: "written: %@ in %.2f s\n", Units.iec(bytes), seconds))
            }
        }

        /// `--verify`: the manifest, and whether the content still matches it.
        static func verify(_ file: String, format: OutputFormatArgument) throws {
            let caseStore = try FlowStore(path: file, access: .readOnly)
            guard let manifest = try caseStore.caseManifests().first(where: { $0.imported == nil }) else {
                throw StoreError(.notATailflowStore, "not an incident case: the store has no export manifest (`tailflow export -o` writes one)", path: file)
            }
            let computed = try caseStore.contentHash()
            let matches = computed == manifest.sha256 && manifest.hashScheme == FlowStore.hashScheme
            if format == .json {
                struct Answer: Encodable {
                    var file: String
                    var verified: Bool
                    var computedSha256: String
                    var manifest: ManifestJSON
                }
                let answer = Answer(file: file, verified: matches, computedSha256: computed, manifest: ManifestJSON(manifest))
                Stdout.write(String(decoding: try JSONEncoder.sorted.encode(answer), as: UTF8.self) + "\n")
            } else {
                var out = describe(manifest, file: file)
                out += matches ? "verified: the content matches the manifest's SHA-256\n"
                    : "verified: NO: the content's SHA-256 is \(computed); the case was changed after export\n"
                Stdout.write(out)
            }
            if !matches {
                Stderr.write("tailflow: \(file): the content does not match the manifest (SHA-256 \(computed), manifest says \(manifest.sha256))\n")
                throw ExitCode.failure
            }
        }

        static func describe(_ m: CaseManifest, file: String) -> String {
            var out = "case: \(file)\n"
            out += "window: \(Timestamp.formatRFC3339(m.from)) to \(Timestamp.formatRFC3339(m.to))\n"
            if let e = m.endpoint { out += "endpoint: \(e)" + (m.endpointKey.map { $0 == e ? "" : " (\($0))" } ?? "") + "\n" }
            if let f = m.filter { out += "where: \(f)\n" }
            out += "messages: \(Units.grouped(m.messages)) (\(Units.grouped(m.flowRows)) flow rows)\n"
            out += "nodes: \(Units.grouped(m.nodes)) (\(Units.grouped(m.reporters)) reporting)\n"
            out += "rejects: \(Units.grouped(m.rejects)), configuration changes: \(Units.grouped(m.changes))\n"
            out += "created: \(Timestamp.formatRFC3339(m.created)) by \(m.tailflowVersion) from \(m.source)\n"
            out += "sha256: \(m.sha256) (\(m.hashScheme))\n"
            return out
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Merge stores (incident cases written by export, or any tailflow store) into this one, idempotently.",
            discussion: """
                Messages are merged by their identity, as ingest stores them (importing a case twice adds nothing), node \
                facts as the latest report, rejects and configuration changes by their identity; rollups are built as \
                ingest builds them. A case whose content no longer matches its manifest is refused (exit 1) before \
                anything is merged. The store keeps the manifests of the cases merged into it.
                """)

        @OptionGroup var store: StoreOptions

        @Argument(help: ArgumentHelp("The stores to merge.", valueName: "case.db"))
        var files: [String]

        @Option(name: .long, help: "Output format: table (human) or json.")
        var format: OutputFormatArgument = .table

        func validate() throws {
            if files.isEmpty { throw ValidationError("name at least one store to import") }
            if format != .table && format != .json { throw ValidationError("--format: table or json") }
        }

        func run() throws {
            let target = try store.open()
            let targetPath = URL(fileURLWithPath: target.path).standardizedFileURL.path
            var reports: [ImportReport] = []
            // Summarize the hours whose messages changed, as ingest does, once a file is merged, also
            // when a later one fails (nothing before: a refused case must not wait for it).
            defer { if !reports.isEmpty { Tailflow.refreshCoverageSummaries(target) } }
            for file in files {
                if URL(fileURLWithPath: file).standardizedFileURL.path == targetPath {
                    throw StoreError(.sqlite, "cannot import a store into itself", path: file)
                }
                let source = try FlowStore(path: file, access: .readOnly)
                let progress = Stderr.isTerminal ? ProgressLine(verb: "importing \(file)") : nil
                do {
                    reports.append(try target.importCase(source, progress: progress.map { p in { p.show($0) } }))
                } catch {
                    progress?.clear()
                    throw error
                }
                progress?.clear()
            }
            if format == .json {
                struct Row: Encodable {
                    var file: String
                    var messages: Int
                    var duplicates: Int
                    var flowRows: Int
                    var nodes: Int
                    var rejects: Int
                    var changes: Int
                    var duplicateChanges: Int
                    var manifest: ManifestJSON?
                }
                let rows = reports.map { r in
                    Row(file: r.source, messages: r.messages, duplicates: r.duplicates, flowRows: r.flowRows, nodes: r.nodes, rejects: r.rejects,
                        changes: r.changes, duplicateChanges: r.duplicateChanges, manifest: r.manifest.map(ManifestJSON.init))
                }
                Stdout.write(String(decoding: try JSONEncoder.sorted.encode(rows), as: UTF8.self) + "\n")
            } else {
                var out = ""
                for r in reports {
                    out += "\(r.source): \(Units.grouped(Int64(r.messages))) new messages (\(Units.grouped(Int64(r.flowRows))) flow rows), "
                        + "\(Units.grouped(Int64(r.duplicates))) already stored; \(Units.grouped(Int64(r.nodes))) nodes, \(Units.grouped(Int64(r.rejects))) rejects, "
                        + "\(Units.grouped(Int64(r.changes))) new configuration changes\n"
                }
                Stdout.write(out)
            }
        }
    }
}

/// A manifest as JSON: times in RFC 3339 and in ns, counts as integers.
struct ManifestJSON: Encodable {
    var from: String
    var to: String
    var fromNs: Int64
    var toNs: Int64
    var endpoint: String?
    var endpointKey: String?
    var filter: String?
    var messages: Int64
    var flowRows: Int64
    var nodes: Int64
    var reporters: Int64
    var rejects: Int64
    var changes: Int64
    var created: String
    var tailflowVersion: String
    var source: String
    var hashScheme: String
    var sha256: String
    var imported: String?

    init(_ m: CaseManifest) {
        from = Timestamp.formatRFC3339(m.from)
        to = Timestamp.formatRFC3339(m.to)
        fromNs = m.from
        toNs = m.to
        endpoint = m.endpoint
        endpointKey = m.endpointKey
        filter = m.filter
        messages = m.messages
        flowRows = m.flowRows
        nodes = m.nodes
        reporters = m.reporters
        rejects = m.rejects
        changes = m.changes
        created = Timestamp.formatRFC3339(m.created)
        tailflowVersion = m.tailflowVersion
        source = m.source
        hashScheme = m.hashScheme
        sha256 = m.sha256
        imported = m.imported.map { Timestamp.formatRFC3339($0) }
    }
}

/// A progress line on a terminal's standard error, rewritten in place.
final class ProgressLine: @unchecked Sendable {
    let verb: String
    var shown = false

    init(verb: String) {
        self.verb = verb
    }

    func show(_ p: CopyProgress) {
        shown = true
        Stderr.write(String(format: "\r%@: %3.0f%% (%@ messages read, %@ copied)\u{1B}[K", verb, p.fraction * 100,
                            Units.grouped(Int64(p.messagesScanned)), Units.grouped(Int64(p.messagesCopied))))
    }

    func clear() {
        if shown { Stderr.write("\r\u{1B}[K") }
    }
}
