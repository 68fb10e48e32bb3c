import Glibc
import Testing
@testable import HopperCore

/// `hopper report` on records a real daemon wrote, and its HTML page
/// rendered by a real headless browser.
@Suite(.serialized) struct ReportTests {
    @Test func reportCountsWhatTheDaemonRecorded() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        for i in 0..<3 { _ = try t.hopper(["submit", "--id", "ok\(i)", "true"]) }
        _ = try t.hopper(["submit", "--id", "bad", "--provider", "exec", "exit 3"])
        _ = try t.hopper(["submit", "--id", "nodir", "--", "true"])
        try t.drop("nodir2.json", #"{"id":"nodir2","command":"true","cwd":"/nonexistent/dir"}"#)
        for id in ["ok0", "ok1", "ok2", "bad", "nodir", "nodir2"] { _ = try await eventuallyValue("\(id) recorded") { t.record(id) } }

        let json = try t.hopper(["report", "--json"])
        #expect(json.exitCode == 0, "\(json.stderr)")
        let o = try #require(try JSONParser.parse(json.stdout.trimmedLine).objectValue)
        #expect(o["records"] == .int(6))
        let sh = try #require(o["providers"]?.objectValue?["sh"]?.objectValue)
        #expect(sh["tasks"] == .int(5))
        #expect(sh["states"]?.objectValue?["succeeded"] == .int(4))
        #expect(sh["states"]?.objectValue?["error"] == .int(1))
        #expect(sh["reasons"]?.objectValue?["cwd"] == .int(1))
        #expect(sh["success_rate"] == .double(0.8))
        #expect(sh["duration_ms"]?.objectValue?["max"]?.intValue != nil)
        #expect(sh["cost_usd"] == .null)
        let exec = try #require(o["providers"]?.objectValue?["exec"]?.objectValue)
        #expect(exec["top_failures"] == .array([.object(JSONObject([("message", .string("Exited with status 3.")), ("count", .int(1))]))]))

        let text = try t.hopper(["report"])
        #expect(text.exitCode == 0)
        #expect(text.stdout.contains("6 record(s) finished"))
        let row = try #require(text.stdout.split(separator: "\n").first { $0.hasPrefix("exec ") })
        #expect(row.split(separator: " ", omittingEmptySubsequences: true).prefix(7) == ["exec", "1", "0", "1", "0", "0", "0.0%"])
        #expect(text.stdout.contains("Exited with status 3."))

        let only = try JSONParser.parse(try t.hopper(["report", "--json", "--provider", "exec"]).stdout.trimmedLine).objectValue
        #expect(only?["records"] == .int(1))
        let future = Timestamp.now().adding(seconds: 3600).rfc3339
        let none = try t.hopper(["report", "--since", future])
        #expect(none.exitCode == 0 && none.stdout.hasPrefix("no records"))
        #expect(try t.hopper(["report", "--since", "1d"]).stdout.contains("6 record(s)"))
        let bad = try t.hopper(["report", "--since", "last tuesday"])
        #expect(bad.exitCode == 2 && bad.stderr.contains("--since"))
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    /// Records with every state, two providers, costs over three days.
    static func writeRecords(_ t: TestSpool, count: Int) throws {
        try Spool.create(at: t.spool)
        let end = Timestamp.now()
        let states: [(String, String, String)] = [
            ("succeeded", "exit", "Exited with status 0."), ("succeeded", "exit", "Exited with status 0."),
            ("succeeded", "exit", "Exited with status 0."), ("failed", "exit", "Exited with status 2."),
            ("failed", "timeout", "Timed out after 300 seconds; its process group was killed."),
            ("error", "cwd", "The working directory <srv> & \"x\" does not exist."), ("cancelled", "cancelled", "Cancelled by request."),
        ]
        for i in 0..<count {
            let (state, reason, message) = states[i % states.count]
            let provider = i % 3 == 0 ? "agent" : "sh"
            let finished = end.adding(seconds: -Double(i) * 259_200 / Double(count))
            let ms = (i * 7919) % 120_000
            var o = JSONObject([("id", .string("r\(i)")), ("provider", .string(provider)), ("state", .string(state)),
                                ("reason", .string(reason)), ("message", .string(message)),
                                ("finished_at", .string(finished.rfc3339)), ("duration_ms", .int(Int64(ms)))])
            if provider == "agent" { o["cost_usd"] = .double(Double(i % 10) / 100) }
            try t.write(t.spool + "/done/r\(i).json", JSONValue.object(o).serialized() + "\n")
        }
    }

    static let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { (path: String) in access(path, X_OK) == 0 }
    static var browserRequired: Bool { Environment.get("HOPPER_REQUIRE_BROWSER") == "1" }
    static let skipBrowser: Comment = "chromium is not installed (apt-get install chromium); HOPPER_REQUIRE_BROWSER=1 makes this a failure"

    @Test func theHTMLPageIsSelfContained() throws {
        let t = try TestSpool()
        try Self.writeRecords(t, count: 300)
        let page = t.base + "/report.html"
        let out = try t.hopper(["report", "--html", page])
        #expect(out.exitCode == 0, "\(out.stderr)")
        #expect(out.stdout.isEmpty)
        let html = try #require(t.readAbsolute(page))
        let starts = html.hasPrefix("<!DOCTYPE html>")
        #expect(starts)
        let charts = html.components("<svg")
        #expect(charts == 3, "activity, durations, cost")
        let fetches = ["src=", "href=", "<script", "@import", "url(", "<link"].filter { html.contains($0) }
        #expect(fetches.isEmpty, "nothing is fetched")
        let escaped = html.contains("The working directory &lt;srv&gt; &amp; &quot;x&quot; does not exist.")
        #expect(escaped, "messages are escaped")
        let titled = html.contains("Tasks finished per hour, by state")
        #expect(titled)
        #expect(!(try Directory.open(t.base).entries().contains { $0.hasSuffix(".tmp") }), "written by rename")

        // An empty selection still writes a page that says so.
        let empty = try t.hopper(["report", "--provider", "nosuch", "--html", page])
        #expect(empty.exitCode == 0)
        #expect(t.readAbsolute(page)?.contains("No records in done/ match") == true)
        #expect(try t.hopper(["report", "--html", t.base + "/no/such/dir/x.html"]).exitCode == 1)
    }

    @Test(.enabled(if: ReportTests.chromium != nil || ReportTests.browserRequired, ReportTests.skipBrowser))
    func chromiumRendersTheChartsFromDiskWithoutNetwork() throws {
        let browser = try #require(Self.chromium, "HOPPER_REQUIRE_BROWSER=1 but chromium is not installed")
        let t = try TestSpool()
        try Self.writeRecords(t, count: 2000)
        let page = t.base + "/report.html"
        #expect(try t.hopper(["report", "--html", page]).exitCode == 0)
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(t.base)/chromium",
                     "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,2000"]
        // The DOM after Blink has parsed and laid out the page: every chart and the table are there.
        let dom = try runProcess([browser] + flags + ["--dump-dom", "file://" + page], environment: [t.marker])
        #expect(dom.exitCode == 0, "\(dom.stderr)")
        #expect(dom.stdout.components("<svg") == 3)
        #expect(dom.stdout.components("<rect") > 100, "bars were drawn")
        #expect(dom.stdout.contains("<td>agent</td>") || dom.stdout.contains("agent</td>"))
        // The screenshot: a real rendering of the page at an operator's window size.
        let png = t.base + "/report.png"
        let shot = try runProcess([browser] + flags + ["--screenshot=\(png)", "file://" + page], environment: [t.marker])
        #expect(shot.exitCode == 0, "\(shot.stderr)")
        let bytes = try AtomicFile.read(path: png)
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        // A blank page compresses to a few kilobytes; charts and text do not.
        #expect(bytes.count > 50_000, "the screenshot has content (\(bytes.count) bytes)")
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1280 && height == 2000)
        #expect(t.survivors().isEmpty)
    }
}

extension TestSpool {
    func readAbsolute(_ path: String) -> String? {
        (try? AtomicFile.read(path: path)).map { String(decoding: $0, as: UTF8.self) }
    }
}

extension String {
    /// How many times `needle` occurs.
    func components(_ needle: String) -> Int {
        let hay = Array(utf8), pin = Array(needle.utf8)
        guard !pin.isEmpty, hay.count >= pin.count else { return 0 }
        var count = 0
        var i = 0
        while i <= hay.count - pin.count {
            if hay[i] == pin[0] && hay[i..<i + pin.count].elementsEqual(pin) {
                count += 1
                i += pin.count
            } else {
                i += 1
            }
        }
        return count
    }
}
