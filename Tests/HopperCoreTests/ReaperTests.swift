import Glibc
@testable import HopperCore
import Synchronization
import Testing

/// System tests of the process-wide `Reaper` and of each child's `ChildExit`.
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
        // Even children report through onExit handlers, odd ones through value().
        let calls = SharedValue<[pid_t: [HopperCore.ExitStatus]]>([:])
        let expected = try await withThrowingTaskGroup(of: [(pid_t, Int32)].self) { group in
            for task in 0..<6 {
                group.addTask {
                    var spawned: [(pid_t, Int32)] = []
                    var waiting: [(pid_t, ChildExit)] = []
                    for index in 0..<50 {
                        let code = Int32((task * 50 + index) % 256)
                        let process = try Spawner.spawn(SpawnRequest(
                            executable: "/bin/sh", arguments: ["sh", "-c", "exit \(code)"],
                            environment: SystemTestProbe.environment(marker)))
                        spawned.append((process.pid.rawValue, code))
                        if index % 2 == 0 {
                            process.exit.onExit { status in
                                calls.withLock { $0[process.pid.rawValue, default: []].append(status) }
                            }
                        } else {
                            waiting.append((process.pid.rawValue, process.exit))
                        }
                    }
                    for (pid, exit) in waiting {
                        let status = await exit.value()
                        calls.withLock { $0[pid, default: []].append(status) }
                    }
                    return spawned
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(expected.count == 300)
        #expect(Set(expected.map { $0.0 }).count == 300)
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
        process.exit.onExit { status in fired.withLock { $0.append(status) } }
        #expect(fired.withLock { $0 } == [.exited(7)])
        #expect(!Reaper.shared.isAwaited(process.pid))
    }

    @Test func aTimedWaitEndsNilWhileTheChildRunsAndWithItsStatusOnceReaped() async throws {
        let marker = SystemTestProbe.marker("timed")
        let process = try Spawner.spawn(SpawnRequest(
            executable: "/bin/sleep", arguments: ["sleep", "300"], environment: SystemTestProbe.environment(marker)))
        #expect(process.exit.wait(timeout: 0.01) == nil)
        #expect(process.exit.signal(.kill))
        #expect(process.exit.wait(timeout: 15) == .signaled(.kill))
        #expect(await SystemTestProbe.noSurvivors(marker))
    }

    @Test func aChildsGroupDiesWithItWhenAskedAndIsNeverSignalledAfterItsReap() async throws {
        let marker = SystemTestProbe.marker("group")
        // The leader leaves a sleeper in its group and exits.
        var request = SpawnRequest(executable: "/bin/sh", arguments: ["sh", "-c", "sleep 300 >/dev/null & echo $!"],
                                   environment: SystemTestProbe.environment(marker))
        request.stdout = .pipe
        request.killsGroupAtExit = true
        let process = try Spawner.spawn(request)
        let sleeper = try #require(String(decoding: try process.stdout!.readAll(limit: 64), as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" }).first.flatMap { pid_t($0) })
        process.stdout!.close()
        #expect(await process.exit.value() == .exited(0))
        // Killed before the leader was reaped: gone, or a zombie waiting for its (other) reaper.
        #expect(await SystemTestProbe.eventually { kill(sleeper, 0) != 0 || TestSpool.isZombie(ProcessID(rawValue: sleeper)) })
        #expect(await SystemTestProbe.noSurvivors(marker))
        #expect(!process.exit.signalGroup(.kill), "a reaped child's group id may be someone else's now")
    }

    @Test func withoutTheAskTheGroupOutlivesItsLeader() async throws {
        let marker = SystemTestProbe.marker("keep")
        var request = SpawnRequest(executable: "/bin/sh", arguments: ["sh", "-c", "sleep 300 >/dev/null & echo $!"],
                                   environment: SystemTestProbe.environment(marker))
        request.stdout = .pipe
        let process = try Spawner.spawn(request)
        let sleeper = try #require(String(decoding: try process.stdout!.readAll(limit: 64), as: UTF8.self)
            .split(whereSeparator: { $0 == "\n" }).first.flatMap { pid_t($0) })
        process.stdout!.close()
        #expect(await process.exit.value() == .exited(0))
        #expect(kill(sleeper, 0) == 0)
        kill(sleeper, SIGKILL)
        #expect(await SystemTestProbe.noSurvivors(marker))
    }

    @Test func exitStatusDecodesWaitStatuses() {
        #expect(HopperCore.ExitStatus(waitStatus: 0) == .exited(0))
        #expect(HopperCore.ExitStatus(waitStatus: 3 << 8) == .exited(3))
        #expect(HopperCore.ExitStatus(waitStatus: 255 << 8) == .exited(255))
        #expect(HopperCore.ExitStatus(waitStatus: SIGKILL) == .signaled(.kill))
        #expect(HopperCore.ExitStatus(waitStatus: SIGSEGV | 0x80) == .signaled(Signal(rawValue: SIGSEGV)))  // core dumped
    }

    @Test func signalNames() {
        #expect(Signal.term.name == "SIGTERM")
        #expect(Signal.kill.name == "SIGKILL")
        #expect(Signal.user1.name == "SIGUSR1")
        #expect(Signal.child.name == "SIGCHLD")
        #expect(Signal(rawValue: 200).name == "SIG200")
    }
}
