import Glibc

/// The check `hopper run` makes before taking tasks for a Slurm provider:
/// one step on every node of the partition writes a file named after its
/// node into `spool/.hopper/slurm/`, and the daemon looks for each. A node
/// whose file is missing cannot write the spool (it is not shared with that
/// node, or not writable there), and the daemon refuses to start, naming it.
///
/// When the nodes are too busy to take the step within a second
/// (`srun --immediate`), the check is skipped with a warning: a busy cluster
/// must not keep the daemon from following its jobs.
enum SlurmSpoolProbe {
    static func check(commands: SlurmCommands, partition: String?, spool: String, environment: [String], log: Logger) throws(HopperError) {
        let partitionArgs = partition.map { ["--partition=\($0)"] } ?? []
        let listing = run([commands.sinfo, "-h", "-N", "-r", "-o", "%N"] + partitionArgs, environment: environment)
        guard listing.status == .exited(0) else {
            throw HopperError(.config, "cannot ask Slurm for its nodes (sinfo: \(listing.output.slurmTrimmed)); is the controller up and SLURM_CONF right?")
        }
        let nodes = Set(listing.output.split(separator: "\n").map { $0.slurmTrimmed }.filter { !$0.isEmpty }).sorted()
        guard !nodes.isEmpty else {
            throw HopperError(.config, "Slurm has no responding node\(partition.map { " in partition \($0)" } ?? "")")
        }
        let dir = spool + "/" + SlurmJobScript.directory
        let token = "probe-\(getpid())-\(IDSuffixGenerator.random(6))"
        let write = "printf ok > \(SlurmJobScript.quote(dir))/.\(token)-\"$SLURMD_NODENAME\""
        let step = run([commands.srun] + partitionArgs + ["--nodelist=\(nodes.joined(separator: ","))", "-N", "\(nodes.count)",
                        "--ntasks-per-node=1", "--immediate=1", "--time=1", "--job-name=hopper-spool-check", "/bin/sh", "-c", write],
                       environment: environment)
        var missing: [String] = []
        for node in nodes {
            let path = "\(dir)/.\(token)-\(node)"
            if access(path, F_OK) == 0 { unlink(path) } else { missing.append(node) }
        }
        if missing.isEmpty { return }
        if step.output.contains("Unable to allocate resources") || step.output.contains("Immediate") || step.output.contains("immediate") {
            log.warning("slurm", "the nodes are busy; the spool's reach was not checked", [("output", step.output.slurmTrimmed)])
            return
        }
        throw HopperError(.config, "Slurm node\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")) cannot write to the spool \(spool): it must be on a file system the nodes share, at the same path (\(step.output.slurmTrimmed.isEmpty ? "no file came back" : step.output.slurmTrimmed))")
    }

    /// Runs a command to its end, its standard output and error kept (up to 64 KiB).
    private static func run(_ argv: [String], environment: [String]) -> (status: ExitStatus?, output: String) {
        var template = Array("/tmp/hopper-slurm-probe-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { return (nil, "mkstemp failed") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        // Gone from /tmp at once: a daemon killed while the step runs leaves nothing behind.
        unlink(String(cString: template))
        let output = FileDescriptor(rawValue: fd)
        defer { output.close() }
        var request = SpawnRequest(executable: argv[0], arguments: argv, environment: environment)
        request.stdout = .fd(output)
        request.stderr = .fd(output)
        guard let process = try? Spawner.spawn(request) else { return (nil, "cannot start \(argv[0])") }
        let status = process.exit.wait()
        _ = lseek(fd, 0, SEEK_SET)
        let text = (try? output.readAll(limit: 65536)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return (status, text)
    }
}
