/// The one error type of Hopper's domain code: a wire code (the `error`
/// written in rejected/*.error.json), a one-sentence message, the field it
/// concerns when there is one, and the underlying cause.
public struct HopperError: Error, Sendable, CustomStringConvertible {
    /// Wire codes. Their raw values are part of the contract with clients.
    public enum Code: String, Sendable {
        // Files that cannot be accepted.
        case notRegularFile = "not_regular_file"
        case symlink = "symlink"
        case hardLink = "hard_link"
        case foreignOwner = "foreign_owner"
        case tooLarge = "too_large"
        case empty = "empty"
        case unsupportedName = "unsupported_name"
        case unreadable = "unreadable"
        // Content that cannot be accepted.
        case notUTF8 = "not_utf8"
        case invalidJSON = "invalid_json"
        case tooDeep = "too_deep"
        case duplicateKey = "duplicate_key"
        case numberOutOfRange = "number_out_of_range"
        case missingField = "missing_field"
        case unknownField = "unknown_field"
        case invalidField = "invalid_field"
        case duplicateID = "duplicate_id"
        // Everything else.
        case config = "config"
        case io = "io"
        case usage = "usage"
        case notFound = "not_found"
        case locked = "locked"
    }

    public let code: Code
    public let message: String
    public let field: String?
    public let underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, field: String? = nil, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.underlying = underlying
    }

    public var description: String { message }

    /// Wraps a JSON syntax error.
    public init(_ error: JSONError) {
        let code: Code = switch error.code {
        case .notUTF8: .notUTF8
        case .syntax: .invalidJSON
        case .tooDeep: .tooDeep
        case .duplicateKey: .duplicateKey
        case .numberOutOfRange: .numberOutOfRange
        }
        self.init(code, error.message, underlying: error)
    }

    /// Wraps a failed system call.
    public init(_ error: SystemError, _ what: String) {
        self.init(.io, "\(what): \(error)", underlying: error)
    }
}
