import CHopperShim
import Glibc

/// An open file descriptor. Not closed automatically: the owner calls `close()`.
public struct FileDescriptor: Sendable, Hashable {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let standardInput = FileDescriptor(rawValue: 0)
    public static let standardOutput = FileDescriptor(rawValue: 1)
    public static let standardError = FileDescriptor(rawValue: 2)

    /// pipe2(2), always with O_CLOEXEC (plus `flags`, such as O_NONBLOCK):
    /// (read end, write end). No child another thread starts keeps an end.
    public static func makePipe(flags: Int32 = 0, subject: String? = nil) throws(SystemError) -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        _ = try retryingInterrupts("pipe2", subject) { hopper_pipe2(&fds, O_CLOEXEC | flags) }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    /// close(2). EINTR is not retried: on Linux the descriptor is gone either way.
    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// write(2) until every byte is written; retries EINTR and short writes.
    public func writeAll(_ buffer: UnsafeRawBufferPointer, subject: String? = nil) throws(SystemError) {
        var offset = 0
        while offset < buffer.count {
            let n = try retryingInterrupts("write", subject) {
                Glibc.write(rawValue, buffer.baseAddress! + offset, buffer.count - offset)
            }
            offset += n
        }
    }

    public func writeAll(_ bytes: [UInt8], subject: String? = nil) throws(SystemError) {
        // Array.withUnsafeBytes is `rethrows`, so typed throws go through a Result.
        let result: Result<Void, SystemError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(SystemError) in try writeAll(buffer, subject: subject) }
        }
        try result.get()
    }

    /// read(2) once into `buffer`; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, subject: String? = nil) throws(SystemError) -> Int {
        try retryingInterrupts("read", subject) { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads until end of file, failing when more than `limit` bytes arrive.
    public func readAll(limit: Int = .max, subject: String? = nil) throws(SystemError) -> [UInt8] {
        try readAll(after: [], limit: limit, subject: subject)
    }

    /// `readAll` of a regular file that `fstat` said holds `size` bytes: one
    /// read(2) of `size + 1` bytes, which ends it when exactly `size` come
    /// back (the file is as it was, and its end was reached); otherwise (it
    /// grew, shrank, or the read was short) the loop of `readAll` goes on
    /// from there to a read of nothing.
    public func readAll(size: Int, limit: Int, subject: String? = nil) throws(SystemError) -> [UInt8] {
        let want = min(max(size, 0), limit) + 1
        var result = [UInt8](repeating: 0, count: want)
        let n = try result.withUnsafeMutableBytes { b in
            Result { () throws(SystemError) in try read(into: b, subject: subject) }
        }.get()
        result.removeSubrange(n...)
        if result.count > limit { throw SystemError("read", subject, errno: Errno(rawValue: EFBIG)) }
        if n == size || n == 0 { return result }
        return try readAll(after: result, limit: limit, subject: subject)
    }

    private func readAll(after start: [UInt8], limit: Int, subject: String?) throws(SystemError) -> [UInt8] {
        var result = start
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            // See writeAll.
            let n = try chunk.withUnsafeMutableBytes { b in
                Result { () throws(SystemError) in try read(into: b, subject: subject) }
            }.get()
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
            if result.count > limit { throw SystemError("read", subject, errno: Errno(rawValue: EFBIG)) }
        }
    }

    /// Whether this kernel reads a pipe without waiting one call at a time
    /// (preadv2 with RWF_NOWAIT): then a pipe end that `drainAvailable`
    /// reads needs no O_NONBLOCK, one fcntl(2) saved per stream.
    static let readsPipesWithoutWaiting = hopper_pipe_reads_nowait() != 0

    /// Makes a pipe's read end, made by this process, ready for
    /// `drainAvailable`: nothing to do when each read can say it must not
    /// wait, else O_NONBLOCK.
    public func prepareToDrain() throws(SystemError) {
        if !FileDescriptor.readsPipesWithoutWaiting { try setNonBlockingPipeEnd() }
    }

    /// Everything available now on a pipe's read end (`prepareToDrain`, or
    /// O_NONBLOCK), each chunk handed to `consume`. Returns true at end of
    /// file (or on a read error, which ends the stream just the same), false
    /// when the pipe is merely empty for now. A read shorter than the buffer
    /// emptied the pipe: it stops there, without the read that would say
    /// EAGAIN; whatever comes next makes the pipe readable again.
    public func drainAvailable(_ consume: (UnsafeRawBufferPointer) -> Void) -> Bool {
        drainAvailable(nowait: FileDescriptor.readsPipesWithoutWaiting, consume)
    }

    /// `drainAvailable` with each read's kind chosen (tests take both paths).
    func drainAvailable(nowait: Bool, _ consume: (UnsafeRawBufferPointer) -> Void) -> Bool {
        withUnsafeTemporaryAllocation(byteCount: 65536, alignment: 16) { buffer in
            while true {
                let n = nowait ? hopper_read_nowait(rawValue, buffer.baseAddress, buffer.count)
                               : Glibc.read(rawValue, buffer.baseAddress, buffer.count)
                if n > 0 {
                    consume(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    if n < buffer.count { return false }
                    continue
                }
                if n < 0 && (errno == EAGAIN || errno == EINTR) { return false }
                return true
            }
        }
    }

    /// read(2) of what a non-blocking descriptor holds now, dropped: the
    /// wake-ups of a pipe or a signalfd, whose reading is the whole point.
    /// A read shorter than the buffer emptied it (whatever comes after makes
    /// it readable again); EINTR is read again. The buffer is a whole number
    /// of a signalfd's 128-byte records.
    public func discardAvailable() {
        withUnsafeTemporaryAllocation(byteCount: 512, alignment: 16) { buffer in
            while true {
                let n = Glibc.read(rawValue, buffer.baseAddress, buffer.count)
                if n == buffer.count || (n < 0 && errno == EINTR) { continue }
                return
            }
        }
    }

    /// fsync(2).
    public func sync(subject: String? = nil) throws(SystemError) {
        _ = try retryingInterrupts("fsync", subject) { fsync(rawValue) }
    }

    /// fstat(2).
    public func status(subject: String? = nil) throws(SystemError) -> stat {
        var st = stat()
        _ = try retryingInterrupts("fstat", subject) { fstat(rawValue, &st) }
        return st
    }

    /// O_NONBLOCK with one fcntl(2), for a pipe end this process made: its
    /// other status flags (O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME) are known
    /// to be clear, so setting the flags outright loses nothing.
    public func setNonBlockingPipeEnd() throws(SystemError) {
        _ = try retryingInterrupts("fcntl") { fcntl(rawValue, F_SETFL, O_NONBLOCK) }
    }

    /// Sets or clears O_NONBLOCK.
    public func setNonBlocking(_ on: Bool) throws(SystemError) {
        let flags = try retryingInterrupts("fcntl") { fcntl(rawValue, F_GETFL) }
        let wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        if wanted != flags { _ = try retryingInterrupts("fcntl") { fcntl(rawValue, F_SETFL, wanted) } }
    }
}
