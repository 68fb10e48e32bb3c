import Glibc
import HopperCore

// hopper-bench: measures Hopper beside a baseline in the same run and prints
// one table (and, with --json FILE, the same figures as JSON).
//   --smoke        every scenario in a small form, for CI (figures printed, never asserted)
//   --long         also 20,000 tasks sustained on disk, durability none and fsync
//   --n N          tasks per throughput scenario (default 2000)
//   --json FILE    also write the figures as JSON
//   --only A,B     only these groups: exec, session, latency, overhead, backlog, client, idle
//                  (client: a hopper submit's wall time, and 1,000 tasks submitted one call each
//                  beside task-spooler driven the same way when tsp is on PATH, and in one --each call);
//                  or, not in the default run: sustained (the two 20,000 runs of --long alone),
//                  syscalls (system calls per exec task, the daemon under strace -c; disk fsync, tmpfs none),
//                  commit (ways to make a turn's new files durable, on the disk, without a daemon)
//   --soak         the soak alone (with --only, those groups too): 200,000 tasks, every record
//                  checked, the pid range wrapping (see Soak.swift); never part of --smoke;
//                  exits 1 after the table when a record was wrong
//   --soak-tasks N tasks in the soak (default 200,000); --soak-pid-max N: its namespace's pid_max (1000);
//   --soak-providers exec,sh,agent: only these providers run the soak's tasks
//   --slurm        the Slurm group alone (root; starts scripts/slurm-cluster): tasks/s through
//                  two nodes beside sbatch driven directly, and the daemon killed during a run

Cleanup.shared.installSignalHandlers()
var arguments = CommandLine.arguments.dropFirst()
var smoke = false, long = false, jsonPath: String?, n = 2000, only: Set<String>?, slurm = false
var soak = false, soakOptions = Soak.Options()
while let a = arguments.popFirst() {
    switch a {
    case "--smoke": smoke = true; n = 200
    case "--long": long = true
    case "--slurm": slurm = true
    case "--json": jsonPath = arguments.popFirst()
    case "--n": n = Int(arguments.popFirst() ?? "") ?? n
    case "--only": only = Set((arguments.popFirst() ?? "").split(separator: ",").map(String.init))
    case "--soak": soak = true
    case "--soak-tasks": soak = true; soakOptions.tasks = max(1, Int(arguments.popFirst() ?? "") ?? soakOptions.tasks)
    case "--soak-pid-max": soakOptions.pidMax = Int(arguments.popFirst() ?? "") ?? soakOptions.pidMax
    case "--soak-providers":
        let list = (arguments.popFirst() ?? "").split(separator: ",").map(String.init)
        if list.isEmpty || !list.allSatisfy(Soak.providers.contains) {
            FileDescriptor.standardError.writeLine("hopper-bench: --soak-providers takes some of \(Soak.providers.joined(separator: ","))")
            exit(2)
        }
        soakOptions.providers = list
    case "--help", "-h":
        print("usage: hopper-bench [--smoke] [--long] [--n N] [--json FILE] [--only GROUP,...] [--slurm] [--soak [--soak-tasks N] [--soak-pid-max N] [--soak-providers exec,sh,agent]]  (groups: exec session latency overhead backlog client idle; only when named: sustained syscalls commit; slurm with --slurm)")
        exit(0)
    default:
        FileDescriptor.standardError.writeLine("hopper-bench: unknown option \(a)")
        exit(2)
    }
}
// The soak runs alone unless --only names other groups too.
if soak && only == nil { only = [] }
Reaper.shared.start()
Orphans.adoptOrphans()
if slurm && only == nil { only = ["slurm"] }
let tmpfs = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
let disk = "/tmp"
let longN = 20_000
let latencyCount = smoke ? 50 : 300
let overheadCount = smoke ? 50 : 300
let (small, large) = smoke ? (500, 2_000) : (10_000, 100_000)
let idleSeconds: Double = smoke ? 1 : 10
var report = Report()
let began = Harness.now()

/// Whether the group `name` runs (all do unless --only lists some).
@MainActor func runs(_ name: String) -> Bool { only?.contains(name) ?? true }
/// Whether a group outside the default run was asked for by name.
@MainActor func named(_ name: String) -> Bool { only?.contains(name) ?? false }

