import CHopperShim
import Glibc
import Synchronization

/// Orphans of the processes Hopper starts: with the daemon a child
/// subreaper, a task's background process whose parent exits becomes the
/// daemon's child instead of init's, where it can be found and killed.
public enum Orphans {
    /// prctl(2) PR_SET_CHILD_SUBREAPER, and opens the threads' `children`
    /// files now, so the daemon's descriptor count is flat from the start.
    public static func adoptOrphans() {
        _ = hopper_become_subreaper()
        _ = children()
    }

    /// The daemon's direct children, read from /proc/self/task/*/children.
    public static func children() -> [ProcessID] {
        files.withLock { $0.children() }
    }

    /// The daemon's children that it did not start itself (nobody waits for
    /// them): orphans adopted from the processes it started.
    public static func adopted() -> [ProcessID] {
        children().filter { !Reaper.shared.isAwaited($0) }
    }

    /// SIGKILLs the daemon's adopted children whose environment holds every
    /// one of `entries`, each with its process group: what a task left
    /// behind after escaping its process group with setsid(2), adopted by
    /// the daemon when its parent exited. Returns how many.
    ///
    /// A process that cleared its environment, or whose parent (outside the
    /// task's group) is still alive, is not found.
    @discardableResult
    public static func killEscaped(markedWith entries: [String]) -> Int {
        kill(adopted(), markedWith: entries)
    }

    /// What a finished task of a shared session left behind, from one read
    /// of the adopted children: those still in the session's process
    /// `group` (when the session is kept; nil when it is closed, which kills
    /// its group anyway) and those marked with `entries` (escaped with
    /// setsid). Never `shell`, the session's own process. Returns how many.
    @discardableResult
    public static func killLeftovers(markedWith entries: [String], inGroup group: ProcessID?, except shell: ProcessID) -> Int {
        var stragglers = 0
        var others: [ProcessID] = []
        for pid in adopted() where pid != shell {
            if let group, getpgid(pid.rawValue) == group.rawValue {
                ProcessGroup.signalProcess(pid, .kill)
                stragglers += 1
            } else {
                others.append(pid)
            }
        }
        return stragglers + kill(others, markedWith: entries)
    }

    private static func kill(_ candidates: [ProcessID], markedWith entries: [String]) -> Int {
        guard !candidates.isEmpty, let proc = try? Directory.open("/proc") else { return 0 }
        defer { proc.close() }
        let needles = entries.map { Array($0.utf8) }
        var killed = 0
        for pid in candidates where ProcessScan.environment(of: pid, in: proc, holdsAll: needles) {
            // Its group only when it leads one of its own: one caught between
            // fork and setsid is still in its task's group, which may be a
            // session's that runs on.
            if getpgid(pid.rawValue) == pid.rawValue { ProcessGroup.signal(pid, .kill) }
            ProcessGroup.signalProcess(pid, .kill)
            killed += 1
        }
        return killed
    }

    private static let files = Mutex(ChildrenFiles())
}

/// The `children` files of this process's threads, kept open and re-read
/// with pread(2): one call per thread after a finished session task, instead
/// of listing /proc/self/task and opening each file every time.
///
/// The thread list is taken again when a file cannot be read (its thread has
/// exited). A thread created later is not listed until then, which cannot
/// hide an orphan: the kernel gives an orphan to the first live thread of the
/// subreaper in creation order, and every listed thread is older than an
/// unlisted one, so while any listed thread lives the adopter is listed.
struct ChildrenFiles: ~Copyable {
    private var files: [FileDescriptor] = []

    mutating func children() -> [ProcessID] {
        if files.isEmpty { reopen() }
        if let found = readAll() { return found }
        reopen()
        return readAll() ?? []
    }

    deinit {
        for fd in files { fd.close() }
    }

    /// Every listed thread's children, or nil when one cannot be read.
    private func readAll() -> [ProcessID]? {
        var result: [ProcessID] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        for fd in files {
            var text: [UInt8] = []
            while true {
                let n = buffer.withUnsafeMutableBytes { pread(fd.rawValue, $0.baseAddress, $0.count, off_t(text.count)) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { return nil }
                if n == 0 { break }
                text += buffer[0..<n]
            }
            for word in text.split(separator: UInt8(ascii: " ")) {
                if let pid = pid_t(String(decoding: word, as: UTF8.self)) { result.append(ProcessID(rawValue: pid)) }
            }
        }
        return result
    }

    private mutating func reopen() {
        for fd in files { fd.close() }
        files.removeAll()
        guard let tasks = try? Directory.open("/proc/self/task") else { return }
        defer { tasks.close() }
        for tid in (try? tasks.entries()) ?? [] {
            if let fd = try? tasks.openFile(FileName(tid.escaped + "/children"), O_RDONLY) { files.append(fd) }
        }
    }
}
