import Glibc
import HopperCore
import Testing

/// System tests of `Spawner` on real processes: output, exit statuses,
/// environment, PATH search, working directory, inherited descriptors and signal state.
@Suite(.timeLimit(.minutes(2)))
struct SpawnerTests {
    init() { Reaper.shared.start() }

    private func request(_ arguments: [String], _ marker: String) -> SpawnRequest {
        SpawnRequest(executable: arguments[0], arguments: arguments, environment: SystemTestProbe.environment(marker))
    }

    /// Spawns, reads stdout to the end and waits for the exit status.
    private func run(_ request: SpawnRequest) async throws -> (String, HopperCore.ExitStatus) {
        var request = request
        request.stdout = .pipe
        let process = try Spawner.spawn(request)
        let output = try SystemTestProbe.readString(try #require(process.stdout))
        return (output, await process.exit.value())
    }

    @Test func echoWritesToAPipeAndExitsZero() async throws {
        let marker = SystemTestProbe.marker("echo")
        let (output, status) = try await run(request(["/bin/echo", "hi"], marker))
        #expect(output == "hi\n")
        #expect(status == .exited(0))
        #expect(await SystemTestProbe.noSurvivors(marker))
    }

    @Test func exitCodeAndTerminatingSignalAreReported() async throws {
        let marker = SystemTestProbe.marker("status")
        let three = try Spawner.spawn(request(["/bin/sh", "-c", "exit 3"], marker))
        #expect(await three.exit.value() == .exited(3))
        // The parent may ignore SIGTERM; the child must still die of it.
        let killed = try Spawner.spawn(request(["/bin/sh", "-c", "kill -TERM $$"], marker))
        #expect(await killed.exit.value() == .signaled(.term))
        #expect(await SystemTestProbe.noSurvivors(marker))
    }

    @Test func environmentIsExactlyTheGivenOne() async throws {
        let marker = SystemTestProbe.marker("env")
        let environment = ["A=1", "B=two words", "EMPTY=", marker]
        let (output, status) = try await run(SpawnRequest(
            executable: "/usr/bin/env", arguments: ["env"], environment: environment))
        #expect(output.split(separator: "\n").map(String.init) == environment)
        #expect(status == .exited(0))
    }

    @Test func pathIsSearchedInTheGivenEnvironment() async throws {
        let marker = SystemTestProbe.marker("path")
        let found = SpawnRequest(executable: "echo", arguments: ["echo", "found"],
                                 environment: ["PATH=/nonexistent::/bin", marker])
        let (output, status) = try await run(found)
        #expect(output == "found\n")
        #expect(status == .exited(0))

        let missing = SpawnRequest(executable: "echo", arguments: ["echo"], environment: ["PATH=/nonexistent"])
        #expect { try Spawner.spawn(missing) } throws: { error in
            (error as? SystemError)?.errno == .noEntry
        }
        // Without PATH the fallback list applies.
        let fallback = SpawnRequest(executable: "true", arguments: ["true"], environment: [marker])
        let process = try Spawner.spawn(fallback)
        #expect(await process.exit.value() == .exited(0))
    }