/// 100000 → "100,000".
func thousands(_ v: Int) -> String {
    let s = String(v)
    return s.enumerated().map { i, c in (i > 0 && (s.count - i) % 3 == 0 ? "," : "") + String(c) }.joined()
}

if only?.isEmpty == true {
    FileDescriptor.standardError.writeLine("hopper-bench: the soak, \(thousands(soakOptions.tasks)) tasks, 2 workers")
} else {
    FileDescriptor.standardError.writeLine("hopper-bench: \(n) tasks per throughput scenario, 2 workers\(smoke ? " (smoke)" : "")\(long ? " (long)" : "")")
}

// Throughput, exec mode.
var execTmpfsNone: Double?
var execTmpfsNoneCPU: Double?
var spawnCeiling: Double?
if runs("exec") {
    let ceiling = Scenarios.directSpawn(n)
    spawnCeiling = ceiling
    for (dir, label) in [(tmpfs, "tmpfs"), (disk, "disk")] where !(smoke && label == "disk") {
        for durability in smoke ? ["none"] : ["none", "fsync"] {
            let run = Scenarios.throughput(n, provider: "exec", durability: durability, root: dir)
            report.add("exec throughput, \(label), \(durability)", run.rate, "tasks/s", baseline: ceiling)
            if label == "tmpfs" && durability == "none" {
                execTmpfsNone = run.rate
                execTmpfsNoneCPU = run.cpuMicroseconds
                report.add("daemon CPU per exec task, tmpfs, none", run.cpuMicroseconds, "µs")
                report.add("daemon context switches per exec task", run.switches, "")
            }
        }
    }
}
// 20,000 sustained on disk: with --long, or alone with --only sustained.
if (long && runs("exec")) || named("sustained") {
    let ceiling = spawnCeiling ?? Scenarios.directSpawn(n)
    for durability in ["none", "fsync"] {
        report.add("exec throughput, disk, \(durability), \(thousands(longN)) sustained",
                   Scenarios.throughput(longN, provider: "exec", durability: durability, root: disk).rate, "tasks/s", baseline: ceiling)
    }
}

// System calls per exec task (only with --only syscalls): the daemon traced, so no throughput here.
if named("syscalls") {
    let rounded = { (v: Double) in (v * 100).rounded() / 100 }
    for (dir, label, durability) in [(disk, "disk", "fsync"), (tmpfs, "tmpfs", "none")] {
        for children in [false, true] {
            guard let count = Syscalls.perTask(n, durability: durability, root: dir, children: children) else { break }
            let what = children ? "daemon and its spawns" : "daemon threads"
            report.add("system calls per exec task, \(what), \(label), \(durability)", count.total, "")
            Harness.log("system calls per task, \(what), \(label), \(durability): "
                        + count.byName.map { "\($0.0) \(rounded($0.1))" }.joined(separator: ", "))
        }
    }
}

// Throughput, session mode.
if runs("session") {
    let raw = Scenarios.rawShell(n)
    let run = Scenarios.throughput(n, provider: "sh", durability: "none", root: tmpfs)
    report.add("session throughput, tmpfs, none", run.rate, "tasks/s", baseline: raw)
    report.add("daemon CPU per session task, tmpfs, none", run.cpuMicroseconds, "µs")
    report.add("daemon context switches per session task", run.switches, "")
}

// Drop → start latency.
if runs("latency") {
    let direct = Percentiles(DropLatency.direct(count: latencyCount, interval: 0.01))
    for (dir, label, durability) in [(tmpfs, "tmpfs", "none"), (disk, "disk", "fsync")] where !(smoke && label == "disk") {
        let hopper = Percentiles(DropLatency.hopper(count: latencyCount, interval: 0.01, durability: durability, root: dir))
        for p in [50.0, 90, 99] {
            report.add("drop → start p\(Int(p)), \(label), \(durability)", hopper.at(p), "ms", baseline: direct.at(p))
        }
    }
}

