import Glibc
import Testing
@testable import HopperCore

/// Every kind of bad drop ends in rejected/ with its explanation, and the
/// daemon goes on to the next task.
@Suite(.serialized) struct RejectionTests {
    /// Waits for `name`'s explanation and returns its error code.
    func rejection(_ t: TestSpool, _ name: String) async throws -> JSONObject {
        try await eventuallyValue("\(name) rejected") {
            t.read("rejected/\(name).error.json").flatMap { try? JSONParser.parse($0).objectValue }
        }
    }

    @Test func badContentIsRejectedNamingTheField() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let cases: [(String, String, String, String?)] = [
            ("malformed.json", "{\"command\": ", "invalid_json", nil),
            ("unknown.json", #"{"command": "true", "colour": "red"}"#, "unknown_field", "colour"),
            ("type.json", #"{"command": "true", "priority": "high"}"#, "invalid_field", "priority"),
            ("range.json", #"{"command": "true", "timeout": 100000}"#, "invalid_field", "timeout"),
            ("nocommand.json", #"{"env": {}}"#, "missing_field", "command"),
            ("provider.json", #"{"command": "true", "provider": "nope"}"#, "invalid_field", "provider"),
            ("badid.json", #"{"id": "../etc", "command": "true"}"#, "invalid_field", "id"),
            ("dupkey.json", #"{"command": "a", "command": "b"}"#, "duplicate_key", nil),
            ("huge-number.json", #"{"command": "true", "priority": 1e999}"#, "number_out_of_range", nil),
            ("deep.json", String(repeating: "[", count: 100_000), "too_deep", nil),
            ("array.json", "[1, 2]", "invalid_json", nil),
            ("notes.txt", "hello", "unsupported_name", nil),
        ]
        for (name, text, _, _) in cases { try t.drop(name, text) }
        try t.write(t.spool + "/incoming/.binary.part", "")
        let fd = open(t.spool + "/incoming/.binary.part", O_WRONLY | O_CLOEXEC)
        _ = [UInt8]([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D]).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        rename(t.spool + "/incoming/.binary.part", t.spool + "/incoming/binary.json")
        for (name, _, code, field) in cases {
            let r = try await rejection(t, name)
            #expect(r["error"] == .string(code), "\(name)")
            #expect(r["file"] == .string(name))
            #expect(r["at"] != nil)
            if let field {
                #expect(r["field"] == .string(field), "\(name)")
                #expect(r["message"]?.stringValue?.contains(field) == true, "\(name): \(r["message"] ?? .null)")
            }
            // The explanation is written just before the file is moved beside it.
            try await eventually("\(name) itself kept in rejected/") { t.read("rejected/\(name)") != nil }
        }
        #expect(try await rejection(t, "binary.json")["error"] == .string("not_utf8"))
        try t.drop("after.json", #"{"id": "after", "command": "true"}"#)
        _ = try await eventuallyValue("the next task") { t.record("after") }
        #expect(t.names("incoming").isEmpty)
        _ = try await daemon.stop()
    }

    @Test func specialFilesAreNeverFollowedOrOpened() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let incoming = t.spool + "/incoming/"
        try t.write(t.base + "/secret.json", #"{"command": "echo secret"}"#)
        symlink(t.base + "/secret.json", incoming + "link.json")
        try t.write(t.base + "/shared.json", #"{"command": "true"}"#)
        link(t.base + "/shared.json", incoming + "hard.json")
        mkfifo(incoming + "fifo.json", 0o644)
        mkdir(incoming + "dir.json", 0o755)
        try t.drop("empty.json", "")
        try t.drop("big.json", "{\"command\": \"" + String(repeating: "x", count: 1_100_000) + "\"}")
        let expected = ["link.json": "symlink", "hard.json": "hard_link", "fifo.json": "not_regular_file",
                        "dir.json": "not_regular_file", "empty.json": "empty", "big.json": "too_large"]
        for (name, code) in expected {
            #expect(try await rejection(t, name)["error"] == .string(code), "\(name)")
        }
        // The symlink itself was moved; its target is untouched and never run.
        #expect(t.read("rejected/link.json") != nil)
        #expect(access(t.base + "/secret.json", F_OK) == 0)
        #expect(t.records().isEmpty)
        _ = try await daemon.stop()
    }

    @Test func duplicateIdsAreRejectedWhateverTheirState() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.drop("one.json", #"{"id": "same", "command": "true"}"#)
        _ = try await eventuallyValue("the first") { t.record("same") }
        try t.drop("two.json", #"{"id": "same", "command": "false"}"#)
        #expect(try await rejection(t, "two.json")["error"] == .string("duplicate_id"))
        #expect(t.record("same")?["state"] == .string("succeeded"))
        // The same name rejected twice keeps both files.
        try t.drop("two.json", #"{"id": "same", "command": "false"}"#)
        try await eventually("the second copy filed apart") { t.names("rejected").contains("two.json.1.error.json") }
        _ = try await daemon.stop()
    }

    @Test func namesBeingWrittenAreLeftAlone() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        try t.write(t.spool + "/incoming/.hidden.json", #"{"command": "true"}"#)
        try t.write(t.spool + "/incoming/upload.json.part", #"{"command": "true"}"#)
        try t.write(t.spool + "/incoming/upload.json.tmp", #"{"command": "true"}"#)
        try t.drop("marker.json", #"{"id": "marker", "command": "true"}"#)
        _ = try await eventuallyValue("the marker task") { t.record("marker") }
        #expect(t.names("incoming") == [".hidden.json", "upload.json.part", "upload.json.tmp"])
        // Renamed into place, it is taken.
        rename(t.spool + "/incoming/upload.json.part", t.spool + "/incoming/upload.json")
        _ = try await eventuallyValue("the upload") { t.record(source: "upload.json") }
        _ = try await daemon.stop()
    }
}
