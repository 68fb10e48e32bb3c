import Glibc
import CHopperShim

/// An open directory: every file operation of the spool is relative to one of
/// these, so a renamed or replaced path above it cannot redirect it.
public struct Directory: Sendable {
    public let descriptor: FileDescriptor
    /// For messages only.
    public let path: String

    /// open(2) with O_DIRECTORY | O_CLOEXEC.
    public static func open(_ path: String) throws(SystemError) -> Directory {
        let fd = try retryingInterrupts("open", path) { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        return Directory(descriptor: FileDescriptor(rawValue: fd), path: path)
    }

    /// mkdir(2) of `path` and its missing parents; existing directories are fine.
    public static func create(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, mode) != 0 {
                let err = Errno.current
                if err != .exists { throw SystemError("mkdir", prefix, errno: err) }
            }
            prefix += "/"
        }
    }

    public func close() { descriptor.close() }

    func subject(_ name: FileName) -> String { path + "/" + name.escaped }

    /// openat(2).
    public func openFile(_ name: FileName, _ flags: Int32, mode: mode_t = 0o644) throws(SystemError) -> FileDescriptor {
        let fd = try withCName(name) { (c) throws(SystemError) in
            try retryingInterrupts("open", subject(name)) { openat(descriptor.rawValue, c, flags | O_CLOEXEC, mode) }
        }
        return FileDescriptor(rawValue: fd)
    }

    /// fstatat(2) without following a final symlink; nil when the name does not exist.
    public func status(_ name: FileName) throws(SystemError) -> stat? {
        var st = stat()
        let r = withCName(name) { c in fstatat(descriptor.rawValue, c, &st, AT_SYMLINK_NOFOLLOW) }
        if r == 0 { return st }
        let err = Errno.current
        if err == .noEntry { return nil }
        throw SystemError("stat", subject(name), errno: err)
    }

    public func exists(_ name: FileName) -> Bool { ((try? status(name)) ?? nil) != nil }

    /// renameat2(2). With `noReplace`, fails with EEXIST instead of replacing.
    public func rename(_ name: FileName, to target: Directory, as newName: FileName, noReplace: Bool = false) throws(SystemError) {
        let r = withCName(name) { a in
            withCName(newName) { b in
                hopper_renameat2(descriptor.rawValue, a, target.descriptor.rawValue, b, noReplace ? 1 : 0)
            }
        }
        if r != 0 { throw SystemError("rename", subject(name) + " → " + target.subject(newName), errno: Errno.current) }
    }

    /// unlinkat(2); a name already gone is not an error.
    public func remove(_ name: FileName, directory: Bool = false) throws(SystemError) {
        let r = withCName(name) { c in unlinkat(descriptor.rawValue, c, directory ? AT_REMOVEDIR : 0) }
        if r != 0 {
            let err = Errno.current
            if err != .noEntry { throw SystemError("unlink", subject(name), errno: err) }
        }
    }

    /// Every entry but `.` and `..`, via getdents64(2) on a private descriptor.
    public func entries() throws(SystemError) -> [FileName] {
        let fd = try retryingInterrupts("open", path) { openat(descriptor.rawValue, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { Glibc.close(fd) }
        var names: [FileName] = []
        let size = 1 << 16
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = try retryingInterrupts("getdents64", path) { hopper_getdents64(fd, buffer, size) }
            if n == 0 { return names }
            var offset = 0
            while offset < n {
                let record = buffer + offset
                let length = Int(record.load(fromByteOffset: 16, as: UInt16.self))
                let namePointer = (record + 19).assumingMemoryBound(to: UInt8.self)
                let nameLength = strlen(UnsafeRawPointer(namePointer).assumingMemoryBound(to: CChar.self))
                let name = Array(UnsafeBufferPointer(start: namePointer, count: nameLength))
                if name != [0x2E] && name != [0x2E, 0x2E] { names.append(FileName(bytes: name)) }
                offset += length
            }
        }
    }

    /// fsync(2) of the directory itself, making renames into it durable.
    public func sync() throws(SystemError) { try descriptor.sync(subject: path) }

    /// syncfs(2): writes back every dirty page and inode of the file system
    /// this directory is on (other programs' too), and waits for them. Fails
    /// with the error of any write-back on that file system since the
    /// descriptor was opened (Linux 5.8 and later).
    public func syncFileSystem() throws(SystemError) {
        _ = try retryingInterrupts("syncfs", path) { hopper_syncfs(descriptor.rawValue) }
    }
}

/// Calls `body` with a NUL-terminated copy of `name`.
@inline(__always)
func withCName<R, E: Error>(_ name: FileName, _ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
    var bytes = name.bytes
    bytes.append(0)
    return try bytes.withUnsafeBufferPointer { (b) throws(E) -> R in
        try b.withMemoryRebound(to: CChar.self) { (c) throws(E) -> R in try body(c.baseAddress!) }
    }
}
