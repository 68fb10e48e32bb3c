import Testing
@testable import HopperCore

/// The Slurm job table: every path from start to end, without a process.
@Suite struct SlurmJobTableTests {
    let a = TaskID("a")!, b = TaskID("b")!, c = TaskID("c")!

    private func running(_ jobID: String, _ name: String, _ state: String = "RUNNING", node: String? = "h1") -> SlurmJobTable.JobState {
        SlurmJobTable.JobState(jobID: jobID, name: name, state: state, node: node)
    }

    /// A table with `ids` submitted as jobs 101, 102, …
    private func submitted(_ ids: [TaskID]) -> SlurmJobTable {
        var t = SlurmJobTable(maxJobs: 10)
        for id in ids { _ = t.start(id, attempt: 1) }
        _ = t.submitIfDue()
        _ = t.submitted(ids.enumerated().map { ($0.element, .success(String(101 + $0.offset))) })
        // The poll the submission asked for: every job runs.
        _ = t.polled(ids.enumerated().map { running(String(101 + $0.offset), "hopper-\($0.element)") })
        return t
    }

    @Test func tasksStartedInOneTurnAreSubmittedInOneBatch() {
        var t = SlurmJobTable(maxJobs: 10)
        #expect(t.start(a, attempt: 1) == [.armSubmit])
        #expect(t.start(b, attempt: 1) == [], "the submission is already armed")
        #expect(t.start(c, attempt: 2) == [])
        #expect(t.submitIfDue() == [.submit([a, b, c], owner: nil)])
        #expect(t.jobs[a]?.phase == .submitting)
        #expect(t.submitIfDue() == [], "nothing waits")
    }

    @Test func batchesAreCappedAndAtMostTwoAreInFlight() {
        var t = SlurmJobTable(maxJobs: 10, maxBatch: 2, maxSubmissionsInFlight: 2)
        let ids = (0..<7).map { TaskID("t\($0)")! }
        for id in ids { _ = t.start(id, attempt: 1) }
        #expect(t.submitIfDue() == [.submit([ids[0], ids[1]], owner: nil), .submit([ids[2], ids[3]], owner: nil)])
        let next = t.submitted([(ids[0], .success("1")), (ids[1], .success("2"))])
        #expect(next == [.writeJobID(ids[0], "1"), .writeJobID(ids[1], "2"), .submit([ids[4], ids[5]], owner: nil), .poll])
    }

