#include "handshake/mcp/stdio.hpp"

namespace handshake::mcp {

namespace {

std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

void IdScanner::feed(std::string_view bytes) {
  for (const char c : bytes) {
    if (broken_) return;
    if (capturing_ && depth_ == 1 && !in_string_ && (c == ',' || c == '}')) {
      capturing_ = false;
      found_ = value_;
    } else if (capturing_) {
      if (value_.size() >= 256) {
        capturing_ = false;  // an id this long is not one we answer with
      } else {
        value_.push_back(c);
      }
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
        continue;
      }
      if (expect_key_ && depth_ == 1 && key_.size() < 8) key_.push_back(c);
      continue;
    }
    switch (c) {
      case '"':
        in_string_ = true;
        if (expect_key_ && depth_ == 1) key_.clear();
        break;
      case ':':
        if (depth_ == 1 && expect_key_) {
          expect_key_ = false;
          key_is_id_ = key_ == "id";
          if (key_is_id_) {
            capturing_ = true;
            value_.clear();
          }
        }
        break;
      case ',':
        if (depth_ == 1) expect_key_ = true;
        break;
      case '{':
      case '[':
        if (depth_ == 0 && c != '{') broken_ = true;
        if (++depth_ == 1) expect_key_ = true;
        break;
      case '}':
      case ']':
        if (--depth_ < 0) broken_ = true;
        break;
      default:
        break;
    }
  }
}

Json IdScanner::id() const {
  if (found_.empty()) return nullptr;
  auto parsed = json::parse_strict(found_);
  if (!parsed.ok()) return nullptr;
  if (parsed->is_string() || parsed->is_number_integer()) return std::move(parsed).value();
  return nullptr;
}

void LineFramer::feed(std::string_view in, const OnLine& on_line, const OnOversize& on_oversize) {
  while (!in.empty()) {
    const auto nl = in.find('\n');
    const std::string_view part = in.substr(0, nl);
    if (skipping_) {
      skipped_ += part.size();
      id_.feed(part);
    } else if (buf_.size() + part.size() > max_) {
      // Over the limit: stop buffering now, not at the newline, so a peer cannot make us hold
      // more than the limit by never ending its line. Its id is looked for as it passes.
      skipping_ = true;
      skipped_ = buf_.size() + part.size();
      id_.reset();
      id_.feed(buf_);
      id_.feed(part);
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
      on_oversize(size, id_.id());
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
