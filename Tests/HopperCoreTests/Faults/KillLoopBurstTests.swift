import Glibc
import Testing
@testable import HopperCore

extension FaultInjection {
    /// A burst renamed into incoming/ at once while the daemon is killed with
    /// SIGKILL a second after every start, and started again, until the burst
    /// is through. Half the requests name their id (a second acceptance would
    /// be rejected `duplicate_id`), half get a generated one (a second
    /// acceptance would be a second record with the same `source`): the audit
    /// finds either. 2,000 files in `swift test`, 20,000 with `HOPPER_FAULTS=full`.
    @Suite(.serialized) struct KillLoopBurstTests {
        @Test(.timeLimit(.minutes(60)))
        func aBurstUnderRepeatedKillNineLosesAndDoublesNothing() async throws {
            let count = FaultTools.isFullMode ? 20_000 : 2_000
            let t = try TestSpool(config: TestSpool.configuration(#""workers": 4, "default_provider": "exec", "durability": "fsync""#))
            try Spool.create(at: t.spool)
            let staging = t.base + "/staging"
            mkdir(staging, 0o755)
            var audit = SpoolAudit(spool: t.spool, good: [])
            for i in 0..<count {
                let name = "k\(i).json"
                try t.write("\(staging)/\(name)", i % 2 == 0 ? #"{"command": "true"}"# : #"{"id": "k\#(i)", "command": "true"}"#)
                audit.good.append(name)
            }
            let started = MonotonicInstant.now()
            var daemon = try await DaemonProcess(t).ready()
            for name in audit.good { rename("\(staging)/\(name)", "\(t.spool)/incoming/\(name)") }
            // Cheap enough to poll: the small directories first, done/ last.
            let settled = {
                ["incoming", "pending", "queued", "running", ".hopper/claimed"].allSatisfy { audit.names($0).isEmpty }
                    && audit.names("done").filter { $0.hasSuffix(".json") }.count >= count
            }
            var kills = 0
            while true {
                do {
                    try await eventually("the burst through", timeout: 1) { settled() }
                    break
                } catch is TimedOut {
                    try await daemon.crash()
                    kills += 1
                    try #require(kills < 2_000, "no end to the burst")
                    daemon = try await DaemonProcess(t).ready(timeout: 120)
                }
            }
            #expect(try await daemon.stop() == .exited(0))
            print("burst of \(count) files under \(kills) kills: \(Int(MonotonicInstant.now() - started)) s")
            #expect(kills >= 2, "the burst should outlast a few kills")
            let problems = audit.problems()
            #expect(problems.isEmpty, "\(problems.count) problems: \(problems.prefix(20))")
            #expect(t.survivors().isEmpty)
        }
    }
}
