import Glibc
import Testing
@testable import HopperCore

/// `hopper status` right after tasks finish shows them finished: it asks the
/// daemon for a fresh snapshot instead of reading one up to a second old.
@Suite(.serialized) struct StatusFreshnessTests {
    @Test func statusRightAfterTheLastRecordCountsIt() async throws {
        let t = try TestSpool(config: TestSpool.configuration(#""default_provider": "exec""#))
        let daemon = try await DaemonProcess(t).ready()
        for round in 1...5 {
            try t.drop("f\(round).json", #"{"id": "f\#(round)", "command": "true"}"#)
            _ = try await eventuallyValue("f\(round)'s record") { t.record("f\(round)") }
            let json = try t.hopper(["status", "--json"])
            #expect(json.exitCode == 0)
            let status = try #require(try JSONParser.parse(json.stdout).objectValue)
            #expect(status["finished_since_start"]?.objectValue?["succeeded"] == .int(Int64(round)), "round \(round): \(json.stdout)")
            #expect(status["counts"]?.objectValue?["running"] == .int(0))
        }
        let text = try t.hopper(["status"])
        #expect(text.stdout.contains("updated   0 s ago"), "\(text.stdout)")
        _ = try await daemon.stop()
    }
}
