import Glibc
import HopperCore
import Testing

/// System tests of process groups: the child leads its own group, and
/// signalling the group reaches the grandchildren too.
@Suite(.timeLimit(.minutes(2)))
struct ProcessGroupTests {
    init() { Reaper.shared.start() }

    @Test func childLeadsItsOwnGroup() async throws {
        let marker = SystemTestProbe.marker("pgid")
        let process = try Spawner.spawn(SpawnRequest(
            executable: "/bin/sleep", arguments: ["sleep", "30"], environment: SystemTestProbe.environment(marker)))
        #expect(process.processGroup == process.pid)
        #expect(getpgid(process.pid.rawValue) == process.pid.rawValue)
        #expect(getpgid(process.pid.rawValue) != getpgrp())
        #expect(ProcessGroup.signalProcess(process.pid, .term))
        #expect(await process.exit.value() == .signaled(.term))
        #expect(await SystemTestProbe.noSurvivors(marker))
    }

    @Test func killingTheGroupKillsGrandchildren() async throws {
        let marker = SystemTestProbe.marker("tree")
        var request = SpawnRequest(
            executable: "/bin/sh", arguments: ["sh", "-c", "sleep 1000 & echo $!; sleep 1000 & echo $!; wait"],
            environment: SystemTestProbe.environment(marker))
        request.stdout = .pipe
        let process = try Spawner.spawn(request)
        let stdout = try #require(process.stdout)
        defer { stdout.close() }
        let grandchildren = try SystemTestProbe.readLines(stdout, count: 2).compactMap { pid_t($0) }
        #expect(grandchildren.count == 2)
        for pid in grandchildren { #expect(getpgid(pid) == process.pid.rawValue) }

        #expect(ProcessGroup.signal(process.processGroup, .kill))
        #expect(await process.exit.value() == .signaled(.kill))
        #expect(await SystemTestProbe.eventually { grandchildren.allSatisfy(SystemTestProbe.isGone) })
        #expect(await SystemTestProbe.noSurvivors(marker))
    }

    @Test func signallingAGoneGroupReturnsFalse() async throws {
        let process = try Spawner.spawn(SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: []))
        #expect(await process.exit.value() == .exited(0))
        #expect(!ProcessGroup.signal(process.processGroup, .term))
        #expect(!ProcessGroup.signalProcess(process.pid, .term))
        // Never our own group, nor the special ids.
        #expect(!ProcessGroup.signal(ProcessID(rawValue: getpgrp()), .user1))
        #expect(!ProcessGroup.signal(ProcessID(rawValue: 0), .user1))
        #expect(!ProcessGroup.signalProcess(ProcessID(rawValue: -1), .user1))
    }
}
