import Glibc

/// What one task asks of a session.
public struct SessionTask: Sendable {
    public var command: String
    public var environment: [(String, String)]
    public var workingDirectory: String?
    /// A file holding the task's standard input, or nil for none.
    public var stdinPath: String?
    public var stdout: FileDescriptor
    public var stderr: FileDescriptor
    public var outputLimit: Int
    public var mask = SecretMask()
    /// Touched at every read of the task's output (`idle_output`).
    public var activity: ActivityMark?
}

/// How a task in a session ended.
public struct SessionTaskResult: Sendable {
    public enum Outcome: Sendable {
        /// Shell protocol: the task's exit status as the shell saw it.
        case exited(Int32)
        /// JSON-lines protocol: the result line, and whether it was an error.
        case agent(isError: Bool, result: JSONValue)
        /// An agent CLI's adapter decided the task (see `SessionProcess.tap`).
        case agentDecided(AgentOutcome)
        /// The session process died before the task's end was seen; with an
        /// adapter, what it made of the output and the exit.
        case sessionDied(ExitStatus?, AgentOutcome?)
    }
    public var outcome: Outcome
    public var stdoutBytes: Int64
    public var stderrBytes: Int64
    public var truncated: Bool
}

/// One live session: a long-lived provider process that runs tasks one
/// after another (SPEC section 7), read and written on the poller thread.
///
/// Shell protocol: each task is written to the shell's stdin as a subshell
/// followed by a frame (see FrameScanner), so `cd`, `export`, `set -e` or
/// `exit` in one task cannot touch the next. JSON-lines protocol: one
/// `{"type":"user",...}` line per task; every stdout line belongs to the task
/// until one whose `type` is `result`.
public final class SessionProcess: @unchecked Sendable {
    public let id: String
    public let process: SpawnedProcess
    let wire: Provider.WireProtocol
    let poller = Poller.shared
    private let onExit: @Sendable (ExitStatus) -> Void
    /// Where output that belongs to no task goes (written between tasks).
    private let log: Logger
    // Poller-thread state.
    private var tokens: [(fd: FileDescriptor, token: Int)] = []
    private var writer: PipeWriter?
    private var current: Current?
    private var exited = false
    /// An agent CLI's adapter (a preset provider): it decides each task
    /// from the lines the task wrote, instead of the first `result` line.
    /// Set before the first task; kept across tasks (running totals).
    public var tap: AgentTap?

    private struct Current {
        var out: OutputSink
        var err: OutputSink
        var stdoutFrame: FrameScanner?
        var stderrFrame: FrameScanner?
        var line: [UInt8] = []
        /// The current line grew past `lineLimit`: it goes to the output as
        /// it comes and cannot be the result.
        var lineOverflowed = false
        var activity: ActivityMark?
        var completion: @Sendable (SessionTaskResult) -> Void
    }

    /// Spawns the session process; `onExit` runs (on the poller thread) when it dies.
    /// Output written between tasks goes to `log`, with the session's id.
    public static func start(id: String, provider: Provider, environment: [String], workingDirectory: String?, user: UserAccount? = nil, log: Logger,
                             onExit: @escaping @Sendable (ExitStatus) -> Void) throws(SystemError) -> SessionProcess {
        var request = SpawnRequest(executable: provider.command[0], arguments: provider.command, environment: environment)
        request.workingDirectory = workingDirectory
        request.stdin = .pipe
        request.stdout = .pipe
        request.stderr = .pipe
        request.killsGroupAtExit = true
        request.user = user
        let process = try Spawner.spawn(request)
        let session = SessionProcess(id: id, process: process, wire: provider.wireProtocol, log: log, onExit: onExit)
        session.poller.execute { session.begin() }
        return session
    }

    private init(id: String, process: SpawnedProcess, wire: Provider.WireProtocol, log: Logger, onExit: @escaping @Sendable (ExitStatus) -> Void) {
        self.id = id
        self.log = log
        self.process = process
        self.wire = wire
        self.onExit = onExit
    }

    private func begin() {
        for (fd, isStdout) in [(process.stdout!, true), (process.stderr!, false)] {
            try? fd.prepareToDrain()
            tokens.append((fd, poller.register(fd, .readable) { [self] _ in drain(fd, isStdout: isStdout) }))
        }
        writer = PipeWriter(fd: process.stdin!, poller: poller)
        process.exit.onExit { [self] status in poller.execute { self.died(status) } }
    }

    /// Runs a task; `completion` is called once, on the poller thread.
    public func run(_ task: SessionTask, completion: @escaping @Sendable (SessionTaskResult) -> Void) {
        poller.execute { [self] in start(task, completion) }
    }

    /// Signals the session's process group (a timed-out task's session is
    /// killed whole); nothing once the session process has been reaped.
    public func signal(_ signal: Signal) {
        process.exit.signalGroup(signal)
    }

