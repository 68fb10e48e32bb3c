import Glibc

/// When an attempt last wrote anything on stdout or stderr, for
/// `timeouts.command.idle_output`. Written by the runner as it reads,
/// read by the daemon's loop: both on the poller thread.
public final class ActivityMark: @unchecked Sendable {
    public private(set) var last: MonotonicInstant
    public init(_ start: MonotonicInstant) { last = start }
    func touch() { last = MonotonicInstant.now() }
}

/// How one attempt's process ended, with what its output came to.
public struct RunResult: Sendable {
    public var status: ExitStatus
    public var stdoutBytes: Int64
    public var stderrBytes: Int64
    public var truncated: Bool
    /// Why output was lost, when writing it failed.
    public var outputError: String?
}

/// Runs one attempt of an exec-mode task: spawns the command in its own
/// process group with its output piped into the task's live files, and calls
/// back once, when the command has exited and its output is drained.
///
/// When the command exits, whatever it left in its process group is killed,
/// and so is what escaped the group with setsid(2) and was adopted by the
/// daemon (found by `Launch.marker` in its environment), so no process of a
/// task outlives it. A descendant that escaped unnoticed and still holds the
/// pipes gets `drainGrace` seconds before they are closed.
public final class ExecRunner: Sendable {
    let poller = Poller.shared
    let drainGrace: Double

    public init(drainGrace: Double = 1.0) {
        self.drainGrace = drainGrace
    }

    /// What to run.
    public struct Launch: Sendable {
        public var argv: [String]
        public var environment: [String]
        public var workingDirectory: String?
        public var stdin: [UInt8]?
        public var stdout: FileDescriptor
        public var stderr: FileDescriptor
        public var outputLimit: Int
        public var mask = SecretMask()
        /// Environment entries that only this attempt's processes carry
        /// (and their descendants, unless they clear their environment).
        public var marker: [String] = []
        /// Runs the attempt as this user (`run_as: "owner"`); nil: as the daemon.
        public var user: UserAccount?
        /// An agent CLI's adapter, fed every line as it is read.
        public var tap: AgentTap?
        /// Touched at every read of output (`idle_output`).
        public var activity: ActivityMark?
    }

    /// Spawns the attempt. On success the runner owns `launch.stdout` and
    /// `launch.stderr` (it closes them); on failure the caller still does.
    public func start(_ launch: Launch, completion: @escaping @Sendable (RunResult) -> Void) throws(SystemError) -> SpawnedProcess {
        var request = SpawnRequest(executable: launch.argv[0], arguments: launch.argv, environment: launch.environment)
        request.workingDirectory = launch.workingDirectory
        request.stdin = (launch.stdin?.isEmpty ?? true) ? .null : .pipe
        request.stdout = .pipe
        request.stderr = .pipe
        request.killsGroupAtExit = true
        request.user = launch.user
        let process = try Spawner.spawn(request)
        let attempt = Attempt(process: process, out: OutputSink(file: launch.stdout, limit: launch.outputLimit, mask: launch.mask),
                              err: OutputSink(file: launch.stderr, limit: launch.outputLimit, mask: launch.mask), poller: poller,
                              drainGrace: drainGrace, marker: launch.marker, tap: launch.tap, activity: launch.activity, completion: completion)
        let stdin = launch.stdin
        poller.execute { attempt.begin(stdin: stdin) }
        return process
    }
}

/// The bookkeeping of one running attempt; confined to the poller thread.
private final class Attempt: @unchecked Sendable {
    let process: SpawnedProcess
    let out: OutputSink
    let err: OutputSink
    let poller: Poller
    let drainGrace: Double
    let marker: [String]
    let tap: AgentTap?
    let activity: ActivityMark?
    let completion: @Sendable (RunResult) -> Void
    /// Poller tokens of the streams still open, by descriptor.
    var streams: [(fd: FileDescriptor, token: Int)] = []
    var status: ExitStatus?
    var finished = false
    var input: StdinFeeder?

