import Testing
@testable import HopperCore

/// Thrown when a polled condition is still false at its deadline.
struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every few milliseconds until it holds or `timeout`
/// seconds pass. Never a fixed sleep: it returns as soon as the condition does.
func eventually(_ what: String, timeout: Double = 20, _ condition: () throws -> Bool) async throws {
    let deadline = MonotonicInstant.now().adding(seconds: timeout)
    while true {
        if try condition() { return }
        if MonotonicInstant.now() > deadline { throw TimedOut(what: what) }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// Like `eventually`, returning the first non-nil value.
func eventuallyValue<T>(_ what: String, timeout: Double = 20, _ produce: () throws -> T?) async throws -> T {
    var result: T?
    try await eventually(what, timeout: timeout) {
        result = try produce()
        return result != nil
    }
    return result!
}

extension String {
    /// Without trailing newlines (the CLI ends every line with one).
    var trimmedLine: String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
