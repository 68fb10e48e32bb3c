import Glibc

/// Reads and validates one file dropped into incoming/ (SPEC sections 2–3).
///
/// A file is opened only after `fstatat` shows a regular file, with
/// `O_NOFOLLOW | O_NONBLOCK`, and checked again with `fstat` on the open
/// descriptor, so a symlink, FIFO, device or swapped-in file can never make
/// the daemon follow a link or block.
public struct Intake: Sendable {
    public var rules: TaskRequest.Rules
    public var defaultProvider: String
    public var maxRequestBytes: Int
    public var security: SecurityPolicy
    /// The daemon's effective uid: allowed by default, with root.
    public var daemonUID: UInt32

    public init(config: Configuration, daemonUID: UInt32 = ProcessIdentity.effectiveUID) {
        rules = TaskRequest.Rules(config)
        defaultProvider = config.defaultProvider
        maxRequestBytes = config.maxRequestBytes
        security = config.security
        self.daemonUID = daemonUID
    }

    /// What became of a dropped file.
    public enum Verdict: Sendable {
        /// Not for Hopper yet: a hidden name or a `.tmp`/`.part` still being written.
        case ignored
        /// Gone before it could be read (taken by someone else).
        case vanished
        /// The daemon ran out of descriptors or memory reading it: try again later.
        case busy(SystemError)
        /// `owner`: the uid owning the file, from `fstat` on the opened descriptor.
        case accepted(TaskRequest, origin: SpooledTask.Origin, stem: String, owner: UInt32)
        case rejected(HopperError)
    }

    /// Whether a name is one clients use while writing (never taken).
    public static func isIgnored(_ name: FileName) -> Bool {
        name.bytes.first == UInt8(ascii: ".") || name.hasSuffix(".tmp") || name.hasSuffix(".part")
    }

    public func examine(_ name: FileName, in incoming: Directory) -> Verdict {
        if Intake.isIgnored(name) { return .ignored }
        let isJSON = name.hasSuffix(".json")
        let isScript = name.hasSuffix(".sh")
        guard isJSON || isScript else {
            return .rejected(HopperError(.unsupportedName, "only NAME.json requests and NAME.sh scripts are accepted"))
        }
        let before: stat
        do {
            guard let st = try incoming.status(name) else { return .vanished }
            before = st
        } catch { return .rejected(HopperError(.unreadable, "cannot inspect the file: \(error.errno)", underlying: error)) }
        if let problem = Intake.kindProblem(before, limit: maxRequestBytes) { return .rejected(problem) }
        let fd: FileDescriptor
        do { fd = try incoming.openFile(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY) } catch {
            if error.errno == .noEntry { return .vanished }
            if error.errno.isResourceExhaustion { return .busy(error) }
            if error.errno == .tooManyLinks { return .rejected(HopperError(.symlink, "symbolic links are not followed")) }
            return .rejected(HopperError(.unreadable, "cannot open the file: \(error.errno)", underlying: error))
        }
        defer { fd.close() }
        let bytes: [UInt8]
        let after: stat
        do {
            after = try fd.status()
            if let problem = Intake.kindProblem(after, limit: maxRequestBytes) { return .rejected(problem) }
            // Who submitted it, as the kernel vouches: checked before a byte is read.
            let uid = UInt32(after.st_uid)
            guard security.allows(uid, daemonUID: daemonUID, account: UserDatabase.account(uid:)) else {
                let who = UserDatabase.account(uid: uid).map { "\($0.name) (uid \(uid))" } ?? "uid \(uid)"
                return .rejected(HopperError(.foreignOwner, "the file is owned by \(who), whom security.allowed_owners does not allow to submit tasks"))
            }
            bytes = try fd.readAll(size: Int(after.st_size), limit: maxRequestBytes)
        } catch {
            if error.errno.rawValue == EFBIG { return .rejected(HopperError(.tooLarge, "the file is larger than limits.max_request_bytes (\(maxRequestBytes) bytes)")) }
            return .rejected(HopperError(.unreadable, "cannot read the file: \(error.errno)", underlying: error))
        }
        if bytes.isEmpty { return .rejected(HopperError(.empty, "the file is empty")) }
        let origin = SpooledTask.Origin(after)
        let stem = String(decoding: name.dropping(suffix: isJSON ? ".json" : ".sh"), as: UTF8.self)
        do {
            let request = isJSON ? try TaskRequest.parse(bytes, rules: rules) : try Intake.script(bytes)
            return .accepted(request, origin: origin, stem: stem, owner: UInt32(after.st_uid))
        } catch {
            return .rejected(error)
        }
    }

    /// A `.sh` file: its text is the command, every other field at its default.
    static func script(_ bytes: [UInt8]) throws(HopperError) -> TaskRequest {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw HopperError(.notUTF8, "the script is not valid UTF-8")
        }
        guard !text.utf8.contains(0) else { throw HopperError(.invalidField, "the script contains a NUL byte", field: "command") }
        return TaskRequest(command: text)
    }

    /// Why a file of this kind cannot be taken, or nil when it can.
    static func kindProblem(_ st: stat, limit: Int) -> HopperError? {
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFLNK: return HopperError(.symlink, "symbolic links are not followed")
        case S_IFDIR: return HopperError(.notRegularFile, "a directory is not a request")
        case S_IFIFO: return HopperError(.notRegularFile, "a FIFO is not a request")
        case S_IFSOCK: return HopperError(.notRegularFile, "a socket is not a request")
        default: return HopperError(.notRegularFile, "a device is not a request")
        }
        if st.st_nlink > 1 { return HopperError(.hardLink, "the file has \(st.st_nlink) hard links; submit a file of its own") }
        if st.st_size > limit { return HopperError(.tooLarge, "the file is \(st.st_size) bytes, above limits.max_request_bytes (\(limit))") }
        return nil
    }
}
