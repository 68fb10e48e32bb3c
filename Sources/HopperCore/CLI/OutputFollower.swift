import Glibc

/// Follows one task's `.out` (or `.err`) from running/ to done/.
struct OutputFollower {
    let reader: SpoolReader
    let id: TaskID
    let name: FileName
    private var fd: FileDescriptor?
    private var inode: UInt64 = 0

    init(reader: SpoolReader, id: TaskID, name: FileName) {
        self.reader = reader
        self.id = id
        self.name = name
    }

    mutating func run(follow: Bool) throws(HopperError) -> Int32 {
        let spool = reader.spool
        let changes = InotifyMask.create | InotifyMask.movedTo | InotifyMask.movedFrom | InotifyMask.delete
        var watch: TailCommand.Watch?
        if follow {
            watch = try TailCommand.Watch([
                (spool.path + "/running", changes | InotifyMask.modify),
                (spool.path + "/done", changes),
                (spool.path + "/pending", changes),
                (spool.path + "/queued", changes),
                (spool.path + "/incoming", changes),
                (spool.path + "/rejected", changes),
            ], what: id.rawValue)
        }
        defer {
            watch?.close()
            fd?.close()
        }
        while true {
            readOn()
            if let status = try step() { return status }
            // What the step just opened is read before waiting: its first bytes
            // may have come with the very event that showed the task running,
            // and no later event need come until the reader has seen them.
            readOn()
            guard let watch else { return 0 }
            watch.next()
        }
    }

    /// Looks at where the task is and acts on it; an exit status once it is over.
    private mutating func step() throws(HopperError) -> Int32? {
        let found: SpoolReader.Found
        switch reader.locate(id) {
        case .found(let f): found = f
        case .submitted: return nil
        case .rejected(let rejection):
            Output.error("cannot tail \(id): rejected: \(rejection["message"]?.stringValue ?? "see rejected/")")
            return 1
        case .missing: throw HopperError(.notFound, "cannot tail \(id): no such task")
        }
        switch found.state {
        case .pending, .queued:
            // A retry's previous output may sit in pending/; the next attempt
            // starts a new file in running/, which the .running case meets.
            return nil
        case .running:
            follow(in: .running)
            return nil
        case .succeeded, .failed, .error, .cancelled:
            follow(in: .done)
            readOn()
            return found.state == .succeeded ? 0 : 1
        }
    }

    /// Makes `directory`'s file the one read, unless it is the one already
    /// open; the old descriptor is read to its end first.
    private mutating func follow(in directory: SpoolDirectory) {
        guard let st = (try? reader.spool[directory].status(name)) ?? nil, UInt64(st.st_ino) != inode || fd == nil else { return }
        guard let opened = try? reader.spool[directory].openFile(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK),
              let openedStatus = try? opened.status() else { return }
        readOn()
        fd?.close()
        fd = opened
        inode = UInt64(openedStatus.st_ino)
    }

    private func readOn() {
        guard let fd else { return }
        TailCommand.drain(fd) { TailCommand.write($0) }
    }
}
