import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import FlowFormat
import FlowIngest
import FlowQuery
import FlowStore
import Foundation

extension Tailflow {
    struct Ingest: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ingest",
            abstract: "Load flow logs into the store.",
            discussion: """
                Accepts every container of Tailscale network flow logs, auto-detected: one message, a JSON array, \
                concatenated objects, JSON Lines, the API response {"logs":[…]}, log-service records, Splunk HEC \
                bodies and Elasticsearch _bulk bodies; gzip is detected by its magic bytes. `-` reads standard input. \
                Configuration audit log records (who changed what: `tailflow changes`) are detected by their shape in \
                every container, mixed with the messages or alone. Ingesting the same input again stores nothing new. Rejected input is recorded with its location \
                and reason (see `tailflow rejects`); the rest still lands, and the exit status is then 3. A file that \
                cannot be opened or read is named on stderr and counted in failedSources: the exit status is 1 when \
                nothing was stored, 3 when other sources were.
                """
        )

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: "Summary format: table (human) or json.")
        var format: OutputFormatArgument = .table

        @Flag(name: .long, help: "No progress line, even on a terminal.")
        var quiet = false

        @Option(name: .long, help: "Commit after this many flow rows (readers see progress at each commit).")
        var commitRows = 500_000

        @Option(name: .long, help: "Commit at least this often, in seconds.")
        var commitSeconds = 2.0

        func validate() throws {
            guard commitRows > 0 else { throw ValidationError("--commit-rows must be positive") }
            guard commitSeconds > 0, commitSeconds.isFinite else { throw ValidationError("--commit-seconds must be positive") }
        }

        @Argument(help: "Files to read; - for standard input.")
        var files: [String] = ["-"]

        /// How many rejects are printed before only counting them.
        static let rejectsShown = 10

        func run() throws {
            Self.keepFreedMemory()
            let storage = try store.openStorage()
            let ingester = Ingester(store: storage)
            ingester.policy.rowsPerCommit = commitRows
            ingester.policy.secondsPerCommit = commitSeconds
            var shown = 0
            ingester.onReject = { reject in
                shown += 1
                if shown <= Self.rejectsShown {
                    if showProgress { Stderr.write("\r\u{1B}[K") }
                    Stderr.write("tailflow: rejected \(reject)\n")
                }
            }
            if showProgress {
                ingester.onProgress = { p in
                    let mb = Double(p.bytes) / 1_048_576
                    let rate = p.elapsed > 0 ? mb / p.elapsed : 0
                    Stderr.write("\r\u{1B}[K" + String(format: "%@ messages, %@ rows, %.1f MB, %.1f MB/s, %.1fs",
                                                        Units.grouped(Int64(p.messages)), Units.grouped(Int64(p.rows)), mb, rate, p.elapsed))
                }
            }
            let summary = try ingester.ingest(paths: files)
            if showProgress { Stderr.write("\r\u{1B}[K") }
            if summary.rejected > Self.rejectsShown {
                Stderr.write("tailflow: \(summary.rejected - Self.rejectsShown) more rejects not shown; `tailflow rejects` lists them all\n")
            }
            for failure in summary.failedSources {
                Stderr.write("tailflow: cannot read \(failure)\n")
            }
            Stdout.write(Self.render(summary, format))
            // Count the edges of the long buckets this input changed, for `top` over weeks (schema/010).
            if summary.storedMessages > 0, let sqlite = storage as? FlowStore { try EdgeSumCache.refresh(sqlite) }
            Tailflow.refreshCoverageSummaries(storage)
            if !summary.failedSources.isEmpty {
                // Messages already in the store (duplicates) count as stored: the other sources did land.
                throw summary.storedMessages + summary.duplicates + summary.changes > 0 ? ExitCode(3) : ExitCode.failure
            }
            if summary.rejected > 0 { throw ExitCode(3) }
        }

        var showProgress: Bool { !quiet && Stderr.isTerminal }

        /// Tells glibc to keep the memory ingest frees for its next allocations, not hand it back to
        /// the system and fault it in again: the decoding threads' messages are freed by another
        /// thread once stored, so their heaps shrank and grew all run long. The day's file: system
        /// time 0.45 → 0.35 s, minor faults 77k → 64k, resident size unchanged (the process ends
        /// with the ingest; `serve` and `pull` keep glibc's defaults).
        static func keepFreedMemory() {
            #if canImport(Glibc)
            // `mallopt` and its constants live in <malloc.h>, which the Glibc module leaves out:
            // looked up by name; M_TRIM_THRESHOLD is -1 and M_TOP_PAD -2 there.
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
            let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
            _ = mallopt(-1, 1 << 30)
            _ = mallopt(-2, 64 << 20)
            #endif
        }

        static func render(_ s: IngestSummary, _ format: OutputFormatArgument) -> String {
            let fields: [(String, Cell)] = [("sources", .count(Int64(s.sources)))] + s.countFields + [
                ("failedSources", .count(Int64(s.failedSources.count))),
                ("bytes", .bytes(s.bytes)),
                ("seconds", .seconds(s.seconds)),
            ]
            let rate = s.seconds > 0 ? Double(s.rows) / s.seconds : 0
            return renderSummary(fields, format, sentence:
                "ingested \(Units.grouped(Int64(s.messages))) messages (\(Units.grouped(Int64(s.rows))) rows) from \(s.sources) source\(s.sources == 1 ? "" : "s") in \(String(format: "%.2f", s.seconds))s, \(Units.grouped(Int64(rate))) rows/s\n"
                + s.storedSentence
                + (s.failedSources.isEmpty ? "" : "\(s.failedSources.count) source\(s.failedSources.count == 1 ? "" : "s") could not be read\n"))
        }
    }
}

extension IngestSummary {
    /// The counts that ingest and pull summaries both report, in their order.
    var countFields: [(String, Cell)] {
        [("messages", .count(Int64(messages))), ("rows", .count(Int64(rows))),
         ("storedMessages", .count(Int64(storedMessages))), ("storedRows", .count(Int64(storedRows))),
         ("duplicates", .count(Int64(duplicates))), ("rejected", .count(Int64(rejected))), ("skipped", .count(Int64(skipped))),
         ("changes", .count(Int64(changes))), ("storedChanges", .count(Int64(storedChanges))),
         ("duplicateChanges", .count(Int64(duplicateChanges)))]
    }

    /// The second line of an ingest or pull summary.
    var storedSentence: String {
        "stored \(Units.grouped(Int64(storedMessages))) new messages (\(Units.grouped(Int64(storedRows))) rows), "
            + "\(Units.grouped(Int64(duplicates))) duplicates skipped, \(rejected) rejected, \(skipped) non-message values skipped\n"
            + (changes == 0 ? "" : "stored \(Units.grouped(Int64(storedChanges))) new configuration changes, \(Units.grouped(Int64(duplicateChanges))) already stored\n")
    }
}

/// A one-record summary: a sentence for people (table), else one CSV row or one JSON object.
func renderSummary(_ fields: [(String, Cell)], _ format: OutputFormatArgument, sentence: String) -> String {
    let report = Report(columns: fields.map { Column($0.0) }, rows: [fields.map(\.1)])
    switch format {
    case .table: return sentence
    case .csv: return report.render(.csv)
    // One object, not an array: a summary is a single record.
    case .json, .ndjson: return report.render(.ndjson)
    }
}
