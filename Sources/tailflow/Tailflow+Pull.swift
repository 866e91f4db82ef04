import ArgumentParser
import FlowClickHouse
import FlowFormat
import FlowIngest
import FlowModel
import FlowPull
import FlowQuery
import FlowStore
import Foundation

extension Tailflow {
    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pull",
            abstract: "Fetch a window of network flow logs and configuration audit logs from the Tailscale API, and the device list.",
            discussion: """
                GET /api/v2/tailnet/{tailnet}/logging/network and /logging/configuration (--logs) in contiguous chunks \
                (several at once), ingested in order as they arrive. Pulling a window again stores nothing new. \
                Credentials: TS_API_KEY or --api-key-file, or TS_OAUTH_CLIENT_ID and TS_OAUTH_CLIENT_SECRET (scopes \
                logs:network:read, logs:configuration:read and devices:core:read). A log the credentials may not read \
                (403) is named on stderr with the missing scope, and the other is still pulled. \
                Exit status: 0 success, 1 failure, 2 usage error, 3 some messages rejected but the rest stored.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var api: APIOptions

        @Option(parsing: .unconditional, help: "Window start: RFC 3339, a date, now, or relative (-15m, -24h, -7d).")
        var from: String

        @Option(parsing: .unconditional, help: "Window end (exclusive), in the same forms.")
        var to = "now"

        @Option(help: "The window of one request.")
        var chunk = "1h"

        @Option(help: "Requests in flight at most.")
        var concurrency = 4

        @Flag(name: .customLong("no-devices"), help: "Do not sync the device list.")
        var noDevices = false

        @Option(help: ArgumentHelp("The logs to fetch, comma-separated: network, configuration.", valueName: "logs"))
        var logs = "network,configuration"

        @Option(name: .long, help: "Summary format: table (human) or json.")
        var format: OutputFormatArgument = .table

        @Flag(name: .long, help: "No progress line, even on a terminal.")
        var quiet = false

        func validate() throws {
            try api.validateAPI()
            _ = try duration(chunk, "--chunk")
            guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
            _ = try logTypes(logs)
        }

        func run() async throws {
            let logTypes = try logTypes(logs)
            let window: TimeWindow
            do {
                window = try TimeWindow.parse(from: from, to: to)
            } catch let e as QueryError {
                throw ValidationError(e.message)
            }
            let chunkSize = try duration(chunk, "--chunk")
            let flowStore = try store.openStorage()
            let logger = api.logger
            let rejects = RejectPrinter()
            let showProgress = !quiet && Stderr.isTerminal
            let summary = try await withAPI(api, logger: logger) { client in
                var devices = 0
                if !noDevices {
                    devices = try await syncDevices(api: client, store: flowStore, now: nowNanoseconds())
                }
                let progress: ((PullProgress) -> Void)? = showProgress ? { p in
                    Stderr.write("\r\u{1B}[K" + "chunk \(p.chunksDone)/\(p.chunks), \(Units.grouped(Int64(p.messages))) messages, "
                        + "\(Units.grouped(Int64(p.rows))) rows, \(p.retries) retries, \(String(format: "%.1f", p.elapsed))s")
                } : nil
                do {
                    var summary = try await Puller.pull(logs: logTypes, api: client, store: flowStore, from: window.from, to: window.to, logger: logger,
                        configure: { puller in
                            puller.chunkSize = chunkSize
                            puller.concurrency = concurrency
                            puller.onReject = { rejects.print($0) }
                            puller.onProgress = progress
                        },
                        onForbidden: { log, error in
                            if showProgress { Stderr.write("\r\u{1B}[K") }
                            Stderr.write("tailflow: the \(log.rawValue) log was not pulled: \(error)\n")
                        },
                        partial: { s in
                            if showProgress { Stderr.write("\r\u{1B}[K") }
                            if s.chunks > 0 {
                                Stderr.write("tailflow: \(s.chunks) chunk\(s.chunks == 1 ? "" : "s") (\(Units.grouped(Int64(s.ingested.storedMessages))) new messages) were stored before the error; pulling again completes the window\n")
                            }
                        })
                    summary.devices = devices
                    return summary
                }
            }
            if showProgress { Stderr.write("\r\u{1B}[K") }
            Tailflow.refreshCoverageSummaries(flowStore)
            rejects.finish(total: summary.ingested.rejected)
            Stdout.write(Self.render(summary, format, what: "pulled"))
            if summary.ingested.rejected > 0 { throw ExitCode(3) }
        }

        static func render(_ s: PullSummary, _ format: OutputFormatArgument, what: String) -> String {
            let fields: [(String, Cell)] = [("chunks", .count(Int64(s.chunks)))] + s.ingested.countFields + [
                ("devices", .count(Int64(s.devices))),
                ("retries", .count(Int64(s.retries))),
                ("bytes", .bytes(s.bytes)),
                ("seconds", .seconds(s.seconds)),
            ]
            let rate = s.seconds > 0 ? Double(s.ingested.rows) / s.seconds : 0
            return renderSummary(fields, format, sentence:
                "\(what) \(Units.grouped(Int64(s.ingested.messages))) messages (\(Units.grouped(Int64(s.ingested.rows))) rows) in \(s.chunks) chunk\(s.chunks == 1 ? "" : "s") in \(String(format: "%.2f", s.seconds))s, \(Units.grouped(Int64(rate))) rows/s, \(s.retries) retries, \(s.devices) devices synced\n"
                + s.ingested.storedSentence)
        }
    }

    struct Follow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "follow",
            abstract: "Keep pulling network flow logs and configuration audit logs from the Tailscale API, from checkpoints kept in the store.",
            discussion: """
                Each poll fetches from the checkpoint minus --overlap (logs arrive late; what is fetched twice is stored \
                once) to now minus --lag, and moves the checkpoint after each chunk is committed, so a follow that is \
                killed and started again loses and duplicates nothing. The first run starts at --since. Network errors \
                and 429/5xx answers are retried, then the poll is tried again later; a refused key (401/403) stops it \
                with status 1. SIGINT or SIGTERM stop it after the current commit, with status 0 (3 when some \
                message was rejected, as for ingest). The device list is synced at start and every --devices-every. \
                Each log of --logs has its own checkpoint; a log the credentials may not read (403) is named on stderr \
                with the missing scope and left out, and the others are still followed.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var api: APIOptions

