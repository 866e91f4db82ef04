/// One record of Tailscale's configuration audit log: who changed what, and when (SPEC §13).
///
/// The fields are those of the API's `ConfigurationAuditLog` record
/// (`GET /api/v2/tailnet/{tailnet}/logging/configuration` answers `{"logs":[…]}`),
/// which log streaming sends unchanged to Splunk HEC and Elasticsearch:
/// `eventTime`, `eventGroupID`, `origin`, `actor` (`id`, `type`, `loginName`,
/// `displayName`), `target` (`id`, `name`, `type`, `property`), `action`, `old`,
/// `new`, `actionDetails` and `error`. The whole record is kept verbatim in ``record``.
///
/// For example:
/// ```swift
/// let change = ConfigChange(time: t, action: "UPDATE", targetID: "n1", targetType: "NODE", property: "TAGS",
///                           old: "[\"tag:dev\"]", new: "[\"tag:prod\"]", record: text)
/// print(change.identity)   // the same event from any container has the same identity
/// ```
public struct ConfigChange: Sendable, Hashable {
    /// `eventTime`: when the change happened.
    public var time: Nanoseconds
    /// `eventGroupID`: shared by every event of one operation.
    public var eventGroupID: String?
    /// `origin`: what set the change in motion (`ADMIN_CONSOLE`, `CONFIG_API`, `CONTROL`, `NODE`, …).
    public var origin: String?
    public var actorID: String?
    /// `actor.type`: `USER`, `NODE`, `AUTOMATED_WORKER`, …
    public var actorType: String?
    public var actorLogin: String?
    public var actorName: String?
    public var targetID: String?
    public var targetName: String?
    /// `target.type`: `NODE`, `USER`, `TAILNET`, `KEY`, `DNS`, …
    public var targetType: String?
    /// `target.property`: which property of the target changed (`TAGS`, `KEY_EXPIRY_TIME`, `ACL`, …).
    public var property: String?
    /// `action`: `CREATE`, `UPDATE`, `DELETE`, `APPROVE`, …
    public var action: String
    /// `old` and `new` as compact JSON text (any JSON value), nil when absent.
    public var old: String?
    public var new: String?
    /// `actionDetails`: a reason, where the caller gave one.
    public var details: String?
    /// `error`: set when the change failed.
    public var error: String?
    /// The record as it arrived (the JSON object's text).
    public var record: String

    public init(time: Nanoseconds, eventGroupID: String? = nil, origin: String? = nil,
                actorID: String? = nil, actorType: String? = nil, actorLogin: String? = nil, actorName: String? = nil,
                targetID: String? = nil, targetName: String? = nil, targetType: String? = nil, property: String? = nil,
                action: String, old: String? = nil, new: String? = nil, details: String? = nil, error: String? = nil,
                record: String = "") {
        self.time = time
        self.eventGroupID = eventGroupID
        self.origin = origin
        self.actorID = actorID
        self.actorType = actorType
        self.actorLogin = actorLogin
        self.actorName = actorName
        self.targetID = targetID
        self.targetName = targetName
        self.targetType = targetType
        self.property = property
        self.action = action
        self.old = old
        self.new = new
        self.details = details
        self.error = error
        self.record = record
    }

    /// The event's identity: a 63-bit hash of the event time, `eventGroupID`, `origin`,
    /// the actor's ID, the target's ID, type and property, the action, `old` and `new`
    /// (compact JSON), `actionDetails` and `error`.
    ///
    /// Names and login names are left out (they describe, they do not identify), and
    /// so is the record's text: the same event re-serialised by a log pipeline (other
    /// spacing, extra keys such as `logtail`) is the same event. Together with ``time``
    /// it is the primary key of a stored change, so a re-sent batch, an overlapping pull
    /// or the same file twice add nothing. Stored in databases: never change it.
    public var identity: Int64 {
        var h = MessageHasher()
        h.mix(UInt64(bitPattern: time))
        for field in [eventGroupID, origin, actorID, targetID, targetType, property, action, old, new, details, error] {
            if let field {
                h.mix(1)
                for b in field.utf8 { h.mix(byte: b) }
                h.mix(UInt64(field.utf8.count))
            } else {
                h.mix(0)
            }
        }
        return Int64(bitPattern: h.finish() & 0x7fff_ffff_ffff_ffff)
    }

    /// Whether the change concerns the whole tailnet (policy file, DNS, tailnet settings)
    /// rather than one node, user or key: what `scope` lists beside a node's own changes.
    public var isTailnetWide: Bool {
        let type = (targetType ?? "").uppercased()
        if ["TAILNET", "ACL", "POLICY", "POLICY_FILE", "DNS", "DNS_CONFIG"].contains(type) { return true }
        let p = (property ?? "").uppercased()
        return type.isEmpty && (p.hasPrefix("ACL") || p.hasPrefix("DNS") || p.contains("POLICY"))
    }
}

extension ConfigChange {
    /// Removes the whitespace between JSON tokens (never inside strings), so that the
    /// same value sent with other spacing compares equal.
    package static func compactJSON(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false
        var escaped = false
        for b in bytes {
            if inString {
                out.append(b)
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
            } else if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 {
                continue
            } else {
                if b == UInt8(ascii: "\"") { inString = true }
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The two logs Tailscale keeps for a tailnet, as its API names them
/// (`/api/v2/tailnet/{tailnet}/logging/{network|configuration}`).
public enum LogType: String, Sendable, CaseIterable, Codable {
    /// Network flow logs (SPEC §1).
    case network
    /// Configuration audit logs (SPEC §13).
    case configuration
}
