import Glibc
import Testing
@testable import HopperCore

/// Who may run what (SPEC section 13), with real users: each task runs as
/// the owner of the file that submitted it, sessions never serve two
/// owners, owners not allowed are rejected, and unsafe drop directories stop
/// the daemon from starting. Needs root and useradd (skipped otherwise;
/// `HOPPER_REQUIRE_ROOT=1`, set by CI, makes that a failure).
@Suite(.serialized) struct OwnerTests {
    static let isRequired = Environment.get("HOPPER_REQUIRE_ROOT") == "1"
    static let canMakeUsers: Bool = geteuid() == 0 && FaultTools.path("useradd") != nil
    static var mayRun: Bool { canMakeUsers || isRequired }
    static let skip: Comment = "needs root and useradd to create test users (HOPPER_REQUIRE_ROOT=1 makes this a failure)"

    /// Creates the test users once (no home directory, /bin/sh).
    static let users: [UserAccount] = {
        ["hopper-alice", "hopper-bob"].compactMap { name in
            if UserDatabase.account(named: name) == nil {
                _ = try? runProcess([FaultTools.path("useradd")!, "--no-create-home", "--home-dir", "/tmp", "--shell", "/bin/sh", name])
            }
            return UserDatabase.account(named: name)
        }
    }()

    func accounts() throws -> (UserAccount, UserAccount) {
        try #require(Self.canMakeUsers, "HOPPER_REQUIRE_ROOT=1 but this test cannot create users (not root, or no useradd)")
        try #require(Self.users.count == 2, "the test users could not be created")
        return (Self.users[0], Self.users[1])
    }

    /// A spool whose incoming/ anyone may drop into (sticky, like /tmp).
    func sharedSpool(_ config: String) throws -> TestSpool {
        let t = try TestSpool(config: TestSpool.configuration(config))
        try Spool.create(at: t.spool)
        chmod(t.base, 0o755)
        chmod(t.spool + "/incoming", 0o1777)
        return t
    }

    /// Drops `text` as `user`: written by that user in a directory of its own, renamed in.
    func drop(_ t: TestSpool, as user: UserAccount, _ name: String, _ text: String) throws {
        let staging = t.base + "/stage-\(user.name)"
        mkdir(staging, 0o700)
        chown(staging, user.uid, user.gid)
        let script = "printf '%s' \"$1\" > \"$2/.\(name)\" && mv \"$2/.\(name)\" \"$3/\(name)\""
        let argv = [FaultTools.path("setpriv")!, "--reuid", String(user.uid), "--regid", String(user.gid), "--init-groups", "--",
                    "/bin/sh", "-c", script, "sh", text, staging, t.spool + "/incoming"]
        let result = try runProcess(argv)
        #expect(result.exitCode == 0, "dropping \(name) as \(user.name): \(result.stderr)")
    }

