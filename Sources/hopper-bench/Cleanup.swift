import Glibc
import HopperCore
import Synchronization

/// What the run must undo however it ends: live daemons, processes tagged
/// with the run's marker, temporary directories. `run()` is called on
/// failure and from the SIGINT/SIGTERM handler.
final class Cleanup: Sendable {
    static let shared = Cleanup()
    /// `HOPPER_BENCH_RUN=<pid>`, in the environment of every daemon (and so of every task) started here.
    let marker = "HOPPER_BENCH_RUN=\(getpid())"
    private struct State {
        var daemons: Set<pid_t> = []
        var directories: [String] = []
        /// Slurm test clusters: the script that stops one, and its directory.
        var clusters: [(script: String, directory: String)] = []
        /// Set by `run()`: what the main thread starts after that is undone at once.
        var isClosed = false
    }
    private let state = Mutex(State())

    func track(daemon: ProcessID) {
        if state.withLock({ s in s.isClosed ? true : (s.daemons.insert(daemon.rawValue), false).1 }) { kill(daemon.rawValue, SIGKILL) }
    }
    func forget(daemon: ProcessID) { state.withLock { _ = $0.daemons.remove(daemon.rawValue) } }
    func track(directory: String) {
        if state.withLock({ s in s.isClosed ? true : (s.directories.append(directory), false).1 }) { _ = Harness.run(["/bin/rm", "-rf", directory]) }
    }
    func forget(directory: String) { state.withLock { $0.directories.removeAll { $0 == directory } } }
    func track(cluster directory: String, script: String) { state.withLock { $0.clusters.append((script, directory)) } }
    func forget(cluster directory: String) { state.withLock { $0.clusters.removeAll { $0.directory == directory } } }

    /// Daemons get SIGTERM and 10 s to shut down, then SIGKILL; then whatever
    /// still carries the marker is killed and the directories are removed.
    /// The main thread may still be running (after a signal): from here on
    /// a daemon it starts is killed and a directory it makes is removed at once.
    func run() {
        let (daemons, directories, clusters) = state.withLock { s in
            defer { s.daemons = []; s.directories = []; s.clusters = []; s.isClosed = true }
            return (s.daemons, s.directories, s.clusters)
        }
        for pid in daemons { kill(pid, SIGTERM) }
        let deadline = Harness.now() + 10
        for pid in daemons {
            while kill(pid, 0) == 0 && Harness.now() < deadline { usleep(10_000) }
            kill(pid, SIGKILL)
        }
        // By their recorded pids, before their directories go; and their namespaces.
        for c in clusters { _ = Harness.run([c.script, "stop", c.directory]) }
        _ = ProcessScan.killMarked(marker)
        for d in directories { _ = Harness.run(["/bin/rm", "-rf", d]) }
        _ = ProcessScan.killMarked(marker)
    }

    /// SIGINT and SIGTERM clean up, then exit 128 + the signal. Call it
    /// first thing, before any thread exists: the signals are blocked in every
    /// thread (children get an empty mask from the spawner) and one thread
    /// takes them with sigwait(3).
    func installSignalHandlers() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        var thread = pthread_t()
        pthread_create(&thread, nil, { _ in
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGINT)
            sigaddset(&set, SIGTERM)
            var received: Int32 = 0
            _ = sigwait(&set, &received)
            FileDescriptor.standardError.writeLine("hopper-bench: interrupted; cleaning up")
            Cleanup.shared.run()
            exit(128 + received)
        }, nil)
        pthread_detach(thread)
    }
}