    /// `sbatch` runs as the owner of the tasks it submits: a batch never mixes owners.
    @Test func eachBatchHoldsTheTasksOfOneOwner() {
        var t = SlurmJobTable(maxJobs: 10, maxBatch: 2, maxSubmissionsInFlight: 2)
        let ids = (0..<5).map { TaskID("t\($0)")! }
        for (id, owner) in zip(ids, [UInt32(1001), nil, 1001, 1001, 1002]) { _ = t.start(id, attempt: 1, owner: owner) }
        #expect(t.submitIfDue() == [.submit([ids[0], ids[2]], owner: 1001), .submit([ids[1]], owner: nil)])
        #expect(t.submitted([(ids[1], .success("7"))]) == [.writeJobID(ids[1], "7"), .submit([ids[3]], owner: 1001), .poll])
        #expect(t.exited(ids[0], attempt: 1, status: .exited(0), node: "h1", jobID: "5")
                == [.finish(ids[0], attempt: 1, .exited(.exited(0), node: "h1", jobID: "5"), nil), .removeJobFiles(ids[0], attempt: 1, owner: 1001)],
                "the files go from the owner's job directory")
        #expect(t.jobs[ids[4]]?.phase == .waiting, "the next owner's batch waits for a free submission")
    }

    @Test func maxJobsCountsEveryUnfinishedTask() {
        var t = SlurmJobTable(maxJobs: 2)
        _ = t.start(a, attempt: 1)
        #expect(t.hasCapacity)
        _ = t.start(b, attempt: 1)
        #expect(!t.hasCapacity)
        _ = t.exited(a, attempt: 1, status: .exited(0), node: "h1", jobID: "7")
        #expect(t.hasCapacity)
    }

    @Test func aRefusedSubmissionEndsItsTaskOnly() {
        var t = SlurmJobTable(maxJobs: 10)
        _ = t.start(a, attempt: 1)
        _ = t.start(b, attempt: 1)
        _ = t.submitIfDue()
        let actions = t.submitted([(a, .success("5")), (b, .failure(.init(message: "invalid partition")))])
        #expect(actions == [.writeJobID(a, "5"), .finish(b, attempt: 1, .notSubmitted("invalid partition"), nil), .removeJobFiles(b, attempt: 1, owner: nil), .poll])
        #expect(t.count == 1)
    }

    @Test func theStartFileArmsTheTimeoutOnce() {
        var t = submitted([a])
        #expect(t.started(a, attempt: 1, node: "h2") == [.armTimeout(a, attempt: 1)])
        #expect(t.started(a, attempt: 1, node: "h2") == [])
        #expect(t.jobs[a]?.node == "h2")
        #expect(t.started(a, attempt: 2, node: "h2") == [], "another attempt's file")
    }

    @Test func theExitFileEndsTheTaskExactlyOnce() {
        var t = submitted([a])
        let end = SlurmJobTable.End.exited(.exited(3), node: "h1", jobID: "101")
        #expect(t.exited(a, attempt: 1, status: .exited(3), node: "h1", jobID: "101") == [.finish(a, attempt: 1, end, nil), .removeJobFiles(a, attempt: 1, owner: nil)])
        #expect(t.exited(a, attempt: 1, status: .exited(3), node: "h1", jobID: "101") == [])
        #expect(t.polled([running("101", "hopper-a", "COMPLETED")]) == [])
    }

    @Test func anExitFileBeforeTheJobIDStillEndsTheTask() {
        var t = SlurmJobTable(maxJobs: 10)
        _ = t.start(a, attempt: 1)
        _ = t.submitIfDue()
        #expect(t.exited(a, attempt: 1, status: .exited(0), node: "h2", jobID: "9")
                == [.finish(a, attempt: 1, .exited(.exited(0), node: "h2", jobID: "9"), nil), .removeJobFiles(a, attempt: 1, owner: nil)])
        #expect(t.submitted([(a, .success("9"))]) == [], "the late job id finds the task gone")
    }

    @Test func cancelBeforeSubmissionNeverSubmits() {
        var t = SlurmJobTable(maxJobs: 10)
        _ = t.start(a, attempt: 1)
        #expect(t.stop(a, attempt: 1, .cancel) == [.finish(a, attempt: 1, .neverSubmitted, .cancel), .removeJobFiles(a, attempt: 1, owner: nil)])
        #expect(t.submitIfDue() == [])
    }

    @Test func cancelDuringSubmissionCancelsTheJobOnceItsIDComes() {
        var t = SlurmJobTable(maxJobs: 10)
        _ = t.start(a, attempt: 1)
        _ = t.submitIfDue()
        #expect(t.stop(a, attempt: 1, .cancel) == [])
        #expect(t.submitted([(a, .success("12"))]) == [.writeJobID(a, "12"), .scancel(a, "12"), .poll])
    }

    @Test func cancelAndTimeoutOfASubmittedJobScancelIt() {
        var t = submitted([a, b])
        #expect(t.stop(a, attempt: 1, .cancel) == [.scancel(a, "101")])
        #expect(t.stop(a, attempt: 1, .timeout) == [], "the first stop decides")
        #expect(t.stop(b, attempt: 1, .timeout) == [.scancel(b, "102")])
        // Cancelled jobs leave no exit file: the poll ends them, with the stop carried.
        #expect(t.polled([]) == [])
        #expect(t.polled([]) == [.finish(a, attempt: 1, .lost(jobID: "101"), .cancel), .removeJobFiles(a, attempt: 1, owner: nil),
                                 .finish(b, attempt: 1, .lost(jobID: "102"), .timeout), .removeJobFiles(b, attempt: 1, owner: nil)])
    }

    @Test func aJobEndedWithoutExitFileEndsWithSlurmsStateAtTheSecondLook() {
        var t = submitted([a])
        #expect(t.polled([running("101", "hopper-a")]) == [])
        #expect(t.polled([running("101", "hopper-a", "NODE_FAIL", node: "h2")]) == [], "the exit file may trail")
        #expect(t.polled([running("101", "hopper-a", "NODE_FAIL", node: "h2")])
                == [.finish(a, attempt: 1, .slurm(state: "NODE_FAIL", node: "h2", jobID: "101"), nil), .removeJobFiles(a, attempt: 1, owner: nil)])
    }

    @Test func anActiveStateBetweenTwoLooksResetsTheCount() {
        var t = submitted([a])
        #expect(t.polled([]) == [])
        #expect(t.polled([running("101", "hopper-a")]) == [])
        #expect(t.polled([]) == [], "one look again, not the second")
    }

    @Test func afterARestartJobsAreFollowedByIDOrFoundByName() {
        var t = SlurmJobTable(maxJobs: 10)
        #expect(t.follow(a, attempt: 2, jobID: "55", hasStarted: true) == [.poll])
        #expect(t.follow(b, attempt: 1, jobID: nil, hasStarted: false) == [], "one poll serves both")
        #expect(t.follow(c, attempt: 1, jobID: nil, hasStarted: false) == [])
        let queue = [running("55", "hopper-a"), running("77", "hopper-b", "PENDING", node: nil)]
        #expect(t.polled(queue) == [.writeJobID(b, "77")], "b was submitted; c is looked for once more")
        #expect(t.jobs[b]?.phase == .submitted(jobID: "77"))
        #expect(t.polled(queue) == [.requeue(c), .removeJobFiles(c, attempt: 1, owner: nil)], "c never was")
        #expect(t.jobs[c] == nil)
    }

    /// A daemon killed while its sbatch ran: the next one kills that sbatch,
    /// but the submission may have reached slurmctld and show in squeue only
    /// a moment later. A task requeued then would run twice.
    @Test func aJobNotFoundByNameIsLookedForOnceMoreBeforeItsTaskRunsAgain() {
        var t = SlurmJobTable(maxJobs: 10)
        _ = t.follow(a, attempt: 3, jobID: nil, hasStarted: false)
        #expect(t.polled([]) == [], "not listed yet")
        #expect(t.polled([running("90", "hopper-a", "PENDING", node: nil)]) == [.writeJobID(a, "90")], "it landed: followed, not run again")
        #expect(t.jobs[a]?.phase == .submitted(jobID: "90") && t.jobs[a]?.endedPolls == 0)
    }

    @Test func aCancelledTaskFoundNeverSubmittedEndsInsteadOfRunning() {
        var t = SlurmJobTable(maxJobs: 10)
        _ = t.follow(a, attempt: 1, jobID: nil, hasStarted: false)
        #expect(t.stop(a, attempt: 1, .cancel) == [], "its job is being looked for")
        #expect(t.polled([]) == [])
        #expect(t.polled([]) == [.finish(a, attempt: 1, .neverSubmitted, .cancel), .removeJobFiles(a, attempt: 1, owner: nil)])
    }

    /// The flake of `killNineWhileJobsRunLosesNoneAndRunsNoneTwice`: a job
    /// exits 0 and writes its exit file; the daemon removed the job's files
    /// first and was killed before its record was written. The next daemon
    /// followed the job by its id, found no exit file and Slurm saying
    /// COMPLETED, and recorded it failed. The files now go only after the
    /// end is carried out, so whatever instant the kill comes, the next daemon
    /// still finds the exit file.
    @Test func aKillBetweenAnEndAndItsRecordLeavesTheExitFileForTheNextDaemon() {
        var before = submitted([a])
        let ended = before.exited(a, attempt: 1, status: .exited(0), node: "h1", jobID: "101")
        let end = SlurmJobTable.End.exited(.exited(0), node: "h1", jobID: "101")
        #expect(ended == [.finish(a, attempt: 1, end, nil), .removeJobFiles(a, attempt: 1, owner: nil)], "the end first, its proof last")
        // Killed after none, or only the first, of those actions: the task file
        // is still in running/ with its job id, and the exit file is there.
        var after = SlurmJobTable(maxJobs: 10)
        #expect(after.follow(a, attempt: 1, jobID: "101", hasStarted: false) == [.poll])
        #expect(after.exited(a, attempt: 1, status: .exited(0), node: "h1", jobID: "101") == ended, "recorded from the exit file, once")
        #expect(after.polled([running("101", "hopper-a", "COMPLETED")]) == [], "Slurm's news of a job already ended changes nothing")
    }

    /// Whatever way a task leaves the table, its files go right after its end, never before.
    @Test func jobFilesAreRemovedOnlyRightAfterTheirEnd() {
        var t = SlurmJobTable(maxJobs: 20, maxBatch: 3)
        var actions: [SlurmJobTable.Action] = []
        let ids = (0..<9).map { TaskID("t\($0)")! }
        for id in ids[0...5] + [ids[8]] { actions += t.start(id, attempt: 1) }
        actions += t.stop(ids[8], attempt: 1, .cancel)
        actions += t.submitIfDue()
        actions += t.submitted([(ids[0], .success("1")), (ids[1], .success("2")), (ids[2], .failure(.init(message: "no")))])
        actions += t.stop(ids[1], attempt: 1, .timeout)
        actions += t.exited(ids[0], attempt: 1, status: .exited(0), node: "h1", jobID: "1")
        actions += t.submitted([(ids[3], .success("4")), (ids[4], .success("5")), (ids[5], .success("6"))])
        actions += t.follow(ids[6], attempt: 2, jobID: nil, hasStarted: false)
        actions += t.follow(ids[7], attempt: 1, jobID: "8", hasStarted: true)
        for _ in 0..<2 { actions += t.polled([running("4", "hopper-t3", "FAILED"), running("6", "hopper-t5")]) }
        let removals = actions.indices.filter { if case .removeJobFiles = actions[$0] { true } else { false } }
        #expect(removals.count == 8, "t0 exited, t1 timed out, t2 refused, t3 failed, t4 and t7 lost, t6 never submitted, t8 cancelled: \(actions)")
        for i in removals {
            guard case .removeJobFiles(let id, let attempt, _) = actions[i], i > 0 else { Issue.record("a removal first"); continue }
            switch actions[i - 1] {
            case .finish(let ended, let n, _, _): #expect(ended == id && n == attempt)
            case .requeue(let requeued): #expect(requeued == id && attempt == 2)
            default: Issue.record("\(actions[i]) does not follow its end but \(actions[i - 1])")
            }
        }
        #expect(t.count == 1, "only t5 still runs")
    }

    @Test func aFailedPollChangesNothing() {
        var t = submitted([a])
        #expect(t.pollIfDue() == [.poll])
        #expect(t.pollIfDue() == [], "one poll in flight")
        #expect(t.polled(nil) == [])
        #expect(t.jobs[a]?.endedPolls == 0)
    }
}

