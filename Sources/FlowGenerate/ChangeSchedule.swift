/// Realistic configuration audit log records (SPEC §13) for a generated tailnet: policy file
/// edits, node approvals and removals, tag changes, key-expiry changes and DNS edits, made by
/// the tailnet's people through the admin console or the API, and by Tailscale itself.
///
/// The schedule has its own random stream, so turning it on changes no flow-log message:
/// the flows of `generate --changes` are byte for byte those of `generate`.
struct ChangeSchedule {
    var rng: Xoshiro256
    let net: Tailnet
    /// The next event's time (ns).
    var next: Int64
    let meanGap: Double
    var group: UInt64 = 0
    /// Tags added so far per device (a later change removes them again).
    var extraTags: [Int: String] = [:]
    var keyExpiryDisabled: Set<Int> = []
    var nameservers = ["1.1.1.1"]
    var policyVersion = 1

    /// - parameter meanGap: the mean time between operations, in ns.
    init(net: Tailnet, seed: UInt64, start: Int64, meanGap: Double) {
        self.net = net
        rng = Xoshiro256(seed: seed ^ 0xC0F1_6A0D_17C4_A6E5)
        self.meanGap = meanGap
        next = start
        next = start + gap()
    }

    mutating func gap() -> Int64 {
        Int64(max(1e9, rng.exponential(mean: meanGap)))
    }

    /// The records of every operation that starts before `limit`, in time order.
    mutating func events(before limit: Int64) -> [(time: Int64, json: String)] {
        var out: [(Int64, String)] = []
        while next < limit {
            out += operation(at: next)
            next += gap()
        }
        return out
    }

    /// The people who administer the tailnet: the users of its devices.
    var admins: [String] {
        var seen: [String] = []
        for d in net.devices { if let u = d.user, !seen.contains(u) { seen.append(u) } }
        return seen.isEmpty ? ["admin@example.com"] : Array(seen.prefix(3))
    }

    mutating func operation(at t: Int64) -> [(Int64, String)] {
        group += 1
        let gid = String(rng.next() & 0xFFFF_FFFF_FFFF, radix: 16)
        let login = admins[rng.below(admins.count)]
        let local = login.split(separator: "@").first.map(String.init) ?? login
        let actor = Actor(id: "u" + String(Self.fnv(login) & 0xFFFFFF, radix: 36).uppercased() + "CNTRL", login: login,
                          name: local.prefix(1).uppercased() + local.dropFirst())
        let console = rng.chance(0.7)
        let origin = console ? "ADMIN_CONSOLE" : "CONFIG_API"
        let tailnet = Target(id: net.domain, name: net.domain, type: "TAILNET")
        let tagged = net.devices.indices.filter { !net.devices[$0].tags.isEmpty }
        let roll = rng.below(100)
        var out: [(Int64, String)] = []
        func add(_ target: Target, _ property: String?, _ action: String, old: String?, new: String?, details: String? = nil,
                 error: String? = nil, actor a: Actor? = nil, origin o: String? = nil, after: Int64 = 0) {
            out.append((t + after, Self.record(time: t + after, group: gid, origin: o ?? origin, actor: a ?? actor, target: target,
                                               property: property, action: action, old: old, new: new, details: details, error: error)))
        }
        switch roll {
        case 0..<25:
            // A policy file edit: one rule more (or one less), as the admin console records it.
            let before = Self.policy(policyVersion)
            policyVersion += rng.chance(0.8) ? 1 : -1
            policyVersion = max(1, policyVersion)
            add(tailnet, "ACL", "UPDATE", old: Self.quote(before), new: Self.quote(Self.policy(policyVersion)))
        case 25..<45 where !tagged.isEmpty:
            // A tag added to a server, or taken away again.
            let i = tagged[rng.below(tagged.count)]
            let d = net.devices[i]
            let old = d.tags + (extraTags[i].map { [$0] } ?? [])
            let new: [String]
            if extraTags[i] != nil {
                extraTags[i] = nil
                new = d.tags
            } else {
                let tag = ["tag:prod", "tag:internet", "tag:pci", "tag:staging"][rng.below(4)]
                extraTags[i] = tag
                new = d.tags + [tag]
            }
            add(Target(id: d.nodeID, name: d.name, type: "NODE"), "TAGS", "UPDATE", old: Self.array(old), new: Self.array(new))
        case 45..<60:
            // A node approved (device approval on), sometimes also tagged in the same operation.
            let i = rng.below(net.devices.count)
            let d = net.devices[i]
            let node = Target(id: d.nodeID, name: d.name, type: "NODE")
            add(node, "MACHINE_AUTHORIZED", "APPROVE", old: "false", new: "true")
            if !d.tags.isEmpty, rng.chance(0.5) { add(node, "TAGS", "UPDATE", old: "[]", new: Self.array(d.tags), after: 1_000_000) }
        case 60..<75:
            // Key expiry disabled on a server (or enabled again), or a key extended.
            let i = rng.below(net.devices.count)
            let d = net.devices[i]
            let node = Target(id: d.nodeID, name: d.name, type: "NODE")
            if rng.chance(0.6) {
                let was = keyExpiryDisabled.contains(i)
                if was { keyExpiryDisabled.remove(i) } else { keyExpiryDisabled.insert(i) }
                add(node, "KEY_EXPIRY_DISABLED", "UPDATE", old: was ? "true" : "false", new: was ? "false" : "true")
            } else {
                let days = Int64(180 * 86400) * 1_000_000_000
                add(node, "KEY_EXPIRY_TIME", "UPDATE", old: Self.quote(Self.time(t + days / 6)), new: Self.quote(Self.time(t + days)))
            }
        case 75..<88:
            // An ephemeral or stale node removed, by a person or by Tailscale itself.
            let i = rng.below(net.devices.count)
            let d = net.devices[i]
            let node = Target(id: d.nodeID, name: d.name, type: "NODE")
            if rng.chance(0.5) {
                add(node, nil, "DELETE", old: nil, new: nil, details: "ephemeral node inactive",
                    actor: Actor(id: "tailscale", login: nil, name: "Tailscale", type: "AUTOMATED_WORKER"), origin: "CONTROL")
            } else {
                add(node, nil, "DELETE", old: nil, new: nil)
            }
        default:
            // DNS: a nameserver added or removed; now and then the change fails.
            let old = nameservers
            if nameservers.count > 1, rng.chance(0.5) { nameservers.removeLast() } else { nameservers.append(["9.9.9.9", "8.8.8.8", "100.100.100.53"][rng.below(3)]) }
            let failed = rng.chance(0.1)
            add(tailnet, "DNS_NAMESERVERS", "UPDATE", old: Self.array(old), new: Self.array(nameservers),
                error: failed ? "nameserver \(nameservers.last!) did not answer" : nil)
            if failed { nameservers = old }
        }
        return out
    }

