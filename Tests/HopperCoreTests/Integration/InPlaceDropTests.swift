import Glibc
import Testing
@testable import HopperCore

/// Drops that real tools make without a rename: Maildir-style delivery by
/// hard link, and scripts written in place in more than one open. Each is
/// taken once, whole, and nothing is left in incoming/ unseen.
@Suite(.serialized) struct InPlaceDropTests {
    func spool(settle: Double) throws -> TestSpool {
        let t = try TestSpool(config: TestSpool.configuration(#""default_provider": "exec", "intake": {"settle": \#(settle)}"#))
        try Spool.create(at: t.spool)
        mkdir(t.base + "/tmp", 0o755)
        return t
    }

    @Test func maildirStyleDeliveriesAreEachTakenOnce() async throws {
        let t = try spool(settle: 0.25)
        let daemon = try await DaemonProcess(t).ready()
        // Half by `ln` then `rm` (two processes), half by link and unlink in one process.
        for i in 0..<40 {
            let staged = "\(t.base)/tmp/m\(i)", dropped = "\(t.spool)/incoming/m\(i).json"
            try t.write(staged, #"{"id": "m\#(i)", "command": "echo delivered \#(i)"}"#)
            let argv = i % 2 == 0
                ? ["/bin/sh", "-c", "ln \"$0\" \"$1\" && rm \"$0\"", staged, dropped]
                : ["/usr/bin/perl", "-e", "link($ARGV[0], $ARGV[1]) or die; unlink($ARGV[0]) or die", staged, dropped]
            #expect(try runProcess(argv).exitCode == 0)
        }
        try await eventually("every delivery recorded") { t.records().count == 40 }
        for i in 0..<40 {
            #expect(t.record("m\(i)")?["state"] == .string("succeeded"), "m\(i)")
            #expect(t.read("done/m\(i).out") == "delivered \(i)\n")
        }
        #expect(t.names("incoming").isEmpty && t.names("rejected").isEmpty)
        _ = try await daemon.stop()
    }

    @Test func aFileStillLinkedElsewhereIsRejectedAfterTheWaitAndKept() async throws {
        let t = try spool(settle: 0.25)
        let daemon = try await DaemonProcess(t).ready()
        let text = #"{"id": "linked", "command": "true"}"#
        try t.write(t.base + "/tmp/linked", text)
        #expect(link(t.base + "/tmp/linked", t.spool + "/incoming/linked.json") == 0)
        let error = try await eventuallyValue("the rejection") { t.read("rejected/linked.json.error.json") }
        #expect(error.contains("hard_link"))
        #expect(t.read("rejected/linked.json") == text)
        #expect(t.record("linked") == nil && t.names("incoming").isEmpty)
        _ = try await daemon.stop()
    }

    @Test func aScriptWrittenInTwoOpensRunsOnceWhole() async throws {
        // A generous settle: the two writes below are one shell apart.
        let t = try spool(settle: 1)
        let daemon = try await DaemonProcess(t).ready()
        let script = "\(t.spool)/incoming/twice.sh"
        #expect(try runProcess(["/bin/sh", "-c", "echo 'echo first half' > \"$0\"; echo 'echo second half' >> \"$0\"", script]).exitCode == 0)
        let record = try await eventuallyValue("one record") { t.records().values.first }
        try await eventually("incoming/ empty") { t.names("incoming").isEmpty }
        #expect(t.records().count == 1, "one task, not two halves")
        #expect(record["state"] == .string("succeeded"))
        let id = try #require(record["id"]?.stringValue)
        #expect(t.read("done/\(id).out") == "first half\nsecond half\n")
        _ = try await daemon.stop()
    }

    @Test func aFileRenamedInIsNotKeptWaiting() async throws {
        // With a settle far longer than the test's deadline, only a file
        // renamed in can be taken in time.
        let t = try spool(settle: 600)
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("quick.json", #"{"id": "quick", "command": "true"}"#)
        #expect(try await eventuallyValue("quick's record", timeout: 20) { t.record("quick") }["state"] == .string("succeeded"))
        // Written in place: it waits out the settle time in incoming/.
        try t.write(t.spool + "/incoming/slow.json", #"{"id": "slow", "command": "true"}"#)
        try t.drop("after.json", #"{"id": "after", "command": "true"}"#)
        _ = try await eventuallyValue("after's record") { t.record("after") }
        #expect(t.names("incoming") == ["slow.json"] && t.record("slow") == nil)
        _ = try await daemon.stop()
    }
}