        @Option(parsing: .unconditional, help: "Where to start when the store has no checkpoint for this API and tailnet yet (a time, as for pull).")
        var since = "-1h"

        @Option(parsing: .unconditional, help: "Stop once everything before this time is stored (default: follow forever).")
        var until: String?

        @Option(help: "Fetch again this far before the checkpoint: logs arrive late.")
        var overlap = "10m"

        @Option(help: "Stay this far behind now.")
        var lag = "1m"

        @Option(help: "Wait between polls.")
        var poll = "30s"

        @Option(name: .customLong("devices-every"), help: "Sync the device list this often; 0 never.")
        var devicesEvery = "1h"

        @Option(help: "The window of one request (when catching up).")
        var chunk = "1h"

        @Option(help: "Requests in flight at most.")
        var concurrency = 4

        @Option(help: ArgumentHelp("The logs to follow, comma-separated: network, configuration.", valueName: "logs"))
        var logs = "network,configuration"

        @Option(name: .long, help: "Format of the summary printed when it stops: table (human) or json.")
        var format: OutputFormatArgument = .table

        @Flag(name: .long, help: "No progress line, even on a terminal.")
        var quiet = false

        @Option(help: ArgumentHelp("Prune after each poll, as `tailflow prune` does: raw=30d,1m=90d,1h=400d (default: keep everything).", valueName: "policy"))
        var retention: String?

        func validate() throws {
            try api.validateAPI()
            if let retention {
                do { _ = try RetentionPolicy.parse(retention) } catch let e as RetentionError { throw ValidationError("--retention: \(e.message)") }
            }
            _ = try duration(overlap, "--overlap", allowZero: true)
            _ = try duration(lag, "--lag", allowZero: true)
            _ = try duration(poll, "--poll")
            _ = try duration(devicesEvery, "--devices-every", allowZero: true)
            _ = try duration(chunk, "--chunk")
            guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
            _ = try logTypes(logs)
        }