    struct Actor {
        var id: String
        var login: String?
        var name: String
        var type = "USER"
    }

    struct Target {
        var id: String
        var name: String
        var type: String
    }

    static func record(time: Int64, group: String, origin: String, actor: Actor, target: Target, property: String?,
                       action: String, old: String?, new: String?, details: String?, error: String?) -> String {
        var a = "{\"id\":\(quote(actor.id)),\"type\":\(quote(actor.type))"
        if let login = actor.login { a += ",\"loginName\":\(quote(login))" }
        a += ",\"displayName\":\(quote(actor.name))}"
        var tj = "{\"id\":\(quote(target.id)),\"name\":\(quote(target.name)),\"type\":\(quote(target.type))"
        if let property { tj += ",\"property\":\(quote(property))" }
        tj += "}"
        var s = "{\"eventTime\":\(quote(Self.time(time))),\"type\":\"CONFIG\",\"eventGroupID\":\(quote(group)),\"origin\":\(quote(origin))"
        s += ",\"actor\":\(a),\"target\":\(tj),\"action\":\(quote(action))"
        if let old { s += ",\"old\":\(old)" }
        if let new { s += ",\"new\":\(new)" }
        if let details { s += ",\"actionDetails\":\(quote(details))" }
        if let error { s += ",\"error\":\(quote(error))" }
        return s + "}"
    }

    /// FNV-1a of the text: a stable number (Swift's `hashValue` changes per process).
    static func fnv(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// A JSON string.
    static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }

    static func array(_ items: [String]) -> String {
        "[" + items.map(quote).joined(separator: ",") + "]"
    }

    static func time(_ ns: Int64) -> String {
        var w = ByteWriter(capacity: 64)
        w.time(ns)
        return String(decoding: UnsafeRawBufferPointer(start: w.base, count: w.count), as: UTF8.self)
    }

    /// The policy file at version `v`: `v` rules.
    static func policy(_ v: Int) -> String {
        let rules = (0..<v).map { i in
            ["{\"action\":\"accept\",\"src\":[\"group:eng\"],\"dst\":[\"tag:db:5432\"]}",
             "{\"action\":\"accept\",\"src\":[\"autogroup:member\"],\"dst\":[\"tag:web:443\"]}",
             "{\"action\":\"accept\",\"src\":[\"tag:ci\"],\"dst\":[\"tag:prod:22\"]}",
             "{\"action\":\"accept\",\"src\":[\"group:ops\"],\"dst\":[\"autogroup:internet:*\"]}"][i % 4]
        }
        return "{\"acls\":[" + rules.joined(separator: ",") + "]}"
    }
}
