import Glibc
import Testing
@testable import HopperCore

/// Slurm tasks under `run_as: "owner"` (SPEC sections 11 and 13) on the real
/// cluster with real users: each job is submitted as the task file's owner
/// and runs as that owner, its outputs are the owner's, its start and exit
/// files live in the owner's own job directory, and no other user's file
/// decides its end. Needs the cluster, root and useradd.
@Suite(.serialized, .enabled(if: SlurmCluster.mayRun, SlurmCluster.skipMessage), .enabled(if: OwnerTests.mayRun, OwnerTests.skip))
struct SlurmOwnerTests {
    /// A spool anyone may drop into, whose default provider is the Slurm provider `cluster`.
    static func spool() throws -> TestSpool {
        try OwnerTests().sharedSpool(#"""
            "default_provider": "cluster", "security": {"allowed_owners": ["*"]},
            "providers": {"cluster": {"mode": "slurm", "command": ["/bin/sh", "-c", "{command}"],
                                      "slurm": {"partition": "main", "max_jobs": 20}}}
            """#)
    }

    /// Runs `argv` as `user` (setpriv, with the user's groups).
    static func run(as user: UserAccount, _ argv: [String]) throws -> ProcessOutput {
        try runProcess([FaultTools.path("setpriv")!, "--reuid", String(user.uid), "--regid", String(user.gid), "--init-groups", "--"] + argv)
    }

    /// The uid Slurm holds a job under.
    static func jobUID(_ cluster: SlurmCluster.Running, _ jobID: String) throws -> String {
        try SlurmCluster.command(cluster, ["/usr/bin/squeue", "-h", "-t", "all", "-j", jobID, "-o", "%U"]).stdout.trimmedLine
    }

    @Test func eachJobRunsAsItsOwnerAndItsOutputsAreTheOwners() async throws {
        let cluster = try SlurmCluster.require()
        let (alice, bob) = try OwnerTests().accounts()
        let t = try Self.spool()
        let daemon = try await DaemonProcess(t, environment: cluster.environment).ready(timeout: 30)
        let probe = #"id -u; id -g; id -G; echo \"$HOME $USER $LOGNAME\"; cat"#
        for user in [alice, bob] {
            try OwnerTests().drop(t, as: user, "\(user.name).json", #"{"id": "\#(user.name)", "command": "\#(probe)", "stdin": "for \#(user.name)\n"}"#)
        }
        try t.drop("root.json", #"{"id": "root", "command": "id -u"}"#)
        for user in [alice, bob] {
            let record = try await eventuallyValue("\(user.name)'s record", timeout: 60) { t.record(user.name) }
            #expect(record["state"] == .string("succeeded"), "\(user.name): \(record["message"] ?? .null)")
            #expect(record["owner"]?.objectValue?["uid"] == .int(Int64(user.uid)))
            let lines = (t.read("done/\(user.name).out") ?? "").split(separator: "\n").map(String.init)
            #expect(lines.count == 5, "\(user.name): \(lines) \(t.read("done/\(user.name).err") ?? "")")
            guard lines.count == 5 else { continue }
            #expect(lines[0] == String(user.uid) && lines[1] == String(user.gid), "the job runs as its owner: \(lines)")
            #expect(Set(lines[2].split(separator: " ").map(String.init)) == Set(user.groups.map(String.init)), "\(lines)")
            #expect(lines[3] == "\(user.home) \(user.name) \(user.name)")
            #expect(lines[4] == "for \(user.name)", "the task's stdin reached the job")
            #expect(t.read("done/\(user.name).err") == "")
            // Slurm holds the job as the owner's, not root's.
            let jobID = try #require(record["slurm_job_id"]?.stringValue)
            #expect(try Self.jobUID(cluster, jobID) == String(user.uid))
            // The outputs are the owner's, mode 0640: the other user cannot read them.
            for file in ["done/\(user.name).out", "done/\(user.name).err"] {
                var st = stat()
                #expect(stat(t.spool + "/" + file, &st) == 0 && st.st_uid == user.uid && st.st_mode & 0o777 == 0o640, "\(file)")
            }
            let other = user == alice ? bob : alice
            #expect(try Self.run(as: other, ["/bin/cat", t.spool + "/done/\(user.name).out"]).exitCode != 0, "\(other.name) reads \(user.name)'s output")
            // The owner's job directory: its own, private, and emptied with the record.
            let dir = t.spool + "/.hopper/slurm/\(user.uid)"
            var st = stat()
            #expect(lstat(dir, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR && st.st_uid == user.uid && st.st_mode & 0o7777 == 0o700)
            #expect(t.names(".hopper/slurm/\(user.uid)").isEmpty)
        }
        let root = try await eventuallyValue("root's record", timeout: 60) { t.record("root") }
        #expect(root["state"] == .string("succeeded") && t.read("done/root.out") == "0\n", "a task of the daemon's own user runs as before")
        #expect(t.names(".hopper/slurm").sorted() == [String(alice.uid), String(bob.uid)].sorted())
        #expect(try await daemon.stop() == .exited(0))
    }

    /// Bob cannot write into Alice's job directory, and an exit file he
    /// writes in his own for Alice's task is not taken: her job's own says
    /// how it ended. Her job runs until the test has tried both (it waits
    /// for a file the test makes last), so its start file is there to see
    /// however slowly the test is scheduled.
    @Test func anotherOwnersFileNeverDecidesATasksEnd() async throws {
        let cluster = try SlurmCluster.require()
        let (alice, bob) = try OwnerTests().accounts()
        let t = try Self.spool()
        let daemon = try await DaemonProcess(t, environment: cluster.environment).ready(timeout: 30)
        try OwnerTests().drop(t, as: bob, "mine.json", #"{"id": "mine", "command": "true"}"#)
        _ = try await eventuallyValue("bob's record", timeout: 60) { t.record("mine") }
        let go = t.base + "/go"
        try OwnerTests().drop(t, as: alice, "hers.json", #"{"id": "hers", "command": "while [ ! -e \#(go) ]; do sleep 0.1; done; exit 3"}"#)
        let aliceDir = t.spool + "/.hopper/slurm/\(alice.uid)", bobDir = t.spool + "/.hopper/slurm/\(bob.uid)"
        try await eventually("her job started", timeout: 60) { t.names(".hopper/slurm/\(alice.uid)").contains("hers.1.start") }
        let intrude = try Self.run(as: bob, ["/bin/sh", "-c", "echo 0 h1 999 > \"$0/hers.1.exit\"", aliceDir])
        #expect(intrude.exitCode != 0, "bob wrote into alice's job directory")
        let forge = try Self.run(as: bob, ["/bin/sh", "-c", "echo 0 h1 999 > \"$0/.x\" && mv \"$0/.x\" \"$0/hers.1.exit\"", bobDir])
        #expect(forge.exitCode == 0, "\(forge.stderr)")
        #expect(t.record("hers") == nil, "her task ended before her job did")
        try t.write(go, "")
        let record = try await eventuallyValue("her record", timeout: 60) { t.record("hers") }
        #expect(record["state"] == .string("failed") && record["exit_code"] == .int(3), "\(record["message"] ?? .null)")
        #expect(record["slurm_job_id"] != .string("999"))
        #expect(try await daemon.stop() == .exited(0))
    }

    /// A daemon killed while an owner's job runs: the next one finds the
    /// owner's job directory on disk, watches it, and records the job.
    @Test func aRestartFollowsAnOwnersJob() async throws {
        let cluster = try SlurmCluster.require()
        let (alice, _) = try OwnerTests().accounts()
        let t = try Self.spool()
        var daemon = try await DaemonProcess(t, environment: cluster.environment).ready(timeout: 30)
        // Her job runs until the next daemon is up (it waits for a file the test makes then).
        let go = t.base + "/go"
        try OwnerTests().drop(t, as: alice, "long.json", #"{"id": "long", "command": "while [ ! -e \#(go) ]; do sleep 0.1; done; id -u"}"#)
        try await eventually("her job started", timeout: 60) { t.names(".hopper/slurm/\(alice.uid)").contains("long.1.start") }
        try await daemon.crash()
        daemon = try await DaemonProcess(t, environment: cluster.environment).ready(timeout: 30)
        try t.write(go, "")
        let record = try await eventuallyValue("her record", timeout: 60) { t.record("long") }
        #expect(record["message"] == .string("Exited with status 0."), "recorded from her job's exit file: \(record["message"] ?? .null)")
        #expect(t.read("done/long.out") == "\(alice.uid)\n")
        #expect(try await daemon.stop() == .exited(0))
    }
}
