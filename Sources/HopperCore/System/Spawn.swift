import CHopperShim
import Glibc

/// Where a child's standard input comes from.
public enum StdioSource: Sendable {
    /// /dev/null, opened by the child.
    case null
    /// The parent's descriptor, duplicated onto the child's fd 0; the parent keeps (and closes) it.
    case fd(FileDescriptor)
    /// A new pipe; the parent gets the write end in `SpawnedProcess.stdin`.
    case pipe
}

/// Where a child's standard output or standard error goes.
public enum StdioSink: Sendable {
    /// /dev/null, opened by the child.
    case null
    /// The parent's descriptor, duplicated onto the child's fd 1 or 2; the parent keeps (and closes) it.
    case fd(FileDescriptor)
    /// A new pipe; the parent gets the read end in `SpawnedProcess.stdout` / `.stderr`.
    case pipe
}

/// Everything `Spawner.spawn` needs to start one child.
public struct SpawnRequest: Sendable {
    /// Contains "/": used as is. Otherwise searched in the PATH found in `environment`
    /// (not the daemon's own), falling back to "/usr/local/bin:/usr/bin:/bin".
    public var executable: String
    /// The full argv, argv[0] included.
    public var arguments: [String]
    /// "NAME=value" entries: exactly the child's environment, nothing inherited.
    public var environment: [String]
    /// The child's working directory; nil keeps the daemon's.
    public var workingDirectory: String?
    public var stdin: StdioSource = .null
    public var stdout: StdioSink = .null
    public var stderr: StdioSink = .null
    /// Makes the child the leader of a new process group, so that the whole
    /// tree it starts can be signalled with `ProcessGroup.signal`.
    public var newProcessGroup: Bool = true
    /// SIGKILLs the child's process group when the child ends (before it is
    /// reaped, while its group id is still its own): whatever it left in its
    /// group dies with it. Only with `newProcessGroup`.
    public var killsGroupAtExit: Bool = false
    /// Runs the child as this user (its uid, primary gid and supplementary
    /// groups; the working directory entered with its rights), when that is
    /// not the caller's own effective uid. Needs root.
    public var user: UserAccount?

    public init(executable: String, arguments: [String], environment: [String]) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }
}

/// A started child and the parent's ends of its pipes.
public struct SpawnedProcess: Sendable {
    /// Its exit, registered with the reaper before the child could be reaped:
    /// the only way to learn its status.
    public let exit: ChildExit
    public var pid: ProcessID { exit.pid }
    /// Equals `pid` when the request asked for a new process group.
    public var processGroup: ProcessID { exit.processGroup }
    /// The parent's ends of the pipes the request asked for, all O_CLOEXEC and
    /// blocking; the caller owns and closes them.
    public let stdin: FileDescriptor?
    public let stdout: FileDescriptor?
    public let stderr: FileDescriptor?
}

/// Starts children the way posix_spawn(3) does: clone(2) with CLONE_VM and
/// CLONE_VFORK, the caller waiting until the child has exec'd
/// (`hopper_spawn`; fork for a child that runs as another user).
///
/// Every child gets: its own process group (unless the request says otherwise),
/// the default disposition for every signal (glibc's two internal real-time
/// signals included), an empty signal mask, and only descriptors 0, 1 and 2.
///
/// The child sets back to default only the signals this process catches or
/// ignores, as last asked of the kernel. Hopper's own changes (the signal
/// relay, `SignalStream.ignore`) are seen by every later spawn; other code
/// that changes a disposition calls `Spawner.signalDispositionsChanged()`.
public enum Spawner {
    /// A signal's disposition may have changed: the next spawn asks the
    /// kernel again which ones its child must set back to default.
    public static func signalDispositionsChanged() {
        hopper_signal_dispositions_changed()
    }

