import Glibc
import HopperCore

/// How to make a turn's new files durable, measured on the disk without a
/// daemon (only with `--only commit`): `k` files of 700 bytes written into a
/// scratch directory, synced, renamed round-robin into three directories,
/// and those made durable, `rounds` times with 5 ms between rounds; the time
/// of each commit from the first write. The three ways:
///
/// - `fdatasync each, fsync per directory`: what Hopper did before its group
///   commit (each file synced before its rename, each changed directory after);
/// - `syncfs, fsync per directory`: the files synced together;
/// - `syncfs, syncfs`: what it does now (the renames made durable by a second syncfs).
enum CommitStrategies {
    enum Way: CaseIterable {
        case fdatasyncEach, syncfsThenDirectories, syncfsTwice

        var label: String {
            switch self {
            case .fdatasyncEach: "fdatasync each, fsync per directory"
            case .syncfsThenDirectories: "syncfs, fsync per directory"
            case .syncfsTwice: "syncfs, syncfs"
            }
        }
    }

    /// Commit times in milliseconds, one per round.
    static func measure(_ way: Way, files k: Int, rounds: Int, root: String) -> [Double] {
        let base = Harness.makeTemp(under: root)
        defer { Harness.remove(base) }
        for name in ["tmp", "a", "b", "c"] { mkdir(base + "/" + name, 0o755) }
        guard let scratch = try? Directory.open(base + "/tmp") else { Harness.fail("cannot open \(base)/tmp") }
        let targets = ["a", "b", "c"].compactMap { try? Directory.open(base + "/" + $0) }
        defer { scratch.close(); targets.forEach { $0.close() } }
        let bytes = [UInt8](repeating: UInt8(ascii: "x"), count: 700)
        var times: [Double] = []
        var serial = 0
        for _ in 0..<rounds {
            let names = (0..<k).map { i in FileName("f\(serial + i)") }
            serial += k
            let start = Harness.now()
            do throws(SystemError) {
                var open: [FileDescriptor] = []
                for name in names {
                    let fd = try scratch.openFile(name, O_WRONLY | O_CREAT | O_EXCL)
                    try fd.writeAll(bytes)
                    if way == .fdatasyncEach { open.append(fd) } else { fd.close() }
                }
                if way == .fdatasyncEach {
                    for fd in open {
                        _ = try retryingInterrupts("fdatasync") { fdatasync(fd.rawValue) }
                        fd.close()
                    }
                } else {
                    try scratch.syncFileSystem()
                }
                for (i, name) in names.enumerated() { try scratch.rename(name, to: targets[i % 3], as: name) }
                if way == .syncfsTwice {
                    try scratch.syncFileSystem()
                } else {
                    for target in targets.prefix(min(k, 3)) { try target.sync() }
                }
            } catch {
                Harness.fail("commit measurement: \(error)")
            }
            times.append((Harness.now() - start) * 1000)
            for (i, name) in names.enumerated() { try? targets[i % 3].remove(name) }
            usleep(5000)
        }
        return times
    }
}
