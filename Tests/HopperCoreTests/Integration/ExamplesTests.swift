import Glibc
import Testing
@testable import HopperCore

extension BackgroundProcess {
    /// A script from examples/ started as a user would start it: in its own
    /// process group (so a pipeline it runs can be stopped whole), in the
    /// test's directory, with output kept in files.
    convenience init(script argv: [String], in t: TestSpool, environment: [String]) throws {
        try self.init(argv, environment: environment + [t.marker], outputPrefix: t.base + "/script-\(IDSuffixGenerator.random(6))",
                      workingDirectory: t.base)
    }
}

/// Every file in examples/ (but the providers, tested with sessions) run
/// against a temporary spool and a real daemon, so that none of them rots.
@Suite(.serialized) struct ExamplesTests {
    static let repository = SessionTests.path(before: "Tests")
    static let examples = repository + "/examples"

    /// The environment a user running an example has: ours, with `HOPPER`,
    /// `HOPPER_SPOOL` and `HOPPER_CONFIG` (and `overrides`) replacing any we have.
    static func environment(_ t: TestSpool, _ overrides: [String: String] = [:]) -> [String] {
        var set = ["HOPPER": TestSpool.hopperBinary, "HOPPER_SPOOL": t.spool, "HOPPER_CONFIG": t.configPath]
        set.merge(overrides) { _, new in new }
        return inheritedEnvironment().filter { entry in !set.keys.contains { entry.hasPrefix($0 + "=") } }
            + set.map { "\($0.key)=\($0.value)" }
    }

    static func script(_ relative: String, _ arguments: [String] = [], in t: TestSpool, _ overrides: [String: String] = [:]) throws -> BackgroundProcess {
        try BackgroundProcess(script: ["/bin/sh", examples + "/" + relative] + arguments, in: t, environment: environment(t, overrides))
    }

    static func text(_ relative: String) throws -> String {
        String(decoding: try AtomicFile.read(path: examples + "/" + relative), as: UTF8.self)
    }

    /// An executable named `name` in this process's PATH, if any.
    static func onPath(_ name: String) -> String? {
        let path = Environment.get("PATH") ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    // MARK: systemd

    @Test func systemdUnit() throws {
        let unit = try ExamplesTests.text("systemd/hopper.service")
        var sections: [String: [String: [String]]] = [:]
        var current: String?
        for raw in unit.split(separator: "\n") {
            let line = raw.drop { $0 == " " }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast())
                continue
            }
            let section = try #require(current, "a key before any section: \(line)")
            let eq = try #require(line.firstIndex(of: "="), "not KEY=VALUE: \(line)")
            let key = String(line[..<eq])
            #expect(key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }, "key \(key)")
            sections[section, default: [:]][key, default: []].append(String(line[line.index(after: eq)...]))
        }
        #expect(Set(sections.keys) == ["Unit", "Service", "Install"])
        let service = try #require(sections["Service"])
        for (key, value) in [
            ("Type", "notify"), ("NotifyAccess", "main"), ("WatchdogSec", "30"), ("KillMode", "mixed"), ("Restart", "on-failure"),
            ("ExecStart", "/usr/local/bin/hopper run --spool /var/spool/hopper --config /etc/hopper/hopper.json"),
            ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ] {
            #expect(service[key] == [value], "\(key)=\(service[key] ?? [])")
        }
        let user = try #require(service["User"]?.first)
        #expect(!user.isEmpty && user != "root", "a dedicated user")
        // The stop timeout covers the daemon's own shutdown with the shipped configuration.
        let config = try Configuration.load(path: ExamplesTests.repository + "/config/hopper.json")
        let stop = try #require(service["TimeoutStopSec"]?.first.flatMap { Double($0.hasSuffix("s") ? String($0.dropLast()) : $0) })
        #expect(stop > config.shutdownGrace + config.commandKillGrace)

