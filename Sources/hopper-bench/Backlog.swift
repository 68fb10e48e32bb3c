import Glibc
import HopperCore

/// A large queue: acceptance, memory and processes, shutdown, start-up
/// recovery, and throughput with the backlog still queued. One spool (tmpfs,
/// durability none, 2 workers, provider `exec`), in this order:
///
/// 1. Two blockers (`exec sleep 300`, priority 1000, ids blocker0/1) occupy
///    both workers; once both are in running/ and both sleeps exist, the
///    daemon's RSS and its number of descendant processes are the reference
///    ("extra processes" later is the count above it: should be 0).
/// 2. `small` requests of `true` are staged, renamed into incoming/ at once,
///    and timed until all are task files in queued/ (inotify on queued/,
///    confirmed by a listing): acceptance. Then, once the daemon has used
///    no CPU for 100 ms, RSS and descendants.
/// 3. The same for `large − small` more, up to `large` queued.
/// 4. SIGTERM: time until the daemon has exited (blockers go back to queued/).
/// 5. `hopper run` again: time from the spawn until the first task file
///    appears in running/ (inotify on running/, set up before the spawn);
///    the blockers, with the highest priority, are that first task. RSS once
///    the daemon is at rest.
/// 6. `n` more `true` requests with priority 1 are renamed into incoming/ at
///    once and the blockers cancelled (empty files in cancel/); the time from
///    the first rename until the `n` have records is the throughput with the
///    backlog queued behind them (measured as the no-backlog figure is: the
///    tasks are accepted while they run).
enum Backlog {
    struct Figures {
        var rssBefore = 0, rssSmall = 0, rssLarge = 0, rssRecovered = 0
        var processesBefore = 0, processesSmall = 0, processesLarge = 0
        var acceptSmall = 0.0, acceptRest = 0.0
        var stop = 0.0, firstStart = 0.0
        var throughput = 0.0
        /// The daemon's CPU time per measured task, µs.
        var cpuPerTask = 0.0
    }

    static func measure(small: Int, large: Int, n: Int, root: String) -> Figures {
        let config = #"{"workers": 2, "durability": "none", "default_provider": "exec", "shutdown_grace": 0.5}"#
        let daemon = BenchDaemon(under: root, config: config)
        defer { daemon.stop() }
        var f = Figures()
        let queued = DirectoryWatch(daemon.spool + "/queued")

        let running = DirectoryWatch(daemon.spool + "/running")
        let blockers = ["blocker0", "blocker1"]
        daemon.stage(blockers) { #"{"id": "\#($0)", "command": "exec sleep 300", "priority": 1000}"# }
        blockers.forEach(daemon.drop)
        if !running.wait(forCount: 2, timeout: 30) { daemon.fail("the blockers did not start") }
        // The task file reaches running/ just before the spawn: wait for both sleeps.
        let deadline = Harness.now() + 10
        while daemon.probe.descendants.count < blockers.count {
            if Harness.now() > deadline { daemon.fail("the blockers' processes did not appear") }
            usleep(5000)
        }
        f.rssBefore = daemon.probe.rssKiB
        f.processesBefore = daemon.probe.descendants.count

        f.acceptSmall = accept(0..<small, into: daemon, watch: queued)
        f.rssSmall = daemon.probe.rssKiB
        f.processesSmall = daemon.probe.descendants.count
        Harness.log("accepted \(small) in \(Report.format(f.acceptSmall, "s")); RSS \(f.rssSmall) KiB")

        f.acceptRest = accept(small..<large, into: daemon, watch: queued)
        f.rssLarge = daemon.probe.rssKiB
        f.processesLarge = daemon.probe.descendants.count
        Harness.log("accepted \(large - small) more in \(Report.format(f.acceptRest, "s")); RSS \(f.rssLarge) KiB")

        f.stop = daemon.shutDown()
        let restarted = DirectoryWatch(daemon.spool + "/running")
        let spawned = Harness.now()
        daemon.start()
        guard let first = restarted.wait(forFirst: ".json", timeout: 300) else { daemon.fail("no task started after a restart with \(large) queued") }
        f.firstStart = first - spawned
        waitUntilQuiet(daemon)
        f.rssRecovered = daemon.probe.rssKiB

        // Like the no-backlog figure, the measured tasks are dropped at once and
        // accepted while they run; priority 1 puts them ahead of the backlog.
        let names = (0..<n).map { "p\($0)" }
        daemon.stage(names) { _ in #"{"command": "true", "priority": 1}"# }
        let done = DirectoryWatch(daemon.spool + "/done")
        let cpu = daemon.probe.cpuSeconds
        let start = Harness.now()
        for name in names { daemon.drop(name) }
        for id in blockers { Harness.write("\(daemon.spool)/cancel/\(id)", "") }
        if !done.wait(forCount: n, prefix: "p", timeout: 600) { daemon.fail("\(n) tasks did not finish with a backlog") }
        f.throughput = Double(n) / (Harness.now() - start)
        f.cpuPerTask = (daemon.probe.cpuSeconds - cpu) * 1e6 / Double(n)
        Harness.log("with the backlog: \(n) tasks in \(Report.format(Harness.now() - start, "s")); \(done.count(prefix: "q")) backlog tasks ran meanwhile")
        return f
    }

    /// Stages requests q<i> for `range`, renames them all into incoming/, and
    /// returns the seconds from the first rename until all are in queued/.
    private static func accept(_ range: Range<Int>, into daemon: BenchDaemon, watch queued: DirectoryWatch) -> Double {
        let names = range.map { "q\($0)" }
        daemon.stage(names) { _ in #"{"command": "true"}"# }
        let before = queued.count()
        let start = Harness.now()
        for name in names { daemon.drop(name) }
        if !queued.wait(forCount: before + names.count, timeout: 900) { daemon.fail("\(names.count) requests were not accepted") }
        let elapsed = Harness.now() - start
        waitUntilQuiet(daemon)
        return elapsed
    }

    /// Waits (up to 5 s) until the daemon has used no CPU for 100 ms: the
    /// last file lands in queued/ before its turn ends, and the memory
    /// figures are of the daemon at rest with the backlog, not mid-turn.
    private static func waitUntilQuiet(_ daemon: BenchDaemon) {
        let probe = daemon.probe
        let deadline = Harness.now() + 5
        var last = probe.cpuSeconds
        while Harness.now() < deadline {
            usleep(100_000)
            let now = probe.cpuSeconds
            if now == last { return }
            last = now
        }
    }
}
