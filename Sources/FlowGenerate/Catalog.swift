/// Static vocabulary of the synthetic tailnet: services, server kinds, people and devices.
enum Catalog {
    /// One network service and the shape of its traffic per 5-second window.
    struct Service: Sendable {
        var port: UInt16
        var proto: UInt8
        /// Mean bytes client→server and server→client per window while active.
        var req: Double
        var resp: Double
        /// Mean payload bytes per packet in each direction.
        var reqPkt: Double
        var respPkt: Double
        /// Mean conversation length in windows.
        var duration: Double
        /// Parallel connections (distinct client ports) at most.
        var maxConns: Int
        /// Probability that the conversation moves traffic in a given window.
        var activity: Double
    }

    static let https = 0, httpAlt = 1, postgres = 2, ssh = 3, dns = 4, redis = 5, grafana = 6,
        prometheus = 7, nodeExporter = 8, k8sAPI = 9, smb = 10, nfs = 11, gitSSH = 12, http = 13,
        rdp = 14, quic = 15, ntp = 16, ping = 17, devHTTP = 18, syncthing = 19, ipp = 20, rtsp = 21,
        dbPool = 22, cachePool = 23

    static let services: [Service] = [
        Service(port: 443, proto: 6, req: 6_000, resp: 90_000, reqPkt: 520, respPkt: 1_300, duration: 5, maxConns: 4, activity: 0.75),
        Service(port: 8080, proto: 6, req: 5_000, resp: 45_000, reqPkt: 480, respPkt: 1_200, duration: 7, maxConns: 3, activity: 0.7),
        Service(port: 5432, proto: 6, req: 20_000, resp: 260_000, reqPkt: 420, respPkt: 1_300, duration: 14, maxConns: 3, activity: 0.7),
        Service(port: 22, proto: 6, req: 4_000, resp: 14_000, reqPkt: 140, respPkt: 420, duration: 36, maxConns: 1, activity: 0.55),
        Service(port: 53, proto: 17, req: 300, resp: 800, reqPkt: 72, respPkt: 190, duration: 1.3, maxConns: 2, activity: 1),
        Service(port: 6379, proto: 6, req: 30_000, resp: 80_000, reqPkt: 300, respPkt: 800, duration: 10, maxConns: 2, activity: 0.9),
        Service(port: 3000, proto: 6, req: 6_000, resp: 80_000, reqPkt: 520, respPkt: 1_300, duration: 18, maxConns: 3, activity: 0.5),
        Service(port: 9090, proto: 6, req: 3_000, resp: 30_000, reqPkt: 420, respPkt: 1_200, duration: 8, maxConns: 1, activity: 0.6),
        Service(port: 9100, proto: 6, req: 700, resp: 28_000, reqPkt: 350, respPkt: 1_350, duration: 700, maxConns: 1, activity: 0.34),
        Service(port: 6443, proto: 6, req: 9_000, resp: 35_000, reqPkt: 520, respPkt: 1_100, duration: 15, maxConns: 2, activity: 0.8),
        Service(port: 445, proto: 6, req: 12_000, resp: 480_000, reqPkt: 640, respPkt: 1_360, duration: 10, maxConns: 2, activity: 0.6),
        Service(port: 2049, proto: 6, req: 22_000, resp: 380_000, reqPkt: 700, respPkt: 1_360, duration: 20, maxConns: 1, activity: 0.7),
        Service(port: 22, proto: 6, req: 5_000, resp: 300_000, reqPkt: 300, respPkt: 1_320, duration: 2.5, maxConns: 1, activity: 1),
        Service(port: 80, proto: 6, req: 3_000, resp: 40_000, reqPkt: 500, respPkt: 1_250, duration: 3, maxConns: 2, activity: 0.8),
        Service(port: 3389, proto: 6, req: 25_000, resp: 160_000, reqPkt: 220, respPkt: 1_100, duration: 30, maxConns: 1, activity: 0.9),
        Service(port: 443, proto: 17, req: 10_000, resp: 220_000, reqPkt: 600, respPkt: 1_250, duration: 7, maxConns: 2, activity: 0.8),
        Service(port: 123, proto: 17, req: 90, resp: 90, reqPkt: 90, respPkt: 90, duration: 1, maxConns: 1, activity: 1),
        Service(port: 0, proto: 1, req: 420, resp: 420, reqPkt: 84, respPkt: 84, duration: 3, maxConns: 1, activity: 1),
        Service(port: 8000, proto: 6, req: 4_000, resp: 60_000, reqPkt: 500, respPkt: 1_300, duration: 6, maxConns: 2, activity: 0.7),
        Service(port: 22000, proto: 6, req: 40_000, resp: 40_000, reqPkt: 1_100, respPkt: 1_100, duration: 25, maxConns: 1, activity: 0.6),
        Service(port: 631, proto: 6, req: 90_000, resp: 3_000, reqPkt: 1_300, respPkt: 200, duration: 3, maxConns: 1, activity: 1),
        Service(port: 554, proto: 6, req: 2_000, resp: 400_000, reqPkt: 200, respPkt: 1_350, duration: 12, maxConns: 1, activity: 1),
        // Long-lived pools between application servers and their databases/caches.
        Service(port: 5432, proto: 6, req: 120_000, resp: 1_400_000, reqPkt: 450, respPkt: 1_340, duration: 720, maxConns: 3, activity: 0.95),
        Service(port: 6379, proto: 6, req: 90_000, resp: 260_000, reqPkt: 300, respPkt: 900, duration: 720, maxConns: 2, activity: 0.95),
    ]