    /// Starts the child.
    ///
    /// Throws `SystemError("execve", executable, errno)` on failure: ENOENT
    /// for a missing executable, EINVAL for an argument or environment entry
    /// containing a NUL byte; `SystemError("chdir", directory, errno)` for a
    /// working directory it cannot enter.
    /// Every pipe end it opened is closed before it throws; on success the
    /// child's ends are closed and the parent's returned.
    ///
    /// The child is registered with `Reaper.shared` as it starts; its status
    /// comes only through the returned process's `exit`.
    public static func spawn(_ request: SpawnRequest) throws(SystemError) -> SpawnedProcess {
        let subject = request.executable
        let path = try resolve(request.executable, environment: request.environment)
        guard let argv = CStringArray(request.arguments), let envp = CStringArray(request.environment) else {
            throw SystemError("execve", subject, errno: Errno(rawValue: EINVAL))
        }

        var stdio = SpawnStdio(subject: subject)
        // The child's ends belong to the child alone: closed here on success and on failure.
        defer { stdio.closeChildEnds() }

        let exit: ChildExit
        do throws(SystemError) {
            let ends = [try stdio.source(request.stdin), try stdio.sink(request.stdout, target: 1), try stdio.sink(request.stderr, target: 2)]
            // Another user's child is forked (its credentials change before exec); the daemon's own are cloned.
            let user = request.user.flatMap { $0.uid == ProcessIdentity.effectiveUID ? nil : $0 }
            exit = try Reaper.shared.spawn(killsGroupAtExit: request.killsGroupAtExit) { () throws(SystemError) in
                let pid = try launch(path, as: user, stdio: ends, workingDirectory: request.workingDirectory,
                                     newProcessGroup: request.newProcessGroup, argv: argv, envp: envp, subject: subject)
                return (pid, request.newProcessGroup ? pid : ProcessIdentity.processGroup)
            }
        } catch {
            stdio.closeParentEnds()
            throw error
        }
        return SpawnedProcess(exit: exit, stdin: stdio.parentEnds[0], stdout: stdio.parentEnds[1], stderr: stdio.parentEnds[2])
    }

    /// Starts the child with the attributes every child shares (see
    /// `Spawner`): `hopper_spawn`, clone(2) with CLONE_VM | CLONE_VFORK as
    /// posix_spawn does, without glibc's check of each file action against
    /// RLIMIT_NOFILE (six getrlimit calls) or a stack mapped and unmapped for
    /// each child; or, for `user`, `hopper_spawn_as_user`, fork and exec with
    /// the user's credentials. A step that fails in the child is thrown
    /// here, naming the call.
    private static func launch(
        _ path: String, as user: UserAccount?, stdio fds: [Int32], workingDirectory: String?, newProcessGroup: Bool,
        argv: borrowing CStringArray, envp: borrowing CStringArray, subject: String
    ) throws(SystemError) -> pid_t {
        var step: Int32 = 0
        let argvPointers = argv.pointers, envpPointers = envp.pointers
        let group: Int32 = newProcessGroup ? 1 : 0
        let pid = (user?.groups ?? []).withUnsafeBufferPointer { groups -> pid_t in
            func call(_ cwd: UnsafePointer<CChar>?) -> pid_t {
                guard let user else { return hopper_spawn(path, argvPointers, envpPointers, fds[0], fds[1], fds[2], cwd, group, &step) }
                return hopper_spawn_as_user(path, argvPointers, envpPointers, fds[0], fds[1], fds[2], cwd, group,
                                            user.uid, user.gid, groups.baseAddress, Int32(groups.count), &step)
            }
            return workingDirectory.map { $0.withCString { call($0) } } ?? call(nil)
        }
        guard pid < 0 else { return pid }
        let calls: [Int32: String] = [0: user == nil ? "clone" : "fork", 1: "setpgid", 2: "dup2", 3: "setgroups", 4: "setgid", 5: "setuid",
                                      6: "chdir", 7: "execve"]
        throw SystemError(calls[step] ?? "execve", step == 6 ? workingDirectory : subject, errno: .current)
    }

    /// The path to execute: `executable` itself when it contains a "/",
    /// else the first regular, executable file named so in the environment's PATH.
    static func resolve(_ executable: String, environment: [String]) throws(SystemError) -> String {
        if executable.contains("/") { return executable }
        guard !executable.isEmpty else { throw SystemError("execve", executable, errno: .noEntry) }
        // Like getenv(3): the first PATH entry wins.
        let searchPath = environment.first { $0.hasPrefix("PATH=") }?.dropFirst(5) ?? "/usr/local/bin:/usr/bin:/bin"
        var denied = false
        for directory in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + executable
            var info = stat()
            guard stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return candidate }
            denied = true
        }
        throw SystemError("execve", executable, errno: denied ? Errno(rawValue: EACCES) : .noEntry)
    }
}
