/// The batch script of one Slurm attempt, and the shell line that submits a
/// batch of them. Pure text; the daemon writes and runs them.
///
/// The on-disk protocol, all in the job directory on the shared file system
/// (`spool/.hopper/slurm/` for jobs that run as the daemon's user,
/// `spool/.hopper/slurm/<uid>/`, the owner's own and mode 0700, for jobs that
/// run as a task's owner), each file written to a temporary name and renamed
/// into place:
///
/// - `<id>.<attempt>.job`: the batch script. Slurm's own `--output` and
///   `--error` are the task's `running/<id>.out` and `.err`, opened for
///   append, so the command's output grows live where local tasks' does.
/// - `<id>.<attempt>.start`, written by the job when it begins:
///   `<node> <job id>`.
/// - `<id>.<attempt>.exit`, written by the job when its command has ended:
///   `<status> <node> <job id>`, the status as the shell reports it (above 128:
///   killed by signal status − 128).
/// - `<id>.<attempt>.stdin`: the task's `stdin`, when it has one.
///
/// The daemon watches the directory for the renames, and asks `squeue` for
/// jobs that ended without an exit file (cancelled, timed out or lost by
/// Slurm). The files go when the task's record is written.
struct SlurmJobScript {
    var id: TaskID
    var attempt: Int
    var argv: [String]
    /// Environment set in the job on top of what `sbatch` exports.
    var environment: [(String, String)]
    var workingDirectory: String?
    var hasStdin: Bool
    /// The spool's absolute path, as the nodes see it.
    var spool: String
    /// Hopper's timeout in seconds; the job's limit is that rounded up to a minute.
    var timeout: Double
    /// The job directory's path relative to the spool: `directory`, or an owner's below it.
    var jobDirectory = SlurmJobScript.directory

    static let directory = ".hopper/slurm"

    /// The job directory of jobs that run as `owner` (nil: the daemon's user).
    static func directory(owner: UInt32?) -> String { owner.map { "\(directory)/\($0)" } ?? directory }

    var base: String { "\(id.rawValue).\(attempt)" }
    var path: String { "\(spool)/\(jobDirectory)/\(base).job" }
    var stdinPath: String { "\(spool)/\(jobDirectory)/\(base).stdin" }

    /// The job's time limit in whole minutes (Slurm's granularity).
    var timeLimitMinutes: Int { max(1, Int((timeout / 60).rounded(.up))) }

    var text: String {
        let dir = "\(spool)/\(jobDirectory)"
        var lines = [
            "#!/bin/sh",
            "#SBATCH --job-name=\(SlurmJobTable.jobName(id))",
            "#SBATCH --output=\(spool)/running/\(id.rawValue).out",
            "#SBATCH --error=\(spool)/running/\(id.rawValue).err",
            "#SBATCH --open-mode=append",
            "#SBATCH --ntasks=1",
            // Hopper submits a job the cluster lost again itself (an interruption,
            // counted); Slurm requeueing it too would run the task twice.
            "#SBATCH --no-requeue",
            "#SBATCH --time=\(timeLimitMinutes)",
        ]
        if let workingDirectory { lines.append("#SBATCH --chdir=\(workingDirectory)") }
        lines += [
            "# Written by Hopper for task \(id.rawValue), attempt \(attempt).",
            "unset HOPPER_RUN",
            "node=${SLURMD_NODENAME:-$(hostname)}",
            "printf '%s %s\\n' \"$node\" \"$SLURM_JOB_ID\" > \(quote(dir + "/." + base + ".start.tmp")) && mv -f \(quote(dir + "/." + base + ".start.tmp")) \(quote(dir + "/" + base + ".start"))",
        ]
        for (name, value) in environment { lines.append("export \(name)=\(quote(value))") }
        let input = hasStdin ? quote(stdinPath) : "/dev/null"
        lines.append(argv.map(quote).joined(separator: " ") + " < " + input)
        lines += [
            "status=$?",
            "printf '%s %s %s\\n' \"$status\" \"$node\" \"$SLURM_JOB_ID\" > \(quote(dir + "/." + base + ".exit.tmp")) && mv -f \(quote(dir + "/." + base + ".exit.tmp")) \(quote(dir + "/" + base + ".exit"))",
            "exit $status",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A shell word that stands for `s` exactly.
    static func quote(_ s: String) -> String { ShellQuote.quote(s) }
    private func quote(_ s: String) -> String { SlurmJobScript.quote(s) }

    /// `sh -c` text that submits the scripts given as its arguments one after
    /// another in this one process (no round trip to the daemon each), and
    /// prints per script one line, `ok <job id>` or `err <message>`, in order.
    ///
    /// `sbatch --parsable` prints the job id as its last line; what it says
    /// on standard error before that (a warning, "Slurm temporarily unable
    /// to accept job, sleeping and retrying") is dropped from an `ok` line,
    /// which would otherwise take two lines and shift every later result.
    static func submitLoop(sbatch: String, arguments: [String]) -> String {
        let args = ([sbatch, "--parsable"] + arguments).map(quote).joined(separator: " ")
        // The marker stays on this shell (so a later daemon kills it if this
        // one crashed), not on sbatch, whose environment every job inherits.
        return """
        unset HOPPER_RUN
        nl='
        '
        for f in "$@"; do
          if out=$(\(args) "$f" 2>&1); then out=${out##*$nl}; echo "ok ${out%%;*}"; else echo "err $(printf '%s' "$out" | tr '\\n' ' ')"; fi
        done
        """
    }

    /// Reads `submitLoop`'s output for `count` scripts: a job id or a refusal each.
    static func parseSubmissions(_ output: String, count: Int) -> [Result<String, SlurmJobTable.SubmitRefusal>] {
        var results: [Result<String, SlurmJobTable.SubmitRefusal>] = output.split(separator: "\n").prefix(count).map { line in
            if line.hasPrefix("ok "), let id = line.dropFirst(3).split(separator: " ").first, id.allSatisfy(\.isNumber) || id.contains("_") {
                return .success(String(id))
            }
            return .failure(SlurmJobTable.SubmitRefusal(message: line.hasPrefix("err ") ? String(line.dropFirst(4)).slurmTrimmed : String(line)))
        }
        while results.count < count { results.append(.failure(SlurmJobTable.SubmitRefusal(message: "sbatch gave no job id"))) }
        return results
    }

    /// Reads `squeue -h -t all -o '%i|%j|%T|%N'`.
    static func parseQueue(_ output: String) -> [SlurmJobTable.JobState] {
        output.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 4, !f[0].isEmpty else { return nil }
            let node = f[3].slurmTrimmed
            return SlurmJobTable.JobState(jobID: f[0].slurmTrimmed, name: f[1], state: f[2].slurmTrimmed,
                                          node: node.isEmpty || node.hasPrefix("(") ? nil : node)
        }
    }

    /// `squeue`'s arguments for `parseQueue`: the jobs named after these
    /// tasks, in every state Slurm still remembers. Only Hopper's own: on a
    /// busy cluster everyone's jobs are thousands of lines.
    static func queueArguments(for ids: [TaskID]) -> [String] {
        ["-h", "-t", "all", "--name=" + ids.map(SlurmJobTable.jobName).joined(separator: ","), "-o", "%i|%j|%T|%N"]
    }
}

extension StringProtocol {
    var slurmTrimmed: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\n" || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\n" || c == "\t" { s.removeLast() }
        return String(s)
    }
}