    private func start(_ task: SessionTask, _ completion: @escaping @Sendable (SessionTaskResult) -> Void) {
        var c = Current(out: OutputSink(file: task.stdout, limit: task.outputLimit, mask: task.mask),
                        err: OutputSink(file: task.stderr, limit: task.outputLimit, mask: task.mask),
                        activity: task.activity, completion: completion)
        guard !exited else {
            current = c
            return finish(.sessionDied(nil, nil))
        }
        // What the pipes hold now was written before this task was sent: no task's.
        for entry in tokens { drain(entry.fd, isStdout: entry.fd == process.stdout) }
        switch wire {
        case .shell:
            let nonce = "hopper-frame-" + IDSuffixGenerator.random(20)
            c.stdoutFrame = FrameScanner(nonce: nonce, expectsStatus: true)
            c.stderrFrame = FrameScanner(nonce: nonce, expectsStatus: false)
            current = c
            writer?.send(Array(SessionProcess.shellScript(task, nonce: nonce).utf8))
        case .jsonl:
            current = c
            tap?.beginTask()
            var w = JSONWriter()
            w.beginObject()
            w.field("type", "user")
            w.key("message")
            w.beginObject()
            w.field("role", "user")
            w.field("content", task.command)
            w.endObject()
            w.endObject()
            writer?.send(w.line)
        }
    }

    /// The text written to a shell session for one task.
    static func shellScript(_ task: SessionTask, nonce: String) -> String {
        var body = ""
        if let cwd = task.workingDirectory { body += "cd \(ShellQuote.quote(cwd)) || exit 126\n" }
        for (name, value) in task.environment { body += "export \(name)=\(ShellQuote.quote(value))\n" }
        body += "eval \(ShellQuote.quote(task.command))\n"
        let input = task.stdinPath.map(ShellQuote.quote) ?? "/dev/null"
        return "(\n\(body)) < \(input)\nhopper_s=$?\nprintf '\\n%s %d\\n' '\(nonce)' \"$hopper_s\"\nprintf '\\n%s\\n' '\(nonce)' >&2\n"
    }

    private func drain(_ fd: FileDescriptor, isStdout: Bool) {
        guard fd.drainAvailable({ consume($0, isStdout: isStdout) }) else { return }
        // End of file (level-triggered: it would fire forever): stop watching.
        // The session's exit itself is reported by the reaper.
        if let index = tokens.firstIndex(where: { $0.fd == fd }) {
            poller.unregister(tokens[index].token)
            tokens.remove(at: index)
        }
    }

    /// The longest stdout line of a `jsonl` task held whole to be parsed.
    static let minimumLineLimit = 16 << 20

    private func consume(_ chunk: UnsafeRawBufferPointer, isStdout: Bool) {
        current?.activity?.touch()
        if wire == .jsonl && isStdout { return consumeAgentLines(chunk) }
        guard var c = current else { return logBetweenTasks(chunk, isStdout: isStdout) }
        defer { if current != nil { current = c } }
        switch wire {
        case .shell:
            if isStdout {
                let bytes = c.stdoutFrame!.feed(chunk)
                bytes.withUnsafeBytes { c.out.consume($0) }
            } else {
                let bytes = c.stderrFrame!.feed(chunk)
                bytes.withUnsafeBytes { c.err.consume($0) }
            }
            current = c
            if c.stdoutFrame!.finished && c.stderrFrame!.finished {
                finish(.exited(c.stdoutFrame!.status ?? 255))
            }
        case .jsonl:
            c.err.consume(chunk)
            current = c
            if let tap {
                tap.consume(.stderr, chunk)
                if let outcome = tap.outcome { finish(.agentDecided(outcome)) }
            }
        }
    }

