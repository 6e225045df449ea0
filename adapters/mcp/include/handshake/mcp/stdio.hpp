// MCP stdio framing: one JSON-RPC message per line, '\n'-terminated (a '\r' before it is
// tolerated), no embedded newlines. The pieces hsk-mcp-proxy and the in-process middleware share,
// kept free of file descriptors and threads so that they can be tested and fuzzed on their own.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "handshake/json.hpp"
#include "handshake/mcp/envelope.hpp"

namespace handshake::mcp {

// Finds the top-level "id" of a JSON-RPC message as its bytes stream past, without keeping them:
// what an answer to a message too large to read must carry so that the client can match it to its
// call (the SDKs put "id" last). Lexical only (strings, escapes, nesting); a string or integer id
// of at most 256 bytes. Not thread-safe.
class IdScanner {
 public:
  void feed(std::string_view bytes);
  // The id found (null when none, or when the text was not a JSON object as far as it went).
  [[nodiscard]] Json id() const;
  void reset() { *this = IdScanner(); }

 private:
  int depth_ = 0;
  bool in_string_ = false, escape_ = false;
  bool expect_key_ = false;  // at depth 1, the next string is a member name
  bool key_is_id_ = false;   // the member name just read is "id"
  bool capturing_ = false;   // reading the id's value
  bool broken_ = false;
  std::string key_, value_, found_;
};

// Cuts a byte stream, fed in chunks of any size, into lines. A line longer than the limit is
// dropped as its bytes arrive (memory stays bounded by the limit) and reported by its size once its
// newline comes. Empty lines (after dropping a trailing '\r') are skipped. Not thread-safe.
class LineFramer {
 public:
  using OnLine = std::function<void(std::string_view line)>;
  // The size of the over-long line and its top-level "id" (IdScanner; null when none was found).
  using OnOversize = std::function<void(std::size_t size, const Json& id)>;

  explicit LineFramer(std::size_t max_line_bytes) : max_(max_line_bytes) {}

  // Feeds the next bytes of the stream: on_line for every line they complete, on_oversize for
  // every over-long line they end (its size counts the bytes before the newline, '\r' included).
  void feed(std::string_view bytes, const OnLine& on_line, const OnOversize& on_oversize);

  // The stream ended: the last line if it had no newline (an over-long one is dropped silently,
  // as nobody waits for its answer).
  void finish(const OnLine& on_line);

 private:
  std::size_t max_;
  std::string buf_;
  bool skipping_ = false;
  std::size_t skipped_ = 0;
  IdScanner id_;
};

// One line read from the client side, decoded for routing.
struct ClientLine {
  // The decoded message, when the line is JSON at all (decode(): permissive).
  std::optional<Json> message;
  MessageType type = MessageType::kInvalid;
  // The request's id (null for anything but a request): what its answer must carry.
  Json id;
  // Set when the line must be answered instead of routed: -32700 for text that is not JSON,
  // -32600 for JSON that is not a JSON-RPC message (with its id when it had one).
  std::optional<Json> error;
};

// Decodes and classifies one line (see ClientLine).
[[nodiscard]] ClientLine read_client_line(std::string_view line);

// The key under which a relay remembers a request until its response arrives: the id serialized,
// so that 1 and "1" stay apart.
[[nodiscard]] std::string pending_key(const Json& id);

}  // namespace handshake::mcp
