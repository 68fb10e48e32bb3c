/// The command of each task of `hopper submit --each`: a template whose
/// `{}` is replaced by one line of input, always as exactly one word.
///
/// - One template word is a shell line: `{}` becomes the line quoted for
///   the shell (`'it'\''s here'`), as GNU parallel quotes it, so spaces,
///   quotes, `$` and globs in the line reach the program as they are.
/// - Several words are an argv: `{}` inside a word becomes the line as it
///   is, then every word is quoted where it needs it.
/// - No `{}` anywhere: the line is added as one more word.
/// - No template: each line is a shell line as written (a file of commands).
///
/// - Important: write `{}` bare, never inside quotes of the template: it is
///   already quoted, so `'echo "{}"'` would print the quotes too.
struct EachTemplate {
    /// Each template word cut at its `{}`s: `["gzip", ["-9"], ["", ""]]` for `gzip -9 {}`.
    private let words: [[String]]
    private let isShellLine: Bool

    init(_ words: [String]) {
        var cut = words.map(EachTemplate.cut)
        let hasPlaceholder = cut.contains { $0.count > 1 }
        isShellLine = words.count <= 1
        if !words.isEmpty && !hasPlaceholder {
            // No {}: the line is one more word (after a space, for a shell line).
            if isShellLine { cut[0] = [cut[0][0] + " ", ""] } else { cut.append(["", ""]) }
        }
        self.words = cut
    }

    /// The task's command for one line.
    func command(_ line: String) -> String {
        if words.isEmpty { return line }
        if isShellLine { return words[0].joined(separator: SubmitCommand.shellQuoted(line)) }
        return words.map { SubmitCommand.shellQuoted($0.joined(separator: line)) }.joined(separator: " ")
    }

    /// `word` split at each `{}`.
    private static func cut(_ word: String) -> [String] {
        var parts: [String] = []
        var bytes = Array(word.utf8)[...]
        while let i = bytes.indices.first(where: { bytes[$0] == UInt8(ascii: "{") && $0 + 1 < bytes.endIndex && bytes[$0 + 1] == UInt8(ascii: "}") }) {
            parts.append(String(decoding: bytes[..<i], as: UTF8.self))
            bytes = bytes[(i + 2)...]
        }
        parts.append(String(decoding: bytes, as: UTF8.self))
        return parts
    }
}

/// The lines of `--each` input: split at `\n`, each kept exactly as it is
/// (spaces and a `\r` included); empty lines are skipped, and a line that
/// is not UTF-8 is an error that names it.
enum EachInput {
    /// Non-empty lines with their 1-based line numbers (empty ones counted too).
    static func lines(_ bytes: [UInt8]) throws(HopperError) -> [(number: Int, text: String)] {
        var result: [(number: Int, text: String)] = []
        var number = 0
        var start = 0
        while start < bytes.count {
            number += 1
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            if end > start {
                guard let text = String(validating: bytes[start..<end], as: UTF8.self) else {
                    throw HopperError(.notUTF8, "cannot submit line \(number): not valid UTF-8")
                }
                result.append((number, text))
            }
            start = end + 1
        }
        return result
    }
}
