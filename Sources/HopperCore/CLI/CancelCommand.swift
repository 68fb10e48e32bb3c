import Glibc

/// `hopper cancel ID...`: drops `cancel/<id>` for each unfinished task.
enum CancelCommand {
    static let command = HopperCLI.Command(
        name: "cancel", summary: "cancel pending, queued or running tasks", usage: "ID...",
        help: """
        Asks the daemon to cancel each task: pending and queued tasks end
        cancelled without running; a running task's process group gets SIGTERM,
        then SIGKILL after kill_grace. Same as creating an empty file
        cancel/ID. Exit 1 if a task had already finished, 2 if an id is unknown.

        example: hopper cancel nightly-01jdxk3m2a7qz
        """,
        spec: .init(valued: [], flags: []), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard !args.operands.isEmpty else { throw HopperError(.usage, "expected at least one task id") }
        let reader = try SpoolReader.open(args.spoolPath)
        var status: Int32 = 0
        var out = Output()
        for id in args.taskIDs(verb: "cancel", status: &status) {
            switch reader.locate(id) {
            case .found(let found) where found.state.isTerminal:
                Output.error("cannot cancel \(id): already \(found.state.rawValue)")
                status = max(status, 1)
                continue
            case .rejected, .missing:
                Output.error("cannot cancel \(id): no such task")
                status = 2
                continue
            case .found, .submitted:
                break
            }
            do {
                let fd = try reader.spool[.cancel].openFile(FileName(id.rawValue), O_WRONLY | O_CREAT, mode: 0o644)
                fd.close()
                out.line("cancel requested: \(id)")
            } catch {
                Output.error("cannot cancel \(id): \(error)")
                status = max(status, 1)
            }
        }
        out.flush()
        return status
    }
}
