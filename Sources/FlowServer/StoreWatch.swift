#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOConcurrencyHelpers

/// Notices the store's file being deleted or replaced under the running server: SQLite would
/// go on writing into the open, unlinked file and every acknowledged event would be lost.
///
/// The file's identity (device and inode) is taken when the server starts; a store whose
/// path no longer leads to that file is gone, and the receivers, the questions and
/// `/healthz` answer 503 (the first time with an error in the log) until a restart.
final class StoreWatch: Sendable {
    let path: String
    let logger: Logger
    private let identity: FileIdentity?
    private let reported = NIOLockedValueBox(false)

    struct FileIdentity: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
        identity = FileIdentity(path: path)
    }

    /// Why the store cannot be used, or nil while its file is the one the server opened.
    func problem() -> String? {
        guard let identity else { return nil }  // a store without a file (in memory) cannot be replaced
        let now = FileIdentity(path: path)
        guard now != identity else { return nil }
        let why = now == nil
            ? "the store \(path) was deleted while the server runs; restart tailflow serve"
            : "the store \(path) was replaced by another file while the server runs; restart tailflow serve"
        let first = reported.withLockedValue { reported in
            defer { reported = true }
            return !reported
        }
        if first { logger.error("store gone: nothing more is accepted or answered", metadata: ["path": "\(path)", "reason": "\(why)"]) }
        return why
    }
}
