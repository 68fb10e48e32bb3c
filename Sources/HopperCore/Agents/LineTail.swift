/// The last few lines a process wrote (its stderr, usually), kept so a
/// failure's record can quote the CLI's own words without holding all of
/// its output.
struct LineTail: Sendable, Equatable {
    let capacity: Int
    private(set) var lines: [String] = []

    init(capacity: Int = 20) { self.capacity = max(1, capacity) }

    /// Keeps `line` unless it is blank; drops the oldest past the capacity.
    mutating func append(_ line: String) {
        guard line.contains(where: { !$0.isWhitespace }) else { return }
        if lines.count == capacity { lines.removeFirst() }
        lines.append(line.count > 2000 ? String(line.prefix(2000)) : line)
    }

    mutating func removeAll() { lines.removeAll() }

    var text: String { lines.joined(separator: "\n") }
    var isEmpty: Bool { lines.isEmpty }
}
