import Glibc
import HopperCore

/// The soak (`--soak`, never part of `--smoke`): a long run in which every
/// record is checked against what it must say, while the pid range wraps
/// again and again.
///
/// One daemon (2 workers, tmpfs, durability `none`) runs `tasks` tasks
/// (default 200,000), dropped through a window of at most `window` tasks in
/// flight, so the queue stays short and the daemon's figures at the end are
/// those of a daemon that has run long, not of one holding a backlog. The
/// providers are mixed: `exec` (about 45 %), the built-in `sh` shell session
/// (40 %) and a `jsonl` session of examples/providers/echo-agent (15 %).
///
/// The run has three phases of equal size; in each, an `exec` or `sh` task
/// leaves a background child behind (`sleep 1 & exit N`), which the daemon
/// adopts and kills at the task's end, at 1 in 2, then 1 in 20, then 1 in 200
/// (drawn at random with those odds). Every 500th task times out (`sleep 30`
/// with a 0.2 s timeout) and every 500th, offset, is cancelled once it is
/// in running/ (`sleep 30`); both rotate through the three providers.
///
/// Every task's record is known in advance and checked as it appears:
/// - `exit N` (exec, sh): `succeeded` if N is 0 else `failed`, reason `exit`,
///   `exit_code` N, `signal` null;
/// - an agent message `tI`: `succeeded`, reason `exit`, result `echo: tI`;
///   `fail` (1 in 20 agent tasks): `failed`, reason `agent_error`, `is_error` true;
///   `crash` (1 in 100): `failed`, `exit_code` 3 (the agent exits 3);
/// - timeout: `failed`, reason `timeout`; cancel: `cancelled`, reason `cancelled`.
/// Anything else counts as a wrong record. When no record has appeared for
/// two minutes, the run ends there: the tasks in flight count as wrong, and
/// the figures are those of the tasks dropped so far.
///
/// The pid range: the daemon runs as the init of its own pid namespace, with
/// that namespace's `pid_max` set to `pidMax` (default 1,000), through
/// `unshare -pf --mount-proc`. Where that is not possible (no unshare, not
/// root, a kernel without per-namespace pid_max) it runs in the host's
/// namespace, and says so: the range then wraps rarely. Exec and sh tasks
/// print their own pid (read from /proc/self/stat, so no process is spent on
/// it); a wrap is counted when that pid falls by more than half the range
/// from the highest pid seen since the last wrap (tasks finish slightly out
/// of order, so smaller falls are ignored, and so are late samples from
/// before a wrap).
///
/// The daemon's descriptors (/proc/PID/fd), threads and VmRSS
/// (/proc/PID/status) are read once it is up (idle, logged), after a
/// warm-up (the first 5 % of the tasks, at most 2,000, and 2 s at least:
/// sessions open, buffers grown) and at the end, a second after the last record; the
/// table compares the end with the warm-up. Checked records and their output
/// files are removed as the run goes, as a consumer would, so the tmpfs
/// holds only the tasks in flight.
enum Soak {
    struct Options {
        var tasks = 200_000
        var pidMax = 1000
        var window = 256
        /// Which of `Soak.providers` run the tasks (`--soak-providers`), to tell their shares apart.
        var providers = Soak.providers
    }

    /// What a task's record must say.
    enum Expect: CustomStringConvertible {
        case exit(Int)
        case agent(String)
        case agentError
        case agentCrash
        case timeout
        case cancelled

        /// The kind, for counts: `exec exit`, `sh exit`, `agent`, `timeout`, ...
        var kind: String {
            switch self {
            case .exit: "exit N"
            case .agent: "agent result"
            case .agentError: "agent error"
            case .agentCrash: "agent crash"
            case .timeout: "timeout"
            case .cancelled: "cancel"
            }
        }

        var description: String {
            switch self {
            case .exit(let n): n == 0 ? "succeeded/exit 0" : "failed/exit \(n)"
            case .agent(let text): "succeeded/exit result \"echo: \(text)\""
            case .agentError: "failed/agent_error is_error"
            case .agentCrash: "failed exit_code 3 (agent crash)"
            case .timeout: "failed/timeout"
            case .cancelled: "cancelled/cancelled"
            }
        }
    }

