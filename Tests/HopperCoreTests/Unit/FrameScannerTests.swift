import Testing
@testable import HopperCore

/// The shell protocol's end-of-task frame, found in any chunking, never in
/// a look-alike.
@Suite struct FrameScannerTests {
    @Test func findIsTheFirstWholeMatch() {
        let needle = Array("\nab".utf8)
        #expect(FrameScanner.find(needle, in: Array("\nab".utf8)) == 0)
        #expect(FrameScanner.find(needle, in: Array("x\na\nab\nab".utf8)) == 3)
        #expect(FrameScanner.find(needle, in: Array("\na\na\n".utf8)) == nil)
        #expect(FrameScanner.find(needle, in: Array("\na".utf8)) == nil)
        #expect(FrameScanner.find(needle, in: []) == nil)
        #expect(FrameScanner.find(needle, in: [UInt8](repeating: 0, count: 1 << 20) + needle) == 1 << 20)
    }

    @Test func aFrameIsFoundWhateverTheChunks() {
        let nonce = "hopper-frame-test"
        let stream = Array("out\nhopper-frame-tes\nhopper-frame-test x\nmore\nhopper-frame-test 7\n".utf8)
        for size in [1, 2, 3, 7, 64, stream.count] {
            var scanner = FrameScanner(nonce: nonce, expectsStatus: true)
            var output: [UInt8] = []
            var offset = 0
            while offset < stream.count && !scanner.finished {
                let end = min(stream.count, offset + size)
                stream[offset..<end].withUnsafeBytes { output += scanner.feed($0) }
                offset = end
            }
            #expect(scanner.finished && scanner.status == 7, "chunks of \(size)")
            #expect(String(decoding: output, as: UTF8.self) == "out\nhopper-frame-tes\nhopper-frame-test x\nmore", "chunks of \(size)")
        }
    }
}
