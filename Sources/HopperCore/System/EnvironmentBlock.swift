/// An environment as `NAME=value` lines, merged from layers: a later layer
/// replaces a name's value where the name first appeared, and a new name
/// goes at the end (the order `env(1)` and a shell keep).
///
/// Every environment the daemon gives (a task's, a session's, an auth
/// command's, a hook's) is the daemon's own with layers on top. A task's is
/// the daemon's, then the provider's user and `env`, then the session's,
/// the request's and Hopper's own names. All but the last three are the
/// same for every task of a provider and user, so they are merged once into
/// a block (`init`), and a task's own names are laid over a copy of its
/// lines (`with`): a few look-ups instead of hashing and joining every name
/// of the daemon's environment per task.
public struct EnvironmentBlock: Sendable, Equatable {
    /// The merged lines, in order.
    public private(set) var lines: [String] = []
    /// Each name's line.
    private var position: [String: Int] = [:]

    /// Merges `layers`, first to last.
    public init(_ layers: [(String, String)]...) {
        for layer in layers {
            for (name, value) in layer { set(name, value) }
        }
    }

    private mutating func set(_ name: String, _ value: String) {
        let line = name + "=" + value
        if let index = position[name] {
            lines[index] = line
        } else {
            position[name] = lines.count
            lines.append(line)
        }
    }

    /// The lines with `layers` merged over them, first to last.
    public func with(_ layers: [(String, String)]...) -> [String] {
        var out = lines
        // Names new to the block, with their line: a task adds a handful.
        var added: [(name: String, index: Int)] = []
        for layer in layers {
            for (name, value) in layer {
                let line = name + "=" + value
                if let index = position[name] ?? added.first(where: { $0.name == name })?.index {
                    out[index] = line
                } else {
                    added.append((name, out.count))
                    out.append(line)
                }
            }
        }
        return out
    }
}
