/// Where a queued task waits: its provider, and its owner, because a session
/// serves one owner only (SPEC section 13). A lane that cannot start a task
/// now (no session of that owner free, circuit open) costs one look a turn.
public struct Lane: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var provider: String
    /// The uid of the tasks' owner; nil for tasks accepted before owners were kept.
    public var owner: UInt32?

    public init(provider: String, owner: UInt32?) {
        self.provider = provider
        self.owner = owner
    }

    /// A lane of tasks without an owner.
    public init(stringLiteral provider: String) {
        self.init(provider: provider, owner: nil)
    }

    public var description: String { owner.map { "\(provider) (uid \($0))" } ?? provider }
}

extension SpooledTask {
    public var lane: Lane { Lane(provider: provider, owner: owner?.uid) }
}
