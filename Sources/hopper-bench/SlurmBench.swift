import Glibc
import HopperCore

/// `hopper-bench --slurm`: Hopper's Slurm provider on the real two-node
/// cluster of `scripts/slurm-cluster` (root, network namespaces, slurm-wlm
/// and munge), beside `sbatch` driven directly in the same run, and the
/// daemon killed again and again while its jobs run.
enum SlurmBench {
    /// A running cluster and its directory; stopped by its recorded pids.
    struct Cluster {
        let directory: String
        let script: String

        static func start() -> Cluster {
            let script = ProcessEnvironment.pairs().first { $0.0 == "PWD" }.map { $0.1 + "/scripts/slurm-cluster" } ?? "scripts/slurm-cluster"
            guard access(script, X_OK) == 0 else { Harness.fail("--slurm needs scripts/slurm-cluster; run hopper-bench from the package's directory") }
            let directory = Harness.makeTemp(under: "/tmp")
            chmod(directory, 0o755)
            Cleanup.shared.track(cluster: directory, script: script)
            guard Harness.run([script, "start", directory], quiet: false) == .exited(0) else {
                _ = Harness.run([script, "stop", directory])
                Harness.fail("the Slurm cluster did not start (see \(directory)/log)")
            }
            // Every Slurm command and daemon of this run talks to it.
            setenv("SLURM_CONF", directory + "/slurm.conf", 1)
            return Cluster(directory: directory, script: script)
        }

        func stop() {
            _ = Harness.run([script, "stop", directory])
            Cleanup.shared.forget(cluster: directory)
            Harness.remove(directory)
        }
    }

    static func config(_ maxJobs: Int) -> String {
        #"{"workers": 2, "durability": "none", "default_provider": "cluster", "providers": {"cluster": {"mode": "slurm", "command": ["/bin/sh", "-c", "{command}"], "slurm": {"partition": "main", "max_jobs": \#(maxJobs)}}}}"#
    }

    /// `n` jobs of `true` submitted with one `sbatch` call each, as fast as
    /// they go; each job writes a file when it has run, as Hopper's jobs
    /// write their exit files. Seconds from the first submission until all
    /// `n` files exist.
    static func directSbatch(_ n: Int) -> Double {
        let base = Harness.makeTemp(under: "/tmp")
        defer { Harness.remove(base) }
        chmod(base, 0o755)
        let done = base + "/done"
        mkdir(done, 0o755)
        let watch = DirectoryWatch(done)
        let start = Harness.now()
        for i in 0..<n {
            let status = Harness.run(["/usr/bin/sbatch", "--parsable", "--job-name=direct-\(i)", "--output=/dev/null", "--chdir=/tmp",
                                      "--wrap", "true; touch \(done)/.j$SLURM_JOB_ID && mv \(done)/.j$SLURM_JOB_ID \(done)/j$SLURM_JOB_ID.json"])
            if status != .exited(0) { Harness.fail("sbatch failed (\(status))") }
        }
        if !watch.wait(forCount: n, timeout: 1200) { Harness.fail("\(n) direct sbatch jobs did not finish") }
        return Double(n) / (Harness.now() - start)
    }

    /// `n` runs of `srun true`, one after another (each its own allocation
    /// and step, waiting for its end): the interactive way, for scale.
    static func directSrun(_ n: Int) -> Double {
        let start = Harness.now()
        for _ in 0..<n {
            let status = Harness.run(["/usr/bin/srun", "--chdir=/tmp", "--time=1", "true"])
            if status != .exited(0) { Harness.fail("srun failed (\(status))") }
        }
        return Double(n) / (Harness.now() - start)
    }

    /// `n` tasks of `true` through Hopper's Slurm provider, all dropped at once.
    static func hopper(_ n: Int) -> Double {
        let daemon = BenchDaemon(under: "/tmp", config: config(n))
        defer { daemon.stop() }
        chmod(daemon.base, 0o755)
        return Double(n) / daemon.run(n, request: #"{"command": "true"}"#)
    }

    /// `n` tasks, each appending its id to a file; the daemon is killed with
    /// SIGKILL `kills` times while they run, and started again each time.
    /// Returns tasks without a record, tasks whose command ran more than
    /// once, and tasks that ran not at all.
    static func killDuringRun(_ n: Int, kills: Int) -> (lost: Int, twice: Int, never: Int, seconds: Double) {
        let daemon = BenchDaemon(under: "/tmp", config: config(100))
        defer { daemon.stop() }
        let runs = daemon.base + "/runs"
        let names = (0..<n).map { "k\($0)" }
        daemon.stage(names) { name in #"{"id": "\#(name)", "command": "echo $HOPPER_TASK_ID >> \#(runs); sleep 0.5"}"# }
        let start = Harness.now()
        for name in names { daemon.drop(name) }
        for _ in 0..<kills {
            Harness.sleep(until: Harness.now() + 0.3)
            daemon.kill()
            daemon.start()
            daemon.waitUntilReady()
        }
        let done = DirectoryWatch(daemon.spool + "/done")
        if !done.wait(forCount: n, timeout: 600) { daemon.fail("\(n) tasks did not all end after \(kills) kills") }
        let seconds = Harness.now() - start
        var counts: [String: Int] = [:]
        for line in (Harness.read(runs) ?? "").split(separator: "\n") { counts[String(line), default: 0] += 1 }
        let lost = names.filter { daemon.record($0) == nil }.count
        return (lost, counts.values.filter { $0 > 1 }.count, names.filter { counts[$0] == nil }.count, seconds)
    }

    static func run(n: Int, kills: Int, into report: inout Report) {
        let cluster = Cluster.start()
        defer { cluster.stop() }
        Harness.log("Slurm: \(n) tasks of true through two nodes, sbatch directly then Hopper")
        let direct = directSbatch(n)
        let through = hopper(n)
        report.add("slurm throughput, \(n) tasks, 2 nodes", through, "tasks/s", baseline: direct)
        report.add("srun true, one after another (no Hopper)", directSrun(n / 5), "tasks/s")
        let tasks = max(20, n * 2 / 5)
        Harness.log("Slurm: \(tasks) tasks, the daemon killed with SIGKILL \(kills) times")
        let killed = killDuringRun(tasks, kills: kills)
        report.add("slurm, \(tasks) tasks, \(kills) kills: tasks without record", Double(killed.lost), "")
        report.add("slurm, \(tasks) tasks, \(kills) kills: commands run twice", Double(killed.twice), "")
        report.add("slurm, \(tasks) tasks, \(kills) kills: commands never run", Double(killed.never), "")
        report.add("slurm, \(tasks) tasks, \(kills) kills: wall time", killed.seconds, "s")
    }
}
