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

/// Starts children with posix_spawn(3).
///
/// Every child gets: its own process group (unless the request says otherwise),
/// the default disposition for every catchable signal, an empty signal mask,
/// and only descriptors 0, 1 and 2.
public enum Spawner {
    /// posix_spawn(3).
    ///
    /// Throws `SystemError("posix_spawn", executable, errno)` on failure: ENOENT
    /// for a missing executable and also for a missing working directory,
    /// EINVAL for an argument or environment entry containing a NUL byte.
    /// Every pipe end it opened is closed before it throws; on success the
    /// child's ends are closed and the parent's returned.
    ///
    /// The child is registered with `Reaper.shared` as it starts; its status
    /// comes only through the returned process's `exit`.
    public static func spawn(_ request: SpawnRequest) throws(SystemError) -> SpawnedProcess {
        let subject = request.executable
        let path = try resolve(request.executable, environment: request.environment)
        guard let argv = CStringArray(request.arguments), let envp = CStringArray(request.environment) else {
            throw SystemError("posix_spawn", subject, errno: Errno(rawValue: EINVAL))
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var stdio = SpawnStdio(subject: subject)
        // The child's ends belong to the child alone: closed here on success and on failure.
        defer { stdio.closeChildEnds() }

        let exit: ChildExit
        do throws(SystemError) {
            let stdin = try stdio.source(request.stdin)
            let stdout = try stdio.sink(request.stdout, target: 1)
            let stderr = try stdio.sink(request.stderr, target: 2)
            try add(&actions, stdin, target: 0, subject: subject)
            try add(&actions, stdout, target: 1, subject: subject)
            try add(&actions, stderr, target: 2, subject: subject)
            // Every descriptor the parent opens is O_CLOEXEC; this catches any that is not.
            try check("posix_spawn_file_actions_addclosefrom_np", subject,
                      hopper_spawn_file_actions_addclosefrom(&actions, 3))
            if let directory = request.workingDirectory {
                try check("posix_spawn_file_actions_addchdir_np", subject,
                          hopper_spawn_file_actions_addchdir(&actions, directory))
            }
            let ends = [stdin, stdout, stderr]
            exit = try Reaper.shared.spawn(killsGroupAtExit: request.killsGroupAtExit) { () throws(SystemError) in
                let pid: pid_t
                if let user = request.user, user.uid != ProcessIdentity.effectiveUID {
                    pid = try launch(path, as: user, stdio: ends, workingDirectory: request.workingDirectory,
                                     newProcessGroup: request.newProcessGroup, argv: argv, envp: envp, subject: subject)
                } else {
                    pid = try launch(path, actions: &actions, newProcessGroup: request.newProcessGroup,
                                     argv: argv, envp: envp, subject: subject)
                }
                return (pid, request.newProcessGroup ? pid : ProcessIdentity.processGroup)
            }
        } catch {
            stdio.closeParentEnds()
            throw error
        }
        return SpawnedProcess(exit: exit, stdin: stdio.parentEnds[0], stdout: stdio.parentEnds[1], stderr: stdio.parentEnds[2])
    }

    /// The attributes every child shares; see `Spawner`.
    private static func launch(
        _ path: String, actions: inout posix_spawn_file_actions_t, newProcessGroup: Bool,
        argv: borrowing CStringArray, envp: borrowing CStringArray, subject: String
    ) throws(SystemError) -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | Int32(hopper_spawn_flag_usevfork())
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = catchableSignals
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        var pid: pid_t = 0
        // posix_spawn returns the error number instead of setting errno.
        try check("posix_spawn", subject, posix_spawn(&pid, path, &actions, &attributes, argv.pointers, envp.pointers))
        return pid
    }

    /// fork and exec as another user (`hopper_spawn_as_user`): the same
    /// attributes as `launch(_:actions:...)`, and the user's credentials.
    /// A step that fails in the child is thrown here, naming the call.
    private static func launch(
        _ path: String, as user: UserAccount, stdio: [SpawnStdio.ChildEnd], workingDirectory: String?, newProcessGroup: Bool,
        argv: borrowing CStringArray, envp: borrowing CStringArray, subject: String
    ) throws(SystemError) -> pid_t {
        let fds = stdio.map { end -> Int32 in if case .descriptor(let fd) = end { fd } else { -1 } }
        var step: Int32 = 0, failure: Int32 = 0
        let argvPointers = argv.pointers, envpPointers = envp.pointers
        let pid = user.groups.withUnsafeBufferPointer { groups -> pid_t in
            func call(_ cwd: UnsafePointer<CChar>?) -> pid_t {
                hopper_spawn_as_user(path, argvPointers, envpPointers, fds[0], fds[1], fds[2], cwd, newProcessGroup ? 1 : 0,
                                     user.uid, user.gid, groups.baseAddress, Int32(groups.count), &step, &failure)
            }
            return workingDirectory.map { $0.withCString { call($0) } } ?? call(nil)
        }
        if pid < 0 { throw SystemError("fork", subject, errno: .current) }
        guard step == 0 else {
            let calls: [Int32: String] = [1: "setpgid", 2: "dup2", 3: "setgroups", 4: "setgid", 5: "setuid", 6: "chdir", 7: "execve"]
            throw SystemError(calls[step] ?? "exec", step == 6 ? workingDirectory : subject, errno: Errno(rawValue: failure))
        }
        return pid
    }

    /// Every signal a process can catch or ignore: the set POSIX_SPAWN_SETSIGDEF
    /// resets, so a signal the daemon ignores (SIGPIPE, SIGTERM) is default in the child.
    ///
    /// Built bit by bit because glibc's sigfillset(3) and sigaddset(3) leave out
    /// its internal signals 32 and 33; posix_spawn would then set those to
    /// SIG_IGN in the child (they have handlers in a threaded parent), and the
    /// ignored disposition would survive exec.
    private static let catchableSignals: sigset_t = {
        var set = sigset_t()
        _ = withUnsafeMutableBytes(of: &set) { $0.initializeMemory(as: UInt8.self, repeating: 0xFF) }
        sigdelset(&set, SIGKILL)
        sigdelset(&set, SIGSTOP)
        return set
    }()

    /// Adds the file action that puts `child` on descriptor `target` in the child.
    private static func add(
        _ actions: inout posix_spawn_file_actions_t, _ child: SpawnStdio.ChildEnd, target: Int32, subject: String
    ) throws(SystemError) {
        switch child {
        case .devNull(let flags):
            try check("posix_spawn_file_actions_addopen", subject,
                      posix_spawn_file_actions_addopen(&actions, target, "/dev/null", flags, 0))
        case .descriptor(let fd):
            // glibc ≥ 2.29 clears FD_CLOEXEC when fd == target, as POSIX requires.
            try check("posix_spawn_file_actions_adddup2", subject,
                      posix_spawn_file_actions_adddup2(&actions, fd, target))
        }
    }

    /// Throws for a call that returns an error number (0 meaning success) rather than setting errno.
    private static func check(_ call: String, _ subject: String, _ result: Int32) throws(SystemError) {
        if result != 0 { throw SystemError(call, subject, errno: Errno(rawValue: result)) }
    }

    /// The path to hand to posix_spawn: `executable` itself when it contains a "/",
    /// else the first regular, executable file named so in the environment's PATH.
    static func resolve(_ executable: String, environment: [String]) throws(SystemError) -> String {
        if executable.contains("/") { return executable }
        guard !executable.isEmpty else { throw SystemError("posix_spawn", executable, errno: .noEntry) }
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
        throw SystemError("posix_spawn", executable, errno: denied ? Errno(rawValue: EACCES) : .noEntry)
    }
}
