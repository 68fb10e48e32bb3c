import Glibc
import HopperCore

/// Session command overhead: sequential tasks of `true` in the built-in
/// `sh` session provider, one at a time, each dropped after the previous
/// one's record appeared.
///
/// Two Hopper figures per task:
/// - in session: the record's `finished_at − started_at` (µs resolution).
///   `started_at` is stamped after the daemon has posted the command to the
///   poller thread, which may already be writing it to the shell, and
///   `finished_at` when the daemon handles the end of the frame: part of the
///   round trip is missed, so it is shown without a baseline.
/// - drop → record: the bench's CLOCK_MONOTONIC from just before the rename
///   into incoming/ until inotify reports done/<id>.json, everything included
///   (the figure compared with the baseline).
///
/// Baseline: the same text Hopper writes for a task (a subshell with the two
/// HOPPER_ exports and `eval 'true'`, then the exit status and a nonce frame
/// on stdout and a frame on stderr) written straight into one `sh` over a
/// pipe; one sample is the time from the write until both frames are read.
enum SessionOverhead {
    struct Samples {
        var inSession: [Double] = []
        var dropToRecord: [Double] = []
    }

    /// An agent CLI that answers at once: the claude preset's executable,
    /// a shell loop that answers each stream-JSON line with a result line
    /// (builtins only, so its own cost is a read and a printf).
    static let instantAgent = """
        #!/bin/sh
        case "$1" in auth) exit 0 ;; esac
        while read -r line; do
            printf '%s\n' '{"type":"result","subtype":"success","is_error":false,"result":"ok","session_id":"bench","total_cost_usd":0}'
        done
        """

    /// Per-task figures in milliseconds; a few warm-up tasks start the session
    /// first. `agent`: the claude preset running `instantAgent`, instead of `sh`.
    static func hopper(count: Int, root: String, agent: Bool = false) -> Samples {
        var config = #"{"workers": 2, "durability": "none", "default_provider": "sh"}"#
        if agent {
            let script = root + "/instant-agent-\(getpid())"
            let fd = open(script, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
            _ = instantAgent.withCString { write(fd, $0, strlen($0)) }
            close(fd)
            config = #"{"workers": 2, "durability": "none", "default_provider": "claude", "providers": {"claude": {"agent": "claude", "executable": "\#(script)", "env": {"ANTHROPIC_API_KEY": "bench"}}}}"#
        }
        let daemon = BenchDaemon(under: root, config: config)
        defer { daemon.stop() }
        let warmUp = 3
        let names = (0..<(warmUp + count)).map { "s\($0)" }
        daemon.stage(names) { #"{"id": "\#($0)", "command": "true"}"# }
        let done = DirectoryWatch(daemon.spool + "/done")
        var samples = Samples()
        for (i, name) in names.enumerated() {
            let dropped = Harness.now()  // before the rename: see DropLatency
            daemon.drop(name)
            guard let seen = done.wait(forName: name + ".json", timeout: 30) else { daemon.fail("task \(name) did not finish") }
            guard i >= warmUp else { continue }
            samples.dropToRecord.append((seen - dropped) * 1000)
            guard let record = daemon.record(name), record["state"]?.stringValue == "succeeded",
                  let started = record["started_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
                  let finished = record["finished_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) else {
                daemon.fail("task \(name) has no usable record")
            }
            samples.inSession.append(Double(finished.nanoseconds - started.nanoseconds) / 1e6)
        }
        return samples
    }

    /// Round trips in milliseconds through one raw `sh`, in Hopper's framing.
    static func rawShell(count: Int) -> [Double] {
        var request = SpawnRequest(executable: "/bin/sh", arguments: ["sh"], environment: [])
        request.stdin = .pipe
        request.stdout = .pipe
        request.stderr = .pipe
        guard let sh = try? Spawner.spawn(request) else { Harness.fail("cannot spawn /bin/sh") }
        defer {
            sh.stdin!.close()
            _ = sh.exit.wait()
            sh.stdout!.close()
            sh.stderr!.close()
        }
        let nonce = "hopper-frame-benchbenchbenchbench00"
        var samples: [Double] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        for i in 0..<(count + 3) {
            let script = "(\nexport HOPPER_TASK_ID='s\(i)'\nexport HOPPER_ATTEMPT='1'\neval 'true'\n) < /dev/null\nhopper_s=$?\n"
                + "printf '\\n%s %d\\n' '\(nonce)' \"$hopper_s\"\nprintf '\\n%s\\n' '\(nonce)' >&2\n"
            let start = Harness.now()
            do { try sh.stdin!.writeAll(Array(script.utf8)) } catch { Harness.fail("cannot write to sh: \(error)") }
            // Each frame is a line that starts with the nonce; wait for it on both streams.
            var pending = [(sh.stdout!, [UInt8]()), (sh.stderr!, [UInt8]())]
            while !pending.isEmpty {
                var fds = pending.map { pollfd(fd: $0.0.rawValue, events: Int16(POLLIN), revents: 0) }
                _ = poll(&fds, nfds_t(fds.count), 10_000)
                for (k, p) in fds.enumerated().reversed() where p.revents != 0 {
                    let got = buffer.withUnsafeMutableBytes { read(p.fd, $0.baseAddress, $0.count) }
                    if got <= 0 { Harness.fail("sh closed its output") }
                    pending[k].1 += buffer[..<got]
                    let text = pending[k].1
                    if text.last == UInt8(ascii: "\n"), String(decoding: text, as: UTF8.self).contains("\n" + nonce) { pending.remove(at: k) }
                }
            }
            if i >= 3 { samples.append((Harness.now() - start) * 1000) }
        }
        return samples
    }
}
