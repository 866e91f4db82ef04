import Foundation

/// How tailflow proves who it is to the Tailscale API: an API key, or an OAuth client whose
/// id and secret are exchanged for short-lived access tokens.
///
/// Secrets never leave this type except in the `Authorization` header: its
/// description names the kind of credential only, and ``redact(_:)`` scrubs
/// them from any text that is about to be shown.
///
/// For example:
/// ```swift
/// let credentials = try Credentials.resolve(environment: ProcessInfo.processInfo.environment, keyFile: nil)
/// ```
public struct Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    enum Kind: Sendable {
        case apiKey(String, origin: String)
        case oauth(clientID: String, secret: String)
    }

    let kind: Kind

    /// An API key (`tskey-api-…`), sent as `Authorization: Bearer <key>`.
    ///
    /// - parameter origin: Where the key came from, named in error messages (`TS_API_KEY`, a file).
    public static func apiKey(_ key: String, origin: String = "the API key") -> Credentials {
        Credentials(kind: .apiKey(key, origin: origin))
    }

    /// An OAuth client; its access tokens come from `POST /api/v2/oauth/token`.
    public static func oauthClient(id: String, secret: String) -> Credentials {
        Credentials(kind: .oauth(clientID: id, secret: secret))
    }

    /// A credential problem the user must fix before anything is sent.
    public struct Missing: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The credentials the environment and options give, in this order: `--api-key-file`,
    /// `TS_API_KEY`, then `TS_OAUTH_CLIENT_ID` with `TS_OAUTH_CLIENT_SECRET`.
    ///
    /// - throws: ``Missing`` when there are none, or the key file is unreadable or empty.
    public static func resolve(environment: [String: String], keyFile: String?) throws -> Credentials {
        if let keyFile {
            let text: String
            do {
                text = try String(contentsOfFile: keyFile, encoding: .utf8)
            } catch {
                throw Missing(description: "cannot read the API key file \(keyFile): \((error as NSError).localizedDescription)")
            }
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else { throw Missing(description: "the API key file \(keyFile) is empty") }
            return .apiKey(key, origin: "the key in \(keyFile)")
        }
        if let key = environment["TS_API_KEY"]?.trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty {
            return .apiKey(key, origin: "TS_API_KEY")
        }
        let id = environment["TS_OAUTH_CLIENT_ID"]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let secret = environment["TS_OAUTH_CLIENT_SECRET"]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if !id.isEmpty, !secret.isEmpty { return .oauthClient(id: id, secret: secret) }
        if !id.isEmpty || !secret.isEmpty {
            throw Missing(description: "OAuth needs both TS_OAUTH_CLIENT_ID and TS_OAUTH_CLIENT_SECRET; only \(id.isEmpty ? "TS_OAUTH_CLIENT_SECRET" : "TS_OAUTH_CLIENT_ID") is set")
        }
        throw Missing(description: "no Tailscale API credentials: set TS_API_KEY (or pass --api-key-file FILE), or set TS_OAUTH_CLIENT_ID and TS_OAUTH_CLIENT_SECRET")
    }

    /// Whether access tokens must be fetched first.
    package var isOAuth: Bool {
        if case .oauth = kind { return true }
        return false
    }

    /// The kind of credential, never the secret: `API key (TS_API_KEY)` or `OAuth client`.
    public var description: String {
        switch kind {
        case .apiKey(_, let origin): return "API key (\(origin))"
        case .oauth: return "OAuth client"
        }
    }

    public var debugDescription: String { description }

    /// What a 401 means for these credentials, in words a user can act on.
    var refusedAdvice: String {
        switch kind {
        case .apiKey(_, let origin):
            return "the API key was refused (401 Unauthorized): check that \(origin) holds a valid Tailscale API key (tskey-api-…) that has not expired or been revoked (admin console → Settings → Keys)"
        case .oauth:
            return "the OAuth access token was refused (401 Unauthorized): check that the OAuth client of TS_OAUTH_CLIENT_ID still exists and has not been revoked"
        }
    }

    /// What a 403 means, naming the scope the request needs.
    func forbiddenAdvice(scope: String) -> String {
        forbiddenReason(scope: scope) + (scope == "devices:core:read" ? "; or skip the device list (--no-devices, --devices-every 0)" : "")
    }

    private func forbiddenReason(scope: String) -> String {
        switch kind {
        case .apiKey where scope == "logs:configuration:read":
            return "the API key lacks permission (403 Forbidden) for the configuration audit log (scope logs:configuration:read): its owner must be an admin who may read it (Owner, Admin, IT admin, Network admin or Auditor); or leave it out (--logs network)"
        case .apiKey:
            return "the API key lacks permission (403 Forbidden): its owner must be an admin who may read \(scope == "devices:core:read" ? "devices" : "network flow logs") (Owner, Admin, IT admin, Network admin or Auditor), and network flow logging must be enabled for the tailnet"
        case .oauth:
            return "the OAuth client lacks permission (403 Forbidden): it needs the \(scope) scope (pull and follow need logs:network:read, logs:configuration:read and devices:core:read); create a client with those scopes"
                + (scope == "logs:configuration:read" ? ", or leave the configuration log out (--logs network)" : "")
        }
    }

    var secrets: [String] {
        switch kind {
        case .apiKey(let key, _): return [key]
        case .oauth(let id, let secret): return [secret, id]
        }
    }

    /// `text` with every secret of these credentials replaced by `***`.
    package func redact(_ text: String) -> String {
        var text = text
        for secret in secrets where secret.count >= 4 {
            text = text.replacingOccurrences(of: secret, with: "***")
        }
        return text
    }
}

/// The OAuth access token in use, refreshed before it expires; concurrent requests share one refresh.
actor TokenCache {
    struct Token: Sendable {
        var value: String
        var refreshAt: ContinuousClock.Instant
    }

    private var token: Token?
    private var refreshing: Task<Token, any Error>?

    /// A token valid for a while yet, fetching a new one when the current one is near its expiry.
    ///
    /// `fetch` returns the token and its lifetime; the token is replaced after
    /// three quarters of its lifetime (at most a minute before it expires).
    func current(fetch: @escaping @Sendable () async throws -> (String, Duration)) async throws -> String {
        if let token, ContinuousClock.now < token.refreshAt { return token.value }
        let task: Task<Token, any Error>
        if let refreshing {
            task = refreshing
        } else {
            task = Task {
                let started = ContinuousClock.now
                let (value, lifetime) = try await fetch()
                let margin = min(.seconds(60), lifetime / 4)
                return Token(value: value, refreshAt: started + lifetime - margin)
            }
            refreshing = task
        }
        do {
            let fresh = try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
            token = fresh
            refreshing = nil
            return fresh.value
        } catch {
            refreshing = nil
            throw error
        }
    }
}
