import Glibc
import HopperCore
import Synchronization

/// Helpers for the system-layer tests: polling with a deadline, reading pipes,
/// temporary directories, and finding the processes a test started by a marker
/// in their environment.
enum SystemTestProbe {
    /// Polls `condition` until it holds or `timeout` passes; returns its last value.
    static func eventually(timeout: Duration = .seconds(15), _ condition: () -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    /// A unique environment entry to tag the processes of one test.
    static func marker(_ test: String) -> String {
        "HOPPER_TEST_MARKER=\(test)-\(getpid())-\(UInt64.random(in: 0 ... .max))"
    }

    /// A child environment: a PATH plus the marker.
    static func environment(_ marker: String) -> [String] {
        ["PATH=/usr/bin:/bin", marker]
    }

    /// Reads `fd` to end of file and closes it.
    static func readToEnd(_ fd: FileDescriptor) throws -> [UInt8] {
        defer { fd.close() }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try chunk.withUnsafeMutableBytes { buffer in
                Result { () throws(SystemError) in try fd.read(into: buffer) }
            }.get()
            if count == 0 { return result }
            result += chunk[..<count]
        }
    }

    static func readString(_ fd: FileDescriptor) throws -> String {
        String(decoding: try readToEnd(fd), as: UTF8.self)
    }

    /// Reads from `fd` until `count` lines have arrived (the writer may keep it open).
    static func readLines(_ fd: FileDescriptor, count: Int) throws -> [String] {
        var bytes: [UInt8] = []
        var byte: [UInt8] = [0]
        while bytes.filter({ $0 == 10 }).count < count {
            let n = try byte.withUnsafeMutableBytes { buffer in
                Result { () throws(SystemError) in try fd.read(into: buffer) }
            }.get()
            if n == 0 { break }
            bytes.append(byte[0])
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// The names in a directory, "." and ".." excluded.
    static func directoryEntries(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// A whole small file's content, or nil.
    static func contents(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        return try? readToEnd(FileDescriptor(rawValue: fd))
    }

    /// True when `pid` has terminated: gone, or a zombie. (This machine's init
    /// does not reap orphans, so killed grandchildren stay zombies of pid 1.)
    static func isGone(_ pid: pid_t) -> Bool {
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let stat = contents("/proc/\(pid)/stat") else { return true }
        // "pid (comm) S ...": the state follows the last ')'.
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count else { return false }
        let state = stat[close + 2]
        return state == UInt8(ascii: "Z") || state == UInt8(ascii: "X")
    }

    /// Live processes whose environment holds `marker` (zombies have none).
    static func marked(_ marker: String) -> [pid_t] {
        let needle = Array(marker.utf8)
        return (directoryEntries("/proc") ?? []).compactMap { name -> pid_t? in
            guard let pid = pid_t(name), pid != getpid(),
                  let environ = contents("/proc/\(name)/environ") else { return nil }
            let found = environ.split(separator: 0).contains { $0.elementsEqual(needle) }
            return found ? pid : nil
        }
    }

    /// Waits for every process tagged with `marker` to end; SIGKILLs the stragglers.
    /// Returns true when none had to be killed.
    static func noSurvivors(_ marker: String) async -> Bool {
        let clean = await eventually(timeout: .seconds(5)) { marked(marker).isEmpty }
        if !clean {
            for pid in marked(marker) { kill(pid, SIGKILL) }
        }
        return clean
    }

    /// mkdtemp(3) under /tmp, resolved with realpath(3).
    static func temporaryDirectory() -> String {
        var template = Array("/tmp/hopper-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    /// Removes a directory tree with rm -rf, run through the Spawner.
    static func removeTree(_ path: String) async {
        Reaper.shared.start()
        let request = SpawnRequest(executable: "/bin/rm", arguments: ["rm", "-rf", "--", path], environment: [])
        guard let process = try? Spawner.spawn(request) else { return }
        _ = await process.exit.value()
    }

    /// What this process's descriptor `fd` refers to (readlink(2) on /proc/self/fd), or nil when closed.
    static func descriptorTarget(_ fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let count = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The number of descriptors this process has open.
    static func openDescriptorCount() -> Int {
        directoryEntries("/proc/self/fd")?.count ?? -1
    }
}

/// A value shared between a test and the handlers it registers.
final class SharedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