        func run() async throws {
            let now = nowNanoseconds()
            var options: FollowOptions
            do {
                options = FollowOptions(since: try TimeWindow.parseTime(since, now: now, what: "--since"))
                options.until = try until.map { try TimeWindow.parseTime($0, now: now, what: "--until") }
            } catch let e as QueryError {
                throw ValidationError(e.message)
            }
            options.overlap = try duration(overlap, "--overlap", allowZero: true)
            options.lag = try duration(lag, "--lag", allowZero: true)
            options.poll = .nanoseconds(try duration(poll, "--poll"))
            let every = try duration(devicesEvery, "--devices-every", allowZero: true)
            options.devicesEvery = every > 0 ? .nanoseconds(every) : nil
            options.chunkSize = try duration(chunk, "--chunk")
            options.concurrency = concurrency
            options.retention = try retention.map(RetentionPolicy.parse).flatMap { $0.keepsEverything ? nil : $0 }
            options.logs = try logTypes(logs)
            // ClickHouse keeps data by its own TTLs, not tailflow's pruning.
            if options.retention != nil, try store.clickHouseURL() != nil { throw ClickHouseUnsupported("follow --retention") }

            let flowStore = try store.openStorage()
            let logger = api.logger
            let rejects = RejectPrinter()
            let showProgress = !quiet && Stderr.isTerminal
            let summary = try await withAPI(api, logger: logger) { client in
                let follower = Follower(api: client, store: flowStore, options: options, logger: logger)
                follower.onReject = { rejects.print($0) }
                if showProgress {
                    follower.onProgress = { p in
                        Stderr.write("\r\u{1B}[K" + "following: checkpoint \(Timestamp.formatRFC3339(p.committedUpTo)), "
                            + "\(Units.grouped(Int64(p.messages))) messages this poll, \(p.retries) retries")
                    }
                }
                // SIGINT and SIGTERM cancel the follow; it stops after the commit in progress.
                let task = Task { try await follower.run() }
                let signals = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
                    signal(number, SIG_IGN)
                    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                    source.setEventHandler { task.cancel() }
                    source.resume()
                    return source
                }
                defer { signals.forEach { $0.cancel() } }
                return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
            }
            if showProgress { Stderr.write("\r\u{1B}[K") }
            // The hours the follower left unsummarized (those its next poll would have fetched again).
            Tailflow.refreshCoverageSummaries(flowStore)
            for why in summary.forbidden { Stderr.write("tailflow: the \(why.prefix { $0 != ":" }) log was not followed:\(why.drop { $0 != ":" }.dropFirst())\n") }
            rejects.finish(total: summary.pulled.ingested.rejected)
            Stdout.write(Self.render(summary, format))
            // As for ingest and pull: some input was rejected, the rest is stored.
            if summary.pulled.ingested.rejected > 0 { throw ExitCode(3) }
        }

        static func render(_ s: FollowSummary, _ format: OutputFormatArgument) -> String {
            switch format {
            case .table:
                return Pull.render(s.pulled, .table, what: "followed \(s.polls) poll\(s.polls == 1 ? "" : "s") (\(s.failedPolls) failed):")
                    + "checkpoint \(s.checkpoint.map { Timestamp.formatRFC3339($0) } ?? "none")"
                    + (s.configurationCheckpoint.map { ", configuration checkpoint \(Timestamp.formatRFC3339($0))" } ?? "") + "\n"
            default:
                var line = Pull.render(s.pulled, .json, what: "")
                while line.hasSuffix("\n") || line.hasSuffix("}") { line.removeLast() }
                let checkpoint = s.checkpoint.map { "\"\(Timestamp.formatRFC3339($0))\"" } ?? "null"
                let configuration = s.configurationCheckpoint.map { "\"\(Timestamp.formatRFC3339($0))\"" } ?? "null"
                return line + ",\"polls\":\(s.polls),\"failedPolls\":\(s.failedPolls),\"checkpoint\":\(checkpoint),\"configurationCheckpoint\":\(configuration)}\n"
            }
        }
    }
}

/// `--logs`: `network`, `configuration` or both, comma-separated, in that order.
func logTypes(_ text: String) throws -> [LogType] {
    var out: [LogType] = []
    for part in text.split(separator: ",") {
        let name = part.trimmingCharacters(in: .whitespaces).lowercased()
        guard let log = LogType(rawValue: name) else {
            throw ValidationError("--logs '\(part)' is not a log: use network, configuration or both (network,configuration)")
        }
        if !out.contains(log) { out.append(log) }
    }
    guard !out.isEmpty else { throw ValidationError("--logs needs at least one of network, configuration") }
    return LogType.allCases.filter(out.contains)
}