/// Slurm's ends mapped to records (SPEC section 11).
@Suite struct SlurmOutcomeTests {
    @Test func exitStatusesAsTheShellReportsThem() {
        #expect(SlurmOutcome.status(0) == .exited(0))
        #expect(SlurmOutcome.status(128) == .exited(128))
        #expect(SlurmOutcome.status(137) == .signaled(.kill))
        #expect(SlurmOutcome.of(.exited(.exited(0), node: nil, jobID: nil), stop: nil, timeout: 5)
                == .record(state: .succeeded, reason: .exit, message: "Exited with status 0.", exitCode: 0, signal: nil))
        #expect(SlurmOutcome.of(.exited(.signaled(.kill), node: nil, jobID: nil), stop: nil, timeout: 5)
                == .record(state: .failed, reason: .signal, message: "Killed by signal 9 (SIGKILL).", exitCode: nil, signal: 9))
    }

    @Test func hoppersStopsOutrankTheJobsEnd() throws {
        guard case .record(let state, let reason, _, _, _) = SlurmOutcome.of(.lost(jobID: "1"), stop: .cancel, timeout: 5) else { throw TimedOut(what: "a record") }
        #expect(state == .cancelled && reason == .cancelled)
        guard case .record(let s2, let r2, let m2, _, _) = SlurmOutcome.of(.exited(.exited(143), node: nil, jobID: nil), stop: .timeout, timeout: 2.5) else { throw TimedOut(what: "a record") }
        #expect(s2 == .failed && r2 == .timeout && m2.contains("2.5 seconds"))
    }

    @Test(arguments: ["NODE_FAIL", "PREEMPTED", "BOOT_FAIL"])
    func clusterFailuresAreInterruptions(state: String) {
        #expect(SlurmOutcome.of(.slurm(state: state, node: "h1", jobID: "4"), stop: nil, timeout: 5) == .interrupted("Slurm job 4 ended \(state)"))
    }

    @Test func slurmTimeoutAndOutOfMemory() throws {
        guard case .record(let s, let r, _, _, _) = SlurmOutcome.of(.slurm(state: "TIMEOUT", node: nil, jobID: "4"), stop: nil, timeout: 5) else { throw TimedOut(what: "a record") }
        #expect(s == .failed && r == .timeout)
        guard case .record(let s2, _, let m2, _, let sig) = SlurmOutcome.of(.slurm(state: "OUT_OF_MEMORY", node: nil, jobID: "4"), stop: nil, timeout: 5) else { throw TimedOut(what: "a record") }
        #expect(s2 == .failed && m2.contains("OUT_OF_MEMORY") && sig == 9)
    }

    /// The job script exits with the command's status, so Slurm's COMPLETED
    /// is status 0 even when the exit file cannot be read.
    @Test func completedWithoutAnExitFileIsStatusZero() {
        #expect(SlurmOutcome.of(.slurm(state: "COMPLETED", node: "h1", jobID: "4"), stop: nil, timeout: 5)
                == .record(state: .succeeded, reason: .exit, message: "Exited with status 0 (Slurm job 4 COMPLETED; its exit file was not found).", exitCode: 0, signal: nil))
    }

    @Test func aRefusedSubmissionIsASpawnError() throws {
        guard case .record(let s, let r, let m, _, _) = SlurmOutcome.of(.notSubmitted("invalid partition specified"), stop: nil, timeout: 5) else { throw TimedOut(what: "a record") }
        #expect(s == .error && r == .spawn && m.contains("invalid partition"))
    }
}

