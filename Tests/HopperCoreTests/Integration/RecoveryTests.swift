import Glibc
import Testing
@testable import HopperCore

/// What a crash can leave on disk, and what the next start makes of it.
@Suite(.serialized) struct RecoveryTests {
    @Test func tornEventLineTempFilesAndStaleTaskFilesAreRepaired() async throws {
        let t = try TestSpool()
        try Spool.create(at: t.spool)
        try t.write(t.spool + "/events.jsonl", "{\"ts\":\"2026-01-01T00:00:00.000000Z\",\"event\":\"task.accepted\"}\n{\"ts\":\"2026-01-01T0")
        try t.write(t.spool + "/.hopper/tmp/half.json.123.1.tmp", "{\"id\":")
        // A record already written and its task file not yet removed: the record wins.
        try t.write(t.spool + "/done/twice.json", #"{"id":"twice","state":"succeeded"}"#)
        try t.write(t.spool + "/running/twice.json", #"{"id":"twice","command":"echo again","provider":"sh","seq":1}"#)
        // A task file nobody can read still ends with a record.
        try t.write(t.spool + "/queued/garbled.json", "{not json")
        let daemon = try await DaemonProcess(t).ready()
        #expect(t.names("../.hopper/tmp").isEmpty)
        #expect(t.names("running").isEmpty)
        #expect(t.record("twice")?["state"] == .string("succeeded"))
        let garbled = try #require(t.record("garbled"))
        #expect(garbled["state"] == .string("error"))
        #expect(t.names("rejected").contains("garbled.json"))
        try t.drop("after.json", #"{"id": "after", "command": "true"}"#)
        _ = try await eventuallyValue("after") { t.record("after") }
        _ = try await daemon.stop()
        let events = try t.events()
        #expect(events.count > 1, "the whole first line kept, the torn one cut")
    }

    @Test func eventsRotatePastTheirLimit() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""limits": {"max_events_bytes": 4096}"#))
        let daemon = try await DaemonProcess(t).ready()
        for i in 0..<30 { try t.drop("r\(i).json", #"{"id": "r\#(i)", "command": "true"}"#) }
        try await eventually("thirty records") { t.records().count == 30 }
        _ = try await daemon.stop()
        let rotated = try #require(t.read("events.jsonl.1"))
        #expect(rotated.utf8.count <= 4096 + 1024)
        for line in rotated.split(separator: "\n") + (t.read("events.jsonl") ?? "").split(separator: "\n") {
            #expect((try? JSONParser.parse(String(line))) != nil, "whole lines only")
        }
    }
}
