import Glibc

/// Who may run what (SPEC section 13): as whom tasks run, and the spool
/// layouts the daemon refuses to serve.
extension Daemon {
    /// The account of `uid`, looked up once per uid while the daemon runs
    /// (nil: no entry in the password database).
    func account(_ uid: UInt32) -> UserAccount? {
        if let known = accounts[uid] { return known }
        let found = UserDatabase.account(uid: uid)
        accounts[uid] = found
        return found
    }

    /// Whom `task` runs as: its owner under `run_as: "owner"`, else nil (the daemon's user).
    func runAsUser(_ task: SpooledTask) -> UserAccount? {
        guard runsAsOwner, let uid = task.owner?.uid else { return nil }
        return account(uid)
    }

    /// `HOME`, `USER` and `LOGNAME` of the user a process runs as.
    static func identity(_ user: UserAccount?) -> [(String, String)] {
        guard let user else { return [] }
        return [("HOME", user.home), ("USER", user.name), ("LOGNAME", user.name)]
    }

    /// Why the daemon must not start with this configuration on this spool,
    /// or nil: `run_as: "owner"` without root, and (with `strict_modes`)
    /// a drop directory that lets one user act as another.
    static func securityProblem(_ config: Configuration, spool: String, daemonUID: UInt32) -> String? {
        let runAs = config.security.effectiveRunAs(daemonUID: daemonUID)
        if runAs == .owner && daemonUID != 0 {
            return "security.run_as is \"owner\", but a daemon that is not root cannot run tasks as other users; set it to \"daemon\" or run the daemon as root"
        }
        guard config.security.strictModes else { return nil }
        for name in ["incoming", "cancel", "paused"] {
            let path = spool + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            if let problem = modeProblem(path, mode: UInt32(st.st_mode), ownerUID: UInt32(st.st_uid), runAs: runAs, daemonUID: daemonUID) {
                return problem
            }
        }
        return nil
    }

    /// A drop directory's mode is unsafe when anyone may write into it
    /// without the sticky bit (one user could replace another's file), or
    /// when a root daemon runs every task as root and someone but root may
    /// write into it (anyone who can drop a file would run commands as root).
    static func modeProblem(_ path: String, mode: UInt32, ownerUID: UInt32, runAs: SecurityPolicy.RunAs, daemonUID: UInt32) -> String? {
        let worldWritable = mode & UInt32(S_IWOTH) != 0
        let sticky = mode & UInt32(S_ISVTX) != 0
        let octal = String(mode & 0o7777, radix: 8)
        if worldWritable && !sticky {
            return "\(path) is writable by everyone without the sticky bit (mode \(octal)): one user could replace another's files; chmod +t \(path), or chmod o-w \(path) (security.strict_modes)"
        }
        let othersMayWrite = worldWritable || mode & UInt32(S_IWGRP) != 0 || ownerUID != 0
        if daemonUID == 0 && runAs == .daemon && othersMayWrite {
            return "\(path) may be written by users other than root (mode \(octal), owner uid \(ownerUID)) while a root daemon runs every task as root (security.run_as \"daemon\"): anyone who can drop a file there runs commands as root; set security.run_as to \"owner\", or chown root \(path) && chmod go-w \(path) (security.strict_modes)"
        }
        return nil
    }
}
