/// The words after a subcommand, sorted into options, flags and operands.
///
/// `--name value` and `--name=value` both work; `--` ends options; with
/// `operandsEndOptions` the first operand does too (so `hopper submit echo
/// --version` submits `echo --version`).
struct Arguments {
    var operands: [String] = []
    var options: [String: [String]] = [:]
    var flags: Set<String> = []

    struct Spec: Sendable {
        var valued: Set<String>
        var flags: Set<String>
        var operandsEndOptions = false
    }

    /// Options every command takes.
    static let common: Set<String> = ["spool", "config"]

    static func scan(_ words: ArraySlice<String>, _ spec: Spec) throws(HopperError) -> Arguments {
        var result = Arguments()
        var i = words.startIndex
        while i < words.endIndex {
            let word = words[i]
            i += 1
            if word == "--" {
                result.operands.append(contentsOf: words[i...])
                break
            }
            guard word.hasPrefix("-") && word.count > 1 else {
                result.operands.append(word)
                if spec.operandsEndOptions {
                    result.operands.append(contentsOf: words[i...])
                    break
                }
                continue
            }
            var name = String(word.drop { $0 == "-" })
            var inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if word == "-h" { name = "help" }
            if spec.flags.contains(name) || name == "help" || name == "json" && spec.flags.contains("json") {
                guard inline == nil else { throw HopperError(.usage, "option --\(name) takes no value") }
                result.flags.insert(name)
            } else if spec.valued.contains(name) || common.contains(name) {
                let value: String
                if let inline { value = inline } else {
                    guard i < words.endIndex else { throw HopperError(.usage, "option --\(name) needs a value") }
                    value = words[i]
                    i += 1
                }
                result.options[name, default: []].append(value)
            } else {
                throw HopperError(.usage, "unknown option \(word)")
            }
        }
        return result
    }

    /// The operands as task ids, for commands that act on each in turn: an
    /// operand that is not a valid id is reported (`cannot <verb> X: not a
    /// valid task id`) and sets `status` to 2; the others are returned.
    func taskIDs(verb: String, status: inout Int32) -> [TaskID] {
        operands.compactMap { text in
            guard let id = TaskID(text) else {
                Output.error("cannot \(verb) \(text): not a valid task id")
                status = 2
                return nil
            }
            return id
        }
    }

    func value(_ name: String) -> String? { options[name]?.last }
    func values(_ name: String) -> [String] { options[name] ?? [] }
    func has(_ flag: String) -> Bool { flags.contains(flag) }

    /// The spool: --spool, else $HOPPER_SPOOL (set for tasks), else ./spool.
    var spoolPath: String {
        value("spool") ?? Environment.get("HOPPER_SPOOL") ?? "spool"
    }

    var configPath: String { value("config") ?? "config/hopper.json" }

    func number(_ name: String) throws(HopperError) -> Double? {
        guard let text = value(name) else { return nil }
        guard let d = Double(text), d.isFinite else { throw HopperError(.usage, "option --\(name) expects a number, got \(text)") }
        return d
    }

    func integer(_ name: String) throws(HopperError) -> Int? {
        guard let text = value(name) else { return nil }
        guard let n = Int(text) else { throw HopperError(.usage, "option --\(name) expects an integer, got \(text)") }
        return n
    }
}

/// Reads the process environment.
enum Environment {
    static func get(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }
}

import Glibc
