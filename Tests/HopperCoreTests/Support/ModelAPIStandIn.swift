import Dispatch
import Glibc
@testable import HopperCore

/// A local stand-in for the model APIs the real Claude Code and Codex
/// binaries call, so their presets can be run end to end without an account:
/// Anthropic's Messages API (`POST /v1/messages`, answered as server-sent
/// events) and OpenAI's Responses API (`POST /v1/responses`).
///
/// One connection per request (`Connection: close`), served on a background
/// queue until `close()`. What it answers is fixed when it starts.
final class ModelAPIStandIn: Sendable {
    enum Answer: Sendable {
        /// A streamed reply saying `text`.
        case reply(String)
        /// HTTP 429: Anthropic's `rate_limit_error` with `retry-after: 1`;
        /// for the Responses API `usage_limit_reached` with `resets_at`.
        case rateLimited(resetsAt: Int)
        /// HTTP 401.
        case unauthorized
    }

    let port: UInt16
    private let listener: Int32

    init(_ answer: Answer) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", errno: .current) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(fd)
            throw SystemError("bind", errno: .current)
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        DispatchQueue.global().async {
            // Only this loop closes the listener, once shutdown() has ended accept: no fd is closed twice.
            defer { Glibc.close(fd) }
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return
                }
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                DispatchQueue.global().async { Self.serve(connection, answer) }
            }
        }
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting: the accept loop wakes, ends and closes the listener.
    func close() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    deinit { close() }

    private static func serve(_ fd: Int32, _ answer: Answer) {
        defer { Glibc.close(fd) }
        guard let path = readRequest(fd) else { return }
        let isResponses = path.hasPrefix("/v1/responses")
        switch answer {
        case .reply(let text):
            guard path.hasPrefix("/v1/messages") || isResponses else {
                return send(fd, status: "404 Not Found", type: "application/json", body: "{}")
            }
            send(fd, status: "200 OK", type: "text/event-stream", body: isResponses ? responsesEvents(text) : messagesEvents(text))
        case .rateLimited(let resetsAt):
            let body = isResponses
                ? #"{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_at":\#(resetsAt),"resets_in_seconds":60}}"#
                : #"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#
            send(fd, status: "429 Too Many Requests", type: "application/json", body: body, extra: "retry-after: 1\r\n")
        case .unauthorized:
            let body = isResponses
                ? #"{"error":{"type":"invalid_request_error","code":"invalid_api_key","message":"Incorrect API key provided"}}"#
                : #"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#
            send(fd, status: "401 Unauthorized", type: "application/json", body: body)
        }
    }

    /// Reads the request line, headers and body; returns the path.
    private static func readRequest(_ fd: Int32) -> String? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var headerEnd: Int?
        var contentLength = 0
        while headerEnd == nil || bytes.count < headerEnd! + contentLength {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            bytes += buffer[0..<n]
            if headerEnd == nil, let end = find(Array("\r\n\r\n".utf8), in: bytes) {
                headerEnd = end + 4
                let head = String(decoding: bytes[0..<end], as: UTF8.self).lowercased()
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    contentLength = Int(line.dropFirst("content-length:".count).trimmingPrefix(" ")) ?? 0
                }
            }
        }
        let requestLine = String(decoding: bytes.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        let parts = requestLine.split(separator: " ")
        return parts.count >= 2 ? String(parts[1]) : nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<$0 + needle.count]) == needle }
    }

    private static func send(_ fd: Int32, status: String, type: String, body: String, extra: String = "") {
        let payload = Array(body.utf8)
        let head = "HTTP/1.1 \(status)\r\ncontent-type: \(type)\r\ncontent-length: \(payload.count)\r\n\(extra)connection: close\r\n\r\n"
        var all = Array(head.utf8) + payload
        var offset = 0
        while offset < all.count {
            let n = all[offset...].withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            offset += n
        }
        all.removeAll()
    }

    private static func event(_ name: String, _ json: String) -> String { "event: \(name)\ndata: \(json)\n\n" }

    private static func messagesEvents(_ text: String) -> String {
        let quoted = JSONValue.string(text).serialized()
        return event("message_start", #"{"type":"message_start","message":{"id":"msg_standin","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}"#)
            + event("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#)
            + event("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":\#(quoted)}}"#)
            + event("content_block_stop", #"{"type":"content_block_stop","index":0}"#)
            + event("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}"#)
            + event("message_stop", #"{"type":"message_stop"}"#)
    }

    private static func responsesEvents(_ text: String) -> String {
        let quoted = JSONValue.string(text).serialized()
        return event("response.created", #"{"type":"response.created","response":{"id":"resp_1"}}"#)
            + event("response.output_item.added", #"{"type":"response.output_item.added","output_index":0,"item":{"type":"message","id":"msg_1","role":"assistant","content":[]}}"#)
            + event("response.output_text.delta", #"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":\#(quoted)}"#)
            + event("response.output_item.done", #"{"type":"response.output_item.done","output_index":0,"item":{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":\#(quoted),"annotations":[]}]}}"#)
            + event("response.completed", #"{"type":"response.completed","response":{"id":"resp_1","usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":25}}}"#)
    }
}
