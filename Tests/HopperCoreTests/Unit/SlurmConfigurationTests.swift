import Testing
@testable import HopperCore

/// A `mode: "slurm"` provider's configuration (SPEC section 11), and the
/// task file's Slurm keys.
@Suite struct SlurmConfigurationTests {
    private func provider(_ json: String) throws -> Provider {
        let config = try Configuration(json: try JSONParser.parse(#"{"providers": {"cluster": \#(json)}}"#))
        return try #require(config.providers["cluster"])
    }

    private func refusal(_ json: String) -> HopperError? {
        do {
            _ = try Configuration(json: try JSONParser.parse(#"{"providers": {"cluster": \#(json)}}"#))
            return nil
        } catch let e as HopperError { return e } catch { return nil }
    }

    @Test func theSpecSampleDecodes() throws {
        let p = try provider(#"{"mode": "slurm", "command": ["/bin/sh", "-c", "{command}"], "slurm": {"partition": "main", "max_jobs": 500, "args": ["--mem=2G"]}}"#)
        #expect(p.mode == .slurm)
        #expect(p.slurm == { var s = SlurmSettings(); s.partition = "main"; s.maxJobs = 500; s.args = ["--mem=2G"]; return s }())
    }

    @Test func defaultsWithoutASlurmObject() throws {
        let p = try provider(#"{"mode": "slurm", "command": ["/bin/true"]}"#)
        #expect(p.slurm?.maxJobs == 100 && p.slurm?.partition == nil && p.slurm?.args == [])
    }

    @Test func errorsNameTheKey() {
        #expect(refusal(#"{"mode": "slurm", "command": ["x"], "slurm": {"max_jobs": 0}}"#)?.field == "providers.cluster.slurm.max_jobs")
        #expect(refusal(#"{"mode": "slurm", "command": ["x"], "slurm": {"queue": "x"}}"#)?.field == "providers.cluster.slurm.queue")
        #expect(refusal(#"{"mode": "exec", "command": ["x"], "slurm": {}}"#)?.field == "providers.cluster.slurm")
        #expect(refusal(#"{"mode": "slurm", "command": ["x"], "auth": {"command": ["true"]}}"#)?.field == "providers.cluster.auth")
        #expect(refusal(#"{"mode": "cluster", "command": ["x"]}"#)?.message.contains("\"slurm\"") == true)
    }

    @Test func missingCommandsAreNamed() {
        do {
            _ = try SlurmCommands.locate(path: "/nonexistent", provider: "cluster")
            Issue.record("found Slurm's commands in /nonexistent")
        } catch {
            #expect(error.message.contains("sbatch") && error.field == "providers.cluster.mode")
        }
    }

    @Test func theTaskFileKeepsTheAttemptAndTheJobID() throws {
        var task = SpooledTask(id: TaskID("t")!, request: TaskRequest(command: "true"), provider: "cluster", source: "t.json",
                               submittedAt: Timestamp(nanoseconds: 0), seq: 1)
        task.slurmAttempt = 2
        task.slurmJobID = "4711"
        let back = try SpooledTask.decode(task.encoded())
        #expect(back.slurmAttempt == 2 && back.slurmJobID == "4711")
        task.slurmAttempt = nil
        task.slurmJobID = nil
        let plain = try SpooledTask.decode(task.encoded())
        #expect(plain.slurmAttempt == nil && plain.slurmJobID == nil)
        #expect(!String(decoding: task.encoded(), as: UTF8.self).contains("slurm"))
    }
}
