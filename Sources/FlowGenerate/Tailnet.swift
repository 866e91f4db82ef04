/// A byte range inside `Tailnet.blob`.
struct Span: Sendable {
    var offset: Int32
    var length: Int32
}

/// What a node does in the synthetic tailnet.
enum Role: UInt8, Sendable {
    case server, client, router, exit
}

/// One synthetic device.
struct Device: Sendable {
    var nodeID: String
    var host: String
    var name: String
    var v4: String
    var v6: String
    var os: String
    var user: String?
    var tags: [String]
    var role: Role
    var serverKind: Int = -1
    /// Reports flow logs; silent nodes appear only as peers and in the device list.
    var reports = true
    /// An old client: its messages carry no `srcNode`/`dstNodes`.
    var old = false
    /// Where the node's windows start within each interval, as a fraction of it.
    var phase: Double = 0
    /// Relative activity of a client.
    var weight: Double = 1
    var usesExit = false
    /// A client whose own exit rows are anonymised (`src` = own address, port 0, no `dst`).
    var exitAnonymised = true
    var hardNAT = false
    var derpRegion: UInt16 = 1
    /// Address ids (see `Tailnet`) of the underlay endpoints.
    var publicAddr: Int32 = -1
    var publicPort: UInt16 = 41641
    var lanAddr: Int32 = -1
    var procID: UInt64 = 0
}

/// A long-lived conversation that restarts (new client port) whenever it ends.
struct ConvTemplate: Sendable {
    var client: Int32
    var server: Int32
    var service: Int32
}

/// The synthetic tailnet: devices plus every byte string the writer copies verbatim.
struct Tailnet: Sendable {
    var devices: [Device] = []
    var domain = ""
    /// All pre-rendered strings.
    var blob: [UInt8] = []
    /// Address strings as they appear in Conn `src`/`dst` (IPv6 in brackets), by address id:
    /// `0..<n` node IPv4, `n..<2n` node IPv6, then subnet hosts, public hosts, underlay endpoints, DERP.
    var addr: [Span] = []
    /// `"nodeId":"…"` rendered, by node.
    var idJSON: [Span] = []
    /// The compact Node object, by node.
    var nodeJSON: [Span] = []
    var subnetFirst: Int32 = 0
    var subnetService: [Int32] = []
    var publicFirst: Int32 = 0
    var publicCount: Int32 = 0
    var derpAddr: Int32 = 0
    var servers: [Int32] = []
    var serverCum: [Double] = []
    var clients: [Int32] = []
    var clientCum: [Double] = []
    var router: Int32 = -1
    var exitNode: Int32 = -1
    var templates: [ConvTemplate] = []
    /// Reporting nodes in the order their windows start.
    var emitOrder: [Int32] = []
    var reports: [Bool] = []
    var old: [Bool] = []
    var role: [Role] = []

