import Glibc
import Testing
@testable import HopperCore

/// A datagram socket standing in for systemd's notification socket: what a
/// daemon started with `NOTIFY_SOCKET` pointing at it sends, one datagram
/// per notification.
final class NotifyListener {
    let path: String
    private let fd: Int32
    private(set) var datagrams: [String] = []

    /// Binds `path`, or the abstract name `@…` when `path` starts with `@`.
    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", errno: .current) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count)
        let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard result == 0 else {
            let err = Errno.current
            close(fd)
            throw SystemError("bind", path, errno: err)
        }
    }

    deinit {
        close(fd)
        if !path.hasPrefix("@") { unlink(path) }
    }

    /// Takes every datagram waiting on the socket.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return }
            datagrams.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
    }

    /// Every `NAME=value` received so far, in order.
    var assignments: [String] {
        drain()
        return datagrams.flatMap { $0.split(separator: "\n").map(String.init) }
    }

    func count(_ assignment: String) -> Int { assignments.filter { $0 == assignment }.count }
}

/// systemd integration (`Type=notify`) and the JSON log format.
@Suite(.serialized) struct NotifyTests {
    // MARK: the environment, read without a daemon

    @Test func notifySocketAddresses() {
        #expect(Notifier(socket: "/run/systemd/notify", watchdogMicroseconds: nil, watchdogPID: nil).address == Array("/run/systemd/notify".utf8))
        #expect(Notifier(socket: "@sd-notify", watchdogMicroseconds: nil, watchdogPID: nil).address == [0] + Array("sd-notify".utf8))
        for unusable in [nil, "", "@", "/", "relative/notify", "vsock:2:1234", "/" + String(repeating: "x", count: 107)] {
            let notifier = Notifier(socket: unusable, watchdogMicroseconds: "200000", watchdogPID: nil)
            #expect(!notifier.isEnabled, "\(unusable ?? "nil") turns notifications off")
            #expect(notifier.watchdogInterval == nil)
            #expect(!notifier.send([("READY", "1")]))
        }
        #expect(Notifier(socket: "/" + String(repeating: "x", count: 106), watchdogMicroseconds: nil, watchdogPID: nil).isEnabled, "107 bytes and a NUL fit sun_path")
    }

    @Test func watchdogIsHalfTheIntervalAndOnlyForItsProcess() {
        func interval(_ usec: String?, _ pid: String?) -> UInt64? {
            Notifier(socket: "/run/notify", watchdogMicroseconds: usec, watchdogPID: pid, pid: 4242).watchdogInterval
        }
        #expect(interval("30000000", nil) == 15_000_000)
        #expect(interval("200000", "4242") == 100_000)
        #expect(interval("200000", "1") == nil, "WATCHDOG_PID names another process")
        #expect(interval("200000", "x") == nil)
        #expect(interval("0", nil) == nil)
        #expect(interval("soon", nil) == nil)
        #expect(interval(nil, "4242") == nil)
    }

    @Test func datagramsReachPathAndAbstractSockets() throws {
        let t = try TestSpool(config: nil)
        let onDisk = try NotifyListener(path: t.base + "/notify.sock")
        let abstract = try NotifyListener(path: "@hopper-test-" + IDSuffixGenerator.random(8))
        for listener in [onDisk, abstract] {
            let notifier = Notifier(socket: listener.path, watchdogMicroseconds: nil, watchdogPID: nil)
            #expect(notifier.send([("READY", "1"), ("STATUS", "two\nlines")]))
            notifier.watchdog()
            listener.drain()
            #expect(listener.datagrams == ["READY=1\nSTATUS=two lines", "WATCHDOG=1"])
        }
        // Nobody listening: the send fails quietly.
        #expect(!Notifier(socket: t.base + "/nobody.sock", watchdogMicroseconds: nil, watchdogPID: nil).send([("READY", "1")]))
    }

    // MARK: a daemon under a stand-in service manager

