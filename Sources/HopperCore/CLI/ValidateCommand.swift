/// `hopper validate FILE...`: checks request files exactly as intake would.
enum ValidateCommand {
    static let command = HopperCLI.Command(
        name: "validate", summary: "check request files without submitting them", usage: "FILE... [--json]",
        help: """
        Reads each file with the daemon's rules (suffix .json or .sh, a regular
        file, size limit, strict fields) against the configuration, and prints
        `FILE: ok` or `FILE: CODE: message`. Exit 0 if all are valid, 1 if not.

        example: hopper validate batch/*.json
        """,
        spec: .init(valued: [], flags: ["json"]), run: run)

    static func run(_ args: Arguments) throws(HopperError) -> Int32 {
        guard !args.operands.isEmpty else { throw HopperError(.usage, "expected at least one file") }
        let intake = Intake(config: try Configuration.load(path: args.configPath))
        var out = Output()
        var allValid = true
        for path in args.operands {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            let dirPath = parts.count > 1 ? parts.dropLast().joined(separator: "/") : "."
            var problem: HopperError?
            do {
                let dir = try Directory.open(dirPath.isEmpty ? "/" : dirPath)
                defer { dir.close() }
                switch intake.examine(FileName(String(parts.last!)), in: dir) {
                case .accepted: break
                case .rejected(let e): problem = e
                case .vanished: problem = HopperError(.unreadable, "no such file")
                case .busy(let e): problem = HopperError(.unreadable, "cannot open it now: \(e.errno)")
                case .ignored: problem = HopperError(.unsupportedName, "names starting with . or ending in .tmp or .part are ignored by intake")
                }
            } catch {
                problem = HopperError(.unreadable, "cannot open its directory: \(error.errno)")
            }
            if problem != nil { allValid = false }
            if args.has("json") {
                var w = JSONWriter()
                w.beginObject()
                w.field("file", path)
                w.field("valid", problem == nil)
                w.field("error", problem?.code.rawValue)
                w.field("field", problem?.field)
                w.field("message", problem?.message)
                w.endObject()
                out.line(w.string)
            } else {
                out.line(problem.map { "\(path): \($0.code.rawValue): \($0.message)" } ?? "\(path): ok")
            }
        }
        out.flush()
        return allValid ? 0 : 1
    }
}