/// The job script and the parsing of sbatch's and squeue's answers.
@Suite struct SlurmJobScriptTests {
    @Test func theScriptQuotesEverythingItPassesOn() {
        let script = SlurmJobScript(id: TaskID("t1")!, attempt: 2, argv: ["/bin/sh", "-c", "echo 'it''s' $HOME"],
                                    environment: [("X", "a'b")], workingDirectory: "/srv", hasStdin: true, spool: "/sp", timeout: 61)
        let text = script.text
        #expect(text.contains("#SBATCH --job-name=hopper-t1\n"))
        #expect(text.contains("#SBATCH --time=2\n"), "61 seconds round up to 2 minutes")
        #expect(text.contains("#SBATCH --output=/sp/running/t1.out\n"))
        #expect(text.contains("#SBATCH --chdir=/srv\n"))
        #expect(text.contains("export X='a'\\''b'\n"))
        #expect(text.contains("'/bin/sh' '-c' 'echo '\\''it'\\'''\\''s'\\'' $HOME' < '/sp/.hopper/slurm/t1.2.stdin'\n"))
        #expect(text.contains("'/sp/.hopper/slurm/t1.2.exit'"))
    }

    @Test func anOwnersJobKeepsItsFilesInTheOwnersJobDirectory() {
        let script = SlurmJobScript(id: TaskID("t1")!, attempt: 2, argv: ["/bin/true"], environment: [], workingDirectory: nil,
                                    hasStdin: true, spool: "/sp", timeout: 60, jobDirectory: SlurmJobScript.directory(owner: 1001))
        #expect(script.path == "/sp/.hopper/slurm/1001/t1.2.job")
        #expect(script.text.contains("< '/sp/.hopper/slurm/1001/t1.2.stdin'\n"))
        #expect(script.text.contains("'/sp/.hopper/slurm/1001/.t1.2.start.tmp'") && script.text.contains("'/sp/.hopper/slurm/1001/t1.2.exit'"))
        #expect(script.text.contains("#SBATCH --output=/sp/running/t1.out\n"), "the outputs stay in running/")
        #expect(SlurmJobScript.directory(owner: nil) == ".hopper/slurm")
    }