        // systemd's own parser, where it is installed; it insists that ExecStart exists.
        let candidates: [String] = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        guard let analyze = candidates.first(where: { access($0, X_OK) == 0 }) else { return }
        let t = try TestSpool(config: nil)
        let copy = t.base + "/hopper.service"
        try t.write(copy, unit.replacing("ExecStart=/usr/local/bin/hopper", with: "ExecStart=" + TestSpool.hopperBinary))
        let verified = try runProcess([analyze, "verify", copy])
        #expect(verified.exitCode == 0, "\(verified.stderr)")
        #expect(!verified.stderr.contains("hopper.service:"), "systemd-analyze: \(verified.stderr)")
    }

    // MARK: cron

    /// The command part of a crontab line, as cron hands it to the shell:
    /// `\%` becomes `%` (a bare `%` would end the command).
    static func cronCommand(_ text: Substring) -> String {
        var result = ""
        var rest = text[...]
        while let c = rest.first {
            rest = rest.dropFirst()
            if c == "\\" && rest.first == "%" {
                result.append("%")
                rest = rest.dropFirst()
            } else {
                #expect(c != "%", "a bare % in a crontab command ends it: \(text)")
                result.append(c)
            }
        }
        return result
    }

    @Test func cronDropsTheNightlyRequest() async throws {
        let crontab = try ExamplesTests.text("cron/nightly.cron")
        var variables: [String: String] = [:]
        var commands: [String] = []
        let schedule = #/^(#\s*)?([0-9*\/,\-]+\s+){5}(?<command>\S.*)$/#
        for line in crontab.split(separator: "\n") {
            if let match = line.wholeMatch(of: schedule) {
                // The line itself, and the commented alternative without the client.
                commands.append(ExamplesTests.cronCommand(match.command))
            } else if !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") {
                variables[String(line[..<eq]).trimmingSpaces] = String(line[line.index(after: eq)...]).trimmingSpaces
            }
        }
        #expect(commands.count == 2, "the line and its client-less alternative")
        #expect(variables["HOPPER_SPOOL"] != nil && variables["HOPPER_CONFIG"] != nil && variables["PATH"] != nil)

        for command in commands {
            // The requested timeout of 1800 s must be allowed.
            let t = try TestSpool(config: TestSpool.configuration(#""timeouts": {"command": {"max_timeout": 3600, "kill_grace": 0.5}}"#))
            let daemon = try await DaemonProcess(t).ready()
            // What cron gives a job: the crontab's variables and little else.
            var environment = variables
            environment["HOPPER_SPOOL"] = t.spool
            environment["HOPPER_CONFIG"] = t.configPath
            // `hopper` on PATH: the binary under test first.
            environment["PATH"] = "/" + TestSpool.hopperBinary.split(separator: "/").dropLast().joined(separator: "/") + ":" + (variables["PATH"] ?? "")
            environment["HOME"] = t.base
            let job = try BackgroundProcess(script: [variables["SHELL"] ?? "/bin/sh", "-c", command], in: t, environment: environment.map { "\($0.key)=\($0.value)" })
            #expect(try await job.exited() == .exited(0), "\(command): \(job.stderr)")
            #expect(job.stdout.isEmpty && job.stderr.isEmpty, "cron would mail: \(job.stdout)\(job.stderr)")

            let (id, record) = try await eventuallyValue("the nightly record") { t.records().first { $0.key.hasPrefix("nightly-") } }
            #expect(id.wholeMatch(of: #/nightly-\d{8}/#) != nil, "\(id)")
            #expect(record["source"] == .string(id + ".json"))
            // /usr/local/bin/nightly-backup stands for the site's own program; here it is missing.
            if access("/usr/local/bin/nightly-backup", X_OK) != 0 {
                #expect(record["state"] == .string("failed"))
                #expect(record["exit_code"] == .int(127))
                #expect(t.read("done/\(id).err")?.contains("nightly-backup") == true)
            }
            #expect(t.names("incoming").isEmpty, "no temporary file left")
            #expect(t.names("rejected").isEmpty)
            #expect(try await daemon.stop() == .exited(0))
        }
    }

    // MARK: batch

    @Test func submitFolderQueuesEveryRequest() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let folder = try Directory.open(ExamplesTests.examples + "/batch/requests")
        let requests = try folder.entries().map(\.escaped).filter { $0.hasSuffix(".json") }.sorted()
        folder.close()
        #expect(requests.count == 3)
        for round in 1...2 {
            let run = try ExamplesTests.script("batch/submit-folder.sh", in: t)
            #expect(try await run.exited() == .exited(0), "\(run.stderr)")
            #expect(run.stdout.hasPrefix("submitted 3 request(s) from "))
            try await eventually("\(3 * round) records") { t.records().count == 3 * round }
        }
        let records = t.records().values
        for name in requests {
            let mine = records.filter { $0["source"] == .string(name) }
            #expect(mine.count == 2, "\(name) submitted twice")
            #expect(mine.allSatisfy { $0["state"] == .string("succeeded") }, "\(mine)")
        }
        #expect(t.names("incoming").isEmpty && t.names("rejected").isEmpty)
        #expect(try await daemon.stop() == .exited(0))
    }

    @Test func submitAndWaitRunsAHundredTasks() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let run = try ExamplesTests.script("batch/submit-and-wait.sh", in: t)
        #expect(try await run.exited(timeout: 120) == .exited(0), "\(run.stderr)")
        #expect(run.stdout == "100 of 100 succeeded\n")
        let records = t.records()
        #expect(records.count == 100)
        #expect(records.values.allSatisfy { $0["state"] == .string("succeeded") })
        #expect(t.read("done/\(records.keys.sorted()[0]).out")?.hasPrefix("task ") == true)

        // On a terminal, a progress line; script(1) provides one. A failure shows in the exit status.
        if let scriptTool = ExamplesTests.onPath("script") {
            let shown = try BackgroundProcess(script: [scriptTool, "-qec", "/bin/sh \(ExamplesTests.examples)/batch/submit-and-wait.sh 3"],
                                          in: t, environment: ExamplesTests.environment(t))
            #expect(try await shown.exited() == .exited(0), "\(shown.stdout)\(shown.stderr)")
            #expect(shown.stdout.contains("\r3/3 finished"), "\(shown.stdout)")
            #expect(shown.stdout.contains("3 of 3 succeeded"))
        }
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty)
    }

    // MARK: watch

    @Test func tailEventsFollowsTasksWithoutJq() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        let all = try ExamplesTests.script("watch/tail-events.sh", in: t)
        let one = try ExamplesTests.script("watch/tail-events.sh", ["seen"], in: t)
        // tail -F waits for the file: let both start before anything happens.
        try await eventually("tail to start") { t.survivors(running: "tail -n 10 -F").count == 2 }
        #expect(try t.hopper(["submit", "--id", "seen", "--", "true"]).exitCode == 0)
        #expect(try t.hopper(["submit", "--id", "sad", "--", "false"]).exitCode == 0)
        try t.drop("bad.json", #"{"command": "true", "timeout": "soon"}"#)
        for expected in ["  accepted  seen  from seen.json", "  seen  queued -> running", "  seen  running -> succeeded",
                         "  sad  running -> failed", "  rejected  bad.json  invalid_field: "] {
            try await eventually("\(expected) in \(all.stdout)") { all.stdout.contains(expected + (expected.hasSuffix(" ") ? "" : "\n")) }
        }
        try await eventually("seen's end, alone") { one.stdout.contains("  seen  running -> succeeded\n") }
        _ = try await all.stop()
        _ = try await one.stop()
        let timestamp = #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z  .+/#
        for line in all.stdout.split(separator: "\n") { #expect(line.wholeMatch(of: timestamp) != nil, "\(line)") }
        #expect(one.stdout.split(separator: "\n").allSatisfy { $0.contains("  seen  ") }, "\(one.stdout)")
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty, "tail and awk were stopped with their group")
    }

    @Test func watchDoneReportsEachTask() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t).ready()
        // hopper wait always; inotifywait where it is installed.
        let modes = ["hopper"] + (ExamplesTests.onPath("inotifywait") != nil ? ["inotifywait"] : [])
        for mode in modes {
            var ids: [String] = []
            for command in ["true", "sleep 0.2", "true"] {
                ids.append(try t.hopper(["submit", "--", command]).stdout.trimmedLine)
            }
            let good = try ExamplesTests.script("watch/watch-done.sh", ids, in: t, ["WATCH_DONE_WITH": mode])
            #expect(try await good.exited() == .exited(0), "\(mode): \(good.stderr)")
            for id in ids { #expect(good.stdout.contains("\(id)  succeeded"), "\(mode): \(good.stdout)") }

            let failing = try t.hopper(["submit", "--", "false"]).stdout.trimmedLine
            let bad = try ExamplesTests.script("watch/watch-done.sh", [ids[0], failing], in: t, ["WATCH_DONE_WITH": mode])
            #expect(try await bad.exited() == .exited(1), "\(mode): \(bad.stderr)")
            #expect(bad.stdout.contains("\(failing)  failed"))

            let unknown = try ExamplesTests.script("watch/watch-done.sh", ["no-such-task"], in: t, ["WATCH_DONE_WITH": mode])
            #expect(try await unknown.exited() == .exited(2), "\(mode)")
        }
        #expect(try await daemon.stop() == .exited(0))
        #expect(t.survivors().isEmpty)
    }
}

private extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