    @Test(.enabled(if: mayRun, skip))
    func eachTaskRunsAsItsOwnerAndSessionsAreNotShared() async throws {
        let (alice, bob) = try accounts()
        let t = try sharedSpool(#""workers": 2, "security": {"allowed_owners": ["hopper-alice", \#(bob.uid), "root"]}, "#
            + #""providers": {"shs": {"mode": "session", "protocol": "shell", "command": ["/bin/sh"], "max_sessions": 4}}"#)
        let daemon = try await DaemonProcess(t).ready()
        let probe = #"id -u; id -g; id -G; echo $HOME $USER $LOGNAME"#
        for user in [alice, bob] {
            for provider in ["exec", "shs"] {
                let id = "\(user.name)-\(provider)"
                try drop(t, as: user, "\(id).json", #"{"id": "\#(id)", "provider": "\#(provider)", "command": "\#(probe)"}"#)
            }
        }
        for user in [alice, bob] {
            for provider in ["exec", "shs"] {
                let id = "\(user.name)-\(provider)"
                let record = try await eventuallyValue("\(id)'s record") { t.record(id) }
                #expect(record["state"] == .string("succeeded"), "\(id): \(record["message"] ?? .null)")
                #expect(record["owner"]?.objectValue?["uid"] == .int(Int64(user.uid)))
                #expect(record["owner"]?.objectValue?["user"] == .string(user.name))
                let lines = (t.read("done/\(id).out") ?? "").split(separator: "\n").map(String.init)
                #expect(lines.count == 4, "\(id): \(lines)")
                guard lines.count == 4 else { continue }
                #expect(lines[0] == String(user.uid) && lines[1] == String(user.gid), "\(id): \(lines)")
                #expect(Set(lines[2].split(separator: " ").map(String.init)) == Set(user.groups.map(String.init)), "\(id): \(lines)")
                #expect(lines[3] == "\(user.home) \(user.name) \(user.name)")
            }
        }
        let aliceSession = t.record("\(alice.name)-shs")?["session"]?.stringValue
        let bobSession = t.record("\(bob.name)-shs")?["session"]?.stringValue
        #expect(aliceSession != nil && aliceSession != bobSession, "a session never serves two owners")
        // hopper status shows whose tasks each session serves.
        let status = try #require(try JSONParser.parse(try t.hopper(["status", "--json"]).stdout).objectValue)
        let sessionOwners = (status["sessions"]?.arrayValue ?? []).compactMap { $0.objectValue?["owner"]?.objectValue?["user"]?.stringValue }
        #expect(Set(sessionOwners) == [alice.name, bob.name], "\(status["sessions"] ?? .null)")
        // hopper list shows each owner, and --owner (name or uid) keeps theirs.
        let listed = try t.hopper(["list", "--owner", alice.name, "--owner", String(alice.uid)])
        #expect(listed.exitCode == 0)
        let rows = listed.stdout.split(separator: "\n").dropFirst()
        #expect(rows.count == 2 && rows.allSatisfy { $0.contains(" \(alice.name) ") }, "\(listed.stdout)")
        #expect(try t.hopper(["list", "--owner", String(bob.uid)]).stdout.split(separator: "\n").dropFirst().count == 2)
        let accepted = try t.events().filter { $0["event"] == .string("task.accepted") }
        #expect(accepted.contains { $0["id"] == .string("\(alice.name)-exec") && $0["owner"]?.objectValue?["user"] == .string(alice.name) })
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test(.enabled(if: mayRun, skip))
    func anOwnerNotAllowedIsRejectedAndKept() async throws {
        let (alice, bob) = try accounts()
        let t = try sharedSpool(#""default_provider": "exec", "security": {"allowed_owners": ["hopper-alice"]}"#)
        let daemon = try await DaemonProcess(t).ready()
        let text = #"{"id": "intruder", "command": "id -u"}"#
        try drop(t, as: bob, "intruder.json", text)
        try drop(t, as: alice, "welcome.json", #"{"id": "welcome", "command": "id -u"}"#)
        let error = try await eventuallyValue("the rejection") { t.read("rejected/intruder.json.error.json") }
        #expect(error.contains("foreign_owner") && error.contains(bob.name), "\(error)")
        #expect(t.read("rejected/intruder.json") == text, "kept as it was")
        #expect(try await eventuallyValue("welcome's record") { t.record("welcome") }["state"] == .string("succeeded"))
        #expect(t.read("done/welcome.out") == "\(alice.uid)\n")
        #expect(t.record("intruder") == nil)
        _ = try await daemon.stop()
    }

    @Test(.enabled(if: mayRun, skip))
    func aUserCancelsOnlyTheirOwnTasksAndReadsOnlyTheirOwnOutputs() async throws {
        let (alice, bob) = try accounts()
        let t = try sharedSpool(#""workers": 2, "default_provider": "exec", "security": {"allowed_owners": ["*"]}"#)
        chmod(t.spool + "/cancel", 0o1777)
        let daemon = try await DaemonProcess(t).ready()
        // It runs until the test has looked at it (it waits for a file the
        // test makes), so it is seen in running/ however slowly the test is scheduled.
        let go = t.base + "/go"
        try drop(t, as: alice, "long.json", #"{"id": "long", "command": "echo secret of alice; while [ ! -e \#(go) ]; do sleep 0.05; done; echo done"}"#)
        try await eventually("long running") { t.names("running").contains("long.json") }
        // Her task file (the request, env included) is hers to read, not Bob's.
        var taskFile = stat()
        #expect(stat(t.spool + "/running/long.json", &taskFile) == 0 && taskFile.st_uid == alice.uid && taskFile.st_mode & 0o777 == 0o640)
        for (user, readable) in [(alice, true), (bob, false)] {
            let read = try runProcess([FaultTools.path("setpriv")!, "--reuid", String(user.uid), "--regid", String(user.gid), "--init-groups", "--",
                                       "/bin/cat", t.spool + "/running/long.json"])
            #expect((read.exitCode == 0) == readable, "\(user.name) reading running/long.json: exit \(read.exitCode)")
        }
        // Bob's cancel of Alice's task is refused and removed; the task runs to its end.
        let bobCancel = try runProcess([FaultTools.path("setpriv")!, "--reuid", String(bob.uid), "--regid", String(bob.gid), "--init-groups", "--",
                                        "/bin/sh", "-c", "touch \"$0\"", t.spool + "/cancel/long"])
        #expect(bobCancel.exitCode == 0, "\(bobCancel.stderr)")
        try await eventually("the refusal evented") {
            try t.events().contains { $0["event"] == .string("task.cancel_refused") && $0["id"] == .string("long") }
        }
        #expect(t.names("cancel").isEmpty)
        #expect(t.record("long") == nil, "the refused cancel did not end it")
        _ = try runProcess(["/bin/touch", go])
        let record = try await eventuallyValue("long's record") { t.record("long") }
        #expect(record["state"] == .string("succeeded"), "\(record["message"] ?? .null)")
        // Alice reads her outputs and record; Bob reads neither.
        for file in ["done/long.out", "done/long.json"] {
            let path = t.spool + "/" + file
            var st = stat()
            #expect(stat(path, &st) == 0 && st.st_uid == alice.uid && st.st_mode & 0o777 == 0o640, "\(file)")
            for (user, readable) in [(alice, true), (bob, false)] {
                let read = try runProcess([FaultTools.path("setpriv")!, "--reuid", String(user.uid), "--regid", String(user.gid), "--init-groups", "--",
                                           "/bin/cat", path])
                #expect((read.exitCode == 0) == readable, "\(user.name) reading \(file): exit \(read.exitCode)")
            }
        }
        // Alice's own cancel works.
        try drop(t, as: alice, "second.json", #"{"id": "second", "command": "sleep 100"}"#)
        try await eventually("second running") { t.names("running").contains("second.json") }
        let aliceCancel = try runProcess([FaultTools.path("setpriv")!, "--reuid", String(alice.uid), "--regid", String(alice.gid), "--init-groups", "--",
                                          "/bin/sh", "-c", "touch \"$0\"", t.spool + "/cancel/second"])
        #expect(aliceCancel.exitCode == 0)
        #expect(try await eventuallyValue("second's record") { t.record("second") }["state"] == .string("cancelled"))
        _ = try await daemon.stop()
        #expect(t.survivors().isEmpty)
    }

    @Test(.enabled(if: mayRun, skip))
    func unsafeDropDirectoriesStopTheDaemonSafeOnesDoNot() async throws {
        _ = try accounts()
        // (incoming/ mode, run_as, whether the daemon may start)
        let cases: [(mode_t, String, Bool)] = [
            (0o0777, "owner", false), (0o1777, "owner", true), (0o0755, "owner", true),
            (0o2775, "daemon", false), (0o1777, "daemon", false), (0o0755, "daemon", true),
        ]
        for (mode, runAs, starts) in cases {
            let t = try TestSpool(config: TestSpool.configuration(#""security": {"run_as": "\#(runAs)"}"#))
            try Spool.create(at: t.spool)
            chmod(t.spool + "/incoming", mode)
            let daemon = try DaemonProcess(t)
            if starts {
                _ = try await daemon.ready()
                #expect(try await daemon.stop() == .exited(0), "mode \(String(mode, radix: 8)), run_as \(runAs)")
            } else {
                let status = try await daemon.exited()
                #expect(status != .exited(0), "mode \(String(mode, radix: 8)), run_as \(runAs) must not start")
                #expect(daemon.log.contains("incoming") && daemon.log.contains("strict_modes"), "\(daemon.log)")
            }
        }
    }
}
