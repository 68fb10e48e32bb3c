import Glibc
import Testing
@testable import HopperCore

extension FaultInjection {
    /// Crash at every step: the daemon runs a small workload under
    /// `strace -f -e inject=SYSCALL:signal=SIGKILL:when=N`, for N = 1, 2, …
    /// until a run gets through the whole workload and its shutdown without the
    /// injection killing the daemon. After each crash the daemon is started
    /// again without strace (nothing of the crashed run is assumed dead: the
    /// restart has to find and kill what it left), runs to the end and stops;
    /// then the spool is audited from outside (`SpoolAudit`) and no process
    /// carrying the test's marker may survive.
    ///
    /// SIGKILL arrives as the N-th call is entered, so that call never happens.
    /// strace counts per thread and per system call, and with `-f` task
    /// processes are traced too: a task killed by the injection is just
    /// another fault. The daemon's loop does its spool work on one thread, so
    /// stepping N walks through it in order.
    ///
    /// `swift test` steps every point of every family once (about 150 runs,
    /// well under a minute on an idle machine). `HOPPER_FAULTS=full` walks them
    /// ten times over. `HOPPER_FAULTS_ONLY=rename,fsync` narrows either to some
    /// families, `HOPPER_FAULTS_FROM=N` starts at N to replay a point.
    @Suite(.serialized) struct CrashInjectionTests {
        /// One family of system calls to kill the daemon in.
        struct Target: CustomStringConvertible, Sendable {
            var name: String
            var syscalls: [String]
            /// Count only calls on the spool's directories (see `FaultTools.strace`).
            var spoolPathsOnly = false
            var description: String { name }
        }

        static let targets = [
            Target(name: "rename", syscalls: ["rename", "renameat", "renameat2"]),
            Target(name: "fsync", syscalls: ["fsync", "fdatasync", "syncfs"]),
            Target(name: "write", syscalls: ["write"]),
            Target(name: "openat", syscalls: ["openat"], spoolPathsOnly: true),
            Target(name: "unlinkat", syscalls: ["unlinkat"]),
        ]

        @Test(.enabled(if: FaultTools.mayTrace, FaultTools.skipStrace), .timeLimit(.minutes(60)), arguments: targets)
        func crashAtEveryStepLosesNothing(_ target: Target) async throws {
            let strace = try FaultTools.requireStrace()
            guard FaultTools.isSelected(target.name) else { return }
            let rounds = FaultTools.rounds
            for round in 1...rounds {
                let started = MonotonicInstant.now()
                var summary = StepSummary()
                var n = FaultTools.firstPoint
                while true {
                    let outcome = try await CrashInjectionTests.runPoint(target, when: n, strace: strace)
                    summary.add(outcome)
                    if outcome == .clean { break }
                    try #require(n < 2000, "\(target.name): the injection still fired at call \(n)")
                    n += 1
                }
                print("crash injection \(target.name), round \(round) of \(rounds): \(summary.points) points, clean at N=\(n): "
                      + "\(summary.atStart) before taking tasks, \(summary.midWork) mid-work, \(summary.atShutdown) in the shutdown, "
                      + "\(Int(MonotonicInstant.now() - started)) s")
                // The stepping must reach the daemon's own work, not only its start-up.
                #expect(summary.midWork > 0, "\(target.name): no crash landed while tasks were being taken or run")
            }
        }

        /// The same stepping with users switching (issue: who may run what):
        /// a root daemon runs each task as the owner of its dropped file, two
        /// users' files in the workload, so every crash point also falls
        /// between the owner's identity being read, kept, and a process
        /// started as that owner. Rename and fsync, the steps that move and
        /// commit the owners' task files and records.
        @Test(.enabled(if: FaultTools.mayTrace && OwnerTests.mayRun, FaultTools.skipStrace), .timeLimit(.minutes(60)),
              arguments: [targets[0], targets[1]])
        func crashAtEveryStepWithUsersSwitching(_ target: Target) async throws {
            let strace = try FaultTools.requireStrace()
            guard FaultTools.isSelected(target.name) else { return }
            try #require(OwnerTests.canMakeUsers && OwnerTests.users.count == 2, "HOPPER_REQUIRE_ROOT=1 but the test users cannot be created")
            var summary = StepSummary()
            var n = FaultTools.firstPoint
            while true {
                let outcome = try await CrashInjectionTests.runPoint(target, when: n, strace: strace, owners: OwnerTests.users)
                summary.add(outcome)
                if outcome == .clean { break }
                try #require(n < 2000, "\(target.name): the injection still fired at call \(n)")
                n += 1
            }
            print("crash injection with users switching, \(target.name): \(summary.points) points, clean at N=\(n)")
            #expect(summary.midWork > 0, "\(target.name): no crash landed while tasks were being taken or run")
        }

        enum Outcome: Equatable { case clean, atStart, midWork, atShutdown }

        struct StepSummary {
            var points = 0, atStart = 0, midWork = 0, atShutdown = 0
            mutating func add(_ o: Outcome) {
                points += 1
                switch o {
                case .clean: break
                case .atStart: atStart += 1
                case .midWork: midWork += 1
                case .atShutdown: atShutdown += 1
                }
            }
        }

