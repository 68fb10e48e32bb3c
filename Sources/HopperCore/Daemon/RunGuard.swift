import Glibc

/// A small second process that outlives a daemon killed outright (SIGKILL,
/// the OOM killer, a crash) just long enough to kill what that daemon's run
/// started, so that no task's process and no session runs on — spending an
/// agent's tokens, writing into files recovery will delete — with no daemon
/// to record it. It does at once what the next start would do later: kill
/// every process whose environment holds this run's `HOPPER_RUN=<run id>`,
/// each with its process group (`ProcessScan.killMarked`).
///
/// `hopper run` starts it as `hopper __guard RUN_ID DAEMON_GROUP FORMAT`:
/// the same binary, an empty environment (nothing marks it as the run's),
/// a process group of its own, standard input the read end of a pipe whose
/// write end only the daemon holds (close-on-exec: a child of the daemon
/// has it for a moment between its clone and its exec, no longer). It
/// ignores the terminal's and the service manager's stop signals and waits
/// in read(2):
///
/// | the guard reads                  | meaning                                   | it does                             |
/// |----------------------------------|-------------------------------------------|-------------------------------------|
/// | a byte, then end of file         | a clean stop: sessions closed, no attempt | exits 0                             |
/// | end of file alone                | the daemon died, or stopped on an error   | kills the run's processes, exits 0  |
///
/// The daemon writes the byte only when its loop ended normally, and in
/// either case waits (up to five seconds) for the guard's exit before its
/// own, so a stopped daemon leaves no guard behind. The daemon's own
/// process group is never killed (a shell's pipeline may share it).
struct RunGuard {
    let process: SpawnedProcess
    let pipe: FileDescriptor

    static let command = "__guard"

    /// Starts the guard of run `runID`.
    static func start(executable: String, runID: String, format: Logger.Format) throws(SystemError) -> RunGuard {
        let (read, write) = try FileDescriptor.makePipe(subject: "the run guard's pipe")
        defer { read.close() }
        var request = SpawnRequest(executable: executable,
                                   arguments: ["hopper", command, runID, String(ProcessIdentity.processGroup), format.rawValue],
                                   environment: [])
        request.stdin = .fd(read)
        request.stderr = .fd(.standardError)
        do {
            return RunGuard(process: try Spawner.spawn(request), pipe: write)
        } catch {
            write.close()
            throw error
        }
    }

    /// Ends the guard: `clean` when every process of the run is gone (the
    /// loop ended normally), else the guard kills what is left. Waits up to
    /// `seconds` for it to exit.
    func release(clean: Bool, within seconds: Double = 5) {
        if clean {
            var byte: UInt8 = 1
            _ = Glibc.write(pipe.rawValue, &byte, 1)
        }
        pipe.close()
        _ = process.exit.wait(timeout: seconds)
    }

    /// The guard itself: `arguments` are what follows `__guard`.
    static func main(_ arguments: [String]) -> Int32 {
        guard arguments.count == 3, !arguments[0].isEmpty, let daemonGroup = pid_t(arguments[1]),
              let format = Logger.Format(rawValue: arguments[2]) else {
            Output.error("usage: hopper \(command) RUN_ID DAEMON_GROUP FORMAT (started by hopper run)")
            return 2
        }
        // Stopping is the daemon's business: the guard ends with its pipe.
        for signal in [Signal.term, .interrupt, .hangup, .quit, .pipe] { SignalStream.ignore(signal) }
        var clean = false
        var byte: UInt8 = 0
        while true {
            let n = read(0, &byte, 1)
            if n > 0 { clean = true; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        if clean { return 0 }
        let entry = "\(Daemon.runMarker)=\(arguments[0])"
        var killed = Set<ProcessID>()
        // Again while a pass finds one not seen before: a process forked during
        // a pass is marked too. (One just killed may be met again until it dies.)
        for _ in 0..<5 {
            let found = ProcessScan.killMarked(entry, sparing: daemonGroup)
            guard !killed.isSuperset(of: found) else { break }
            killed.formUnion(found)
            var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
            _ = nanosleep(&pause, nil)
        }
        if !killed.isEmpty {
            Logger(format: format).warning("guard", "the daemon ended without stopping its tasks; killed the processes its run left",
                                           [("run", arguments[0]), ("count", "\(killed.count)")])
        }
        return 0
    }
}
