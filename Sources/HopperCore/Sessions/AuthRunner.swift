import Glibc
import Synchronization

/// Runs one authentication step (an `auth.command` or `token_command`) as a
/// short-lived process in its own group, bounded by a timeout, keeping its
/// standard output (the token) and the start of its standard error (the
/// reason it gives).
enum AuthRunner {
    struct Outcome: Sendable {
        var status: ExitStatus?
        var timedOut: Bool
        var stdout: String
        var stderr: String
        var spawnError: String?
    }

    /// Steps still running, by pid, so the daemon can kill them when it stops.
    private static let running = Mutex<[ProcessID: ChildExit]>([:])

    /// SIGKILLs every authentication step still running (daemon shutdown).
    static func killAll() {
        for step in running.withLock({ Array($0.values) }) { step.signalGroup(.kill) }
    }

    /// Calls `completion` once, on the poller thread.
    static func run(_ argv: [String], environment: [String], timeout: Double, workingDirectory: String? = nil, user: UserAccount? = nil,
                    completion: @escaping @Sendable (Outcome) -> Void) {
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: environment)
        // Relative commands resolve where the session process will run.
        request.workingDirectory = workingDirectory
        request.stdout = .pipe
        request.stderr = .pipe
        request.killsGroupAtExit = true
        request.user = user
        let process: SpawnedProcess
        do { process = try Spawner.spawn(request) } catch {
            Poller.shared.execute { completion(Outcome(status: nil, timedOut: false, stdout: "", stderr: "", spawnError: "cannot start \(argv[0]): \(error.errno)")) }
            return
        }
        running.withLock { $0[process.pid] = process.exit }
        let step = Step(process: process, timeout: timeout) { outcome in
            running.withLock { _ = $0.removeValue(forKey: process.pid) }
            completion(outcome)
        }
        Poller.shared.execute { step.begin() }
    }

    /// One running step; confined to the poller thread.
    private final class Step: @unchecked Sendable {
        let process: SpawnedProcess
        let timeout: Double
        let completion: @Sendable (Outcome) -> Void
        var out: [UInt8] = []
        var err: [UInt8] = []
        var open: [(FileDescriptor, Int)] = []
        var status: ExitStatus?
        var timedOut = false
        var done = false

        init(process: SpawnedProcess, timeout: Double, completion: @escaping @Sendable (Outcome) -> Void) {
            self.process = process
            self.timeout = timeout
            self.completion = completion
        }

        func begin() {
            let poller = Poller.shared
            for (fd, isOut) in [(process.stdout!, true), (process.stderr!, false)] {
                try? fd.prepareToDrain()
                open.append((fd, poller.register(fd, .readable) { [self] _ in read(fd, isOut) }))
            }
            poller.after(timeout) { [self] in
                guard status == nil else { return }
                timedOut = true
                process.exit.signalGroup(.kill)
            }
            // The reaper kills the step's group as the step ends.
            process.exit.onExit { [self] s in
                Poller.shared.execute {
                    self.status = s
                    Poller.shared.after(0.5) { for (fd, _) in self.open { self.close(fd) } }
                    self.finishIfDone()
                }
            }
        }

        private func read(_ fd: FileDescriptor, _ isOut: Bool) {
            let ended = fd.drainAvailable { chunk in
                // A token or a reason is short: keep at most 64 KiB of either.
                if isOut { if out.count < 65536 { out.append(contentsOf: chunk) } } else if err.count < 65536 { err.append(contentsOf: chunk) }
            }
            if ended { close(fd) }
        }

        private func close(_ fd: FileDescriptor) {
            guard let i = open.firstIndex(where: { $0.0 == fd }) else { return }
            Poller.shared.unregister(open[i].1)
            fd.close()
            open.remove(at: i)
            finishIfDone()
        }

        private func finishIfDone() {
            guard !done, open.isEmpty, let status else { return }
            done = true
            completion(Outcome(status: status, timedOut: timedOut, stdout: String(decoding: out, as: UTF8.self),
                               stderr: String(decoding: err, as: UTF8.self), spawnError: nil))
        }
    }
}