    @Test func submissionsParseInOrder() throws {
        let results = SlurmJobScript.parseSubmissions("ok 17\nerr sbatch: error: invalid partition\nok 19_3\n", count: 4)
        #expect(results.count == 4)
        #expect(try results[0].get() == "17")
        #expect((try? results[1].get()) == nil)
        #expect(try results[2].get() == "19_3")
        #expect((try? results[3].get()) == nil, "a missing line is a refusal")
    }

    @Test func squeueIsAskedAboutHoppersJobsOnly() {
        #expect(SlurmJobScript.queueArguments(for: [TaskID("a")!, TaskID("b.2")!])
                == ["-h", "-t", "all", "--name=hopper-a,hopper-b.2", "-o", "%i|%j|%T|%N"])
    }

    @Test func squeueLinesParse() {
        let states = SlurmJobScript.parseQueue("12|hopper-a|RUNNING|h1\n13|hopper-b|PENDING|\n14|x|COMPLETED|h2\n")
        #expect(states == [SlurmJobTable.JobState(jobID: "12", name: "hopper-a", state: "RUNNING", node: "h1"),
                           SlurmJobTable.JobState(jobID: "13", name: "hopper-b", state: "PENDING", node: nil),
                           SlurmJobTable.JobState(jobID: "14", name: "x", state: "COMPLETED", node: "h2")])
        #expect(states[1].isActive && !states[2].isActive)
    }
}
