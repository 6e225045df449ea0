// The relay kit (net/relay.hpp).
#include "handshake/net/relay.hpp"

#include <strings.h>

#include <thread>

namespace handshake::net {

bool is_hop_by_hop(std::string_view name) {
  static const char* const kSkip[] = {"host", "content-length", "connection", "transfer-encoding", "keep-alive",
                                      "upgrade", "accept-encoding", "content-encoding", "te", "trailer",
                                      "proxy-connection", "content-type",
                                      // cpp-httplib puts the peer's addresses among a request's headers
                                      "remote_addr", "remote_port", "local_addr", "local_port"};
  for (const char* s : kSkip) {
    if (name.size() == std::char_traits<char>::length(s) && ::strncasecmp(name.data(), s, name.size()) == 0) return true;
  }
  return false;
}

std::shared_ptr<Exchange> Exchange::start(const Url& origin, const ClientOptions& client, UpstreamRequest request) {
  auto ex = std::shared_ptr<Exchange>(new Exchange());
  std::thread([ex, origin, client, request = std::move(request)]() mutable {
    ex->run(std::move(origin), std::move(client), std::move(request));
  }).detach();
  return ex;
}

void Exchange::run(Url origin, ClientOptions options, UpstreamRequest request) {
  auto opened = Client::open(origin, options);
  if (!opened.ok()) {
    std::lock_guard lock(mu_);
    failed_ = have_headers_ = done_ = true;
    error_ = opened.error().message;
    cv_.notify_all();
    return;
  }
  auto& owner = **opened;
  httplib::ClientImpl& client = owner.http();
  client.set_read_timeout(static_cast<time_t>(request.read_timeout.count()), 0);
  client.set_write_timeout(30, 0);
  client.set_keep_alive(false);
  httplib::Request req;
  req.method = request.method;
  req.path = request.path;
  for (auto& [k, v] : request.headers) {
    if (!is_hop_by_hop(k)) req.headers.emplace(k, v);
  }
  if (request.method == "POST") {
    req.body = std::move(request.body);
    req.set_header("Content-Type", request.content_type.empty() ? "application/json" : request.content_type);
  }
  req.response_handler = [this](const httplib::Response& r) {
    std::lock_guard lock(mu_);
    status_ = r.status;
    headers_ = r.headers;
    have_headers_ = true;
    cv_.notify_all();
    return !cancelled_;
  };
  req.content_receiver = [this](const char* data, size_t n, uint64_t, uint64_t) {
    std::lock_guard lock(mu_);
    chunks_.emplace_back(data, n);
    cv_.notify_all();
    return !cancelled_;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool ok = client.send(req, res, err);
  std::lock_guard lock(mu_);
  if (!have_headers_) {
    failed_ = !ok;
    status_ = ok ? res.status : 502;
    headers_ = res.headers;
    have_headers_ = true;
    error_ = ok ? std::string() : owner.describe(err);
  }
  if (ok && chunks_.empty() && !res.body.empty()) chunks_.push_back(res.body);
  done_ = true;
  cv_.notify_all();
}

bool Exchange::wait_headers(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return have_headers_; });
}
bool Exchange::failed() {
  std::lock_guard lock(mu_);
  return failed_;
}
std::string Exchange::error() {
  std::lock_guard lock(mu_);
  return error_;
}
int Exchange::status() {
  std::lock_guard lock(mu_);
  return status_;
}
httplib::Headers Exchange::headers() {
  std::lock_guard lock(mu_);
  return headers_;
}
std::string Exchange::content_type() {
  std::lock_guard lock(mu_);
  auto it = headers_.find("Content-Type");
  return it == headers_.end() ? std::string() : it->second;
}
std::deque<std::string> Exchange::take(std::chrono::milliseconds timeout, bool& ended) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !chunks_.empty() || done_; });
  std::deque<std::string> out;
  out.swap(chunks_);
  ended = done_ && out.empty();
  return out;
}
bool Exchange::wait_body(std::chrono::milliseconds timeout, std::string& body) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return done_; })) return false;
  for (auto& c : chunks_) body += c;
  chunks_.clear();
  return true;
}
void Exchange::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
}

