import Glibc

/// Copies one output stream of a task into its `.out` or `.err` file, keeping
/// at most `limit` bytes. Past the limit it keeps reading (so the child never
/// blocks on a full pipe) but writes nothing more, after one marker line.
///
/// - Important: confined to the poller thread, where the pipes it drains are read.
final class OutputSink {
    let file: FileDescriptor
    let limit: Int64
    /// Bytes written to the file (without the marker).
    private(set) var kept: Int64 = 0
    /// Bytes the command wrote.
    private(set) var received: Int64 = 0
    private(set) var truncated = false
    /// The first write error (a full disk): output is lost from there on.
    private(set) var writeError: SystemError?

    /// Secrets to hide, and bytes held back while they might be one's start.
    let mask: SecretMask
    private var held: [UInt8] = []

    init(file: FileDescriptor, limit: Int, mask: SecretMask = SecretMask()) {
        self.file = file
        self.limit = Int64(limit)
        self.mask = mask
    }

    func consume(_ chunk: UnsafeRawBufferPointer) {
        received += Int64(chunk.count)
        guard !mask.isEmpty else { return keep(chunk) }
        held.append(contentsOf: chunk)
        let (output, consumed) = mask.scan(held, final: false)
        held.removeFirst(consumed)
        output.withUnsafeBytes { keep($0) }
    }

    /// Writes what the cap allows.
    private func keep(_ chunk: UnsafeRawBufferPointer) {
        guard !truncated, writeError == nil else { return }
        let room = Int(limit - kept)
        let take = min(room, chunk.count)
        if take > 0 {
            do {
                try file.writeAll(UnsafeRawBufferPointer(rebasing: chunk[0..<take]))
                kept += Int64(take)
            } catch {
                writeError = error
                return
            }
        }
        if take < chunk.count {
            truncated = true
            let marker = "\n[hopper: output truncated at \(limit) bytes]\n"
            try? file.writeAll(Array(marker.utf8))
        }
    }

    func close() {
        if !held.isEmpty {
            mask.scan(held, final: true).output.withUnsafeBytes { keep($0) }
            held.removeAll()
        }
        file.close()
    }
}