// Ways to commit a turn's new files (only with --only commit): the disk alone, no daemon.
if named("commit") {
    for k in [2, 16] {
        // Interleaved in rounds, so that a change in the disk's load falls on all three alike.
        var samples: [CommitStrategies.Way: [Double]] = [:]
        for _ in 0..<4 {
            for way in CommitStrategies.Way.allCases { samples[way, default: []] += CommitStrategies.measure(way, files: k, rounds: 25, root: disk) }
        }
        for way in CommitStrategies.Way.allCases {
            let p = Percentiles(samples[way] ?? [])
            for q in [50.0, 99] { report.add("commit of \(k) files, \(way.label), disk, p\(Int(q))", p.at(q), "ms") }
        }
    }
}

// Session command overhead.
if runs("overhead") {
    let session = SessionOverhead.hopper(count: overheadCount, root: tmpfs)
    let pipe = Percentiles(SessionOverhead.rawShell(count: overheadCount))
    let inSession = Percentiles(session.inSession), dropToRecord = Percentiles(session.dropToRecord)
    for p in [50.0, 99] {
        report.add("session command p\(Int(p)), drop → record", dropToRecord.at(p), "ms", baseline: pipe.at(p))
    }
    for p in [50.0, 99] {
        report.add("session command p\(Int(p)), record started_at → finished_at", inSession.at(p), "ms")
    }
    // An agent session (the claude preset, a CLI answering at once) against the shell session above.
    let agent = Percentiles(SessionOverhead.hopper(count: overheadCount, root: tmpfs, agent: true).dropToRecord)
    for p in [50.0, 99] {
        report.add("agent session task p\(Int(p)), drop → record, vs the shell session", agent.at(p), "ms", baseline: dropToRecord.at(p))
    }
}

// Memory, processes, start-up recovery and throughput with a backlog.
let mib = { (kib: Int) in Double(kib) / 1024 }
if runs("backlog") {
    let backlog = Backlog.measure(small: small, large: large, n: n, root: tmpfs)
    report.add("accept \(thousands(small)) dropped tasks", Double(small) / backlog.acceptSmall, "tasks/s")
    report.add("accept \(thousands(large - small)) more (\(thousands(large)) queued)", Double(large - small) / backlog.acceptRest, "tasks/s")
    report.add("daemon RSS, 2 running, none queued", mib(backlog.rssBefore), "MiB")
    report.add("daemon RSS, \(thousands(small)) queued", mib(backlog.rssSmall), "MiB")
    report.add("daemon RSS, \(thousands(large)) queued", mib(backlog.rssLarge), "MiB")
    report.add("RSS per queued task (\(thousands(large)))", Double((backlog.rssLarge - backlog.rssBefore) * 1024) / Double(large), "bytes")
    report.add("extra processes, \(thousands(small)) queued", Double(backlog.processesSmall - backlog.processesBefore), "")
    report.add("extra processes, \(thousands(large)) queued", Double(backlog.processesLarge - backlog.processesBefore), "")
    report.add("stop (SIGTERM → exit), \(thousands(large)) queued", backlog.stop, "s")
    report.add("restart → first task started, \(thousands(large)) queued", backlog.firstStart, "s")
    report.add("daemon RSS after restart, \(thousands(large)) queued", mib(backlog.rssRecovered), "MiB")
    report.add("exec throughput, tmpfs, none, \(thousands(large)) queued", backlog.throughput, "tasks/s", baseline: execTmpfsNone)
    report.add("daemon CPU per exec task, \(thousands(large)) queued", backlog.cpuPerTask, "µs", baseline: execTmpfsNoneCPU)
}

// Client.
var tspFound = false
if runs("client") {
    let client = Scenarios.client(runs: smoke ? 5 : 30, root: tmpfs)
    report.add("hopper submit (median wall)", client.submit, "ms", baseline: client.cp)
    // The one-call-per-task loop, beside task-spooler driven the same way when it is installed.
    let loopN = smoke ? 100 : 1_000
    let tsp = SubmitLoop.taskSpooler(loopN, root: tmpfs)
    tspFound = tsp != nil
    let loop = SubmitLoop.hopper(loopN, root: tmpfs)
    let each = SubmitLoop.each(loopN, root: tmpfs)
    report.add("\(thousands(loopN)) true, one hopper submit a task, per call", loop.perCall, "ms", baseline: tsp?.perCall)
    report.add("\(thousands(loopN)) true, one hopper submit a task", loop.rate, "tasks/s", baseline: tsp?.rate)
    report.add("\(thousands(loopN)) true, one hopper submit --each call", each.rate, "tasks/s", baseline: tsp?.rate)
    report.add("\(thousands(loopN)) true, the hopper submit --each call itself", each.perCall, "ms")
}

