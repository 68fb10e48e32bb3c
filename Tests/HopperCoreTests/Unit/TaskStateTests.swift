import Testing
@testable import HopperCore

/// The one state enum: canonical names, legacy spellings, and the
/// terminal/active/directory facts every other layer relies on.
@Suite struct TaskStateTests {
    @Test func canonicalNamesAreTheContractsWords() {
        #expect(TaskState.allCases.map(\.rawValue) == ["pending", "queued", "running", "succeeded", "failed", "error", "cancelled"])
        for state in TaskState.allCases {
            #expect(TaskState(name: state.rawValue) == state)
            #expect(!TaskState.isLegacy(state.rawValue))
        }
    }

    @Test(arguments: [
        ("processing", TaskState.running), ("PROCESSING", .running), ("Processing", .running),
        ("completed", .succeeded), ("COMPLETED", .succeeded), ("Completed", .succeeded),
        ("Running", .running), ("QUEUED", .queued), ("Cancelled", .cancelled), ("eRRoR", .error),
    ])
    func readsLegacyAndMixedCaseNames(name: String, state: TaskState) {
        #expect(TaskState(name: name) == state)
        #expect(TaskState.isLegacy(name))
    }

    @Test(arguments: ["", "done", "canceled", "succeed", " running", "running ", "complete", "process"])
    func rejectsUnknownNames(name: String) {
        #expect(TaskState(name: name) == nil)
        #expect(!TaskState.isLegacy(name))
    }

    @Test func legacyNamesAreNeverWritten() {
        // rawValue is what records carry; no case spells a legacy name.
        for state in TaskState.allCases {
            #expect(state.rawValue != "processing" && state.rawValue != "completed")
            #expect(state.rawValue == state.rawValue.lowercased())
        }
    }

    @Test func terminalAndActiveForEveryCase() {
        let terminal: Set<TaskState> = [.succeeded, .failed, .error, .cancelled]
        let active: Set<TaskState> = [.running]
        for state in TaskState.allCases {
            #expect(state.isTerminal == terminal.contains(state), "isTerminal of \(state)")
            #expect(state.isActive == active.contains(state), "isActive of \(state)")
            #expect(!(state.isTerminal && state.isActive), "\(state) cannot be both")
        }
    }

    @Test func directoryOfEveryCase() {
        #expect(TaskState.pending.directory == .pending)
        #expect(TaskState.queued.directory == .queued)
        #expect(TaskState.running.directory == .running)
        for state in TaskState.allCases where state.isTerminal {
            #expect(state.directory == .done, "directory of \(state)")
        }
        for state in TaskState.allCases where !state.isTerminal {
            #expect(state.directory.rawValue == state.rawValue, "directory of \(state)")
        }
    }
}
