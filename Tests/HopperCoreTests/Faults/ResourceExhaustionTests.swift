import Glibc
import Testing
@testable import HopperCore

/// Out of file descriptors: backpressure, never a rejected file, a failed
/// task or a crash.
@Suite(.serialized) struct ResourceExhaustionTests {
    @Test func aBurstUnderATightDescriptorLimitLosesNothing() async throws {
        try #require(access("/usr/bin/prlimit", X_OK) == 0, "prlimit (util-linux) is needed")
        // 29 descriptors at rest and 4 per running task: 16 workers cannot all run under 48.
        let t = try TestSpool(config: TestSpool.configuration(#""workers": 16, "default_provider": "exec""#))
        let daemon = try await DaemonProcess(t, wrapper: ["/usr/bin/prlimit", "--nofile=48:48", "--"]).ready()
        let count = 150
        // Long enough to overlap, so all sixteen workers want descriptors at once.
        for i in 0..<count { try t.drop("f\(i).json", #"{"id": "f\#(i)", "command": "sleep 0.2; echo \#(i)"}"#) }
        try await eventually("\(count) records", timeout: 120) { t.records().count == count }
        let records = t.records()
        for i in 0..<count {
            #expect(records["f\(i)"]?["state"] == .string("succeeded"), "f\(i): \(records["f\(i)"]?["message"] ?? .null)")
            #expect(records["f\(i)"]?["attempts"] == .int(1), "not charged for the daemon's shortage")
        }
        #expect(t.names("rejected").isEmpty, "no file rejected for the daemon's shortage")
        #expect(daemon.log.contains("out of resources"), "the limit was really reached")
        _ = try await daemon.stop()
    }
}
