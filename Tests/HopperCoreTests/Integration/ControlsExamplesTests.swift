import Glibc
import Testing
@testable import HopperCore

/// The examples for the operator controls: the report's systemd units and
/// the operator crontab, run as cron would run each line.
@Suite(.serialized) struct ControlsExamplesTests {
    @Test func reportUnitsParseAndTheServiceWritesThePage() async throws {
        let service = try ExamplesTests.text("systemd/hopper-report.service")
        let timer = try ExamplesTests.text("systemd/hopper-report.timer")
        let exec = try #require(service.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        let argv = exec.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        #expect(argv.prefix(2) == ["/usr/local/bin/hopper", "report"])
        #expect(timer.contains("OnUnitActiveSec=5min") && timer.contains("WantedBy=timers.target"))
        #expect(service.contains("Type=oneshot") && service.contains("User=hopper"))
        // The same command on a test spool.
        let t = try TestSpool()
        try ReportTests.writeRecords(t, count: 20)
        var run = argv
        run[0] = TestSpool.hopperBinary
        run[run.firstIndex(of: "--spool")! + 1] = t.spool
        run[run.firstIndex(of: "--html")! + 1] = t.base + "/index.html"
        let out = try runProcess(run)
        #expect(out.exitCode == 0, "\(out.stderr)")
        #expect(t.readAbsolute(t.base + "/index.html")?.contains("Tasks finished per hour") == true)

        let candidates: [String] = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        guard let analyze = candidates.first(where: { access($0, X_OK) == 0 }) else { return }
        try t.write(t.base + "/hopper-report.service", service.replacing("/usr/local/bin/hopper", with: TestSpool.hopperBinary))
        try t.write(t.base + "/hopper-report.timer", timer)
        let verified = try runProcess([analyze, "verify", t.base + "/hopper-report.service", t.base + "/hopper-report.timer"])
        #expect(!verified.stderr.contains("hopper-report."), "systemd-analyze: \(verified.stderr)")
    }

    @Test func operationsCrontabLinesRunAsCronRunsThem() async throws {
        let crontab = try ExamplesTests.text("cron/operations.cron")
        var variables: [String: String] = [:]
        var commands: [String] = []
        let schedule = #/^([0-9*\/,\-]+\s+){5}(?<command>\S.*)$/#
        for line in crontab.split(separator: "\n") where !line.hasPrefix("#") {
            if let match = line.wholeMatch(of: schedule) {
                commands.append(ExamplesTests.cronCommand(match.command))
            } else if let eq = line.firstIndex(of: "=") {
                variables[String(line[..<eq]).filter { $0 != " " }] = String(line[line.index(after: eq)...].drop { $0 == " " })
            }
        }
        #expect(commands.count == 5)
        let t = try TestSpool(config: TestSpool.configuration(#""timeouts": {"command": {"max_timeout": 3600, "kill_grace": 0.5}}"#))
        let daemon = try await DaemonProcess(t).ready()
        var environment = variables
        environment["HOPPER_SPOOL"] = t.spool
        environment["HOPPER_CONFIG"] = t.configPath
        environment["HOPPER_REPORT"] = t.base + "/index.html"
        environment["HOPPER_BATCH"] = t.base + "/batch"
        environment["PATH"] = "/" + TestSpool.hopperBinary.split(separator: "/").dropLast().joined(separator: "/") + ":" + (variables["PATH"] ?? "")
        environment["HOME"] = t.base
        for command in commands {
            let job = try BackgroundProcess(script: [variables["SHELL"] ?? "/bin/sh", "-c", command], in: t,
                                            environment: environment.map { "\($0.key)=\($0.value)" })
            #expect(try await job.exited() == .exited(0), "\(command): \(job.stderr)")
            #expect(job.stdout.isEmpty && job.stderr.isEmpty, "cron would mail: \(job.stdout)\(job.stderr)")
            if command.contains("hopper pause") { #expect(t.names("paused") == ["sh"]) }
        }
        #expect(t.names("paused").isEmpty, "paused, then resumed")
        let sync = try await eventuallyValue("the sync's record") { t.records().values.first { $0["request"]?.objectValue?["key"] == .string("mirror-sync") } }
        #expect(sync["request"]?.objectValue?["on_conflict"] == .string("skip"))
        #expect(t.readAbsolute(t.base + "/index.html")?.hasPrefix("<!DOCTYPE html>") == true)
        let batchReports = ((try? Directory.open(t.base + "/batch")).flatMap { try? $0.entries() } ?? []).map(\.escaped).filter { $0.hasPrefix("report-") }
        #expect(batchReports.count == 1, "the batch ran, exited when idle, and reported")
        #expect(!Spool.isDaemonRunning(t.base + "/batch"))
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty)
    }
}
