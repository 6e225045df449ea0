// Server-sent events (the WHATWG event stream format), as both proxies relay them: a byte stream
// split into events, whatever its line endings (LF, CR or CRLF, mixed) and wherever the chunks of
// the transport cut it, each event handed on as soon as its blank line arrives. Header-only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace handshake::net {

// One event as received: its lines, without their endings and without the blank line that ended it.
struct SseEvent {
  std::vector<std::string> lines;

  // The data lines joined by "\n" ("data:" and one following space removed).
  [[nodiscard]] std::string data() const {
    std::string d;
    bool first = true;
    for (const auto& l : lines) {
      if (l.rfind("data:", 0) != 0) continue;
      std::string_view v = std::string_view(l).substr(5);
      if (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (!first) d.push_back('\n');
      d.append(v);
      first = false;
    }
    return d;
  }
  // The event written out again (LF endings), its data replaced by `new_data` when given (one
  // data line where the first one stood); the other lines (event:, id:, retry:, comments) kept.
  [[nodiscard]] std::string render(const std::optional<std::string>& new_data) const {
    std::string out;
    bool data_written = false;
    for (const auto& l : lines) {
      if (new_data && l.rfind("data:", 0) == 0) {
        if (!data_written) out += "data: " + *new_data + "\n";
        data_written = true;
        continue;
      }
      out += l + "\n";
    }
    if (new_data && !data_written) out += "data: " + *new_data + "\n";
    return out + "\n";
  }
};

// Splits a byte stream into events. A CR at the very end of a chunk waits for the next one (it may
// be the first half of a CRLF).
class SseSplitter {
 public:
  template <typename OnEvent>
  void feed(std::string_view bytes, OnEvent&& on_event) {
    buf_.append(bytes);
    std::size_t start = 0;
    for (;;) {
      const auto eol = buf_.find_first_of("\r\n", start);
      if (eol == std::string::npos) break;
      if (buf_[eol] == '\r' && eol + 1 == buf_.size()) break;
      std::string line = buf_.substr(start, eol - start);
      start = eol + ((buf_[eol] == '\r' && buf_[eol + 1] == '\n') ? 2 : 1);
      if (line.empty()) {
        if (!event_.lines.empty()) on_event(event_);
        event_.lines.clear();
      } else {
        event_.lines.push_back(std::move(line));
      }
    }
    buf_.erase(0, start);
  }
  // At the end of the stream: an event the stream did not close with a blank line, if any.
  template <typename OnEvent>
  void finish(OnEvent&& on_event) {
    if (!buf_.empty()) {
      if (buf_.back() == '\r') buf_.pop_back();
      if (!buf_.empty()) event_.lines.push_back(buf_);
      buf_.clear();
    }
    if (!event_.lines.empty()) on_event(event_);
    event_.lines.clear();
  }

 private:
  std::string buf_;
  SseEvent event_;
};

}  // namespace handshake::net
