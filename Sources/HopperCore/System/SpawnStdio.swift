import CHopperShim
import Glibc

/// The descriptors one spawn opens in the parent for the child's fds 0, 1 and 2.
///
/// Tracks both ends of each pipe so that every exit path of `Spawner.spawn`
/// closes exactly what it must: the child's ends always, the parent's ends
/// when the spawn failed.
struct SpawnStdio: ~Copyable {
    /// What the child's fd 0, 1 or 2 becomes.
    enum ChildEnd {
        /// /dev/null opened in the child with these flags.
        case devNull(Int32)
        /// A parent descriptor to dup2 onto the target.
        case descriptor(Int32)
    }

    let subject: String
    /// Indexed by the child's descriptor: the parent's end of that pipe, if any.
    private(set) var parentEnds: [FileDescriptor?] = [nil, nil, nil]
    /// Child pipe ends and relocated duplicates, closed once the child has them.
    private var childEnds: [FileDescriptor] = []

    init(subject: String) { self.subject = subject }

    /// Prepares the child's standard input.
    mutating func source(_ source: StdioSource) throws(SystemError) -> ChildEnd {
        switch source {
        case .null: return .devNull(O_RDONLY)
        case .fd(let fd): return try .descriptor(relocated(fd.rawValue, target: 0))
        case .pipe:
            let (read, write) = try makePipe()
            parentEnds[0] = FileDescriptor(rawValue: write)
            childEnds.append(FileDescriptor(rawValue: read))
            return try .descriptor(relocated(read, target: 0))
        }
    }

    /// Prepares the child's standard output (`target` 1) or standard error (`target` 2).
    mutating func sink(_ sink: StdioSink, target: Int32) throws(SystemError) -> ChildEnd {
        switch sink {
        case .null: return .devNull(O_WRONLY)
        case .fd(let fd): return try .descriptor(relocated(fd.rawValue, target: target))
        case .pipe:
            let (read, write) = try makePipe()
            parentEnds[Int(target)] = FileDescriptor(rawValue: read)
            childEnds.append(FileDescriptor(rawValue: write))
            return try .descriptor(relocated(write, target: target))
        }
    }

    func closeChildEnds() {
        for fd in childEnds { fd.close() }
    }

    func closeParentEnds() {
        for case let fd? in parentEnds { fd.close() }
    }

    /// pipe2(2) with O_CLOEXEC: (read end, write end). The caller files both ends
    /// before the next call can throw.
    private func makePipe() throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        _ = try retryingInterrupts("pipe2", subject) { hopper_pipe2(&fds, O_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// `fd`, or an O_CLOEXEC duplicate of it at 3 or above (fcntl(2) F_DUPFD_CLOEXEC)
    /// when it is 0, 1 or 2 but not `target`.
    ///
    /// The child's file actions dup2 onto 0, 1 and 2 in turn, so a source that is
    /// itself one of those could be overwritten before it is used (as in
    /// stdin = .null with stderr = .fd(0)). This only happens when the daemon
    /// passes its own standard descriptors crosswise, or runs with them closed.
    private mutating func relocated(_ fd: Int32, target: Int32) throws(SystemError) -> Int32 {
        guard fd >= 0, fd < 3, fd != target else { return fd }
        let copy = try retryingInterrupts("fcntl", subject) { fcntl(fd, F_DUPFD_CLOEXEC, Int32(3)) }
        childEnds.append(FileDescriptor(rawValue: copy))
        return copy
    }
}