    /// A server role: host name stem, ACL tags (sorted) and offered services with weights.
    struct ServerKind: Sendable {
        var stem: String
        var tags: [String]
        var services: [(Int, Double)]
        var isApp: Bool
        var isData: Bool
    }

    /// Server kinds in the order servers are created (earlier = more popular).
    static let serverKinds: [ServerKind] = [
        ServerKind(stem: "web", tags: ["tag:prod", "tag:web"], services: [(https, 6), (http, 1), (ssh, 0.5)], isApp: true, isData: false),
        ServerKind(stem: "db", tags: ["tag:db", "tag:prod"], services: [(postgres, 6), (ssh, 1)], isApp: false, isData: true),
        ServerKind(stem: "api", tags: ["tag:api", "tag:prod"], services: [(httpAlt, 5), (https, 3), (ssh, 0.5)], isApp: true, isData: false),
        ServerKind(stem: "dns", tags: ["tag:dns", "tag:infra"], services: [(dns, 12), (ntp, 1)], isApp: false, isData: false),
        ServerKind(stem: "git", tags: ["tag:dev", "tag:git"], services: [(gitSSH, 5), (https, 4)], isApp: false, isData: false),
        ServerKind(stem: "monitor", tags: ["tag:infra", "tag:monitoring"], services: [(grafana, 6), (prometheus, 3), (ssh, 0.5)], isApp: false, isData: false),
        ServerKind(stem: "cache", tags: ["tag:cache", "tag:prod"], services: [(redis, 5), (ssh, 1)], isApp: false, isData: true),
        ServerKind(stem: "k8s", tags: ["tag:k8s", "tag:prod"], services: [(k8sAPI, 5), (https, 5), (ssh, 0.5)], isApp: true, isData: false),
        ServerKind(stem: "nas", tags: ["tag:storage"], services: [(smb, 6), (nfs, 3)], isApp: false, isData: false),
        ServerKind(stem: "build", tags: ["tag:ci"], services: [(ssh, 3), (https, 2)], isApp: true, isData: false),
    ]

    static let users = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin",
        "zoe", "arjun", "bea", "chen", "dmitri", "elif", "farah", "gus", "hana", "igor",
        "jonas", "kemal", "lena", "mateo", "nadia", "oskar", "priya", "quinn", "rosa", "sami",
    ]

    /// Client operating systems with weights and device name stems.
    static let clientOS: [(os: String, weight: Double, devices: [String])] = [
        ("macOS", 35, ["macbook", "mbp", "imac"]),
        ("windows", 22, ["desktop", "surface", "thinkpad"]),
        ("linux", 15, ["framework", "xps", "workstation"]),
        ("iOS", 17, ["iphone", "ipad"]),
        ("android", 11, ["pixel", "galaxy"]),
    ]

    /// (host octet in the routed /24, service) for hosts behind the subnet router.
    static let subnetHosts: [(UInt8, Int)] = [
        (5, https), (6, https), (10, smb), (11, nfs), (20, ipp), (30, ssh), (31, ssh),
        (40, rdp), (50, rtsp), (51, rtsp), (60, dns), (70, http), (80, httpAlt), (90, postgres),
    ]

    /// DERP region IDs nodes may call home.
    static let derpRegions: [UInt16] = [1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 16, 17, 18, 19, 21, 24]
}