    init(nodes requested: Int, seed: UInt64) {
        var rng = Xoshiro256(seed: seed ^ 0x7A11_F10E_5EED_0001)
        let n = max(8, min(requested, 1 << 20))
        let hex = Array("0123456789abcdef")
        domain = "tail" + String((0..<4).map { _ in hex[rng.below(16)] }) + ".ts.net"

        // Roles.
        let nServers = max(3, n * 12 / 100)
        let nClients = n - nServers - 2
        var usedIDs = Set<String>(), usedV4 = Set<UInt32>(), usedV6 = Set<UInt32>(), usedHosts = Set<String>()
        let alnum = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        func newID() -> String {
            while true {
                let s = "n" + String((0..<10).map { _ in alnum[rng.below(alnum.count)] }) + "CNTRL"
                if usedIDs.insert(s).inserted { return s }
            }
        }
        func newV4() -> String {
            while true {
                let v = UInt32(100) << 24 | UInt32(64 + rng.below(64)) << 16 | UInt32(rng.below(256)) << 8 | UInt32(1 + rng.below(254))
                if usedV4.insert(v).inserted { return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)" }
            }
        }
        func newV6() -> String {
            while true {
                let hi = UInt32(1 + rng.below(0xFFFF)), lo = UInt32(1 + rng.below(0xFFFF))
                if usedV6.insert(hi << 16 | lo).inserted {
                    return "fd7a:115c:a1e0::" + String(hi, radix: 16) + ":" + String(lo, radix: 16)
                }
            }
        }
        func uniqueHost(_ h: String) -> String {
            if usedHosts.insert(h).inserted { return h }
            var i = 2
            while !usedHosts.insert("\(h)-\(i)").inserted { i += 1 }
            return "\(h)-\(i)"
        }
        func device(_ host: String, os: String, user: String?, tags: [String], role: Role) -> Device {
            let h = uniqueHost(host)
            return Device(nodeID: newID(), host: h, name: h + "." + domain, v4: newV4(), v6: newV6(),
                          os: os, user: user.map { $0 + "@example.com" }, tags: tags, role: role)
        }

        var kindCount = [Int](repeating: 0, count: Catalog.serverKinds.count)
        for i in 0..<nServers {
            let k = i % Catalog.serverKinds.count
            kindCount[k] += 1
            let kind = Catalog.serverKinds[k]
            var d = device("\(kind.stem)-\(kindCount[k])", os: "linux", user: nil, tags: kind.tags, role: .server)
            d.serverKind = k
            devices.append(d)
        }
        let cities = ["fra", "ams", "lon", "nyc", "sfo", "sin", "syd", "tor"]
        devices.append(device("router-" + cities[rng.below(cities.count)], os: "linux", user: nil, tags: ["tag:router"], role: .router))
        router = Int32(devices.count - 1)
        devices.append(device("exit-" + cities[rng.below(cities.count)], os: "linux", user: nil, tags: ["tag:exit"], role: .exit))
        exitNode = Int32(devices.count - 1)
        let osCum = Catalog.clientOS.reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1.weight) }
        var userIndex = 0, devicesLeft = 0
        for _ in 0..<nClients {
            if rng.chance(0.12) {
                devices.append(device("ci-runner-\(rng.int(in: 1...99))", os: "linux", user: nil, tags: ["tag:ci"], role: .client))
            } else {
                if devicesLeft == 0 { userIndex += 1; devicesLeft = rng.int(in: 1...3) }
                devicesLeft -= 1
                let u = Catalog.users[(userIndex - 1) % Catalog.users.count]
                    + ((userIndex - 1) >= Catalog.users.count ? "\((userIndex - 1) / Catalog.users.count + 1)" : "")
                let o = Catalog.clientOS[rng.pick(cumulative: osCum)]
                let stem = o.devices[rng.below(o.devices.count)]
                var d = device(u + "-" + stem, os: o.os, user: u, tags: [], role: .client)
                d.weight = rng.lognormal(mean: 1, sigma: 0.7)
                d.usesExit = o.os == "iOS" || o.os == "android" ? rng.chance(0.6) : rng.chance(0.3)
                d.exitAnonymised = rng.chance(0.7)
                devices.append(d)
            }
        }

        // Who never reports, who is old.
        let clientIdx = (0..<devices.count).filter { devices[$0].role == .client }
        var silentLeft = max(2, n / 20)
        if nServers >= 4 { devices[nServers - 1].reports = false; silentLeft -= 1 }
        for i in clientIdx.reversed() where silentLeft > 0 && devices[i].tags.isEmpty {
            devices[i].reports = false
            silentLeft -= 1
        }
        let reportingClients = clientIdx.filter { devices[$0].reports }
        var oldLeft = max(1, (reportingClients.count + 5) / 10)
        for i in reportingClients where oldLeft > 0 && rng.chance(0.25) {
            devices[i].old = true
            oldLeft -= 1
        }
        for i in reportingClients.reversed() where oldLeft > 0 && !devices[i].old {
            devices[i].old = true
            oldLeft -= 1
        }

        // Underlay, phases, processes.
        func publicIPv4() -> String {
            while true {
                let a = 1 + rng.below(223), b = rng.below(256)
                if a == 10 || a == 127 || a == 0 || (a == 100 && b >= 64 && b < 128) || (a == 169 && b == 254)
                    || (a == 172 && b >= 16 && b < 32) || (a == 192 && b == 168) || (a == 198 && (b == 18 || b == 19)) {
                    continue
                }
                return "\(a).\(b).\(rng.below(256)).\(1 + rng.below(254))"
            }
        }
        var extra: [String] = []  // address strings after the node addresses, in id order
        let base = Int32(2 * n)
        let subnetNet = "192.168.\(rng.int(in: 1...254))."
        subnetFirst = base
        for (octet, svc) in Catalog.subnetHosts {
            extra.append(subnetNet + "\(octet)")
            subnetService.append(Int32(svc))
        }
        publicFirst = base + Int32(extra.count)
        publicCount = 400
        for i in 0..<Int(publicCount) {
            extra.append(i % 8 == 7 ? "[2a0\(rng.int(in: 0...9)):\(String(rng.int(in: 0x1000...0xffff), radix: 16))::\(String(rng.int(in: 1...0xffff), radix: 16))]" : publicIPv4())
        }
        for i in 0..<n {
            devices[i].phase = rng.uniform()
            devices[i].procID = UInt64(rng.int(in: 300...65000))
            devices[i].derpRegion = Catalog.derpRegions[rng.below(Catalog.derpRegions.count)]
            devices[i].hardNAT = devices[i].role == .client && rng.chance(0.12)
            devices[i].publicAddr = base + Int32(extra.count)
            extra.append(publicIPv4())
            devices[i].publicPort = devices[i].role == .client && rng.chance(0.35) ? UInt16(rng.int(in: 1024...65535)) : 41641
            if devices[i].role != .client {
                devices[i].lanAddr = base + Int32(extra.count)
                extra.append("10.0.\(i / 250).\(i % 250 + 2)")
            }
        }
        derpAddr = base + Int32(extra.count)
        extra.append("127.3.3.40")

        // Render strings.
        func put(_ s: String) -> Span {
            let o = Int32(blob.count)
            blob.append(contentsOf: Array(s.utf8))
            return Span(offset: o, length: Int32(blob.count) - o)
        }
        for d in devices { addr.append(put(d.v4)) }
        for d in devices { addr.append(put("[" + d.v6 + "]")) }
        for s in extra { addr.append(put(s)) }
        for d in devices {
            idJSON.append(put("\"nodeId\":\"" + d.nodeID + "\""))
            nodeJSON.append(put(Tailnet.nodeObject(d, indent: nil)))
        }

        // Popularity and activity.
        servers = (0..<nServers).map { Int32($0) }
        for (rank, _) in servers.enumerated() {
            serverCum.append((serverCum.last ?? 0) + 1.0 / Double(rank + 1))
        }
        clients = clientIdx.map { Int32($0) }
        for c in clients {
            let d = devices[Int(c)]
            clientCum.append((clientCum.last ?? 0) + (d.tags.isEmpty ? d.weight : 0.6))
        }

        // Standing conversations: app servers to their databases and caches, monitoring scrapes.
        let data = servers.filter { Catalog.serverKinds[devices[Int($0)].serverKind].isData }
        for s in servers where Catalog.serverKinds[devices[Int(s)].serverKind].isApp && !data.isEmpty {
            var targets = [data[rng.below(data.count)]]
            if data.count > 1 && rng.chance(0.5) { targets.append(data[rng.below(data.count)]) }
            for t in targets where t != s {
                let svc = Catalog.serverKinds[devices[Int(t)].serverKind].stem == "db" ? Catalog.dbPool : Catalog.cachePool
                templates.append(ConvTemplate(client: s, server: t, service: Int32(svc)))
            }
        }
        let monitors = servers.filter { Catalog.serverKinds[devices[Int($0)].serverKind].stem == "monitor" }
        for (j, m) in monitors.enumerated() {
            for t in 0..<Int32(n) where t != m && devices[Int(t)].role != .client && Int(t) % monitors.count == j {
                templates.append(ConvTemplate(client: m, server: t, service: Int32(Catalog.nodeExporter)))
            }
        }

        emitOrder = (0..<Int32(n)).filter { devices[Int($0)].reports }
            .sorted { (devices[Int($0)].phase, $0) < (devices[Int($1)].phase, $1) }
        reports = devices.map(\.reports)
        old = devices.map(\.old)
        role = devices.map(\.role)
    }

    /// A Node object as JSON: compact when `indent` is nil, else pretty with that many leading spaces.
    static func nodeObject(_ d: Device, indent: Int?) -> String {
        func q(_ s: String) -> String { "\"" + s + "\"" }
        guard let ind = indent else {
            var s = "{\"nodeId\":" + q(d.nodeID) + ",\"name\":" + q(d.name)
            s += ",\"addresses\":[" + q(d.v4) + "," + q(d.v6) + "],\"os\":" + q(d.os)
            if let u = d.user { s += ",\"user\":" + q(u) }
            if !d.tags.isEmpty { s += ",\"tags\":[" + d.tags.map(q).joined(separator: ",") + "]" }
            return s + "}"
        }
        let p0 = String(repeating: " ", count: ind), p1 = p0 + "  ", p2 = p1 + "  "
        var s = p0 + "{\n" + p1 + "\"nodeId\": " + q(d.nodeID) + ",\n" + p1 + "\"name\": " + q(d.name) + ",\n"
        s += p1 + "\"addresses\": [\n" + p2 + q(d.v4) + ",\n" + p2 + q(d.v6) + "\n" + p1 + "],\n"
        s += p1 + "\"os\": " + q(d.os)
        if let u = d.user { s += ",\n" + p1 + "\"user\": " + q(u) }
        if !d.tags.isEmpty {
            s += ",\n" + p1 + "\"tags\": [\n" + d.tags.map { p2 + q($0) }.joined(separator: ",\n") + "\n" + p1 + "]"
        }
        return s + "\n" + p0 + "}"
    }
}
