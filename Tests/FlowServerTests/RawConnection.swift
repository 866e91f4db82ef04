#if canImport(Glibc)
import Glibc
#endif
import FlowStore
import Foundation
import TestSupport

/// A plain TCP connection to the server, for what an HTTP client library will not do:
/// stay idle, send half a request, a never-ending body or a broken chunk.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 else {
            Glibc.close(fd)
            throw TestFailure("connect: \(errno)")
        }
    }

    deinit { Glibc.close(fd) }

    /// Sends text; false when the peer has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        return n == bytes.count
    }

    /// Reads what arrives within `seconds`, until the peer closes or `until` is seen.
    /// `closed` says whether the peer closed the connection. Waits on a thread of its own: the
    /// server under test answers on Swift's cooperative threads, which a blocked test would starve.
    func read(within seconds: Double, until marker: String? = nil) async -> (text: String, closed: Bool) {
        (try? await offThePool { self.readBlocking(within: seconds, until: marker) }) ?? ("", false)
    }

    func readBlocking(within seconds: Double, until marker: String?) -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(1, end.timeIntervalSinceNow * 1000))
            guard poll(&poller, 1, left) > 0 else { break }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[..<n]
            if let marker, String(decoding: received, as: UTF8.self).contains(marker) { break }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    /// Whether the peer closed the connection within `seconds`.
    func isClosed(within seconds: Double) async -> Bool {
        await read(within: seconds).closed
    }
}
