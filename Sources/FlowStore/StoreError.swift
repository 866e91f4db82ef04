/// A failure of the store, with what was being done.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The database was written by a newer tailflow.
        case schemaTooNew = "schema too new"
        /// SQLite reported an error.
        case sqlite
        /// The file is not a tailflow database.
        case notATailflowStore = "not a tailflow store"
        /// Reading a store that does not exist (questions never create one).
        case noStore = "no store"
        /// Reading, without upgrading, a store an older tailflow wrote.
        case schemaTooOld = "schema too old"
    }

    public var code: Code
    public var message: String
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    public var description: String {
        (path.map { "\($0): " } ?? "") + message
    }
}
