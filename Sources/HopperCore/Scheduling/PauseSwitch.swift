/// Which providers may not start tasks (SPEC section 12): the names of the
/// files in `spool/paused/`, a provider's name or `ALL`.
///
/// A pure value. The daemon lists paused/ whenever inotify reports a change
/// there (or after an overflow) and hands the names to `observe`, which
/// returns what changed, for the log; `holds` answers the scheduler's
/// question. Running tasks are not its business: a pause only stops starts.
///
/// | event | before | after | returns |
/// |---|---|---|---|
/// | `observe` with a new name | not paused | paused | `.paused(name)` |
/// | `observe` without a name held | paused | not paused | `.resumed(name)` |
/// | `observe`, same names | — | unchanged | nothing |
public struct PauseSwitch: Sendable, Equatable {
    public static let all = "ALL"

    public enum Change: Sendable, Equatable {
        case paused(String)
        case resumed(String)
    }

    /// The names held: providers, and `ALL`.
    public private(set) var names: Set<String> = []

    public init(names: Set<String> = []) { self.names = names }

    public var isAllPaused: Bool { names.contains(Self.all) }

    /// Whether tasks of `provider` must wait.
    public func holds(_ provider: String) -> Bool { isAllPaused || names.contains(provider) }

    /// Takes the current listing of paused/; returns the changes in name order.
    public mutating func observe(_ listing: Set<String>) -> [Change] {
        let added = listing.subtracting(names).sorted().map(Change.paused)
        let removed = names.subtracting(listing).sorted().map(Change.resumed)
        names = listing
        return added + removed
    }

    /// The names in display order: `ALL` first, then providers.
    public var sorted: [String] {
        (isAllPaused ? [Self.all] : []) + names.filter { $0 != Self.all }.sorted()
    }
}
