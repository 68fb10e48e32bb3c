import Glibc
import Testing
@testable import HopperCore

extension FaultInjection {
    /// A real full disk: the spool on a 4 MiB tmpfs mounted in a private mount
    /// namespace (`unshare --mount`, held open by a `sleep`), the daemon run in
    /// it through `nsenter`, and the test reading and filling the spool through
    /// `/proc/HOLDER/root`. Needs root and util-linux.
    ///
    /// 1. The disk is filled, then requests are renamed in (a rename needs no
    ///    free space): they cannot be stored, so they stay claimed, with a clear
    ///    message; once the filler is deleted they run.
    /// 2. With 1 MiB left, a task writes 3 MB: its output is cut where the disk
    ///    ran out and said so in its record, which waits for space (the task
    ///    stays in running/) and is written once the filler goes. The eighty
    ///    tasks queued behind it start and end meanwhile, so 8 KB of events go
    ///    to the full disk (the one straddling the last free page is cut short).
    /// Throughout, no record or event line may be partial.
    @Suite(.serialized) struct FullDiskTests {
        @Test(.enabled(if: FaultTools.mayMount, FaultTools.skipMount), .timeLimit(.minutes(5)))
        func aFullDiskIsWaitedOutAndNothingIsTorn() async throws {
            try FaultTools.requireMountNamespace()
            let t = try TestSpool(config: TestSpool.configuration(#""durability": "fsync", "default_provider": "exec", "workers": 1"#))
            mkdir(t.spool, 0o755)
            let holder = try BackgroundProcess(
                [FaultTools.path("unshare")!, "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                 #"mount -t tmpfs -o size=4m hopper-full "$0" && exec sleep 100000"#, t.spool],
                environment: inheritedEnvironment() + [t.marker], outputPrefix: t.base + "/holder", combined: true)
            try await eventually("the tmpfs mounted") {
                if holder.exitStatus != nil { throw TimedOut(what: "a mount namespace: \(holder.stdout)") }
                let mounts = (try? AtomicFile.read(path: "/proc/\(holder.pid.rawValue)/mountinfo")).map { String(decoding: $0, as: UTF8.self) } ?? ""
                return mounts.contains(" \(t.spool) ")
            }
            let view = "/proc/\(holder.pid.rawValue)/root" + t.spool
            try Spool.create(at: view)
            mkdir(view + "/stage", 0o755)
            // At debug level every retry is logged, which the checks below count.
            let daemon = try await DaemonProcess(t, arguments: ["--log-level", "debug"],
                                                 wrapper: [FaultTools.path("nsenter")!, "--target", "\(holder.pid.rawValue)", "--mount", "--"]).ready()
            var audit = SpoolAudit(spool: view, good: [])

            /// Written aside while there is room, renamed in when there is none.
            func stage(_ id: String, _ command: String) throws {
                try t.write("\(view)/stage/\(id).json", #"{"id": "\#(id)", "command": "\#(command)"}"#)
                audit.good.append("\(id).json")
            }
            func dropStaged(_ id: String) {
                rename("\(view)/stage/\(id).json", "\(view)/incoming/\(id).json")
            }

            // 1. Full before the drops.
            for id in ["p1", "p2", "p3"] { try stage(id, "echo \(id)") }
            let filled = try fill(view + "/filler", leaving: 0)
            #expect(filled > 2 << 20)
            for id in ["p1", "p2", "p3"] { dropStaged(id) }
            try await eventually("the drops refused for want of space") {
                daemon.log.contains("cannot store an accepted task; the file stays claimed and is tried again")
            }
            #expect(daemon.log.contains("No space left on device"))
            // Claimed files are tried again every second, all in one round: not
            // a round per failed file, each arming another (3, 9, 27… per second).
            let p1Refusals = { daemon.log.split(separator: "\n").filter { $0.contains("cannot write a task file id=p1 ") } }
            try await eventually("p1 tried three times") { p1Refusals().count >= 3 }
            #expect(audit.names("done").isEmpty && audit.names("rejected").isEmpty, "nothing done, nothing rejected for want of space")
            unlink(view + "/filler")
            try await eventually("p1 to p3 run once there is room") { audit.isSettled }

            // 2. A task's output fills the disk.
            let queued = (1...80).map { "s\($0)" }
            for id in queued { try stage(id, "true") }
            // Holds the only worker until the rest are queued behind it.
            try stage("big", "while [ ! -e \(t.base)/go ]; do sleep 0.01; done; head -c 3000000 /dev/zero")
            _ = try fill(view + "/filler", leaving: 1 << 20)
            dropStaged("big")
            try await eventually("big running") { audit.names("running").contains("big.json") }
            for id in queued { dropStaged(id) }
            try await eventually("the rest queued") { audit.names("queued").count == queued.count }
            try t.write(t.base + "/go", "")
            try await eventually("big's record waiting for space") { daemon.log.contains("cannot write a record; trying again shortly id=big") }
            try await eventually("tasks behind it ended too, their records waiting") {
                audit.names("running").filter { $0.hasSuffix(".json") }.count > 60
            }
            // A few rounds of record retries while the disk stays full.
            let bigRetries = { daemon.log.split(separator: "\n").filter { $0.contains("cannot write a record; trying again shortly id=big ") } }
            try await eventually("big's record tried four times") { bigRetries().count >= 4 }
            #expect(audit.names("running").contains("big.json"), "the task stays in running/ while its record waits")
            #expect(!audit.names("done").contains("big.json"))
            unlink(view + "/filler")
            try await eventually("big and the rest done once there is room") { audit.isSettled }
            let big = try #require(audit.read("done/big.json").flatMap { try? JSONParser.parse($0).objectValue })
            #expect(big["message"]?.stringValue?.contains("Output was lost") == true, "\(big["message"] ?? .null)")
            #expect(big["message"]?.stringValue?.contains("No space left on device") == true)

            #expect(try await daemon.stop() == .exited(0))
            // One retry round for all waiting records every 0.2 s, not one round
            // per waiting record, each arming another for all of them (rounds of
            // 81, 6,561, 531,441 writes: a spin). Counted against the daemon's own
            // delay, so a slow machine can only make this easier.
            for (lines, delay) in [(bigRetries(), 0.2), (p1Refusals(), 1.0)] {
                let times = lines.compactMap { $0.split(separator: " ").first.flatMap { Timestamp(rfc3339: String($0)) } }
                let span = try #require(times.last) - times[0]
                #expect(Double(times.count - 1) <= span / (delay * 0.95) + 1, "tried \(times.count) times in \(span) s: \(lines.first ?? "")")
            }
            // At the default level the failing record is said once, then at a
            // falling rate (after 1, 2, 4 … s), not at every retry.
            let said = bigRetries().filter { $0.contains(" error spool: ") }
            let retries = bigRetries()
            let span = (retries.last?.split(separator: " ").first.flatMap { Timestamp(rfc3339: String($0)) }).map { $0 - (retries[0].split(separator: " ").first.flatMap { Timestamp(rfc3339: String($0)) } ?? $0) } ?? 0
            #expect(!said.isEmpty && Double(said.count) <= log2(max(span, 1)) + 2, "said \(said.count) times in \(span) s of \(retries.count) retries")
            #expect(daemon.log.contains("records are written again failed_attempts="))
            let problems = audit.problems()
            #expect(problems.isEmpty, "\(problems)")
            ProcessGroup.signal(holder.pid, .kill)
            _ = try await holder.exited()
            #expect(t.survivors().isEmpty)
        }

        /// Writes `path` until the file system has `leaving` bytes or fewer left
        /// (0: until a write fails); returns the bytes written.
        private func fill(_ path: String, leaving: Int) throws -> Int {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw SystemError("open", path, errno: .current) }
            defer { close(fd) }
            var fs = statvfs()
            guard statvfs(path, &fs) == 0 else { throw SystemError("statvfs", path, errno: .current) }
            var room = Int(fs.f_bavail) * Int(fs.f_frsize) - leaving
            let chunk = [UInt8](repeating: 0x2e, count: 64 << 10)
            var written = 0
            while leaving == 0 || room > 0 {
                let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, leaving == 0 ? $0.count : min($0.count, room)) }
                if n <= 0 { break }
                written += n
                room -= n
            }
            return written
        }
    }
}