    struct Task {
        var provider: String
        var command: String
        var timeout: Double?
        var expect: Expect
        var phase: Int
        var orphan = false
        /// The task prints its own pid as the first line of its output.
        var printsPid = false
        var cancel = false
    }

    static let orphanOdds = [2, 20, 200]
    static let providers = ["exec", "sh", "agent"]

    /// SplitMix64 of `x`: the same tasks on every run.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Task `i` of `total`.
    /// Task `i` of `total`, with only the providers in `allowed` (the others'
    /// tasks go to those: exec and sh stand in for each other, and agent
    /// tasks become exec or sh tasks, and the other way round).
    static func task(_ i: Int, of total: Int, providers allowed: [String] = providers) -> Task {
        let phase = min(2, i * 3 / max(1, total))
        let r = mix(UInt64(i))
        let rotate = allowed[(i / 500) % allowed.count]
        let shells = allowed.filter { $0 != "agent" }
        if i % 500 == 250 {
            return Task(provider: rotate, command: "sleep 30", timeout: 0.2, expect: .timeout, phase: phase)
        }
        if i % 500 == 499 {
            return Task(provider: rotate, command: "sleep 30", timeout: 60, expect: .cancelled, phase: phase, cancel: true)
        }
        let pick = r % 100
        if (pick >= 85 && allowed.contains("agent")) || shells.isEmpty {
            let kind = (r >> 8) % 100
            if kind < 1 { return Task(provider: "agent", command: "crash", expect: .agentCrash, phase: phase) }
            if kind < 6 { return Task(provider: "agent", command: "fail", expect: .agentError, phase: phase) }
            return Task(provider: "agent", command: "t\(i)", expect: .agent("t\(i)"), phase: phase)
        }
        let code = Int((r >> 16) % 8)
        let orphan = (r >> 24) % UInt64(orphanOdds[phase]) == 0
        let command = "read p _ </proc/self/stat; echo $p; " + (orphan ? "sleep 1 & " : "") + "exit \(code)"
        return Task(provider: shells.count == 2 ? (pick < 45 ? "exec" : "sh") : shells[0], command: command, expect: .exit(code), phase: phase,
                    orphan: orphan, printsPid: true)
    }

    /// nil when the record says what `expect` requires, else what it says.
    static func verdict(_ record: JSONObject, _ expect: Expect) -> String? {
        let state = record["state"]?.stringValue ?? "?", reason = record["reason"]?.stringValue ?? "?"
        let code = record["exit_code"]?.intValue, signal = record["signal"]?.intValue
        let result = record["result"]?.objectValue
        let right: Bool
        switch expect {
        case .exit(let n):
            right = state == (n == 0 ? "succeeded" : "failed") && reason == "exit" && code == Int64(n) && signal == nil
        case .agent(let text):
            right = state == "succeeded" && reason == "exit" && result?["result"]?.stringValue == "echo: " + text
        case .agentError:
            // An agent's own error, however it exited (docs/contract.md: reason agent_error).
            right = state == "failed" && reason == "agent_error" && result?["is_error"]?.boolValue == true
        case .agentCrash:
            // The agent's own exit status: as exit_code (docs/contract.md), or
            // only in the message (the code today: "a session's status is not the task's").
            let message = record["message"]?.stringValue ?? ""
            right = state == "failed" && reason == "exit" && signal == nil
                && (code == 3 || (code == nil && (message.contains("(exit status 3)") || message.contains("(exited(3))"))))
        case .timeout:
            right = state == "failed" && reason == "timeout"
        case .cancelled:
            right = state == "cancelled" && reason == "cancelled"
        }
        if right { return nil }
        return "expected \(expect), got \(state)/\(reason) exit_code \(code.map(String.init) ?? "null") "
            + "signal \(signal.map(String.init) ?? "null") duration_ms \(record["duration_ms"]?.intValue.map(String.init) ?? "null"): "
            + (record["message"]?.stringValue ?? "")
    }

