import Glibc
import Synchronization

/// One event read from an inotify descriptor (struct inotify_event).
public struct InotifyEvent: Sendable, Equatable {
    /// The watch descriptor; -1 for IN_Q_OVERFLOW.
    public let watch: Int32
    /// IN_* bits, see `InotifyMask`.
    public let mask: UInt32
    /// Pairs an IN_MOVED_FROM with its IN_MOVED_TO.
    public let cookie: UInt32
    /// The entry's name inside the watched directory, as raw bytes without the
    /// kernel's NUL padding; empty for events on the watched object itself.
    /// Not necessarily UTF-8.
    public let name: [UInt8]

    public init(watch: Int32, mask: UInt32, cookie: UInt32, name: [UInt8]) {
        self.watch = watch
        self.mask = mask
        self.cookie = cookie
        self.name = name
    }

    /// The kernel dropped events: whatever is watched must be rescanned.
    public var isOverflow: Bool { mask & InotifyMask.queueOverflow != 0 }
}

/// The IN_* constants of <sys/inotify.h>, as UInt32 (Swift imports some as
/// Int32 and some, being composite macros or GNU-only, not at all).
public enum InotifyMask {
    public static let access: UInt32 = 0x0000_0001
    public static let modify: UInt32 = 0x0000_0002
    public static let attributes: UInt32 = 0x0000_0004
    public static let closeWrite: UInt32 = 0x0000_0008
    public static let closeNoWrite: UInt32 = 0x0000_0010
    public static let open: UInt32 = 0x0000_0020
    public static let movedFrom: UInt32 = 0x0000_0040
    public static let movedTo: UInt32 = 0x0000_0080
    public static let create: UInt32 = 0x0000_0100
    public static let delete: UInt32 = 0x0000_0200
    public static let deleteSelf: UInt32 = 0x0000_0400
    public static let moveSelf: UInt32 = 0x0000_0800
    /// Events only: the file system holding the watched object was unmounted.
    public static let unmount: UInt32 = 0x0000_2000
    /// Events only: the kernel's queue overflowed and events were dropped (watch -1).
    public static let queueOverflow: UInt32 = 0x0000_4000
    /// Events only: the watch was removed (explicitly, or its object was deleted or unmounted).
    public static let ignored: UInt32 = 0x0000_8000
    /// Watch flag: fail with ENOTDIR unless the path is a directory.
    public static let onlyDir: UInt32 = 0x0100_0000
    /// Watch flag: do not follow a symbolic link at the path.
    public static let dontFollow: UInt32 = 0x0200_0000
    /// Watch flag: no events for children after they were unlinked from the directory.
    public static let excludeUnlink: UInt32 = 0x0400_0000
    /// Watch flag: add to an existing watch's mask instead of replacing it.
    public static let maskAdd: UInt32 = 0x2000_0000
    /// Events only: the subject of the event is a directory.
    public static let isDir: UInt32 = 0x4000_0000
    /// Watch flag: remove the watch after one event.
    public static let oneShot: UInt32 = 0x8000_0000
}

/// An inotify instance: inotify_init1(2), inotify_add_watch(2) and reading its events.
///
/// Reads go through one reusable buffer behind a `Mutex`. The daemon reads
/// it on the poller thread (not a Dispatch read source: see Poller).
public final class Inotify: Sendable {
    /// inotify_event's fixed part: wd, mask, cookie, len.
    private static let headerSize = 16
    /// Room for many events; the minimum for one is headerSize + NAME_MAX + 1.
    private static let bufferSize = 64 * 1024

    /// The non-blocking, close-on-exec inotify descriptor.
    public let descriptor: FileDescriptor
    private let state: Mutex<ReaderState>

    /// The read buffer and what closing must undo. Frees the buffer when the instance goes.
    private struct ReaderState: ~Copyable {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Inotify.bufferSize, alignment: 8)
        var isClosed = false
        deinit { buffer.deallocate() }
    }

    /// inotify_init1(2) with IN_NONBLOCK | IN_CLOEXEC.
    public init() throws(SystemError) {
        let fd = try retryingInterrupts("inotify_init1") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
        descriptor = FileDescriptor(rawValue: fd)
        state = Mutex(ReaderState())
    }

    deinit {
        state.withLock { state in
            if !state.isClosed { descriptor.close() }
        }
    }

    /// inotify_add_watch(2): watches `path` for the events in `mask`; returns the watch
    /// descriptor (the same one again for a path already watched).
    public func addWatch(_ path: String, mask: UInt32) throws(SystemError) -> Int32 {
        try retryingInterrupts("inotify_add_watch", path) { inotify_add_watch(descriptor.rawValue, path, mask) }
    }

    /// read(2)s every queued event without blocking, until EAGAIN, through the one reusable buffer.
    ///
    /// IN_Q_OVERFLOW comes through as an event like any other (watch -1);
    /// the caller must then rescan. Throws EBADF after `close()`.
    public func readEvents() throws(SystemError) -> [InotifyEvent] {
        try state.withLock { (state) throws(SystemError) -> [InotifyEvent] in
            guard !state.isClosed else { throw SystemError("read", "inotify", errno: Errno(rawValue: EBADF)) }
            var events: [InotifyEvent] = []
            while true {
                let (count, error) = (read(descriptor.rawValue, state.buffer.baseAddress, state.buffer.count), Errno.current)
                if count > 0 {
                    Inotify.parse(UnsafeRawBufferPointer(rebasing: state.buffer[..<count]), into: &events)
                    continue
                }
                if count == 0 { return events }
                if error == .interrupted { continue }
                if error == .wouldBlock { return events }
                throw SystemError("read", "inotify", errno: error)
            }
        }
    }

    /// Appends the events in one read(2) result; the kernel only returns whole events.
    private static func parse(_ bytes: UnsafeRawBufferPointer, into events: inout [InotifyEvent]) {
        var offset = 0
        while offset + headerSize <= bytes.count {
            let watch = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let cookie = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            let nameStart = offset + headerSize
            let nameEnd = min(nameStart + length, bytes.count)
            // The name is NUL-terminated and padded with more NULs to an aligned length.
            var name = Array(bytes[nameStart..<nameEnd])
            if let nul = name.firstIndex(of: 0) { name.removeSubrange(nul...) }
            events.append(InotifyEvent(watch: watch, mask: mask, cookie: cookie, name: name))
            offset = nameStart + length
        }
    }

    /// close(2)s the descriptor. Idempotent.
    ///
    /// - Important: unregister it from the poller first when it is watched there.
    public func close() {
        state.withLock { state in
            if state.isClosed { return }
            state.isClosed = true
            descriptor.close()
        }
    }
}