    @Test func daemonNotifiesReadinessStatusWatchdogAndStopping() async throws {
        let t = try TestSpool()
        let listener = try NotifyListener(path: t.base + "/notify.sock")
        let daemon = try await DaemonProcess(t, environment: ["NOTIFY_SOCKET=\(listener.path)", "WATCHDOG_USEC=200000"]).ready()
        try await eventually("READY=1") { listener.count("READY=1") == 1 }
        #expect(listener.assignments.contains("STATUS=taking tasks"))

        let envFile = t.base + "/task.env"
        try t.drop("env.json", #"{"id": "env", "command": "env > \#(envFile)"}"#)
        let record = try await eventuallyValue("env's record") { t.record("env") }
        #expect(record["state"] == .string("succeeded"))
        let environment = try #require(try? AtomicFile.read(path: envFile)).split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
        #expect(environment.contains("HOPPER_TASK_ID=env"), "the file is the task's environment")
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            #expect(!environment.contains { $0.hasPrefix(name + "=") }, "a task inherited \(name)")
        }

        let statusLine = #/STATUS=\d+ running, \d+ queued, workers 2/#
        try await eventually("a STATUS= with counts") { listener.assignments.contains { $0.wholeMatch(of: statusLine) != nil } }
        // WATCHDOG_USEC=200000: a ping every 0.1 s.
        try await eventually("two watchdog pings") { listener.count("WATCHDOG=1") >= 2 }
        #expect(listener.count("STOPPING=1") == 0)

        daemon.signal(.term)
        try await eventually("STOPPING=1") { listener.count("STOPPING=1") == 1 }
        #expect(try await daemon.exited() == .exited(0))
        #expect(listener.count("READY=1") == 1)
        #expect(t.survivors().isEmpty)
    }

    @Test func daemonWithoutNotifySocketRunsAsBefore() async throws {
        // No NOTIFY_SOCKET but a watchdog request: nothing to send it to, nothing breaks.
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t, environment: ["WATCHDOG_USEC=200000"]).ready()
        try t.drop("a.json", #"{"id": "a", "command": "true"}"#)
        _ = try await eventuallyValue("a's record") { t.record("a") }
        #expect(try await daemon.stop() == .exited(0))
    }

    // MARK: logs

    @Test func jsonLogLinesAreObjects() async throws {
        let t = try TestSpool()
        let daemon = try await DaemonProcess(t, arguments: ["--log-format", "json", "--log-level", "debug"]).ready()
        try t.drop("bad.json", #"{"command": "true", "timeout": "soon"}"#)
        try t.drop("good.json", #"{"id": "good", "command": "true"}"#)
        _ = try await eventuallyValue("good's record") { t.record("good") }
        try await eventually("the rejection") { t.names("rejected").contains("bad.json") }
        daemon.signal(.hangup)
        try await eventually("the reload") { daemon.log.contains("reloaded") }
        #expect(try await daemon.stop() == .exited(0))

        let lines = daemon.log.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(daemon.log.hasSuffix("\n"))
        var messages: [String] = []
        for line in lines {
            // The parser refuses duplicate keys, so this also proves none.
            let object = try #require(try? JSONParser.parse(String(line)).objectValue, "not a JSON object: \(line)")
            #expect(Array(object.keys.prefix(4)) == ["ts", "level", "subsystem", "message"], "\(line)")
            for key in ["ts", "level", "subsystem", "message"] { #expect(object[key]?.stringValue != nil, "\(key) in \(line)") }
            #expect(["debug", "info", "warn", "error"].contains(object["level"]?.stringValue ?? ""))
            #expect(object["ts"]?.stringValue?.wholeMatch(of: #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/#) != nil)
            messages.append(object["message"]?.stringValue ?? "")
            if object["message"] == .string("rejected a dropped file") {
                #expect(object["file"] == .string("bad.json"))
                #expect(object["fields.message"]?.stringValue?.contains("timeout") == true, "the rejection's own message, renamed: \(line)")
            }
        }
        for expected in ["taking tasks", "rejected a dropped file", "reloaded", "shutting down", "stopped"] {
            #expect(messages.contains(expected), "no \(expected) line in \(daemon.log)")
        }
    }

    @Test func unknownLogFormatIsAUsageError() throws {
        let t = try TestSpool()
        let result = try t.hopper(["run", "--log-format", "yaml"])
        #expect(result.exitCode == 2)
        #expect(result.stderr.contains("--log-format expects text or json"))
    }
}
