import Glibc

/// `hopper init [DIR]`: creates a spool and, when missing, a sample configuration.
enum InitCommand {
    static let command = HopperCLI.Command(
        name: "init", summary: "create a spool and a sample configuration", usage: "[DIR] [--config FILE]",
        help: """
        Creates the spool layout in DIR (default ./spool) and writes a sample
        configuration to --config (default ./config/hopper.json) unless one exists.

        example: hopper init /var/spool/hopper --config /etc/hopper/hopper.json
        """,
        spec: .init(valued: [], flags: []), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard args.operands.count <= 1 else { throw HopperError(.usage, "expected at most one directory") }
        let path = args.operands.first ?? args.spoolPath
        do { try Spool.create(at: path) } catch {
            throw HopperError(.io, "cannot create spool \(path): \(error)", underlying: error)
        }
        var out = Output()
        out.line("created spool \(Spool.absolute(path))")
        let config = args.configPath
        if access(config, F_OK) != 0 {
            let dir = config.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            do {
                if !dir.isEmpty { try Directory.create(dir) }
                let parent = try Directory.open(dir.isEmpty ? "." : dir)
                defer { parent.close() }
                let name = FileName(String(config.split(separator: "/").last!))
                try AtomicFile.write(Array(sampleConfiguration.utf8), to: name, in: parent, scratch: parent, sync: true)
                out.line("wrote sample configuration \(config)")
            } catch {
                throw HopperError(.io, "cannot write \(config): \(error)", underlying: error)
            }
        } else {
            out.line("kept existing configuration \(config)")
        }
        out.flush()
        return 0
    }

    static let sampleConfiguration = """
    {
      "workers": 4,
      "default_provider": "sh",
      "durability": "fsync",
      "shutdown_grace": 10,
      "limits": { "max_request_bytes": 1048576, "max_output_bytes": 10485760, "max_events_bytes": 104857600 },
      "timeouts": {
        "session": { "idle_timeout": 300, "max_lifetime": 3600, "warning_before_timeout": 30 },
        "authentication": { "timeout": 30, "retry_delay": [1, 2, 4, 8, 16], "max_attempts": 3 },
        "command": { "default_timeout": 300, "max_timeout": 1800, "kill_grace": 5, "retry_delay": [1, 2, 4, 8, 16] },
        "queue": { "default_timeout": 0 }
      },
      "circuit_breaker": { "failure_threshold": 5, "cooldown": 60 },
      "intake": { "settle": 0.25 },
      "retention": { "done_max_age": 0 },
      "providers": {
        "sh": { "mode": "session", "protocol": "shell", "command": ["/bin/sh"], "max_sessions": 4 },
        "exec": { "mode": "exec", "command": ["/bin/sh", "-c", "{command}"] }
      }
    }

    """
}
