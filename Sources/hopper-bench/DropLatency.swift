import Glibc
import HopperCore

/// Drop → start latency: from the rename of a request into incoming/ to the
/// first instruction of the task's program.
///
/// The task is `hopper-bench-probe`, run by an exec provider whose command
/// is `["{command}"]`, so the probe is the process Hopper spawns (no shell
/// in between). The probe prints its CLOCK_MONOTONIC reading at the start of
/// `main`; the bench reads CLOCK_MONOTONIC just before it calls rename(2) and
/// takes the difference, read back from done/<id>.out. Requests are staged
/// first and dropped one every `interval` seconds, paced against absolute
/// deadlines; results are collected after the last drop, through inotify.
///
/// Baseline: the probe spawned directly with Hopper's spawner (stdout a pipe),
/// paced the same way, from just before the spawn to the probe's reading.
enum DropLatency {
    /// Latencies in milliseconds of `count` drops on a fresh daemon.
    static func hopper(count: Int, interval: Double, durability: String, root: String) -> [Double] {
        let config = #"{"workers": 2, "durability": "\#(durability)", "default_provider": "probe", "#
            + #""providers": {"probe": {"mode": "exec", "command": ["{command}"]}}}"#
        let daemon = BenchDaemon(under: root, config: config)
        defer { daemon.stop() }
        let names = (0..<count).map { "lat\($0)" }
        daemon.stage(names) { #"{"id": "\#($0)", "command": "\#(Harness.probe)"}"# }
        let done = DirectoryWatch(daemon.spool + "/done")
        var dropped: [Double] = []
        let start = Harness.now() + 0.05
        for (i, name) in names.enumerated() {
            Harness.sleep(until: start + Double(i) * interval)
            // Read before the rename, not after it returns: the daemon the
            // rename wakes often preempts the bench, by as much as the whole
            // latency on a busy machine, and the probe would seem to start
            // before its request was dropped.
            dropped.append(Harness.now())
            daemon.drop(name)
        }
        if !done.wait(forCount: count, timeout: 300) { daemon.fail("latency tasks did not finish") }
        return names.indices.map { i in
            guard let text = Harness.read("\(daemon.spool)/done/\(names[i]).out"),
                  let ns = Int64(text.split(separator: "\n").first ?? "") else {
                daemon.fail("\(names[i]) has no probe reading: \(daemon.record(names[i])?["message"]?.stringValue ?? "no record")")
            }
            return (Double(ns) / 1e9 - dropped[i]) * 1000
        }
    }

    /// Latencies in milliseconds of `count` direct spawns of the probe.
    static func direct(count: Int, interval: Double) -> [Double] {
        var samples: [Double] = []
        let start = Harness.now() + 0.05
        for i in 0..<count {
            Harness.sleep(until: start + Double(i) * interval)
            var request = SpawnRequest(executable: Harness.probe, arguments: [Harness.probe], environment: Harness.environment())
            request.stdout = .pipe
            let before = Harness.now()
            guard let process = try? Spawner.spawn(request) else { Harness.fail("cannot spawn \(Harness.probe)") }
            let output = (try? process.stdout!.readAll(limit: 64)) ?? []
            process.stdout!.close()
            _ = process.exit.wait()
            guard let ns = Int64(String(decoding: output, as: UTF8.self).split(separator: "\n").first ?? "") else {
                Harness.fail("the probe printed no reading")
            }
            samples.append((Double(ns) / 1e9 - before) * 1000)
        }
        return samples
    }
}