    /// Counts wraps of the pid range from pids seen roughly in allocation order.
    struct WrapCounter {
        let threshold: Int
        private(set) var wraps = 0
        private(set) var samples = 0
        private var high: Int?

        init(range: Int) { threshold = max(1, range / 2) }

        mutating func add(_ pid: Int) {
            samples += 1
            guard let h = high else { high = pid; return }
            if pid <= h - threshold {
                wraps += 1
                high = pid
            } else if pid > h && pid < h + threshold {
                high = pid
            }
        }
    }

    /// The daemon's descriptors, threads, RSS and open sessions at one moment.
    struct Reading {
        var descriptors = 0, threads = 0, rssKiB = 0, sessions = 0, children = 0
        var text: String { "\(descriptors) descriptors, \(threads) threads, RSS \(rssKiB) KiB, \(sessions) open sessions, \(children) descendant processes" }
    }

    struct Figures {
        var tasks = 0
        var seconds = 0.0
        var wrong = [0, 0, 0]
        var checked = [0, 0, 0]
        var orphans = 0
        var missing = 0
        /// Records seen before the daemon stopped finishing tasks (nil: it never did).
        var stalledAfter: Int?
        var wraps = 0
        var pidSamples = 0
        var pidMax = 0
        var namespaced = false
        var idle = Reading(), warm = Reading(), end = Reading()
        /// Wrong records and tasks by provider and expected outcome.
        var byKind: [String: (wrong: Int, tasks: Int)] = [:]
        var totalWrong: Int { wrong.reduce(0, +) }
    }

