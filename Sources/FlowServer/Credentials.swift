import Foundation
package import Hummingbird

/// Who may call an endpoint: each receiver and the query API has its own secret.
package enum Role: String, Sendable, CaseIterable {
    case hec, bulk, ingest, read
}

/// What a request's credentials allow for a role.
package enum Access: Equatable, Sendable {
    case allowed
    /// The role's secret is not set: the endpoint is off (404).
    case off
    /// No credentials, or not in the role's scheme (401).
    case missing
    /// Credentials that match nothing (401).
    case wrong
    /// A valid secret of another role (403).
    case otherRole
}

/// The secrets, compared in constant time; never logged or echoed.
package struct Credentials: Sendable {
    let hec: [UInt8]?
    let bulkUser: [UInt8]?
    let bulkToken: [UInt8]?
    let ingest: [UInt8]?
    let read: [UInt8]?

    init(_ c: ServerConfiguration) {
        hec = c.hecToken.map { Array($0.utf8) }
        bulkUser = c.bulkUser.map { Array($0.utf8) }
        bulkToken = c.bulkToken.map { Array($0.utf8) }
        ingest = c.ingestToken.map { Array($0.utf8) }
        read = c.readToken.map { Array($0.utf8) }
    }

    /// Whether the role's secret is set (an endpoint whose role is off answers 404).
    func isOn(_ role: Role) -> Bool {
        switch role {
        case .hec: hec != nil
        case .bulk: bulkToken != nil
        case .ingest: ingest != nil
        case .read: read != nil
        }
    }

    /// Whether `token` is the secret of `role` (a token from a URL or a login form, say).
    ///
    /// The bulk role is never granted by a token alone: it needs its user too.
    package func accepts(token: String, for role: Role) -> Bool {
        guard isOn(role), role != .bulk else { return false }
        return judge(token: Array(token.utf8), role: role) == .allowed
    }

    /// Checks the `Authorization` header of a request for `role`.
    package func check(_ request: Request, for role: Role) -> Access {
        guard isOn(role) else { return .off }
        guard let header = request.headers[.authorization] else { return .missing }
        let (scheme, value) = Self.split(header)
        switch role {
        case .hec:
            // Splunk's scheme; HEC clients also send the token as a basic-auth password.
            if scheme == "splunk" { return judge(token: value, role: .hec) }
            if scheme == "basic", let (_, password) = Self.basic(value) { return judge(token: password, role: .hec) }
            return .missing
        case .bulk:
            guard scheme == "basic" else { return scheme == "bearer" ? judge(token: value, role: .bulk) : .missing }
            guard let (user, password) = Self.basic(value) else { return .wrong }
            // Both halves are compared whatever the first one says.
            let userOK = Self.equal(user, bulkUser ?? [])
            let tokenOK = Self.equal(password, bulkToken!)
            if userOK && tokenOK { return .allowed }
            return belongsToAnother(password, not: .bulk) ? .otherRole : .wrong
        case .ingest, .read:
            guard scheme == "bearer" else { return .missing }
            return judge(token: value, role: role)
        }
    }

    private func judge(token: [UInt8], role: Role) -> Access {
        let secret: [UInt8]? = switch role {
        case .hec: hec
        case .bulk: nil // basic auth only: a token alone is never the bulk role
        case .ingest: ingest
        case .read: read
        }
        if let secret, Self.equal(token, secret) { return .allowed }
        return belongsToAnother(token, not: role) ? .otherRole : .wrong
    }

    /// Whether a presented token is the secret of another role.
    private func belongsToAnother(_ token: [UInt8], not role: Role) -> Bool {
        var found = false
        for (r, secret) in [(Role.hec, hec), (.bulk, bulkToken), (.ingest, ingest), (.read, read)] where r != role {
            if let secret, Self.equal(token, secret) { found = true }
        }
        return found
    }

    /// `Scheme value`, the scheme lowercased.
    static func split(_ header: String) -> (String, [UInt8]) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else { return (trimmed.lowercased(), []) }
        let value = trimmed[trimmed.index(after: space)...].trimmingCharacters(in: .whitespaces)
        return (trimmed[..<space].lowercased(), Array(value.utf8))
    }

    /// The user and password of a basic-auth value.
    static func basic(_ value: [UInt8]) -> ([UInt8], [UInt8])? {
        guard let data = Data(base64Encoded: Data(value)) else { return nil }
        let bytes = [UInt8](data)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return (Array(bytes[..<colon]), Array(bytes[(colon + 1)...]))
    }

    /// Compares in time that depends only on the secret's length, never on where the bytes differ.
    static func equal(_ presented: [UInt8], _ secret: [UInt8]) -> Bool {
        guard !secret.isEmpty else { return false }
        var diff = UInt(bitPattern: presented.count ^ secret.count)
        for i in 0..<secret.count {
            let p: UInt8 = i < presented.count ? presented[i] : 0
            diff |= UInt(p ^ secret[i])
        }
        return diff == 0
    }
}
