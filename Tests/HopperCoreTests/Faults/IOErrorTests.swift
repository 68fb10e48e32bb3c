import Glibc
import Testing
@testable import HopperCore

extension FaultInjection {
    /// I/O errors, injected with strace and for real.
    ///
    /// - fdatasync (a rejection's explanation) or syncfs (a turn's commit)
    ///   failing with EIO, at each of their calls in turn:
    ///   the daemon exits 75 at once, naming the call, acknowledging nothing of
    ///   that turn (after a failed fsync the kernel may have dropped the pages,
    ///   so a retry could succeed on data that is gone); a plain restart then
    ///   finishes the workload exactly once.
    /// - write failing with ENOSPC, at each of its calls in turn: waited out
    ///   (the claimed file or the record is tried again), never a crash, never
    ///   a torn file. Only writes to files count: a write to an eventfd or a
    ///   pipe cannot fail with ENOSPC, and one that did would lose a wake-up,
    ///   so a point where one did (strace counts per thread, so several calls
    ///   can fail in one point) is ended with a SIGKILL, a crash point, and
    ///   counted apart.
    /// - a real full disk (`FullDiskTests`).
    @Suite(.serialized) struct IOErrorTests {
        enum Expectation: Sendable { case exitsSeventyFive, carriesOn }

        struct Injection: CustomStringConvertible, Sendable {
            var syscall: String
            var error: String
            var expectation: Expectation
            var description: String { "\(syscall)=\(error)" }
        }

        static let injections = [
            Injection(syscall: "fdatasync", error: "EIO", expectation: .exitsSeventyFive),
            Injection(syscall: "syncfs", error: "EIO", expectation: .exitsSeventyFive),
            Injection(syscall: "write", error: "ENOSPC", expectation: .carriesOn),
        ]

        @Test(.enabled(if: FaultTools.mayTrace, FaultTools.skipStrace), .timeLimit(.minutes(30)), arguments: injections)
        func injectedErrorsAtEveryCall(_ injection: Injection) async throws {
            let strace = try FaultTools.requireStrace()
            guard FaultTools.isSelected(injection.syscall) else { return }
            let rounds = FaultTools.rounds
            for round in 1...rounds {
                let started = MonotonicInstant.now()
                var fired = 0, notFiles = 0
                var n = FaultTools.firstPoint
                while true {
                    let outcome = try await IOErrorTests.runPoint(injection, when: n, strace: strace)
                    if outcome == .untouched { break }
                    if outcome == .notAFile { notFiles += 1 } else { fired += 1 }
                    try #require(n < 2000, "\(injection): still injected at call \(n)")
                    n += 1
                }
                print("I/O error \(injection), round \(round) of \(rounds): \(fired) calls failed in turn"
                      + (notFiles > 0 ? " (and \(notFiles) with a call on an eventfd or a pipe, ended as crashes)" : "")
                      + ", untouched at N=\(n), \(Int(MonotonicInstant.now() - started)) s")
                #expect(fired > 0, "\(injection): the injection never fired")
            }
        }

