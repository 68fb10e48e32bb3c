import Glibc
import HopperCore

/// The scenarios of the benchmark. Each measures Hopper and, where there is
/// one, the baseline the issue names, in the same run.
enum Scenarios {
    static func rate(_ n: Int, _ seconds: Double) -> Double { Double(n) / seconds }

    /// The ceiling: `n` runs of /bin/true spawned directly, 2 in flight.
    static func directSpawn(_ n: Int, inFlight: Int = 2) -> Double {
        let start = Harness.now()
        let sem = Semaphore(inFlight)
        for _ in 0..<n {
            sem.acquire()
            var request = SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [])
            request.newProcessGroup = true
            guard let process = try? Spawner.spawn(request) else { Harness.fail("cannot spawn /bin/true") }
            process.exit.onExit { _ in sem.release() }
        }
        for _ in 0..<inFlight { sem.acquire() }
        return rate(n, Harness.now() - start)
    }

    /// What a throughput run measured: tasks a second, and the daemon's own
    /// cost per task (CPU time, and context switches of its threads).
    struct Throughput {
        var rate: Double
        var cpuMicroseconds: Double
        var switches: Double
    }

    /// Hopper: `n` tasks of `true`, 2 workers.
    static func throughput(_ n: Int, provider: String, durability: String, root: String) -> Throughput {
        let daemon = BenchDaemon(under: root, config: #"{"workers": 2, "durability": "\#(durability)", "default_provider": "\#(provider)"}"#)
        defer { daemon.stop() }
        let probe = daemon.probe
        let cpu = probe.cpuSeconds, switches = probe.contextSwitches
        let seconds = daemon.run(n, request: #"{"command": "true"}"#)
        return Throughput(rate: rate(n, seconds), cpuMicroseconds: (probe.cpuSeconds - cpu) * 1e6 / Double(n),
                          switches: Double(ProcessProbe.switches(from: switches, to: probe.contextSwitches)) / Double(n))
    }

    /// The session baseline: `n` subshell round trips written straight into one sh.
    static func rawShell(_ n: Int) -> Double {
        var request = SpawnRequest(executable: "/bin/sh", arguments: ["sh"], environment: [])
        request.stdin = .pipe
        request.stdout = .pipe
        guard let sh = try? Spawner.spawn(request) else { Harness.fail("cannot spawn /bin/sh") }
        let line = Array("( true ) </dev/null\nprintf 'M %d\\n' $?\n".utf8)
        var buffer = [UInt8](repeating: 0, count: 256)
        let start = Harness.now()
        for _ in 0..<n {
            do { try sh.stdin!.writeAll(line) } catch { Harness.fail("cannot write to sh: \(error)") }
            var got = 0
            repeat { got = buffer.withUnsafeMutableBytes { read(sh.stdout!.rawValue, $0.baseAddress, $0.count) } } while got > 0 && buffer[got - 1] != UInt8(ascii: "\n")
        }
        let elapsed = Harness.now() - start
        sh.stdin!.close()
        _ = sh.exit.wait()
        sh.stdout!.close()
        return rate(n, elapsed)
    }

    /// Median wall time (ms) of `hopper submit` and of `cp` of a request.
    static func client(runs: Int, root: String) -> (submit: Double, cp: Double) {
        let base = Harness.makeTemp(under: root)
        defer { Harness.remove(base) }
        Harness.run([Harness.hopper, "init", base + "/spool", "--config", base + "/hopper.json"])
        Harness.write(base + "/req.json", #"{"command": "true"}"#)
        func median(_ body: (Int) -> Void) -> Double {
            var times: [Double] = []
            for i in 0..<runs {
                let t = Harness.now()
                body(i)
                times.append((Harness.now() - t) * 1000)
            }
            return times.sorted()[times.count / 2]
        }
        let submit = median { _ in Harness.run([Harness.hopper, "submit", "--spool", base + "/spool", "--config", base + "/hopper.json", "true"]) }
        let cp = median { i in Harness.run(["/bin/cp", base + "/req.json", "\(base)/spool/incoming/c\(i).json"]) }
        return (submit, cp)
    }

    /// Idle daemon: RSS, and CPU seconds, context switches (all threads) and
    /// threads that came or went over `seconds`, after a settling second.
    static func idle(seconds: Double, root: String) -> (rssKiB: Int, cpu: Double, wakeups: Int, threadsChanged: Int) {
        let daemon = BenchDaemon(under: root, config: #"{"workers": 2, "durability": "none"}"#)
        defer { daemon.stop() }
        // Let start-up settle (first status write, worker threads going idle) before counting.
        Harness.sleep(until: Harness.now() + 1)
        let probe = daemon.probe
        let cpu = probe.cpuSeconds, switches = probe.contextSwitches
        Harness.sleep(until: Harness.now() + seconds)
        let after = probe.contextSwitches
        let changed = Set(switches.keys).symmetricDifference(after.keys).count
        return (probe.rssKiB, probe.cpuSeconds - cpu, ProcessProbe.switches(from: switches, to: after), changed)
    }
}
