import CHopperShim
import Glibc

/// The descriptors one spawn opens in the parent for the child's fds 0, 1 and 2.
///
/// Tracks both ends of each pipe so that every exit path of `Spawner.spawn`
/// closes exactly what it must: the child's ends always, the parent's ends
/// when the spawn failed. What it hands the child is a descriptor to put on
/// 0, 1 or 2, or -1 for /dev/null; the child moves any source that is
/// itself 0, 1 or 2 out of the way first (`hopper_spawn`), so the daemon may
/// pass its own standard descriptors crosswise.
struct SpawnStdio: ~Copyable {
    let subject: String
    /// Indexed by the child's descriptor: the parent's end of that pipe, if any.
    private(set) var parentEnds: [FileDescriptor?] = [nil, nil, nil]
    /// The child's pipe ends, closed once the child has them.
    private var childEnds: [FileDescriptor] = []

    init(subject: String) { self.subject = subject }

    /// Prepares the child's standard input.
    mutating func source(_ source: StdioSource) throws(SystemError) -> Int32 {
        switch source {
        case .null: return -1
        case .fd(let fd): return fd.rawValue
        case .pipe:
            let (read, write) = try FileDescriptor.makePipe(subject: subject)
            parentEnds[0] = write
            childEnds.append(read)
            return read.rawValue
        }
    }

    /// Prepares the child's standard output (`target` 1) or standard error (`target` 2).
    mutating func sink(_ sink: StdioSink, target: Int32) throws(SystemError) -> Int32 {
        switch sink {
        case .null: return -1
        case .fd(let fd): return fd.rawValue
        case .pipe:
            let (read, write) = try FileDescriptor.makePipe(subject: subject)
            parentEnds[Int(target)] = read
            childEnds.append(write)
            return write.rawValue
        }
    }

    func closeChildEnds() {
        for fd in childEnds { fd.close() }
    }

    func closeParentEnds() {
        for case let fd? in parentEnds { fd.close() }
    }
}
