#include "handshake/mcp/stdio.hpp"

namespace handshake::mcp {

namespace {

std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

void LineFramer::feed(std::string_view in, const OnLine& on_line, const OnOversize& on_oversize) {
  while (!in.empty()) {
    const auto nl = in.find('\n');
    const std::string_view part = in.substr(0, nl);
    if (skipping_) {
      skipped_ += part.size();
    } else if (buf_.size() + part.size() > max_) {
      // Over the limit: stop buffering now, not at the newline, so a peer cannot make us hold
      // more than the limit by never ending its line.
      skipping_ = true;
      skipped_ = buf_.size() + part.size();
      buf_.clear();
      buf_.shrink_to_fit();
    } else {
      buf_.append(part);
    }
    if (nl == std::string_view::npos) return;
    in.remove_prefix(nl + 1);
    if (skipping_) {
      const std::size_t size = skipped_;
      skipping_ = false;
      skipped_ = 0;
      on_oversize(size);
    } else {
      const std::string_view text = without_cr(buf_);
      if (!text.empty()) on_line(text);
      buf_.clear();  // keeps its capacity for the next line
    }
  }
}

void LineFramer::finish(const OnLine& on_line) {
  if (skipping_) {
    skipping_ = false;
    skipped_ = 0;
    return;
  }
  std::string line;
  line.swap(buf_);
  const std::string_view text = without_cr(line);
  if (!text.empty()) on_line(text);
}

ClientLine read_client_line(std::string_view line) {
  ClientLine out;
  out.message = decode(line);
  if (!out.message) {
    out.error = error_response(nullptr, kParseError, "Parse error");
    return out;
  }
  const Json& m = *out.message;
  out.type = message_type(m);
  if (out.type == MessageType::kInvalid) {
    // Echo the id when there is one, whatever its type: the peer can then match the error.
    out.error = error_response(m.is_object() && m.contains("id") ? m["id"] : Json(), kInvalidRequest, "Invalid Request");
    return out;
  }
  if (out.type == MessageType::kRequest) out.id = m["id"];
  return out;
}

std::string pending_key(const Json& id) { return serialize(id); }

}  // namespace handshake::mcp
