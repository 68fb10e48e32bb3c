/// `hopper <command>`: finds the subcommand and runs it. Exit codes: 0 ok,
/// 1 the thing asked about failed, 2 usage or input error.
public enum HopperCLI {
    public static let version = "0.1.0"

    /// One subcommand: its help and how it reads its arguments.
    struct Command: Sendable {
        var name: String
        var summary: String
        var usage: String
        var help: String
        var spec: Arguments.Spec
        /// Runs on the main thread: no command needs Swift's concurrency pool,
        /// and the daemon must not start libdispatch's worker pool, whose
        /// monitor would wake an idle daemon every second.
        var run: @Sendable (Arguments) throws(HopperError) -> Int32
    }

    /// Every subcommand by name, in the order `hopper --help` lists them.
    /// Each is made only when asked for: a call builds the one it runs, not
    /// all sixteen (`hopper submit` in a loop pays for its own start-up only).
    static let table: [(name: String, make: @Sendable () -> Command)] = [
        ("init", { InitCommand.command }), ("run", { RunCommand.command }), ("submit", { SubmitCommand.command }),
        ("status", { StatusCommand.command }), ("list", { ListCommand.command }), ("show", { ShowCommand.command }),
        ("wait", { WaitCommand.command }), ("cancel", { CancelCommand.command }), ("validate", { ValidateCommand.command }),
        ("retry", { RetryCommand.command }), ("tail", { TailCommand.command }), ("migrate", { MigrateCommand.command }),
        ("gc", { GcCommand.command }), ("pause", { PauseCommand.pause }), ("resume", { PauseCommand.resume }),
        ("report", { ReportCommand.command }),
    ]

    static var commands: [Command] { table.map { $0.make() } }

    static func command(named name: String) -> Command? {
        table.first { $0.name == name }?.make()
    }

    public static func main(_ argv: [String]) -> Int32 {
        let words = argv.dropFirst()
        guard let name = words.first, !name.hasPrefix("-") || name == "--help" || name == "-h" else {
            if words.first == "--version" {
                var out = Output()
                out.line("hopper \(HopperCLI.version)")
                out.flush()
                return 0
            }
            Output.error("usage: hopper <command> [options]; see hopper --help")
            return 2
        }
        if name == "--help" || name == "-h" || name == "help" {
            var out = Output()
            out.line(overview())
            out.flush()
            return 0
        }
        // Not a user's command: the process `hopper run` keeps beside it (RunGuard).
        if name == RunGuard.command { return RunGuard.main(Array(words.dropFirst())) }
        guard let command = command(named: name) else {
            Output.error("unknown command \(name); see hopper --help")
            return 2
        }
        do {
            let args = try Arguments.scan(words.dropFirst(), command.spec)
            if args.has("help") {
                var out = Output()
                out.line("usage: hopper \(command.name) \(command.usage)\n\n\(command.help)")
                out.flush()
                return 0
            }
            return try command.run(args)
        } catch {
            if error.code == .usage {
                Output.error("\(command.name): \(error.message) (usage: hopper \(command.name) \(command.usage))")
                return 2
            }
            Output.error(error.message)
            // Failures of the thing itself exit 1; everything about the input exits 2.
            return error.code == .io || error.code == .locked ? 1 : 2
        }
    }

    static func overview() -> String {
        var text = """
        hopper: a job runner driven by a spool directory.

        usage: hopper <command> [--spool DIR] [--config FILE] [options]

        commands:

        """
        let width = commands.map(\.name.count).max() ?? 0
        for c in commands { text += "  \(c.name)\(String(repeating: " ", count: width - c.name.count + 2))\(c.summary)\n" }
        text += """

        Defaults: --spool ./spool (or $HOPPER_SPOOL), --config ./config/hopper.json.
        Run `hopper <command> --help` for a command's options and an example.
        """
        return text
    }
}
