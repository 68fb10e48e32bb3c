import CHopperShim
import Glibc
import Synchronization

/// Orphans of the processes Hopper starts: with the daemon a child
/// subreaper, a task's background process whose parent exits becomes the
/// daemon's child instead of init's, where it can be found and killed.
public enum Orphans {
    /// prctl(2) PR_SET_CHILD_SUBREAPER, and opens the main thread's
    /// `children` file now, so the daemon's descriptor count is flat from the start.
    public static func adoptOrphans() {
        _ = hopper_become_subreaper()
        _ = children()
    }

    /// The daemon's children that its main thread adopted, and any its main
    /// thread started (see `ChildrenFiles`).
    static func children() -> [ProcessID] {
        files.withLock { $0.children() }
    }

    /// The daemon's children that it did not start itself (nobody waits for
    /// them): orphans adopted from the processes it started.
    public static func adopted() -> [ProcessID] {
        children().filter { !Reaper.shared.isAwaited($0) }
    }

    /// What one look at the adopted children did.
    public struct Sweep: Equatable {
        public var killed = 0
        /// Adopted children whose environment could not be read (one in the
        /// middle of an execve, most often): the look must be made again.
        public var unsure = 0
    }

    /// SIGKILLs the daemon's adopted children whose environment holds every
    /// one of `entries`, each with its process group: what a task left
    /// behind after escaping its process group with setsid(2), adopted by
    /// the daemon when its parent exited.
    ///
    /// A process that cleared its environment, or whose parent (outside the
    /// task's group) is still alive, is not found.
    @discardableResult
    public static func killEscaped(markedWith entries: [String]) -> Sweep {
        kill(adopted(), markedWith: entries)
    }

    /// Runs `look` now and, while it is unsure of an adopted child, again
    /// every `interval` seconds on `poller`, at most `tries` times in all:
    /// an escaped process caught in its execve is found a moment later.
    public static func sweep(on poller: Poller, tries: Int = 50, interval: Double = 0.002, _ look: @escaping () -> Sweep) {
        guard tries > 0 else { return }
        if look().unsure > 0 && tries > 1 {
            poller.after(interval) { sweep(on: poller, tries: tries - 1, interval: interval, look) }
        }
    }

    /// What a finished task of a shared session left behind, from one read
    /// of the adopted children: those still in the session's process
    /// `group` (when the session is kept; nil when it is closed, which kills
    /// its group anyway) and those marked with `entries` (escaped with
    /// setsid). Never `shell`, the session's own process. Returns how many.
    @discardableResult
    public static func killLeftovers(markedWith entries: [String], inGroup group: ProcessID?, except shell: ProcessID) -> Sweep {
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
        var sweep = kill(others, markedWith: entries)
        sweep.killed += stragglers
        return sweep
    }

    private static func kill(_ candidates: [ProcessID], markedWith entries: [String]) -> Sweep {
        var sweep = Sweep()
        guard !candidates.isEmpty, let proc = try? Directory.open("/proc") else { return sweep }
        defer { proc.close() }
        let needles = entries.map { Array($0.utf8) }
        for pid in candidates {
            switch ProcessScan.environment(of: pid, in: proc, holdsAll: needles) {
            case .lacks: continue
            case .unknown:
                // Gone (or a zombie, reaped soon) is no reason to look again.
                if ProcessScan.isRunning(pid, in: proc) { sweep.unsure += 1 }
                continue
            case .holds: break
            }
            // Its group only when it leads one of its own: one caught between
            // fork and setsid is still in its task's group, which may be a
            // session's that runs on.
            if getpgid(pid.rawValue) == pid.rawValue { ProcessGroup.signal(pid, .kill) }
            ProcessGroup.signalProcess(pid, .kill)
            sweep.killed += 1
        }
        return sweep
    }

    private static let files = Mutex(ChildrenFiles())
}

/// The `children` file of the thread that adopts this process's orphans,
/// kept open and re-read with pread(2): one call a look.
///
/// The kernel gives an orphan to the first live thread of the subreaper in
/// creation order: the main thread, which in Hopper lives as long as the
/// process (it waits in `Daemon.run`). The other threads' children are the
/// processes they started, which the reaper awaits and `adopted` leaves out
/// anyway. Should the main thread's file be unreadable, every thread's file
/// is read from then on: while any listed thread lives the adopter is
/// listed, since every listed thread is older than one created later.
struct ChildrenFiles: ~Copyable {
    private var files: [FileDescriptor] = []
    /// Whether the main thread's file alone failed once: every thread's is read since.
    private var everyThread = false

    mutating func children() -> [ProcessID] {
        if files.isEmpty { reopen() }
        if let found = readAll() { return found }
        everyThread = true
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
        if !everyThread, let fd = try? tasks.openFile(FileName("\(getpid())/children"), O_RDONLY) {
            files.append(fd)
            return
        }
        for tid in (try? tasks.entries()) ?? [] {
            if let fd = try? tasks.openFile(FileName(tid.escaped + "/children"), O_RDONLY) { files.append(fd) }
        }
    }
}
