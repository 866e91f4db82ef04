#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A source of bytes read front to back: a file, standard input, a request body, or a decompressor over one of those.
public protocol ByteInput {
    /// Fills the start of `buffer` and returns how many bytes it wrote; 0 means the end of the input.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// An I/O failure, naming the source.
public struct InputError: Error, CustomStringConvertible, Sendable {
    public var source: String
    public var message: String

    package init(source: String, message: String) {
        self.source = source
        self.message = message
    }

    public var description: String { "\(source): \(message)" }
}

/// A file, or standard input (`-`), read with plain `read(2)`.
package final class FileInput: ByteInput {
    let fd: Int32
    let ownsDescriptor: Bool
    package let name: String

    /// Opens `path` for reading; `-` is standard input.
    package init(path: String) throws {
        if path == "-" {
            fd = 0
            ownsDescriptor = false
            name = "stdin"
            return
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw InputError(source: path, message: String(cString: strerror(errno))) }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw InputError(source: path, message: "is a directory")
        }
        self.fd = fd
        ownsDescriptor = true
        name = path
    }

    /// Moves to absolute `offset` of a regular file: the next read starts there.
    func seek(to offset: Int64) throws {
        guard lseek(fd, off_t(offset), SEEK_SET) == off_t(offset) else {
            throw InputError(source: name, message: "seek failed: " + String(cString: strerror(errno)))
        }
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw InputError(source: name, message: "read failed: " + String(cString: strerror(errno)))
        }
    }

    deinit {
        if ownsDescriptor { close(fd) }
    }
}

/// Bytes already in memory, such as an HTTP request body.
public struct MemoryInput: ByteInput {
    let bytes: [UInt8]
    var offset = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
        }
        offset += n
        return n
    }
}
