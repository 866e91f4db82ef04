import ArgumentParser
import FlowIngest
import FlowModel
import FlowPull
import FlowStore
import Foundation
import Logging

/// The options of every command that talks to the Tailscale API. There is deliberately no option
/// that takes a secret: the process list would show it.
struct APIOptions: ParsableArguments {
    @Option(help: "The tailnet (e.g. example.com), or - for the credentials' default tailnet.")
    var tailnet = "-"

    @Option(name: .customLong("api-url"), help: ArgumentHelp("The API root.", valueName: "url"))
    var apiURL = APIConfiguration.defaultBaseURL

    @Option(name: .customLong("api-key-file"), help: ArgumentHelp(
        "Read the API key from this file (default: $TS_API_KEY; or OAuth from $TS_OAUTH_CLIENT_ID and $TS_OAUTH_CLIENT_SECRET).",
        valueName: "path"))
    var apiKeyFile: String?

    @Option(help: "Longest wait for one whole answer.")
    var timeout = "60s"

    @Option(help: "Retries of a request after 429, 5xx or a network error, with exponential back-off and jitter.")
    var retries = 5

    @Option(help: ArgumentHelp("The first retry's back-off before jitter; it doubles each retry, up to 60s. Retry-After wins.", valueName: "duration"))
    var backoff = "1s"

    @Flag(help: "Log every request and commit to standard error.")
    var verbose = false

    func validateAPI() throws {
        guard let url = URL(string: apiURL), let scheme = url.scheme, ["http", "https"].contains(scheme.lowercased()), url.host != nil else {
            throw ValidationError("--api-url '\(apiURL)' is not an http(s) URL such as https://api.tailscale.com")
        }
        guard !tailnet.isEmpty else { throw ValidationError("--tailnet must not be empty") }
        _ = try duration(timeout, "--timeout")
        _ = try duration(backoff, "--backoff", allowZero: true)
        guard retries >= 0 else { throw ValidationError("--retries must be 0 or more") }
    }

    /// Connects with the credentials of the environment or `--api-key-file`; a missing credential is a usage error.
    func api(logger: Logger) throws -> TailscaleAPI {
        let credentials: Credentials
        do {
            credentials = try Credentials.resolve(environment: ProcessInfo.processInfo.environment, keyFile: apiKeyFile)
        } catch let missing as Credentials.Missing {
            throw ValidationError(missing.description)
        }
        var config = APIConfiguration(baseURL: apiURL, tailnet: tailnet, credentials: credentials)
        config.timeout = .nanoseconds(try duration(timeout, "--timeout"))
        config.retry.retries = retries
        config.retry.baseDelay = .nanoseconds(try duration(backoff, "--backoff", allowZero: true))
        return TailscaleAPI(config, logger: logger)
    }

    var logger: Logger {
        let level: Logger.Level = verbose ? .debug : .notice
        return Logger(label: "tailflow.pull") { _ in StderrLogHandler(logLevel: level) }
    }
}

/// Parses a duration option (`90s`, `10m`, `1h`); a bad one is a usage error.
func duration(_ text: String, _ option: String, allowZero: Bool = false) throws -> Nanoseconds {
    // A bare 0 needs no unit.
    if allowZero, text.trimmingCharacters(in: .whitespaces) == "0" { return 0 }
    guard let d = DurationText.parse(text), allowZero ? d >= 0 : d > 0 else {
        throw ValidationError("\(option) '\(text)' is not a \(allowZero ? "" : "positive ")duration: use 500ms, 30s, 10m, 1h …")
    }
    return d
}

/// Log lines on standard error: `tailflow: <message>`, clearing a progress line first on a terminal.
struct StderrLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(logLevel: Logger.Level) {
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        for (k, v) in event.metadata ?? [:] { all[k] = v }
        let extra = all.isEmpty ? "" : " (" + all.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"
        let level = event.level >= .warning ? "\(event.level): " : ""
        Stderr.write((Stderr.isTerminal ? "\r\u{1B}[K" : "") + "tailflow: \(level)\(event.message)\(extra)\n")
    }
}

/// Prints rejects as they come: the first ten, then only a count.
final class RejectPrinter: @unchecked Sendable {
    private let lock = NSLock()
    private var shown = 0

    func print(_ reject: Reject) {
        let show = lock.withLock {
            shown += 1
            return shown <= Tailflow.Ingest.rejectsShown
        }
        if show { Stderr.write((Stderr.isTerminal ? "\r\u{1B}[K" : "") + "tailflow: rejected \(reject)\n") }
    }

    func finish(total: Int) {
        if total > Tailflow.Ingest.rejectsShown {
            Stderr.write("tailflow: \(total - Tailflow.Ingest.rejectsShown) more rejects not shown; `tailflow rejects` lists them all\n")
        }
    }
}

/// Runs `body` with an API client and always shuts the client down.
func withAPI<T>(_ options: APIOptions, logger: Logger, _ body: (TailscaleAPI) async throws -> T) async throws -> T {
    let api = try options.api(logger: logger)
    do {
        let result = try await body(api)
        try await api.shutdown()
        return result
    } catch {
        try? await api.shutdown()
        throw error
    }
}

func nowNanoseconds() -> Nanoseconds {
    Int64(Date().timeIntervalSince1970 * 1e9)
}
