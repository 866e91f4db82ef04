import ArgumentParser
import FlowFormat
import FlowModel
import FlowQuery
import FlowStore
import Foundation

extension Tailflow {
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune",
            abstract: "Delete what a retention policy no longer keeps: raw flow rows, minute, hour and day rollups.",
            discussion: """
                Each level is optional and kept forever unless given; a period is a duration (30d, 12h, 2w) or forever. \
                --day covers every rollup level of a day or more. Deletion runs in small transactions (under ~50 ms \
                each), so a running `serve` or `follow` keeps writing. Questions over pruned raw time are then answered \
                exactly from the finest level still kept, and say so; `flows` and steps finer than what is kept fail \
                there with the retention and the earliest time available. Stores created by this tailflow return freed \
                space to the file system (incremental vacuum); older stores reuse it, and --vacuum rewrites one once so \
                that it can shrink from then on (that holds the writer for the whole rewrite).
                """)

        @OptionGroup var store: StoreOptions

        @Option(help: ArgumentHelp("Keep raw flow rows this long.", valueName: "period"))
        var raw: String?

        @Option(help: ArgumentHelp("Keep minute rollups this long.", valueName: "period"))
        var minute: String?

        @Option(help: ArgumentHelp("Keep hour rollups this long.", valueName: "period"))
        var hour: String?

        @Option(help: ArgumentHelp("Keep day (and multi-day) rollups this long.", valueName: "period"))
        var day: String?

        @Option(help: ArgumentHelp("The whole policy at once, as serve takes it: raw=30d,1m=90d,1h=400d.", valueName: "policy"))
        var retention: String?

        @Flag(name: .customLong("dry-run"), help: "Only count what would be deleted.")
        var dryRun = false

        @Flag(help: "Rewrite an older store once so that it can shrink (VACUUM; needs free space as large as the store).")
        var vacuum = false

        @Option(name: .long, help: "Summary format: table (human) or json.")
        var format: OutputFormatArgument = .table

        func policy() throws -> RetentionPolicy {
            do {
                var policy = try retention.map(RetentionPolicy.parse) ?? RetentionPolicy()
                for (text, level) in [(raw, RetentionPolicy.Level.raw), (minute, .minute), (hour, .hour), (day, .day)] {
                    guard let text else { continue }
                    if retention != nil, policy.periods[level] != nil {
                        throw RetentionError("--\(level == .raw ? "raw" : level == .minute ? "minute" : level == .hour ? "hour" : "day") and --retention both set \(level.rawValue)")
                    }
                    if let p = try RetentionPolicy.period(text, level: level) { policy.periods[level] = p } else { policy.periods[level] = nil }
                }
                return policy
            } catch let e as RetentionError {
                throw ValidationError(e.message)
            }
        }

        func run() throws {
            let policy = try policy()
            guard FileManager.default.fileExists(atPath: store.path) else {
                throw StoreError(.noStore, "no tailflow store at \(store.path)")
            }
            let flowStore = try store.open()
            if vacuum { try flowStore.convertToIncrementalVacuum() }
            let report = try flowStore.prune(policy, now: TimeWindow.now(), dryRun: dryRun)
            if format == .json {
                Stdout.write(String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self) + "\n")
                return
            }
            var out = dryRun ? "dry run: nothing deleted\n" : ""
            if report.levels.isEmpty { out += "the policy keeps everything (\(policy)): nothing to prune\n" }
            for l in report.levels {
                let what = l.level == "raw" ? "\(Units.grouped(l.messages)) messages (\(Units.grouped(l.flowRows)) flow rows)"
                    : "\(Units.grouped(l.buckets)) bucket rows"
                out += "\(l.level) (keep \(l.keep)): \(dryRun ? "would delete" : "deleted") \(what) before \(l.keptFrom)\n"
            }
            if !dryRun {
                out += String(format: "%d transactions, longest %.1f ms, %.2f s; file %@ -> %@", report.transactions,
                              report.longestTransactionMs, report.seconds, Units.iec(report.fileBytesBefore), Units.iec(report.fileBytesAfter))
                out += report.shrinks ? "\n" : " (this store reuses freed pages but does not shrink: --vacuum converts it once)\n"
            }
            Stdout.write(out)
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Verify a store: SQLite's integrity check, the schema version, and rollups against their raw rows.",
            discussion: """
                By default a quick check and a sample of rollup buckets (at random message times and random stored \
                buckets, every level); --full runs SQLite's full integrity check and compares every bucket. Buckets \
                whose raw rows were pruned are skipped. Exit status 0 when the store is sound, 1 with what is wrong.
                """)

        @OptionGroup var store: StoreOptions

        @Flag(help: "Check everything, not a sample.")
        var full = false

        @Option(help: "Buckets sampled per level (sample mode).")
        var samples = 64

        @Option(name: .long, help: "Output format: table (human) or json.")
        var format: OutputFormatArgument = .table

        func run() throws {
            let report: CheckReport
            do {
                report = try FlowStore(path: store.path, access: .readOnly).check(full: full, samples: samples)
            } catch let e as StoreError where [.corrupt, .notATailflowStore, .schemaTooNew, .schemaTooOld].contains(e.code) {
                // A store that cannot even be opened is a finding, in the answer's format.
                var failed = CheckReport()
                if e.code == .schemaTooOld || e.code == .schemaTooNew {
                    // Another tailflow's schema says nothing about the file's integrity:
                    // not checked, and the migrations it has.
                    failed.schemaProblem = e.message
                    failed.schemaVersion = FlowStore.appliedMigrations(path: store.path) ?? []
                } else {
                    failed.integrity = [e.message]
                }
                report = failed
            }
            if format == .json {
                struct Answer: Encodable {
                    var sound: Bool
                    var problems: [String]
                    var report: CheckReport
                }
                Stdout.write(String(decoding: try JSONEncoder.sorted.encode(Answer(sound: report.isSound, problems: report.problems, report: report)), as: UTF8.self) + "\n")
            } else {
                var out = report.integrity.isEmpty ? "integrity: not checked (the store was not opened)\n"
                    : "integrity: \(report.integrity == ["ok"] ? "ok" : "FAILED") (\(full ? "integrity_check" : "quick_check"))\n"
                out += "schema: \(report.schemaVersion.last ?? "none")\(report.schemaCurrent ? " (current)" : " (NOT what this tailflow expects)")\n"
                out += "rollups: \(report.bucketsChecked) buckets compared with their raw rows or finer buckets, \(report.mismatches.count) differ"
                out += report.bucketsPruned > 0 ? ", \(report.bucketsPruned) skipped (what they sum was pruned)\n" : "\n"
                if full {
                    out += "coverage hours: \(report.coverageHoursChecked) summaries compared with their messages, \(report.coverageHoursDiffer.count) differ"
                    out += report.coverageHoursStale > 0 ? ", \(report.coverageHoursStale) of an older format (summarized again by the next ingest, pull, import, follow or serve)\n" : "\n"
                }
                out += String(format: "%.2f s\n", report.seconds)
                Stdout.write(out)
                for p in report.problems { Stderr.write("tailflow: \(store.path): \(p)\n") }
            }
            if !report.isSound { throw ExitCode.failure }
        }
    }

    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "backup",
            abstract: "Copy the store consistently to a new file, also while serve, follow or ingest write it.",
            discussion: "The copy is one snapshot (SQLite's VACUUM INTO): compact, complete, and openable by any tailflow command.")

        @OptionGroup var store: StoreOptions

        @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The new file.", valueName: "file"))
        var output: String

        @Flag(help: "Replace the file if it exists.")
        var force = false

        func run() throws {
            let t0 = ContinuousClock.now
            let bytes = try FlowStore(path: store.path, access: .readOnly).backup(to: output, replace: force)
            Stdout.write(String(format: "%@: %@ copied in %.2f s\n", output, Units.iec(bytes), (ContinuousClock.now - t0).seconds))
        }
    }
}

extension JSONEncoder {
    /// Sorted keys, no escaped slashes: stable output for scripts.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
