// Streamable HTTP transport (MCP 2025-11-25, also 2025-06-18 / 2025-03-26): one endpoint, POST
// with a JSON or an SSE reply, GET streams, DELETE. The upstream exchange runs on its own thread;
// its headers decide the reply's shape, and SSE events are relayed one by one as they arrive, so
// server-to-client requests inside a call's stream (sampling, elicitation, roots) reach the client
// before the call ends.
#include <httplib.h>
#include <signal.h>
#include <strings.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "handshake/mcp/envelope.hpp"
#include "handshake/net/http_server.hpp"
#include "relay.hpp"

namespace hsk::mcp_proxy {

namespace mcp = handshake::mcp;

namespace {

bool hop_by_hop(const std::string& name) {
  static const char* const kSkip[] = {"host", "content-length", "connection", "transfer-encoding", "keep-alive",
                                      "upgrade", "accept-encoding", "content-encoding", "te", "trailer",
                                      "proxy-connection", "content-type"};
  for (const char* s : kSkip) {
    if (::strcasecmp(name.c_str(), s) == 0) return true;
  }
  return false;
}

// What the upstream exchange has produced so far; shared by its worker and the reply.
struct Upstream {
  std::mutex mu;
  std::condition_variable cv;
  bool have_headers = false;
  bool done = false;
  bool failed = false;
  bool cancelled = false;
  int status = 502;
  httplib::Headers headers;
  std::deque<std::string> chunks;
  std::string error;
};

struct Target {
  std::string base;  // scheme://host:port
  std::string path;
};

bool parse_url(const std::string& url, Target& t) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return false;
  const auto slash = url.find('/', scheme + 3);
  t.base = url.substr(0, slash);
  t.path = slash == std::string::npos ? "/" : url.substr(slash);
  return url.compare(0, scheme, "http") == 0;
}

// Starts the upstream exchange on a detached thread.
std::shared_ptr<Upstream> start_upstream(const Target& target, const std::string& method, const httplib::Request& from,
                                         std::string body, bool drop_authorization = false) {
  auto up = std::make_shared<Upstream>();
  httplib::Headers headers;
  for (const auto& [k, v] : from.headers) {
    if (hop_by_hop(k)) continue;
    // A token for this resource is never passed on (MCP authorization: no token passthrough).
    if (drop_authorization && ::strcasecmp(k.c_str(), "Authorization") == 0) continue;
    headers.emplace(k, v);
  }
  std::string content_type = from.get_header_value("Content-Type");
  std::thread([up, target, method, headers = std::move(headers), body = std::move(body), content_type]() mutable {
    httplib::Client client(target.base);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(24 * 3600, 0);  // GET streams may be quiet for a long time
    client.set_write_timeout(30, 0);
    client.set_keep_alive(false);
    httplib::Request req;
    req.method = method;
    req.path = target.path;
    req.headers = std::move(headers);
    if (method == "POST") {
      req.body = std::move(body);
      req.set_header("Content-Type", content_type.empty() ? "application/json" : content_type);
    }
    req.response_handler = [up](const httplib::Response& r) {
      std::lock_guard lock(up->mu);
      up->status = r.status;
      up->headers = r.headers;
      up->have_headers = true;
      up->cv.notify_all();
      return !up->cancelled;
    };
    req.content_receiver = [up](const char* data, size_t n, uint64_t, uint64_t) {
      std::lock_guard lock(up->mu);
      up->chunks.emplace_back(data, n);
      up->cv.notify_all();
      return !up->cancelled;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool ok = client.send(req, res, err);
    std::lock_guard lock(up->mu);
    if (!up->have_headers) {
      up->failed = !ok;
      up->status = ok ? res.status : 502;
      up->headers = res.headers;
      up->have_headers = true;
      up->error = ok ? std::string() : httplib::to_string(err);
    }
    if (ok && up->chunks.empty() && !res.body.empty()) up->chunks.push_back(res.body);
    up->done = true;
    up->cv.notify_all();
  }).detach();
  return up;
}

// One SSE event as received: its lines (without the terminating blank line).
struct SseEvent {
  std::vector<std::string> lines;
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
    return out + "\n";
  }
};

// Splits a byte stream into SSE events (lines end with \n, \r\n or \r; a blank line ends one).
class SseSplitter {
 public:
  template <typename OnEvent>
  void feed(std::string_view bytes, OnEvent on_event) {
    buf_.append(bytes);
    std::size_t start = 0;
    for (;;) {
      const auto eol = buf_.find_first_of("\r\n", start);
      if (eol == std::string::npos) break;
      if (buf_[eol] == '\r' && eol + 1 == buf_.size()) break;  // maybe \r\n split across chunks
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
  [[nodiscard]] std::string rest() const {
    std::string out;
    for (const auto& l : event_.lines) out += l + "\n";
    return out + buf_;
  }

 private:
  std::string buf_;
  SseEvent event_;
};

void json_reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(mcp::serialize(body), "application/json");
}

// Relays the upstream reply to `res`: headers, then the body (transformed by `finish` for the
// response to `id` when there is one).
void relay_reply(const std::shared_ptr<Upstream>& up, httplib::Response& res, const Json& id,
                 std::function<Json(Json)> finish) {
  {
    std::unique_lock lock(up->mu);
    up->cv.wait(lock, [&] { return up->have_headers; });
    if (up->failed) {
      log("upstream unreachable: " + up->error);
      json_reply(res, 502, mcp::error_response(id, mcp::kInternalError, "upstream unreachable: " + up->error));
      return;
    }
    res.status = up->status;
    for (const auto& [k, v] : up->headers) {
      if (!hop_by_hop(k)) res.headers.emplace(k, v);
    }
  }
  const std::string content_type = [&] {
    std::lock_guard lock(up->mu);
    auto it = up->headers.find("Content-Type");
    return it == up->headers.end() ? std::string() : it->second;
  }();

  if (content_type.rfind("text/event-stream", 0) == 0) {
    auto splitter = std::make_shared<SseSplitter>();
    auto pending_finish = std::make_shared<std::function<Json(Json)>>(std::move(finish));
    const std::string id_text = mcp::serialize(id);
    res.set_chunked_content_provider(
        "text/event-stream",
        [up, splitter, pending_finish, id_text](size_t, httplib::DataSink& sink) {
          std::deque<std::string> chunks;
          bool done = false;
          {
            std::unique_lock lock(up->mu);
            up->cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return !up->chunks.empty() || up->done; });
            chunks.swap(up->chunks);
            done = up->done && chunks.empty();
          }
          std::string out;
          for (const auto& c : chunks) {
            splitter->feed(c, [&](const SseEvent& ev) {
              if (*pending_finish) {
                const std::string d = ev.data();
                if (!d.empty()) {
                  auto message = mcp::decode(d);
                  if (message && mcp::message_type(*message) == mcp::MessageType::kResponse &&
                      mcp::serialize((*message)["id"]) == id_text) {
                    Json finished = (*pending_finish)(std::move(*message));
                    *pending_finish = nullptr;
                    out += ev.render(mcp::serialize(finished));
                    return;
                  }
                }
              }
              out += ev.render(std::nullopt);
            });
          }
          if (!out.empty() && !sink.write(out.data(), out.size())) {
            std::lock_guard lock(up->mu);
            up->cancelled = true;
            return false;
          }
          if (done) {
            const std::string rest = splitter->rest();
            if (rest.size() > 1) sink.write(rest.data(), rest.size());
            sink.done();
            return true;
          }
          if (!sink.is_writable()) {
            std::lock_guard lock(up->mu);
            up->cancelled = true;
            return false;
          }
          return true;
        },
        [up](bool) {
          std::lock_guard lock(up->mu);
          up->cancelled = true;
        });
    return;
  }