    static func run(_ o: Options, root: String) -> Figures {
        let agent = echoAgent()
        let config = #"{"workers": 2, "durability": "none", "default_provider": "exec", "shutdown_grace": 1, "#
            + #""limits": {"max_events_bytes": 8388608}, "#
            + #""timeouts": {"session": {"idle_timeout": 86400, "max_lifetime": 86400}, "command": {"default_timeout": 60, "kill_grace": 1}}, "#
            + #""providers": {"agent": {"mode": "session", "protocol": "jsonl", "command": ["\#(agent)"], "#
            + #""auth": {"command": ["\#(agent)", "--auth-check"], "retryable_exit_codes": [75]}, "max_sessions": 2}}}"#
        let daemon = SoakDaemon(under: root, config: config, pidMax: o.pidMax)
        defer { daemon.stop() }
        var f = Figures()
        f.tasks = o.tasks
        f.namespaced = daemon.namespaced
        f.pidMax = daemon.pidMax
        // After the first wrap pids are allocated from 300 (RESERVED_PIDS) up.
        var wraps = WrapCounter(range: f.pidMax > 600 ? f.pidMax - 300 : f.pidMax)
        f.idle = daemon.reading()
        Harness.log("soak: daemon up (\(daemon.namespaced ? "own pid namespace, pid_max \(f.pidMax)" : "host pid namespace, pid_max \(f.pidMax)")): \(f.idle.text)")

        let spool = daemon.spool
        let done: Inotify
        do {
            done = try Inotify()
            _ = try done.addWatch(spool + "/done", mask: InotifyMask.movedTo | InotifyMask.closeWrite)
        } catch { daemon.fail("cannot watch done/: \(error)") }
        defer { done.close() }

        var inFlight: Set<Int> = []
        var cancels: Set<Int> = []
        var examples: [String] = []
        var next = 0, finished = 0
        let warmUp = min(2000, max(1, o.tasks / 20))
        var warm = false
        let start = Harness.now()
        var lastRecord = start, lastLog = start, lastScan = start

        /// Checks task `i`'s record if it exists; true when it did.
        func collect(_ i: Int) -> Bool {
            let id = "k\(i)"
            guard let text = Harness.read("\(spool)/done/\(id).json") else { return false }
            guard let record = (try? JSONParser.parse(text))?.objectValue else { return false }  // cannot be half-written (renamed in); be safe
            let t = task(i, of: o.tasks, providers: o.providers)
            f.checked[t.phase] += 1
            if t.orphan { f.orphans += 1 }
            let kind = (t.expect.kind == "exit N" ? t.provider + " " : "") + t.expect.kind + (t.orphan ? " + orphan" : "")
            f.byKind[kind, default: (0, 0)].tasks += 1
            if let wrong = verdict(record, t.expect) {
                f.wrong[t.phase] += 1
                f.byKind[kind, default: (0, 0)].wrong += 1
                if examples.count < 10 { examples.append("\(id) (\(t.provider), `\(t.command)`): \(wrong)") }
            }
            if t.printsPid, let out = Harness.read("\(spool)/done/\(id).out"),
               let pid = out.split(separator: "\n").first.flatMap({ Int($0) }) {
                wraps.add(pid)
            }
            for suffix in [".out", ".err", ".json"] { unlink("\(spool)/done/\(id)\(suffix)") }
            inFlight.remove(i)
            cancels.remove(i)  // ended before it was seen running (a wrong record, then)
            finished += 1
            lastRecord = Harness.now()
            // status.json (open sessions) is up to a second old: the warm-up lasts 2 s at least.
            if !warm && finished >= warmUp && lastRecord - start >= 2 {
                warm = true
                f.warm = daemon.reading()
                Harness.log("soak: after \(finished) tasks: \(f.warm.text)")
            }
            return true
        }

        while finished + f.missing < o.tasks {
            while next < o.tasks && inFlight.count < o.window {
                let t = task(next, of: o.tasks, providers: o.providers)
                let id = "k\(next)"
                var request = #"{"id": "\#(id)", "provider": "\#(t.provider)", "command": "\#(t.command)""#
                if let timeout = t.timeout { request += #", "timeout": \#(timeout)"# }
                Harness.write("\(daemon.base)/stage/\(id).json", request + "}")
                if rename("\(daemon.base)/stage/\(id).json", "\(spool)/incoming/\(id).json") != 0 {
                    daemon.fail("cannot rename \(id).json into incoming/")
                }
                inFlight.insert(next)
                if t.cancel { cancels.insert(next) }
                next += 1
            }
            for i in cancels where access("\(spool)/running/k\(i).json", F_OK) == 0 {
                Harness.write("\(spool)/cancel/k\(i)", "")
                cancels.remove(i)
            }
            var pfd = pollfd(fd: done.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, cancels.isEmpty ? 500 : 10)
            let events = (try? done.readEvents()) ?? []
            if events.contains(where: \.isOverflow) || (events.isEmpty && Harness.now() - lastScan >= 1) {
                // A lost event, or a quiet second: look for every task in flight.
                lastScan = Harness.now()
                for i in inFlight.sorted() { _ = collect(i) }
            } else {
                for event in events {
                    let name = String(decoding: event.name, as: UTF8.self)
                    guard name.hasPrefix("k"), name.hasSuffix(".json"), let i = Int(name.dropFirst().dropLast(5)),
                          inFlight.contains(i) else { continue }
                    _ = collect(i)
                }
            }
            let now = Harness.now()
            if now - lastLog >= 15 {
                lastLog = now
                let probe = ProcessProbe(pid: daemon.pid)
                Harness.log("soak: \(finished)/\(o.tasks) records, \(Int(Double(finished) / (now - start))) tasks/s, "
                    + "\(f.totalWrong) wrong, \(wraps.wraps) pid wraps; daemon: \(probe.descriptors) descriptors, "
                    + "\(probe.threads) threads, RSS \(probe.rssKiB) KiB")
            }
            if now - lastRecord > 120 && !inFlight.isEmpty {
                // The daemon stopped finishing tasks: say where they are, count them
                // as wrong, and end the run here with the figures so far.
                var places: [String: Int] = [:]
                for i in inFlight {
                    let place = ["incoming", "pending", "queued", "running"].first {
                        access("\(spool)/\($0)/k\(i).json", F_OK) == 0
                    } ?? "nowhere"
                    places[place, default: 0] += 1
                    let t = task(i, of: o.tasks, providers: o.providers)
                    f.wrong[t.phase] += 1
                    f.checked[t.phase] += 1
                    f.missing += 1
                }
                let circuits = daemon.circuits()
                Harness.log("soak: no record for 120 s: stopping after \(finished) records of \(next) tasks dropped (\(o.tasks) planned); "
                    + "the \(inFlight.count) in flight count as wrong ("
                    + places.sorted { $0.key < $1.key }.map { "\($0.value) in \($0.key)" }.joined(separator: ", ") + ")"
                    + (circuits.isEmpty ? "" : "; circuits: " + circuits))
                for line in daemon.logTail(8) { Harness.log("soak: daemon log: " + line) }
                inFlight = []
                f.stalledAfter = finished
                break
            }
        }
        f.seconds = (f.stalledAfter == nil ? Harness.now() : lastRecord) - start
        f.tasks = finished + f.missing
        if !warm { f.warm = daemon.reading() }
        Harness.sleep(until: Harness.now() + 1)
        f.end = daemon.reading()
        Harness.log("soak: end: \(f.end.text)")
        f.wraps = wraps.wraps
        f.pidSamples = wraps.samples
        Harness.log("soak: wrong/tasks by kind: " + f.byKind.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value.wrong)/\($0.value.tasks)" }.joined(separator: ", "))
        for line in examples { Harness.log("soak: wrong record: " + line) }
        return f
    }

    /// examples/providers/echo-agent of this checkout: looked for above the
    /// bench's binary, then in the working directory.
    static func echoAgent() -> String {
        let relative = "examples/providers/echo-agent"
        var dir = String(Harness.hopper[..<Harness.hopper.lastIndex(of: "/")!])
        while !dir.isEmpty {
            if access(dir + "/" + relative, X_OK) == 0 { return dir + "/" + relative }
            dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
        }
        if let p = getcwd(nil, 0) {
            let cwd = String(cString: p)
            free(p)
            if access(cwd + "/" + relative, X_OK) == 0 { return cwd + "/" + relative }
        }
        Harness.fail("cannot find \(relative) above \(Harness.hopper) or in the working directory")
    }
}

/// A `hopper run` for the soak: in its own pid namespace with a small
/// pid_max where possible (`unshare -pf --mount-proc`, the daemon as the
/// namespace's init), else in the host's. `pid` is the daemon's pid as the
/// bench sees it; `launcher` the process the bench spawned (unshare, or the
/// daemon itself).
final class SoakDaemon {
    let base: String
    var spool: String { base + "/spool" }
    private(set) var namespaced = false
    private(set) var pidMax = 0
    private(set) var pid = ProcessID(rawValue: 0)
    private var launcher = ProcessID(rawValue: 0)
    private var exit: ChildExit?
    private var isRunning = false