        /// One point: a crash (or not) at the `when`-th call, a clean restart, the audit.
        static func runPoint(_ target: Target, when: Int, strace: String, owners: [UserAccount] = []) async throws -> Outcome {
            let t = try TestSpool(config: owners.isEmpty ? CrashWorkload.configuration : CrashWorkload.configuration(owners: owners))
            try Spool.create(at: t.spool)
            if !owners.isEmpty {
                // The shared layout a root daemon running tasks as their owners accepts.
                chmod(t.base, 0o755)
                chmod(t.spool + "/incoming", 0o1777)
            }
            let audit = try CrashWorkload.drop(into: t, owners: owners)
            let paths = target.spoolPathsOnly ? CrashWorkload.directories(of: t.spool) : []
            let wrapper = FaultTools.strace(strace, target.syscalls, action: "signal=SIGKILL", when: when, paths: paths)
            let traced = try DaemonProcess(t, wrapper: wrapper)
            let point = "\(target.name) N=\(when)"
            try await eventually("\(point): the traced daemon to die or finish", timeout: 120) {
                traced.exitStatus != nil || audit.isSettled
            }
            var outcome: Outcome
            if traced.exitStatus == nil {
                // Through the workload: now the shutdown, under the same injection
                // (no child: the injection has just killed the daemon).
                if let daemon = childProcesses(of: traced.pid).first { ProcessGroup.signalProcess(daemon, .term) }
                let status = try await eventuallyValue("\(point): the traced daemon to stop", timeout: 60) { traced.exitStatus }
                outcome = status == .exited(0) ? .clean : .atShutdown
            } else {
                #expect(traced.exitStatus == .signaled(.kill), "\(point): strace ended \(String(describing: traced.exitStatus)): \(traced.log)")
                outcome = traced.log.contains("taking tasks") ? .midWork : .atStart
            }
            if outcome != .clean {
                let daemon = try await DaemonProcess(t).ready()
                try await eventually("\(point): the restarted daemon to finish the workload", timeout: 120) { audit.isSettled }
                #expect(try await daemon.stop() == .exited(0), "\(point): \(daemon.log)")
            }
            // strace lingers while it still traces something the crashed run left.
            _ = try await eventuallyValue("\(point): strace to exit", timeout: 60) { traced.exitStatus }
            let problems = audit.problems()
            #expect(problems.isEmpty, "\(point): \(problems)\n\(traced.log)")
            #expect(t.survivors().isEmpty, "\(point): processes survived")
            return outcome
        }
    }
}

/// The small workload each injection point runs: exec and session-shell
/// tasks with output on both streams, a failing task with one retry, a
/// dependency, a `.sh` drop with a generated id, and a malformed request.
enum CrashWorkload {
    static let configuration = TestSpool.configuration(#""durability": "fsync", "shutdown_grace": 2"#)

    /// The workload's configuration when its files belong to `owners`: tasks run as them.
    static func configuration(owners: [UserAccount]) -> String {
        let allowed = (owners.map { #""\#($0.name)""# } + [#""root""#]).joined(separator: ", ")
        return TestSpool.configuration(#""durability": "fsync", "shutdown_grace": 2, "security": {"run_as": "owner", "allowed_owners": [\#(allowed)]}"#)
    }

    /// Drops the workload; with `owners`, each file belongs to one of them in
    /// turn (written, given to its owner, then renamed in).
    static func drop(into t: TestSpool, owners: [UserAccount]) throws -> SpoolAudit {
        guard !owners.isEmpty else { return try drop(into: t) }
        for (i, (name, text)) in requests.enumerated() {
            let owner = owners[i % owners.count]
            let staged = t.spool + "/incoming/." + name
            try t.write(staged, text)
            guard chown(staged, owner.uid, owner.gid) == 0, rename(staged, t.spool + "/incoming/" + name) == 0 else {
                throw SystemError("chown/rename", staged, errno: .current)
            }
        }
        return SpoolAudit(spool: t.spool, good: ["a.json", "b.json", "c.json", "d.json", "e.sh"], bad: ["bad.json"])
    }

    static let requests = [
        ("a.json", #"{"id": "a", "provider": "exec", "command": "echo out-a; echo err-a >&2"}"#),
        ("b.json", #"{"id": "b", "command": "printf '%s\\n' one two three"}"#),
        ("c.json", #"{"id": "c", "provider": "exec", "command": "echo try; exit 3", "retries": 1}"#),
        ("d.json", #"{"id": "d", "command": "echo after-a >&2", "after": ["a"]}"#),
        ("e.sh", "echo from-a-script\n"),
        ("bad.json", #"{"id": "#),
    ]

    static func drop(into t: TestSpool) throws -> SpoolAudit {
        for (name, text) in requests { try t.drop(name, text) }
        return SpoolAudit(spool: t.spool, good: ["a.json", "b.json", "c.json", "d.json", "e.sh"], bad: ["bad.json"])
    }

    /// The directories the daemon works in through descriptors, for `strace -P`.
    static func directories(of spool: String) -> [String] {
        ["", "/incoming", "/pending", "/queued", "/running", "/done", "/rejected", "/cancel", "/.hopper", "/.hopper/tmp", "/.hopper/claimed"]
            .map { spool + $0 }
    }
}
