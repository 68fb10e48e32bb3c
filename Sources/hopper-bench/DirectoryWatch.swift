import Glibc
import HopperCore

/// An inotify watch on one spool directory, made before the action it
/// observes so nothing after `init` is missed. Files arrive in the spool by
/// rename (IN_MOVED_TO) or are written in place (IN_CLOSE_WRITE).
///
/// Waiting never sleeps for a result: it blocks in poll(2) on the inotify
/// descriptor, with a deadline. An IN_Q_OVERFLOW, or a second without
/// events, is answered by listing the directory, and a count is always
/// confirmed by a listing before it is believed.
final class DirectoryWatch {
    let path: String
    private let inotify: Inotify

    init(_ path: String) {
        self.path = path
        do {
            inotify = try Inotify()
            _ = try inotify.addWatch(path, mask: InotifyMask.movedTo | InotifyMask.closeWrite)
        } catch {
            Harness.fail("cannot watch \(path): \(error)")
        }
    }

    deinit { inotify.close() }

    /// How many entries of the directory start with `prefix` and end with `suffix` (one getdents64 listing).
    func count(prefix: String = "", suffix: String = ".json") -> Int {
        guard let d = try? Directory.open(path) else { return 0 }
        defer { d.close() }
        let head = Array(prefix.utf8), tail = Array(suffix.utf8)
        return ((try? d.entries()) ?? []).filter { Self.matches($0.bytes, head, tail) }.count
    }

    /// Events until `deadline`; empty after a quiet second, nil once the deadline has passed.
    private func events(until deadline: Double) -> [InotifyEvent]? {
        let left = deadline - Harness.now()
        if left <= 0 { return nil }
        var pfd = pollfd(fd: inotify.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        _ = poll(&pfd, 1, Int32(min(1000, max(1, left * 1000))))
        return (try? inotify.readEvents()) ?? []
    }

    private static func matches(_ name: [UInt8], _ prefix: [UInt8], _ suffix: [UInt8]) -> Bool {
        name.count > prefix.count + suffix.count && name.starts(with: prefix) && Array(name.suffix(suffix.count)) == suffix
    }

    private static func name(_ event: InotifyEvent, endsWith suffix: [UInt8]) -> Bool {
        matches(event.name, [], suffix)
    }

    /// Blocks until at least `n` names starting with `prefix` and ending in
    /// `suffix` exist; false at the deadline.
    func wait(forCount n: Int, prefix: String = "", suffix: String = ".json", timeout: Double) -> Bool {
        let deadline = Harness.now() + timeout
        let head = Array(prefix.utf8), tail = Array(suffix.utf8)
        var seen = count(prefix: prefix, suffix: suffix)
        while true {
            if seen >= n {
                seen = count(prefix: prefix, suffix: suffix)
                if seen >= n { return true }
            }
            guard let batch = events(until: deadline) else { return false }
            if batch.isEmpty || batch.contains(where: \.isOverflow) {
                seen = count(prefix: prefix, suffix: suffix)
            } else {
                seen += batch.filter { Self.matches($0.name, head, tail) }.count
            }
        }
    }

    /// Blocks until `name` exists; returns the monotonic time it was seen, nil at the deadline.
    func wait(forName name: String, timeout: Double) -> Double? {
        let deadline = Harness.now() + timeout
        let target = Array(name.utf8)
        let full = path + "/" + name
        if access(full, F_OK) == 0 { return Harness.now() }
        while let batch = events(until: deadline) {
            if batch.contains(where: { $0.name == target }) { return Harness.now() }
            if (batch.isEmpty || batch.contains(where: \.isOverflow)) && access(full, F_OK) == 0 { return Harness.now() }
        }
        return nil
    }

    /// Blocks until the first name ending in `suffix` arrives; returns the
    /// monotonic time it was seen, nil at the deadline.
    func wait(forFirst suffix: String, timeout: Double) -> Double? {
        let deadline = Harness.now() + timeout
        let tail = Array(suffix.utf8)
        if count(suffix: suffix) > 0 { return Harness.now() }
        while let batch = events(until: deadline) {
            if batch.contains(where: { Self.name($0, endsWith: tail) }) { return Harness.now() }
            if (batch.isEmpty || batch.contains(where: \.isOverflow)) && count(suffix: suffix) > 0 { return Harness.now() }
        }
        return nil
    }
}
