/// When a file that appeared in incoming/ may be taken: a pure value, no
/// clock, no I/O. The daemon feeds it what inotify (or a scan) saw of each
/// name and carries out the action it returns; a `.wait` comes back as
/// `due(_:now:)` when its instant has come.
///
/// A file renamed in is whole: it is taken at once. A file written in place
/// (created, written and closed inside incoming/) may be written again — the
/// shell's `>` then `>>`, an editor's second save — so it is taken only once
/// it has been left alone for `settle` seconds; every further sign of
/// activity starts the wait again.
///
/// A file created by `open` is opened in the same system call (inotify
/// reports IN_CREATE then IN_OPEN): it is being written, and its close
/// starts the wait. A file created by `link` (Maildir-style delivery:
/// `ln tmp/x incoming/x.json && rm tmp/x`, or `O_TMPFILE` and `linkat`) is
/// never opened: it settles from its creation, and is then taken — and
/// rejected `hard_link` if it is still linked elsewhere. (Removing the other
/// link changes the file's ctime, which the daemon checks when a wait is
/// due, but raises no event on the directory's watch.)
///
/// | seen of a name                       | state after | action                   |
/// |--------------------------------------|-------------|--------------------------|
/// | renamed in                           | —           | take                     |
/// | created                              | created     | wait `settle`            |
/// | opened, after created                | writing     | none (waits for a close) |
/// | opened, otherwise                    | unchanged   | none                     |
/// | closed after writing                 | settling    | wait `settle` (restarts) |
/// | attributes changed                   | settling    | wait `settle` (restarts) |
/// | changed recently (at `due`)          | settling    | wait until quiet         |
/// | `due`, created or settling, come     | —           | take                     |
/// | `due`, otherwise                     | unchanged   | none (a later wait runs) |
/// | gone (deleted or renamed away)       | —           | none                     |
/// | forgotten (taken by a scan)          | —           | —                        |
public struct DropSettling: Sendable {
    public enum Sighting: Sendable, Equatable {
        case renamedIn
        case created
        case opened
        case closedAfterWriting
        case attributesChanged
        /// Last changed `ago` seconds before now (a file looked at when its wait was due).
        case lastChanged(ago: Double)
        case gone
    }

    public enum Action: Sendable, Equatable {
        case none
        case take
        case wait(until: MonotonicInstant)
    }

    private enum State: Sendable, Equatable {
        /// Created; an open right after would say it is being written.
        case created(until: MonotonicInstant)
        case writing
        case settling(until: MonotonicInstant)
    }

    /// Seconds a file written in place must be left alone before it is taken
    /// (a new value applies to waits started after it is set).
    public var settle: Double
    private var names: [FileName: State] = [:]

    public init(settle: Double) {
        self.settle = settle
    }

    /// Names seen and not yet taken.
    public var count: Int { names.count }

    public mutating func saw(_ name: FileName, _ sighting: Sighting, now: MonotonicInstant) -> Action {
        switch sighting {
        case .renamedIn:
            names[name] = nil
            return .take
        case .gone:
            names[name] = nil
            return .none
        case .created:
            let until = now.adding(seconds: settle)
            names[name] = .created(until: until)
            return .wait(until: until)
        case .opened:
            if case .created = names[name] { names[name] = .writing }
            return .none
        case .closedAfterWriting, .attributesChanged:
            return wait(name, until: now.adding(seconds: settle))
        case .lastChanged(let ago):
            if ago >= settle {
                names[name] = nil
                return .take
            }
            return wait(name, until: now.adding(seconds: settle - max(0, ago)))
        }
    }

    /// `name` was taken without waiting (a scan): any wait for it is void.
    public mutating func forget(_ name: FileName) {
        names[name] = nil
    }

    /// A wait returned earlier has come to its instant.
    public mutating func due(_ name: FileName, now: MonotonicInstant) -> Action {
        switch names[name] {
        case .created(let until), .settling(let until):
            guard !(now < until) else { return .none }
            names[name] = nil
            return .take
        case .writing, nil:
            return .none
        }
    }

    private mutating func wait(_ name: FileName, until: MonotonicInstant) -> Action {
        names[name] = .settling(until: until)
        return .wait(until: until)
    }
}