namespace {
bool is_event_stream(const std::string& content_type) { return content_type.rfind("text/event-stream", 0) == 0; }
}  // namespace

SseRelay::SseRelay(std::shared_ptr<Exchange> exchange, SseRelayHooks hooks)
    : ex_(std::move(exchange)), hooks_(std::move(hooks)) {}

void SseRelay::attach(httplib::Response& res, std::shared_ptr<SseRelay> relay) {
  res.set_chunked_content_provider(
      "text/event-stream", [relay](size_t, httplib::DataSink& sink) { return relay->step(sink); },
      [relay](bool) { relay->cancel(); });
}

bool SseRelay::cancel() {
  ex_->cancel();
  return false;
}

bool SseRelay::end_with(const std::string& data, httplib::DataSink& sink) {
  std::string ev = hooks_.event_name.empty() ? std::string() : "event: " + hooks_.event_name + "\n";
  ev += "data: " + data + "\n\n";
  ended_ = true;
  if (!sink.write(ev.data(), ev.size())) return cancel();
  sink.done();
  return true;
}

// Applies one step to `out`; false once nothing more of this upstream answer is for the client.
bool SseRelay::apply(RelayStep s, const SseEvent* ev, std::string& out) {
  switch (s.kind) {
    case RelayStep::Kind::kPass:
      if (ev != nullptr) out += ev->render(std::nullopt);
      return true;
    case RelayStep::Kind::kDrop:
      return true;
    case RelayStep::Kind::kReplace:
      out += ev != nullptr ? ev->render(s.data) : "data: " + s.data + "\n\n";
      return true;
    case RelayStep::Kind::kEnd:
      if (!hooks_.event_name.empty()) out += "event: " + hooks_.event_name + "\n";
      out += "data: " + s.data + "\n\n";
      ended_ = true;
      return false;
    case RelayStep::Kind::kResend:
      resend_ = std::move(s.data);
      return false;
  }
  return true;
}

bool SseRelay::step(httplib::DataSink& sink) {
  using namespace std::chrono_literals;
  if (hooks_.end_on_drain && draining()) {
    ex_->cancel();
    ended_ = true;
  }
  if (ended_) {
    sink.done();
    return true;
  }
  if (waiting_headers_) {
    if (!ex_->wait_headers(500ms)) return sink.is_writable() || cancel();
    waiting_headers_ = false;
    if (ex_->failed()) return end_with(hooks_.on_failure ? hooks_.on_failure(ex_->error()) : "{}", sink);
    whole_body_ = !is_event_stream(ex_->content_type());
  }
  std::string out;
  bool ended = false;
  if (whole_body_) {
    std::string body;
    if (!ex_->wait_body(500ms, body)) return sink.is_writable() || cancel();
    RelayStep s = hooks_.on_body ? hooks_.on_body(ex_->status(), body) : RelayStep{RelayStep::Kind::kDrop, {}};
    if (s.kind == RelayStep::Kind::kReplace) s.kind = RelayStep::Kind::kEnd;
    if (s.kind == RelayStep::Kind::kPass || s.kind == RelayStep::Kind::kDrop) ended = true;
    (void)apply(std::move(s), nullptr, out);
  } else {
    bool more = true;
    for (const auto& chunk : ex_->take(500ms, ended)) {
      if (!more) break;  // the rest of this answer is not for the client
      splitter_.feed(chunk, [&](const SseEvent& ev) {
        if (more) more = apply(hooks_.on_event ? hooks_.on_event(ev) : RelayStep{}, &ev, out);
      });
    }
  }
  if (!out.empty() && !sink.write(out.data(), out.size())) return cancel();
  if (resend_) {
    ex_->cancel();
    if (!hooks_.restart) return end_with(hooks_.on_failure ? hooks_.on_failure("cannot resend") : "{}", sink);
    ex_ = hooks_.restart(std::move(*resend_));
    resend_.reset();
    splitter_ = SseSplitter();
    waiting_headers_ = true;
    return true;
  }
  if (ended_) {
    ex_->cancel();
    sink.done();
    return true;
  }
  if (ended) {
    sink.done();
    return true;
  }
  if (!sink.is_writable()) return cancel();
  return true;
}

}  // namespace handshake::net
