import Glibc
import HopperCore

// hopper-bench: measures Hopper beside a baseline in the same run and prints
// one table (and, with --json FILE, the same figures as JSON).
//   --smoke        a few hundred tasks, for CI (figures printed, never asserted)
//   --n N          tasks per throughput scenario (default 2000)
//   --json FILE    also write the figures as JSON

var arguments = CommandLine.arguments.dropFirst()
var smoke = false, jsonPath: String?, n = 2000
while let a = arguments.popFirst() {
    switch a {
    case "--smoke": smoke = true; n = 200
    case "--json": jsonPath = arguments.popFirst()
    case "--n": n = Int(arguments.popFirst() ?? "") ?? n
    case "--help", "-h":
        print("usage: hopper-bench [--smoke] [--n N] [--json FILE]")
        exit(0)
    default:
        FileDescriptor.standardError.writeLine("hopper-bench: unknown option \(a)")
        exit(2)
    }
}
Reaper.shared.start()
Orphans.adoptOrphans()
let tmpfs = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
let disk = "/tmp"
var rows: [Row] = []
func f(_ v: Double, _ unit: String) -> String { v >= 100 ? "\(Int(v.rounded())) \(unit)" : "\((v * 100).rounded() / 100) \(unit)" }
@MainActor func add(_ scenario: String, _ value: Double, _ unit: String, baseline: Double?, _ baseUnit: String = "") {
    let ratio = baseline.map { "\((value / $0 * 100).rounded() / 100)×" } ?? "—"
    rows.append(Row(scenario: scenario, hopper: f(value, unit), baseline: baseline.map { f($0, baseUnit.isEmpty ? unit : baseUnit) } ?? "—",
                    ratio: ratio, value: value, baselineValue: baseline))
    FileDescriptor.standardError.writeLine("  \(scenario): \(f(value, unit))")
}

FileDescriptor.standardError.writeLine("hopper-bench: \(n) tasks per throughput scenario, 2 workers")
let ceiling = Scenarios.directSpawn(n)
for (dir, label) in [(tmpfs, "tmpfs"), (disk, "disk")] where !(smoke && label == "disk") {
    for durability in smoke ? ["none"] : ["none", "fsync"] {
        add("exec throughput, \(label), \(durability)", Scenarios.throughput(n, provider: "exec", durability: durability, root: dir), "tasks/s", baseline: ceiling)
    }
}
let raw = Scenarios.rawShell(n)
add("session throughput, tmpfs, none", Scenarios.throughput(n, provider: "sh", durability: "none", root: tmpfs), "tasks/s", baseline: raw)
let client = Scenarios.client(runs: smoke ? 5 : 30, root: tmpfs)
add("hopper submit (median wall)", client.submit, "ms", baseline: client.cp)
let idle = Scenarios.idle(seconds: smoke ? 1 : 10, root: tmpfs)
add("idle daemon RSS", Double(idle.rssKiB) / 1024, "MiB", baseline: nil)
add("idle daemon CPU over \(smoke ? 1 : 10) s", idle.cpu, "s", baseline: nil)

var table = "| scenario | Hopper | baseline (same run) | ratio |\n|---|---|---|---|\n"
for r in rows { table += "| \(r.scenario) | \(r.hopper) | \(r.baseline) | \(r.ratio) |\n" }
print(table, terminator: "")
print("baselines: exec = /bin/true spawned directly with posix_spawn, 2 in flight; session = subshell round trips written straight into one sh; submit = cp of the same request file")
if let jsonPath {
    var w = JSONWriter()
    w.beginArray()
    for r in rows {
        w.beginObject()
        w.field("scenario", r.scenario)
        w.field("hopper", r.value)
        w.field("baseline", r.baselineValue)
        w.endObject()
    }
    w.endArray()
    Harness.write(jsonPath, w.string + "\n")
}
