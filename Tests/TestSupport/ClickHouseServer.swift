import FlowStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private `clickhouse-server` for one test: its own config, data directory and free ports on
/// 127.0.0.1, started by the test and stopped by it (never the system's service).
///
/// For example:
/// ```swift
/// @Test(.enabled(if: ClickHouseServer.isInstalled, Comment(rawValue: ClickHouseServer.skipReason)))
/// func answers() throws {
///     let server = try ClickHouseServer.start()
///     defer { server.stop() }
///     let url = server.storeURL(database: "t")   // clickhouse://127.0.0.1:PORT/t
/// }
/// ```
package final class ClickHouseServer: @unchecked Sendable {
    /// The binary: `$CLICKHOUSE_SERVER`, else Debian's `clickhouse-server`.
    package static let binary: String? = {
        if let env = ProcessInfo.processInfo.environment["CLICKHOUSE_SERVER"], FileManager.default.isExecutableFile(atPath: env) { return env }
        for p in ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server", "/usr/local/bin/clickhouse-server"]
        where FileManager.default.isExecutableFile(atPath: p) {
            return p
        }
        return nil
    }()

    package static var isInstalled: Bool { binary != nil }

    package static let skipReason = "clickhouse-server is not installed (scripts/install-deps.sh installs it): ClickHouse backend tests skipped"

    /// A user with a password (the default user has none).
    package static let user = "tailflow"
    package static let password = "test-password"
    /// A user that may read but not write (profile `readonly` = 2: settings may be sent, no
    /// INSERT, ALTER or DROP; ClickHouse's code 164), without a password.
    package static let reader = "reader"

    package let dir: TempDir
    package let httpPort: Int
    package let tcpPort: Int
    /// The loopback address it listens on (127.0.0.1, or another 127.x for a second server of a
    /// cluster with the same HTTP port, as shards on different hosts have).
    package let host: String
    /// The server's process id (0: not running).
    private var pid: pid_t = 0
    /// `<remote_servers>` content this server was configured with (clusters).
    private let remoteServers: String

    private init(httpPort: Int, tcpPort: Int, remoteServers: String, host: String) {
        dir = TempDir(prefix: "tailflow-clickhouse")
        self.host = host
        self.httpPort = httpPort
        self.tcpPort = tcpPort
        self.remoteServers = remoteServers
    }

    /// Starts a server and waits until it answers `/ping`.
    ///
    /// - parameter remoteServers: the inside of `<remote_servers>` (cluster definitions), if any.
    /// - parameter host: the loopback address to listen on.
    package static func start(remoteServers: String = "", ports: (http: Int, tcp: Int)? = nil, host: String = "127.0.0.1") throws -> ClickHouseServer {
        guard binary != nil else { throw TestFailure("clickhouse-server is not installed") }
        let chosen = try ports ?? (freePort(), freePort())
        let server = ClickHouseServer(httpPort: chosen.http, tcpPort: chosen.tcp, remoteServers: remoteServers, host: host)
        try server.writeConfig()
        try server.launch()
        return server
    }

    /// ``start(remoteServers:ports:host:)`` on a thread of its own: a test waits for the server
    /// without holding one of the cooperative pool's two threads (see ``TailflowBinary/run(_:env:stdin:)``).
    package static func started(remoteServers: String = "", ports: (http: Int, tcp: Int)? = nil, host: String = "127.0.0.1") async throws -> ClickHouseServer {
        _ = TailflowBinary.clickHouseCache  // before any store of this process reads its environment
        return try await offThePool { try start(remoteServers: remoteServers, ports: ports, host: host) }
    }

    /// Two free TCP ports on 127.0.0.1 (for a cluster whose config must name them before start).
    package static func freePorts() throws -> (http: Int, tcp: Int) {
        (try freePort(), try freePort())
    }

    /// The store URL of a database on this server (default user, no password).
    package func storeURL(database: String, user: String? = nil) -> String {
        "clickhouse://\(user.map { $0 + "@" } ?? "")\(host):\(httpPort)/\(database)"
    }

    private var config: String { dir.path("config.xml") }

    private func writeConfig() throws {
        let data = dir.path("data") + "/"
        let xml = """
            <?xml version="1.0"?>
            <yandex>
              <logger><level>warning</level><log>\(dir.path("server.log"))</log><errorlog>\(dir.path("server.err.log"))</errorlog><size>10M</size><count>1</count></logger>
              <http_port>\(httpPort)</http_port>
              <tcp_port>\(tcpPort)</tcp_port>
              <listen_host>\(host)</listen_host>
              <path>\(data)</path>
              <tmp_path>\(data)tmp/</tmp_path>
              <user_files_path>\(data)user_files/</user_files_path>
              <format_schema_path>\(data)format_schemas/</format_schema_path>
              <users_config>\(dir.path("users.xml"))</users_config>
              <default_profile>default</default_profile>
              <default_database>default</default_database>
              <timezone>UTC</timezone>
              <mark_cache_size>268435456</mark_cache_size>
              <uncompressed_cache_size>268435456</uncompressed_cache_size>
              <max_concurrent_queries>50</max_concurrent_queries>
              <remote_servers>\(remoteServers)</remote_servers>
            </yandex>
            """
        let users = """
            <?xml version="1.0"?>
            <yandex>
              <profiles><default><max_memory_usage>2000000000</max_memory_usage><max_threads>2</max_threads></default><readonly><max_memory_usage>2000000000</max_memory_usage><max_threads>2</max_threads><readonly>2</readonly></readonly></profiles>
              <users>
                <default><password></password><networks><ip>127.0.0.0/8</ip></networks><profile>default</profile><quota>default</quota></default>
                <\(Self.reader)><password></password><networks><ip>127.0.0.0/8</ip></networks><profile>readonly</profile><quota>default</quota></\(Self.reader)>
                <\(Self.user)><password>\(Self.password)</password><networks><ip>127.0.0.0/8</ip></networks><profile>default</profile><quota>default</quota></\(Self.user)>
              </users>
              <quotas><default></default></quotas>
            </yandex>
            """
        try xml.write(toFile: config, atomically: true, encoding: .utf8)
        try users.write(toFile: dir.path("users.xml"), atomically: true, encoding: .utf8)
    }

    /// Spawned with posix_spawn, not Foundation's Process: clickhouse-server closes the descriptors
    /// it inherits, which Foundation reads as the child's exit and then blocks its reaper in
    /// waitpid (every other Process of the test run would hang). The child gets an empty signal
    /// mask (the test runner's threads block SIGTERM) and /dev/null as its standard streams.
    private func launch() throws {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGPIPE, SIGHUP] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let args = [Self.binary!, "--config-file=\(config)"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, Self.binary!, &actions, &attr, &argv, environ)
        guard rc == 0 else { throw TestFailure("cannot start clickhouse-server: posix_spawn \(rc)") }
        pid = child
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if ping() { return }
            if !isRunning {
                let log = (try? String(contentsOfFile: dir.path("server.err.log"), encoding: .utf8)) ?? ""
                throw TestFailure("clickhouse-server exited before answering /ping: \(log.suffix(800))")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        stop()
        throw TestFailure("clickhouse-server on \(host):\(httpPort) did not answer /ping within 60 s")
    }

    /// Whether the server process still runs (reaps it when it ended).
    private var isRunning: Bool {
        guard pid > 0 else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == 0 { return true }
        pid = 0
        return false
    }

    /// Whether `/ping` answers `Ok.`.
    package func ping() -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "--max-time", "2", "http://\(host):\(httpPort)/ping"]
        return (try? runToEnd(p))?.stdout.contains("Ok.") ?? false
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it; the data stays until the object goes.
    package func stop() {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        kill9()
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    package func kill9() {
        guard isRunning else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
    }

    /// Starts the server again on the same data and ports.
    package func restart() throws {
        stop()
        try launch()
    }

    deinit { stop() }

    /// Runs one statement as the default user (for test setup and checks); returns the body.
    package func query(_ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-sS", "--fail-with-body", "--max-time", "120", "--data-binary", "@-", "http://\(host):\(httpPort)/"]
        let out = try runToEnd(p, stdin: Data(sql.utf8))
        guard out.status == 0 else { throw TestFailure("clickhouse query failed: \(out.stdout) \(out.stderr)") }
        return out.stdout
    }

    /// A TCP port free on every one of `hosts` (each bound, then released).
    package static func freePort(on hosts: [String]) throws -> Int {
        for _ in 0..<50 {
            let port = try freePort()
            if hosts.allSatisfy({ isFree(port, on: $0) }) { return port }
        }
        throw TestFailure("no TCP port free on all of \(hosts)")
    }

    static func isFree(_ port: Int, on host: String) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    /// A free TCP port on 127.0.0.1 (bound, read, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw TestFailure("bind() failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
