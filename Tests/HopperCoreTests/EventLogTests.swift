import Glibc
import Testing
@testable import HopperCore

/// `EventLog` on a real file: a flush up to a mark writes the lines of the
/// turns before it and keeps the later ones buffered (the daemon holds a
/// turn's lines until the sync that covers its changes has returned).
@Suite struct EventLogTests {
    @Test func aFlushThroughAMarkWritesTheLinesBeforeItOnly() throws {
        let base = SystemTestProbe.temporaryDirectory()
        defer { _ = try? runProcess(["/bin/rm", "-rf", base]) }
        let root = try Directory.open(base)
        defer { root.close() }
        let log = try EventLog(root: root, maxBytes: 1 << 20)
        var mask = SecretMask()
        mask.add("s3cret")
        log.mask = mask
        log.append("first") { $0.field("token", "s3cret") }
        let mark = log.appended
        log.append("second")
        log.flush(through: mark, reportingTo: Logger(minimum: .error))
        func lines() -> [String] {
            String(decoding: SystemTestProbe.contents(base + "/events.jsonl") ?? [], as: UTF8.self).split(separator: "\n").map(String.init)
        }
        #expect(lines().count == 1)
        #expect(lines().first?.contains(#""event":"first""#) == true && lines().first?.contains("***") == true)
        #expect(lines().first?.contains("s3cret") == false, "the part written is masked")
        log.flush(through: mark, reportingTo: Logger(minimum: .error))
        #expect(lines().count == 1, "nothing more before the mark")
        log.flush(reportingTo: Logger(minimum: .error))
        #expect(lines().count == 2 && lines().last?.contains(#""event":"second""#) == true)
    }
}