    @Test func missingExecutableOrDirectoryThrowsWithoutLeakingPipes() async throws {
        let before = SystemTestProbe.openDescriptorCount()
        for _ in 0..<50 {
            var missing = SpawnRequest(executable: "/nonexistent/tool", arguments: ["tool"], environment: [])
            missing.stdin = .pipe
            missing.stdout = .pipe
            missing.stderr = .pipe
            #expect { try Spawner.spawn(missing) } throws: { error in
                let error = error as? SystemError
                return error?.call == "execve" && error?.subject == "/nonexistent/tool" && error?.errno == .noEntry
            }
            var noDirectory = SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [])
            noDirectory.workingDirectory = "/nonexistent/directory"
            noDirectory.stdout = .pipe
            #expect { try Spawner.spawn(noDirectory) } throws: { error in
                let error = error as? SystemError
                return error?.call == "chdir" && error?.subject == "/nonexistent/directory" && error?.errno == .noEntry
            }
        }
        // 50 rounds leaking would leave 200+ descriptors; allow for other tests' traffic.
        #expect(SystemTestProbe.openDescriptorCount() - before < 40)
    }

    @Test func nulInAnArgumentIsRejected() {
        let request = SpawnRequest(executable: "/bin/echo", arguments: ["echo", "a\u{0}b"], environment: [])
        #expect { try Spawner.spawn(request) } throws: { error in
            (error as? SystemError)?.errno == Errno(rawValue: EINVAL)
        }
    }

    @Test func workingDirectoryIsHonoured() async throws {
        let marker = SystemTestProbe.marker("pwd")
        let directory = SystemTestProbe.temporaryDirectory()
        var pwd = request(["/bin/pwd"], marker)
        pwd.workingDirectory = directory
        let (output, status) = try await run(pwd)
        #expect(output == directory + "\n")
        #expect(status == .exited(0))
        await SystemTestProbe.removeTree(directory)
    }

    @Test func stdinPipeAndStderrPipeAndDescriptorSink() async throws {
        let marker = SystemTestProbe.marker("stdio")
        var cat = request(["/bin/cat"], marker)
        cat.stdin = .pipe
        cat.stdout = .pipe
        let process = try Spawner.spawn(cat)
        let stdin = try #require(process.stdin)
        try stdin.writeAll(Array("abc\n".utf8))
        stdin.close()
        #expect(try SystemTestProbe.readString(try #require(process.stdout)) == "abc\n")
        #expect(await process.exit.value() == .exited(0))

        var errors = request(["/bin/sh", "-c", "echo out; echo err >&2"], marker)
        // O_CLOEXEC from the start: a child another test spawns must not keep the writer.
        let (outRead, outWrite) = try FileDescriptor.makePipe()
        errors.stdout = .fd(outWrite)
        errors.stderr = .pipe
        let shell = try Spawner.spawn(errors)
        outWrite.close()
        #expect(shell.stdout == nil)
        #expect(try SystemTestProbe.readString(try #require(shell.stderr)) == "err\n")
        #expect(try SystemTestProbe.readString(outRead) == "out\n")
        #expect(await shell.exit.value() == .exited(0))
        #expect(await SystemTestProbe.noSurvivors(marker))
    }

    @Test func childInheritsOnlyTheStandardDescriptors() async throws {
        let marker = SystemTestProbe.marker("fds")
        // Deliberately without O_CLOEXEC: addclosefrom_np must still keep it out.
        let leaky = open("/dev/null", O_RDONLY)
        #expect(leaky > 2)
        defer { close(leaky) }
        var sleeper = request(["/bin/sleep", "30"], marker)
        sleeper.stdout = .pipe
        let process = try Spawner.spawn(sleeper)
        // posix_spawn returns once the child has exec'd, but sleep's own start-up
        // (ld.so, locale) briefly opens descriptors; a leaked one would never go away.
        let table = "/proc/\(process.pid.rawValue)/fd"
        _ = await SystemTestProbe.eventually { SystemTestProbe.directoryEntries(table)?.sorted() == ["0", "1", "2"] }
        #expect(SystemTestProbe.directoryEntries(table)?.sorted() == ["0", "1", "2"])
        #expect(ProcessGroup.signal(process.processGroup, .kill))
        #expect(await process.exit.value() == .signaled(.kill))
        process.stdout?.close()
        #expect(await SystemTestProbe.noSurvivors(marker))
    }

    @Test func childHasDefaultSignalsAndAnEmptyMask() async throws {
        SignalStream.ignore(.pipe)
        // Ignored only around the spawn, and a signal no test sends: a spawn
        // of another test between this change and its notice keeps the old
        // set, and its child would start with SIGWINCH ignored (harmless).
        let previous = signal(SIGWINCH, SIG_IGN)
        Spawner.signalDispositionsChanged()
        let marker = SystemTestProbe.marker("sigstate")
        var cat = request(["/bin/cat", "/proc/self/status"], marker)
        cat.stdout = .pipe
        let process = try Spawner.spawn(cat)
        signal(SIGWINCH, previous)
        Spawner.signalDispositionsChanged()
        let output = try SystemTestProbe.readString(try #require(process.stdout))
        let status = await process.exit.value()
        let lines = output.split(separator: "\n")
        #expect(lines.contains("SigIgn:\t0000000000000000"))
        #expect(lines.contains("SigBlk:\t0000000000000000"))
        #expect(lines.contains("SigCgt:\t0000000000000000"))
        #expect(status == .exited(0))
    }

    /// The spawns ask the kernel which signals are caught once, and again
    /// after a change they are told of: a handler installed after the first
    /// spawn (here the relay's, for SIGUSR2) is still never passed on.
    @Test func aHandlerInstalledLaterIsNotPassedOn() async throws {
        let marker = SystemTestProbe.marker("sigafter")
        var first = request(["/bin/true"], marker)
        first.stdout = .null
        #expect(await (try Spawner.spawn(first)).exit.value() == .exited(0))
        let stream = SignalStream.make([Signal(rawValue: SIGUSR2)])
        var cat = request(["/bin/cat", "/proc/self/status"], marker)
        cat.stdout = .pipe
        let process = try Spawner.spawn(cat)
        let output = try SystemTestProbe.readString(try #require(process.stdout))
        #expect(await process.exit.value() == .exited(0))
        let lines = output.split(separator: "\n")
        #expect(lines.contains("SigIgn:\t0000000000000000"))
        #expect(lines.contains("SigCgt:\t0000000000000000"))
        _ = stream
    }
}