// Idle.
if runs("idle") {
    let idle = Scenarios.idle(seconds: idleSeconds, root: tmpfs)
    report.add("idle daemon RSS", mib(idle.rssKiB), "MiB")
    report.add("idle daemon CPU over \(Int(idleSeconds)) s", idle.cpu * 1000, "ms")
    report.add("idle daemon wakeups over \(Int(idleSeconds)) s", Double(idle.wakeups), "")
    if idle.threadsChanged > 0 { Harness.log("\(idle.threadsChanged) daemon threads started or ended while idle; wakeups is a lower bound") }
}

// Soak: every record checked while the pid range wraps.
var soakWrong: Int?
if soak {
    let f = Soak.run(soakOptions, root: tmpfs)
    soakWrong = f.totalWrong
    let where_ = f.namespaced ? "own pid namespace, pid_max \(f.pidMax)" : "host pid namespace, pid_max \(f.pidMax)"
    report.add("soak: tasks (\(soakOptions.providers.joined(separator: ", ")); \(where_))", Double(f.tasks), "")
    report.add("soak: throughput", Double(f.tasks) / f.seconds, "tasks/s")
    report.add("soak: wrong records (must be 0)", Double(f.totalWrong), "")
    for (k, odds) in Soak.orphanOdds.enumerated() {
        report.add("soak: wrong records, orphans 1 in \(odds) (\(thousands(f.checked[k])) tasks)", Double(f.wrong[k]), "")
    }
    if let stalled = f.stalledAfter {
        report.add("soak: STOPPED: no record for 120 s, after this many records", Double(stalled), "")
    }
    if f.missing > 0 { report.add("soak: tasks without a record (counted wrong)", Double(f.missing), "") }
    report.add("soak: tasks that left an orphan", Double(f.orphans), "")
    report.add("soak: pid range wraps (\(where_))", Double(f.wraps), "")
    report.add("soak: daemon descriptors, idle at start", Double(f.idle.descriptors), "")
    report.add("soak: daemon threads, idle at start", Double(f.idle.threads), "")
    report.add("soak: daemon RSS, idle at start", mib(f.idle.rssKiB), "MiB")
    report.add("soak: daemon descriptors, end", Double(f.end.descriptors), "", baseline: Double(f.warm.descriptors))
    report.add("soak: daemon threads, end", Double(f.end.threads), "", baseline: Double(f.warm.threads))
    report.add("soak: daemon RSS, end", mib(f.end.rssKiB), "MiB", baseline: mib(f.warm.rssKiB))
    report.add("soak: open sessions, end", Double(f.end.sessions), "", baseline: Double(f.warm.sessions))
    report.add("soak: daemon descendant processes, end", Double(f.end.children), "", baseline: Double(f.warm.children))
}
// Through Slurm, on a real two-node cluster.
if slurm && runs("slurm") {
    SlurmBench.run(n: smoke ? 100 : 500, kills: smoke ? 5 : 20, into: &report)
}

print(report.table, terminator: "")
print("baselines: exec = /bin/true spawned directly with Hopper's spawner (clone, as posix_spawn), 2 in flight; session = subshell round trips written straight into one sh; "
    + "drop → start = hopper-bench-probe spawned directly; session command = Hopper's framed subshell written straight into one sh; "
    + "backlog throughput = the exec tmpfs none row (no backlog); submit = cp of the same request file"
    + (tspFound ? "; one call a task and --each = task-spooler (tsp, 2 slots) driven by the same loop, one tsp call a task" : "")
    + (soak ? "; soak end rows = the same daemon after the warm-up (first 5 % of the tasks, at most 2,000, and 2 s at least)" : "")
    + (slurm ? "; slurm = the same jobs submitted with one sbatch call each (sequential), until each has written its file" : ""))
FileDescriptor.standardError.writeLine("hopper-bench: done in \(Int(Harness.now() - began)) s")
if let jsonPath { Harness.write(jsonPath, report.json) }
if let soakWrong, soakWrong > 0 {
    FileDescriptor.standardError.writeLine("hopper-bench: the soak found \(soakWrong) wrong records (must be 0)")
    exit(1)
}
