/// `hopper run`: the daemon in the foreground.
enum RunCommand {
    static let command = HopperCLI.Command(
        name: "run", summary: "run the daemon in the foreground", usage: "[--spool DIR] [--config FILE] [--log-level LEVEL] [--log-format FORMAT] [--exit-when-idle]",
        help: """
        Takes tasks from the spool until SIGTERM or SIGINT (running tasks get
        shutdown_grace seconds, then go back to queued/). SIGHUP reloads the
        configuration. Logs go to stderr, one line per record: --log-level
        debug, info (default), warn or error; --log-format text (default) or
        json (one object a line). Under systemd (NOTIFY_SOCKET set) it reports
        readiness, status and watchdog pings. One daemon per spool.

        --exit-when-idle stops, exit 0, once incoming/ is empty and no task is
        pending, queued or running (a task waiting for run_after, a
        dependency, a retry or a paused provider keeps it running): for a
        batch started by cron or a CI step.

        example: hopper run --spool /var/spool/hopper --config /etc/hopper/hopper.json
        """,
        spec: .init(valued: ["log-level", "log-format"], flags: ["exit-when-idle"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard args.operands.isEmpty else { throw HopperError(.usage, "unexpected argument \(args.operands[0])") }
        var logger = Logger()
        if let level = args.value("log-level") {
            guard let l = ["debug": Logger.Level.debug, "info": .info, "warn": .warning, "warning": .warning, "error": .error][level] else {
                throw HopperError(.usage, "--log-level expects debug, info, warn or error")
            }
            logger.minimum = l
        }
        if let format = args.value("log-format") {
            guard let f = Logger.Format(rawValue: format) else { throw HopperError(.usage, "--log-format expects text or json") }
            logger.format = f
        }
        let options = DaemonOptions(spoolPath: args.spoolPath, configPath: args.configPath, logger: logger, notifier: .fromEnvironment(),
                                    exitWhenIdle: args.has("exit-when-idle"), guardExecutable: "/proc/self/exe")
        let daemon = try Daemon(options: options)
        return try daemon.run()
    }
}