        /// Found by the ENOSPC stepping: a rejection whose filing failed left the
        /// file claimed until the next start. Here the move out of claimed/
        /// fails once (the claim is the first rename touching claimed/).
        @Test(.enabled(if: FaultTools.mayTrace, FaultTools.skipStrace))
        func aRejectionThatCannotBeFiledIsTriedAgain() async throws {
            let strace = try FaultTools.requireStrace()
            let t = try TestSpool()
            try Spool.create(at: t.spool)
            try t.drop("bad.json", "[")
            let wrapper = FaultTools.strace(strace, ["renameat2"], action: "error=EIO", when: 2, paths: [t.spool + "/.hopper/claimed"], tasks: false)
            let daemon = try DaemonProcess(t, wrapper: wrapper)
            try await eventually("the rejection filed on a later try") { t.names("rejected").count == 2 && t.names("../.hopper/claimed").isEmpty }
            #expect(daemon.log.contains("cannot move a rejected file; it stays claimed and is tried again"), "the move did fail once: \(daemon.log)")
            #expect(t.names("rejected") == ["bad.json", "bad.json.error.json"])
            ProcessGroup.signalProcess(try #require(childProcesses(of: daemon.pid).first), .term)
            #expect(try await daemon.exited() == .exited(0))
        }

        enum Outcome { case untouched, injected, notAFile }

        /// One point: the injection, the daemon's answer, a restart if it stopped, the audit.
        static func runPoint(_ injection: Injection, when: Int, strace: String) async throws -> Outcome {
            let t = try TestSpool(config: CrashWorkload.configuration)
            try Spool.create(at: t.spool)
            let audit = try CrashWorkload.drop(into: t)
            let trace = t.base + "/strace"
            // Only the daemon's calls: a task's failed write is the task's business.
            var wrapper = FaultTools.strace(strace, [injection.syscall], action: "error=\(injection.error)", when: when, tasks: false, output: trace)
            // -ff: a file per thread (strace.TID), so no call is split into "unfinished" and "resumed" lines.
            wrapper[wrapper.firstIndex(of: "-f")!] = "-ff"
            wrapper.insert("-y", at: 1)
            let traced = try DaemonProcess(t, wrapper: wrapper)
            let point = "\(injection) N=\(when)"
            // Each thread counts on its own, so several calls may fail, each
            // `write(9</spool/.hopper/tmp/…>, …` or `write(4<anon_inode:[eventfd]>, …`.
            let injected = { () -> [Substring] in
                guard let base = try? Directory.open(t.base) else { return [] }
                defer { base.close() }
                let files = ((try? base.entries()) ?? []).map(\.escaped).filter { $0.hasPrefix("strace.") }
                let text = files.compactMap { try? AtomicFile.read(path: t.base + "/" + $0) }.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n")
                return text.split(separator: "\n").filter { $0.hasSuffix("(INJECTED)") }
            }
            let onAFile = { (line: Substring) -> Bool in line.split(separator: "<", maxSplits: 1).dropFirst().first?.hasPrefix("/") ?? false }
            try await eventually("\(point): the traced daemon to exit or finish", timeout: 120) {
                traced.exitStatus != nil || audit.isSettled || !injected().allSatisfy(onAFile)
            }
            // Through the workload (the shutdown may meet the injection too), or
            // wedged; no child: the daemon is exiting on its own already.
            if traced.exitStatus == nil, let daemon = childProcesses(of: traced.pid).first {
                ProcessGroup.signalProcess(daemon, injected().allSatisfy(onAFile) ? .term : .kill)
            }
            let status = try await eventuallyValue("\(point): the traced daemon to exit", timeout: 60) { () -> HopperCore.ExitStatus? in
                if let status = traced.exitStatus { return status }
                // The stop's own wake-up (the signal relay's byte into its pipe, on the
                // loop's thread) may be the injected write: a point on a pipe, ended as a crash.
                if !injected().allSatisfy(onAFile), let daemon = childProcesses(of: traced.pid).first {
                    ProcessGroup.signalProcess(daemon, .kill)
                }
                return nil
            }
            let lines = injected()
            let outcome: Outcome = lines.isEmpty ? .untouched : lines.allSatisfy(onAFile) ? .injected : .notAFile
            switch injection.expectation {
            case _ where outcome == .notAFile:
                break
            case .exitsSeventyFive where outcome == .injected:
                #expect(status == .exited(75), "\(point): \(traced.log)")
                #expect(traced.log.contains("error spool: \(injection.syscall) failed; stopping without acknowledging this turn"), "\(point): \(traced.log)")
            case .exitsSeventyFive, .carriesOn:
                #expect(status == .exited(0), "\(point): \(traced.log)")
            }
            if status != .exited(0) {
                let daemon = try await DaemonProcess(t).ready()
                try await eventually("\(point): the restarted daemon to finish the workload", timeout: 120) { audit.isSettled }
                #expect(try await daemon.stop() == .exited(0), "\(point): \(daemon.log)")
            }
            let problems = audit.problems()
            #expect(problems.isEmpty, "\(point): \(problems)\n\(traced.log)")
            #expect(t.survivors().isEmpty, "\(point): processes survived")
            return outcome
        }
    }
}