    init(process: SpawnedProcess, out: OutputSink, err: OutputSink, poller: Poller, drainGrace: Double, marker: [String],
         tap: AgentTap?, activity: ActivityMark?, completion: @escaping @Sendable (RunResult) -> Void) {
        self.tap = tap
        self.activity = activity
        self.process = process
        self.out = out
        self.err = err
        self.poller = poller
        self.drainGrace = drainGrace
        self.marker = marker
        self.completion = completion
    }

    func begin(stdin: [UInt8]?) {
        for (fd, sink, stream) in [(process.stdout!, out, AgentTap.Stream.stdout), (process.stderr!, err, .stderr)] {
            try? fd.prepareToDrain()
            let token = poller.register(fd, .readable) { [self] _ in drain(fd, into: sink, stream) }
            streams.append((fd, token))
        }
        if let stdin, let fd = process.stdin {
            input = StdinFeeder(fd: fd, bytes: stdin, poller: poller)
        }
        let poller = self.poller
        process.exit.onExit { status in
            poller.execute { self.exited(status) }
        }
    }

    private func drain(_ fd: FileDescriptor, into sink: OutputSink, _ stream: AgentTap.Stream) {
        activity?.touch()
        let ended = if let tap {
            fd.drainAvailable { sink.consume($0); tap.consume(stream, $0) }
        } else {
            fd.drainAvailable { sink.consume($0) }
        }
        if ended { closeStream(fd) }
    }

    private func closeStream(_ fd: FileDescriptor) {
        guard let index = streams.firstIndex(where: { $0.fd == fd }) else { return }
        poller.unregisterAndClose(streams[index].token)
        streams.remove(at: index)
        finishIfDone()
    }

    private func exited(_ status: ExitStatus) {
        self.status = status
        // Whatever the command left in its group died with it (the reaper
        // killed the group before reaping it); what escaped the group is
        // already the daemon's (reparenting precedes the exit's SIGCHLD) and
        // dies now, closing the pipes it may hold.
        killEscaped()
        input?.stop()
        if !streams.isEmpty {
            poller.after(drainGrace) { [self] in
                // One escaped from a process of the group that was still dying.
                killEscaped()
                for s in streams { closeStream(s.fd) }
            }
        }
        finishIfDone()
    }

    private func killEscaped() {
        guard !marker.isEmpty else { return }
        let marker = marker
        Orphans.sweep(on: poller) { Orphans.killEscaped(markedWith: marker) }
    }

    private func finishIfDone() {
        guard !finished, streams.isEmpty, let status else { return }
        finished = true
        out.close()
        err.close()
        let error = out.writeError ?? err.writeError
        completion(RunResult(status: status, stdoutBytes: out.received, stderrBytes: err.received,
                             truncated: out.truncated || err.truncated, outputError: error.map { "\($0)" }))
    }
}

/// Writes a task's `stdin` text into its pipe without ever blocking the
/// poller, then closes it; a command that does not read it just gets EPIPE.
private final class StdinFeeder {
    let fd: FileDescriptor
    let bytes: [UInt8]
    let poller: Poller
    var offset = 0
    var token: Int?
    var closed = false

    init(fd: FileDescriptor, bytes: [UInt8], poller: Poller) {
        self.fd = fd
        self.bytes = bytes
        self.poller = poller
        try? fd.setNonBlockingPipeEnd()
        if pump() { stop(); return }
        token = poller.register(fd, .writable) { [unowned self] _ in if self.pump() { self.stop() } }
    }

    /// Writes what the pipe takes; true when finished (all written or the reader is gone).
    func pump() -> Bool {
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd.rawValue, $0.baseAddress! + offset, bytes.count - offset) }
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { return false }
            return true
        }
        return true
    }

    func stop() {
        guard !closed else { return }
        closed = true
        if let token { poller.unregister(token) }
        fd.close()
    }
}