    /// A `jsonl` task's stdout: whole lines are output and checked for the
    /// result. Only the new chunk is searched for newlines, and a line longer
    /// than `max(limits.max_output_bytes, 16 MiB)` is passed on as it comes
    /// (never a result), so an agent printing one endless line costs neither
    /// quadratic time nor unbounded memory.
    private func consumeAgentLines(_ chunk: UnsafeRawBufferPointer) {
        guard let base = chunk.baseAddress else { return }
        // Taken out of `current` so that appending to its line never copies it.
        guard var c = current else { return logBetweenTasks(chunk, isStdout: true) }
        current = nil
        let lineLimit = max(Int(c.out.limit), SessionProcess.minimumLineLimit)
        var offset = 0
        while offset < chunk.count {
            let rest = UnsafeRawBufferPointer(rebasing: chunk[offset...])
            guard let hit = memchr(base + offset, Int32(UInt8(ascii: "\n")), chunk.count - offset) else {
                if c.lineOverflowed { c.out.consume(rest) } else {
                    c.line.append(contentsOf: rest)
                    if c.line.count > lineLimit {
                        c.line.withUnsafeBytes { c.out.consume($0) }
                        c.line.removeAll()
                        c.lineOverflowed = true
                    }
                }
                break
            }
            let end = base.distance(to: UnsafeRawPointer(hit)) + 1
            let piece = UnsafeRawBufferPointer(rebasing: chunk[offset..<end])
            offset = end
            if c.lineOverflowed {
                c.out.consume(piece)
                c.lineOverflowed = false
                continue
            }
            c.line.append(contentsOf: piece)
            c.line.withUnsafeBytes { c.out.consume($0) }
            let line = c.line
            c.line.removeAll()
            let ended: SessionTaskResult.Outcome?
            if let tap {
                tap.consumeLine(.stdout, String(decoding: line.dropLast(), as: UTF8.self))
                ended = tap.outcome.map { .agentDecided($0) }
            } else if let object = (try? JSONParser.parse(Array(line.dropLast())))?.objectValue, object["type"] == .string("result") {
                ended = .agent(isError: object["is_error"] == .bool(true), result: .object(object))
            } else {
                ended = nil
            }
            if let ended {
                current = c
                // What the agent wrote to stderr before its result is the task's
                // too: read what the pipe holds now, before the task ends.
                if let err = process.stderr, tokens.contains(where: { $0.fd == err }) { drain(err, isStdout: false) }
                // The stderr just read may have decided it first.
                if current != nil { finish(ended) }
                // Lines after the result in the same read belong to no task.
                if offset < chunk.count { logBetweenTasks(UnsafeRawBufferPointer(rebasing: chunk[offset...]), isStdout: true) }
                return
            }
        }
        current = c
    }

    /// Output while no task runs (a session's banner, a background turn, a
    /// late diagnostic) goes to the daemon's log, a line a record, never to
    /// /dev/null: it is often the reason the next task fails.
    private func logBetweenTasks(_ chunk: UnsafeRawBufferPointer, isStdout: Bool) {
        let stream = isStdout ? "stdout" : "stderr"
        for line in chunk.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            let text = String(decoding: line.prefix(SessionProcess.loggedLineLimit), as: UTF8.self)
            log.warning("session", "output between tasks", [("session", id), ("stream", stream), ("text", text)])
        }
    }

    /// The longest line of between-task output logged whole; the rest is cut.
    static let loggedLineLimit = 2048

    private func finish(_ outcome: SessionTaskResult.Outcome) {
        guard var c = current else { return }
        current = nil
        if case .sessionDied = outcome {
            // Bytes held back as a possible frame start were the task's after all.
            if let rest = c.stdoutFrame?.remainder() { rest.withUnsafeBytes { c.out.consume($0) } }
            if let rest = c.stderrFrame?.remainder() { rest.withUnsafeBytes { c.err.consume($0) } }
            if !c.line.isEmpty { c.line.withUnsafeBytes { c.out.consume($0) } }
        }
        c.out.close()
        c.err.close()
        c.completion(SessionTaskResult(outcome: outcome, stdoutBytes: c.out.received, stderrBytes: c.err.received,
                                       truncated: c.out.truncated || c.err.truncated))
    }

    private func died(_ status: ExitStatus) {
        exited = true
        // Drain what is left so the task keeps its last words, then let go of the pipes.
        if let out = process.stdout { drain(out, isStdout: true) }
        if let err = process.stderr { drain(err, isStdout: false) }
        for entry in tokens { poller.unregister(entry.token) }
        tokens.removeAll()
        process.stdout?.close()
        process.stderr?.close()
        writer?.close()
        // Its group was killed by the reaper, before the group id could be reused.
        if current != nil { finish(.sessionDied(status, tap?.exited(status))) }
        onExit(status)
    }
}

/// Writes to a pipe without blocking the poller, queueing what the pipe
/// does not take yet.
final class PipeWriter {
    let fd: FileDescriptor
    let poller: Poller
    private var pending: [UInt8] = []
    private var token: Int?
    private var closed = false

    init(fd: FileDescriptor, poller: Poller) {
        self.fd = fd
        self.poller = poller
        try? fd.setNonBlocking(true)
    }

    func send(_ bytes: [UInt8]) {
        guard !closed else { return }
        pending.append(contentsOf: bytes)
        pump()
    }

    private func pump() {
        while !pending.isEmpty {
            let n = pending.withUnsafeBytes { Glibc.write(fd.rawValue, $0.baseAddress, $0.count) }
            if n > 0 { pending.removeFirst(n); continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN {
                if token == nil { token = poller.register(fd, .writable) { [unowned self] _ in pump() } }
                return
            }
            pending.removeAll()  // the reader is gone; the session's exit will be reported
            break
        }
        if let token {
            poller.unregister(token)
            self.token = nil
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        if let token { poller.unregister(token) }
        fd.close()
    }
}
