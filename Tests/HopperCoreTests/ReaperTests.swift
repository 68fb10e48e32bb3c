import Glibc
@testable import HopperCore
import Synchronization
import Testing

/// System tests of the process-wide `Reaper`, and unit tests of its unclaimed-status table.
@Suite(.timeLimit(.minutes(3)))
struct ReaperTests {
    init() { Reaper.shared.start() }

    @Test func startIsIdempotentAndThreadSafe() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { Reaper.shared.start() } }
        }
    }

    @Test func threeHundredConcurrentChildrenEachReportedOnce() async throws {
        let marker = SystemTestProbe.marker("load")
        // Even children report through onExit handlers, odd ones through waitForExit.
        let calls = SharedValue<[pid_t: [HopperCore.ExitStatus]]>([:])
        let expected = try await withThrowingTaskGroup(of: [(pid_t, Int32)].self) { group in
            for task in 0..<6 {
                group.addTask {
                    var spawned: [(pid_t, Int32)] = []
                    var waiting: [(pid_t, Int32)] = []
                    for index in 0..<50 {
                        let code = Int32((task * 50 + index) % 256)
                        let process = try Spawner.spawn(SpawnRequest(
                            executable: "/bin/sh", arguments: ["sh", "-c", "exit \(code)"],
                            environment: SystemTestProbe.environment(marker)))
                        spawned.append((process.pid.rawValue, code))
                        if index % 2 == 0 {
                            Reaper.shared.onExit(process.pid) { status in
                                calls.withLock { $0[process.pid.rawValue, default: []].append(status) }
                            }
                        } else {
                            waiting.append((process.pid.rawValue, code))
                        }
                    }
                    for (pid, _) in waiting {
                        let status = await Reaper.shared.waitForExit(ProcessID(rawValue: pid))
                        calls.withLock { $0[pid, default: []].append(status) }
                    }
                    return spawned
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(expected.count == 300)
        #expect(Set(expected.map(\.0)).count == 300)
        #expect(await SystemTestProbe.eventually { calls.withLock { $0.count } == 300 })
        // Exactly once each, and a few extra sweeps must not add anything.
        Reaper.shared.start()
        calls.withLock { calls in
            for (pid, code) in expected { #expect(calls[pid] == [.exited(code)]) }
        }
        #expect(await SystemTestProbe.noSurvivors(marker))
    }

    @Test func registeringAfterTheChildWasReapedStillFires() async throws {
        let process = try Spawner.spawn(SpawnRequest(
            executable: "/bin/sh", arguments: ["sh", "-c", "exit 7"], environment: []))
        // Gone from the process table means the reaper has already collected it.
        #expect(await SystemTestProbe.eventually { kill(process.pid.rawValue, 0) != 0 })
        let fired = SharedValue<[HopperCore.ExitStatus]>([])
        Reaper.shared.onExit(process.pid) { status in fired.withLock { $0.append(status) } }
        #expect(fired.withLock { $0 } == [.exited(7)])
    }

    @Test func exitStatusDecodesWaitStatuses() {
        #expect(HopperCore.ExitStatus(waitStatus: 0) == .exited(0))
        #expect(HopperCore.ExitStatus(waitStatus: 3 << 8) == .exited(3))
        #expect(HopperCore.ExitStatus(waitStatus: 255 << 8) == .exited(255))
        #expect(HopperCore.ExitStatus(waitStatus: SIGKILL) == .signaled(.kill))
        #expect(HopperCore.ExitStatus(waitStatus: SIGSEGV | 0x80) == .signaled(Signal(rawValue: SIGSEGV)))  // core dumped
    }

    @Test func unclaimedTableDropsTheOldestBeyondItsLimit() {
        var table = UnclaimedStatuses(limit: 3)
        for pid in pid_t(1)...5 { table.insert(pid, .exited(pid)) }
        #expect(table.count == 3)
        #expect(table.claim(1) == nil)
        #expect(table.claim(2) == nil)
        #expect(table.claim(3) == .exited(3))
        #expect(table.claim(3) == nil)
        table.insert(6, .exited(6))
        table.insert(7, .exited(7))  // drops 4, the oldest left
        #expect(table.claim(4) == nil)
        #expect(table.claim(5) == .exited(5))
        // A replaced pid counts from its newest insertion.
        table.insert(6, .signaled(.term))
        for pid in pid_t(100)..<10_000 {
            table.insert(pid, .exited(0))
            _ = table.claim(pid)
        }
        #expect(table.claim(6) == .signaled(.term))
        #expect(table.claim(7) == .exited(7))
        #expect(table.count == 0)
    }

    @Test func signalNames() {
        #expect(Signal.term.name == "SIGTERM")
        #expect(Signal.kill.name == "SIGKILL")
        #expect(Signal.user1.name == "SIGUSR1")
        #expect(Signal.child.name == "SIGCHLD")
        #expect(Signal(rawValue: 200).name == "SIG200")
    }
}