  // A whole body (JSON, or anything else such as an error page): wait for the end.
  std::string body;
  {
    std::unique_lock lock(up->mu);
    up->cv.wait(lock, [&] { return up->done; });
    for (auto& c : up->chunks) body += c;
  }
  if (finish && content_type.rfind("application/json", 0) == 0) {
    if (auto message = mcp::decode(body); message && mcp::message_type(*message) == mcp::MessageType::kResponse) {
      body = mcp::serialize(finish(std::move(*message)));
    }
  }
  res.set_content(body, content_type.empty() ? "application/octet-stream" : content_type);
}

}  // namespace

int run_http(const HttpOptions& options, const Route& route) {
  Target target;
  if (!parse_url(options.upstream, target)) {
    log("--upstream must be an http:// URL");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stop, s);
  ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  httplib::Server server;
  // The limits every server of ours applies (worker pool, timeouts, keep-alive; slowloris in
  // tests/load); the body limit is the proxy's own.
  handshake::net::HttpServerLimits limits;
  limits.max_body_bytes = options.max_message_bytes;
  handshake::net::apply_limits(server, limits);

  const HttpAuth* auth = options.auth ? &*options.auth : nullptr;
  const bool drop_auth = auth != nullptr;
  // Resource-server duties: every request is checked before anything else happens.
  auto refused = [auth](const httplib::Request& req, httplib::Response& res, Json& context) {
    if (auth == nullptr) return false;
    HttpAuth::Outcome o = auth->check(req.get_header_value("Authorization"));
    if (o.allowed) {
      context = std::move(o.context);
      return false;
    }
    res.status = o.status;
    if (!o.www_authenticate.empty()) res.set_header("WWW-Authenticate", o.www_authenticate);
    res.set_content(mcp::serialize(o.body.is_null() ? Json::object() : o.body), "application/json");
    return true;
  };
  if (auth != nullptr) {
    server.Get(auth->metadata_path, [auth](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(mcp::serialize(auth->metadata), "application/json");
    });
  }

  server.Post(options.path, [&](const httplib::Request& req, httplib::Response& res) {
    Json context;
    if (refused(req, res, context)) return;
    auto message = mcp::decode(req.body);
    if (!message) return json_reply(res, 400, mcp::error_response(nullptr, mcp::kParseError, "Parse error"));
    const auto type = mcp::message_type(*message);
    if (type == mcp::MessageType::kInvalid) {
      return json_reply(res, 400, mcp::error_response(nullptr, mcp::kInvalidRequest, "Invalid Request"));
    }
    const Json id = type == mcp::MessageType::kRequest ? (*message)["id"] : Json();
    Routed r = auth != nullptr ? auth->route(std::move(*message), req.body, context) : route(std::move(*message), req.body);
    if (r.answer_now) return json_reply(res, 200, r.message);
    auto up = start_upstream(target, "POST", req, r.modified ? mcp::serialize(r.message) : req.body, drop_auth);
    relay_reply(up, res, id, std::move(r.finish));
  });
  server.Get(options.path, [&](const httplib::Request& req, httplib::Response& res) {
    Json context;
    if (refused(req, res, context)) return;
    relay_reply(start_upstream(target, "GET", req, {}, drop_auth), res, Json(), nullptr);
  });
  server.Delete(options.path, [&](const httplib::Request& req, httplib::Response& res) {
    Json context;
    if (refused(req, res, context)) return;
    relay_reply(start_upstream(target, "DELETE", req, {}, drop_auth), res, Json(), nullptr);
  });
  // Oversized bodies: httplib answers 413 itself.

  const int port = handshake::net::bind_server(server, options.listen_host, options.listen_port);
  if (port <= 0) {
    log("cannot listen on " + options.listen_host + ":" + std::to_string(options.listen_port));
    return 1;
  }
  log("listening on http://" + options.listen_host + ":" + std::to_string(port) + options.path + " -> " +
      options.upstream);
  std::thread serve([&] { server.listen_after_bind(); });
  int sig = 0;
  ::sigwait(&stop, &sig);
  server.stop();
  serve.join();
  return 0;
}

}  // namespace hsk::mcp_proxy