    init(under root: String, config: String, pidMax wanted: Int) {
        base = Harness.makeTemp(under: root)
        Harness.write(base + "/hopper.json", config)
        Harness.run([Harness.hopper, "init", spool, "--config", base + "/hopper.json"])
        mkdir(base + "/stage", 0o755)
        let unshare = ["/usr/bin/unshare", "/bin/unshare"].first { (path: String) in access(path, X_OK) == 0 }
        let setPidMax = "echo \(wanted) > /proc/sys/kernel/pid_max"
        if let unshare, Harness.run([unshare, "-pf", "--mount-proc", "/bin/sh", "-c", setPidMax]) == .exited(0) {
            namespaced = true
            pidMax = wanted
        } else {
            pidMax = Int((Harness.read("/proc/sys/kernel/pid_max") ?? "").split(separator: "\n").first ?? "") ?? 32768
            Harness.log("soak: NOTE: cannot run the daemon in a pid namespace of its own with pid_max \(wanted) "
                + "(needs root, util-linux unshare and a kernel with per-namespace pid_max); "
                + "running it in the host's namespace, pid_max \(pidMax): the pid range wraps far less often")
        }
        let run = [Harness.hopper, "run", "--spool", spool, "--config", base + "/hopper.json"]
        let argv: [String] = namespaced
            ? [unshare!, "-pf", "--kill-child", "--mount-proc", "/bin/sh", "-c", setPidMax + " && exec \"$0\" \"$@\""] + run
            : run
        let log = open(base + "/daemon.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: Harness.environment())
        request.stderr = .fd(FileDescriptor(rawValue: log))
        do { exit = try Spawner.spawn(request).exit } catch { Harness.fail("cannot start hopper run: \(error)") }
        launcher = exit!.pid
        close(log)
        isRunning = true
        Cleanup.shared.track(daemon: launcher)
        waitUntilReady()
    }

    /// The daemon's pid: the launcher itself, or unshare's one child.
    private func findDaemon() -> ProcessID? {
        guard namespaced else { return launcher }
        let children = Harness.read("/proc/\(launcher.rawValue)/task/\(launcher.rawValue)/children") ?? ""
        return children.split(separator: " ").first.flatMap { pid_t($0) }.map { ProcessID(rawValue: $0) }
    }

    private func waitUntilReady(timeout: Double = 60) {
        let deadline = Harness.now() + timeout
        while Harness.now() < deadline {
            if let daemon = findDaemon(), let own = ProcessProbe(pid: daemon).namespacePid,
               let text = Harness.read(spool + "/status.json"), let status = try? JSONParser.parse(text),
               status.objectValue?["pid"]?.intValue == Int64(own) {
                pid = daemon
                if namespaced {
                    Cleanup.shared.track(daemon: daemon)
                }
                return
            }
            if exit?.status != nil { fail("the daemon exited at start") }
            usleep(5000)
        }
        fail("the daemon did not come up")
    }

    func reading() -> Soak.Reading {
        let probe = ProcessProbe(pid: pid)
        var r = Soak.Reading(descriptors: probe.descriptors, threads: probe.threads, rssKiB: probe.rssKiB)
        r.children = probe.descendants.count
        if let text = Harness.read(spool + "/status.json"), let status = try? JSONParser.parse(text) {
            r.sessions = status.objectValue?["sessions"]?.arrayValue?.count ?? 0
        }
        return r
    }

    /// SIGTERM to the daemon, then waits for the launcher to exit; removes the directory.
    func stop() {
        if isRunning, let latch = exit {
            // The daemon in a namespace is unshare's child, not ours: signalled by pid while
            // unshare, which reaps it, still runs. unshare --kill-child kills it with itself.
            if namespaced && pid.rawValue != 0 { ProcessGroup.signalProcess(pid, .term) } else { _ = latch.signal(.term) }
            let deadline = Harness.now() + 30
            while latch.status == nil && Harness.now() < deadline { usleep(5000) }
            if latch.status == nil {
                _ = latch.signal(.kill)
                _ = latch.wait()
            }
            isRunning = false
            Cleanup.shared.forget(daemon: launcher)
            Cleanup.shared.forget(daemon: pid)
        }
        Harness.remove(base)
    }

    /// `provider circuit` for each provider whose circuit is not closed, from status.json.
    func circuits() -> String {
        guard let text = Harness.read(spool + "/status.json"), let status = try? JSONParser.parse(text),
              let providers = status.objectValue?["providers"]?.objectValue else { return "" }
        var open: [String] = []
        for name in Soak.providers {
            if let circuit = providers[name]?.objectValue?["circuit"]?.stringValue, circuit != "closed" {
                let error = providers[name]?.objectValue?["last_auth_error"]?.stringValue
                open.append("\(name) \(circuit)" + (error.map { " (last auth error: \($0))" } ?? ""))
            }
        }
        return open.joined(separator: ", ")
    }

    /// The last `n` lines of the daemon's log.
    func logTail(_ n: Int) -> [String] {
        (Harness.read(base + "/daemon.log") ?? "").split(separator: "\n").suffix(n).map(String.init)
    }

    func fail(_ message: String) -> Never {
        let tail = logTail(5).joined(separator: "\n")
        Harness.fail(message + (tail.isEmpty ? "" : "; daemon log ends:\n" + tail))
    }
}
