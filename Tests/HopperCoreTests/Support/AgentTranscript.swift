@testable import HopperCore

/// Feeds an agent adapter what a CLI printed, in order, and returns the
/// first outcome it decides (nil when it decides none).
struct AgentTranscript {
    var events: [AgentEvent] = []

    init(stdout: [String] = [], stderr: [String] = [], exit: ExitStatus? = .exited(0)) {
        events = stdout.map(AgentEvent.stdout) + stderr.map(AgentEvent.stderr)
        if let exit { events.append(.exited(exit)) }
    }

    init(_ events: [AgentEvent]) { self.events = events }

    /// Runs one task through `adapter` (calling `beginTask()` first) and
    /// checks that nothing after the deciding event decides again.
    func outcome<A: AgentAdapter>(_ adapter: inout A, now: Timestamp = AgentTranscript.now) -> AgentOutcome? {
        adapter.beginTask()
        var decided: AgentOutcome?
        for event in events {
            if let outcome = adapter.consume(event, now: now) {
                precondition(decided == nil, "an adapter decided one task twice")
                decided = outcome
            }
        }
        return decided
    }

    /// 2026-12-03T11:00:00Z, a Thursday in standard time in both hemispheres' northern half.
    static let now = Timestamp(rfc3339: "2026-12-03T11:00:00Z")!

    /// The machine's zone files, with UTC as the local zone.
    static let zones = ZoneLookup.system(tz: "UTC")
}

/// `2026-12-03T13:00:00Z` as a `Timestamp`.
func instant(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

/// Hopper's exit status, named apart from Swift Testing's `ExitStatus`.
typealias ProcessExit = HopperCore.ExitStatus
