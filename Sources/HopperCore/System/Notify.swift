import Glibc

/// systemd's service notification protocol (sd_notify(3)), without libsystemd.
///
/// The protocol: the service manager puts the address of an `AF_UNIX`
/// datagram socket in `NOTIFY_SOCKET`, either a file-system path (it starts
/// with `/`) or an abstract name (it starts with `@`, which stands for the
/// leading NUL byte of the abstract namespace). Each notification is one
/// datagram of `NAME=value` assignments separated by newlines:
///
/// - `READY=1`: start-up is finished (units with `Type=notify`);
/// - `STATUS=text`: a one-line status shown by `systemctl status`;
/// - `STOPPING=1`: shutdown has begun;
/// - `WATCHDOG=1`: the service is alive. When the unit sets `WatchdogSec=`,
///   the manager passes `WATCHDOG_USEC` (and `WATCHDOG_PID`, the process
///   meant) and kills the service when no ping arrives within that time;
///   sd_watchdog_enabled(3) advises pinging every half of it.
///
/// Nothing is ever answered: a datagram is sent and forgotten, and a failed
/// send changes nothing. With no `NOTIFY_SOCKET`, every call does nothing.
public struct Notifier: Sendable {
    /// The environment variables of the protocol. They are meant for the
    /// daemon alone: a task that inherited them could notify in its name.
    public static let environmentNames: Set<String> = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// The bytes of `sun_path` (a leading NUL for an abstract name, no
    /// terminating NUL); nil when notifications are off.
    let address: [UInt8]?
    /// How often to send `WATCHDOG=1`, in microseconds (half of
    /// `WATCHDOG_USEC`); nil when no watchdog was asked for.
    public let watchdogInterval: UInt64?

    /// A notifier that does nothing.
    public static let disabled = Notifier(socket: nil, watchdogMicroseconds: nil, watchdogPID: nil)

    /// A notifier for the socket and watchdog the values describe (the
    /// contents of `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`).
    ///
    /// A socket that is neither an absolute path nor `@name`, or too long for
    /// `sun_path`, turns notifications off. The watchdog is on only with
    /// notifications on, a positive `WATCHDOG_USEC`, and a `WATCHDOG_PID` that
    /// is absent or equal to `pid`.
    public init(socket: String?, watchdogMicroseconds: String?, watchdogPID: String?, pid: pid_t = getpid()) {
        address = socket.flatMap(Notifier.socketAddress)
        guard address != nil, let text = watchdogMicroseconds, let usec = UInt64(text), usec > 0 else {
            watchdogInterval = nil
            return
        }
        if let owner = watchdogPID, pid_t(owner) != pid {
            watchdogInterval = nil
            return
        }
        watchdogInterval = max(1, usec / 2)
    }

    /// A notifier for what the service manager put in this process's environment.
    public static func fromEnvironment() -> Notifier {
        func get(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        return Notifier(socket: get("NOTIFY_SOCKET"), watchdogMicroseconds: get("WATCHDOG_USEC"), watchdogPID: get("WATCHDOG_PID"))
    }

    public var isEnabled: Bool { address != nil }

    /// `READY=1`, with a status line.
    public func ready(status: String) { send([("READY", "1"), ("STATUS", status)]) }

    /// `STOPPING=1`, with a status line.
    public func stopping(status: String) { send([("STOPPING", "1"), ("STATUS", status)]) }

    /// `STATUS=...`: one line; newlines become spaces.
    public func status(_ text: String) { send([("STATUS", text)]) }

    /// `WATCHDOG=1`.
    public func watchdog() { send([("WATCHDOG", "1")]) }

    /// Sends one datagram of assignments. Returns whether it was sent; a
    /// failure (no listener, a full socket buffer, no descriptor left) is
    /// never an error for the caller.
    @discardableResult
    public func send(_ assignments: [(String, String)]) -> Bool {
        guard let address else { return false }
        var message: [UInt8] = []
        for (name, value) in assignments {
            if !message.isEmpty { message.append(UInt8(ascii: "\n")) }
            message += Array(name.utf8)
            message.append(UInt8(ascii: "="))
            message += value.utf8.map { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") ? UInt8(ascii: " ") : $0 }
        }
        return (try? Notifier.sendDatagram(message, to: address)) != nil
    }

    /// The `sun_path` bytes for a `NOTIFY_SOCKET` value, or nil for one that
    /// is not an absolute path or an abstract `@name`, or is too long.
    static func socketAddress(_ value: String) -> [UInt8]? {
        var bytes = Array(value.utf8)
        guard bytes.count >= 2, !bytes.contains(0) else { return nil }
        switch bytes[0] {
        case UInt8(ascii: "/"): break
        case UInt8(ascii: "@"): bytes[0] = 0
        default: return nil
        }
        // A path needs room for its terminating NUL; an abstract name does not.
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard bytes.count <= (bytes[0] == 0 ? capacity : capacity - 1) else { return nil }
        return bytes
    }

    /// socket(2) with `SOCK_DGRAM | SOCK_CLOEXEC`, sendto(2), close(2): one
    /// datagram to the `sun_path` bytes `path`, as sd_notify(3) does it.
    static func sendDatagram(_ message: [UInt8], to path: [UInt8]) throws(SystemError) {
        let socketType = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = FileDescriptor(rawValue: try retryingInterrupts("socket", "NOTIFY_SOCKET") { socket(AF_UNIX, socketType, 0) })
        defer { fd.close() }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
            for (i, byte) in path.enumerated() { sunPath[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + (path[0] == 0 ? 0 : 1))
        _ = try retryingInterrupts("sendto", "NOTIFY_SOCKET") {
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    message.withUnsafeBytes { sendto(fd.rawValue, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
                }
            }
        }
    }
}
