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
#include "handshake/net/sse.hpp"
#include "relay.hpp"

namespace hsk::mcp_proxy {

namespace mcp = handshake::mcp;

namespace {

bool hop_by_hop(const std::string& name) {
  static const char* const kSkip[] = {"host", "content-length", "connection", "transfer-encoding", "keep-alive",
                                      "upgrade", "accept-encoding", "content-encoding", "te", "trailer",
                                      "proxy-connection", "content-type",
                                      // cpp-httplib puts the peer's addresses among a request's headers
                                      "remote_addr", "remote_port", "local_addr", "local_port"};
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

// The upstream endpoint and how to reach it (net::Client: https, CA file, mTLS).
struct Target {
  handshake::net::Url url;
  handshake::net::ClientOptions client;
};

// The end-to-end headers of a client request, as they go upstream.
httplib::Headers upstream_headers(const httplib::Request& from, bool drop_authorization) {
  httplib::Headers headers;
  for (const auto& [k, v] : from.headers) {
    if (hop_by_hop(k)) continue;
    // A token for this resource is never passed on (MCP authorization: no token passthrough).
    if (drop_authorization && ::strcasecmp(k.c_str(), "Authorization") == 0) continue;
    headers.emplace(k, v);
  }
  return headers;
}

// Starts the upstream exchange on a detached thread.
std::shared_ptr<Upstream> start_upstream(const Target& target, const std::string& method, httplib::Headers headers,
                                         std::string content_type, std::string body) {
  auto up = std::make_shared<Upstream>();
  std::thread([up, target, method, headers = std::move(headers), body = std::move(body), content_type]() mutable {
    auto opened = handshake::net::Client::open(target.url, target.client);
    if (!opened.ok()) {
      std::lock_guard lock(up->mu);
      up->failed = true;
      up->have_headers = true;
      up->error = opened.error().message;
      up->done = true;
      up->cv.notify_all();
      return;
    }
    auto& owner = **opened;
    httplib::ClientImpl& client = owner.http();
    client.set_read_timeout(24 * 3600, 0);  // GET streams may be quiet for a long time
    client.set_write_timeout(30, 0);
    client.set_keep_alive(false);
    httplib::Request req;
    req.method = method;
    req.path = target.url.path;
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
      up->error = ok ? std::string() : owner.describe(err);
    }
    if (ok && up->chunks.empty() && !res.body.empty()) up->chunks.push_back(res.body);
    up->done = true;
    up->cv.notify_all();
  }).detach();
  return up;
}

using handshake::net::SseEvent;
using handshake::net::SseSplitter;

void json_reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(mcp::serialize(body), "application/json");
}

// Sends a POST with `body` upstream again, with the headers of the client's request: a role's
// resend (Finished::resend).
using Restart = std::function<std::shared_ptr<Upstream>(std::string body)>;

std::string content_type_of(const std::shared_ptr<Upstream>& up) {
  std::lock_guard lock(up->mu);
  auto it = up->headers.find("Content-Type");
  return it == up->headers.end() ? std::string() : it->second;
}

bool is_sse(const std::string& content_type) { return content_type.rfind("text/event-stream", 0) == 0; }

// An SSE reply relayed event by event. The event carrying the response to `id` goes through
// `finish`; when that asks for a resend, the rest of this upstream reply is dropped and the
// resent request's reply (SSE, or a JSON body sent as one event) continues the same stream.
class SseRelay {
 public:
  SseRelay(std::shared_ptr<Upstream> up, const Json& id, Finish finish, Restart restart)
      : up_(std::move(up)), id_(id), id_text_(mcp::serialize(id)), finish_(std::move(finish)),
        restart_(std::move(restart)) {}

  // One turn of httplib's chunked content provider.
  bool step(httplib::DataSink& sink) {
    if (waiting_headers_) {
      std::unique_lock lock(up_->mu);
      up_->cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return up_->have_headers; });
      if (!up_->have_headers) return sink.is_writable() || cancel();
      waiting_headers_ = false;
      if (up_->failed) {
        log("upstream unreachable: " + up_->error);
        lock.unlock();
        return end_with(mcp::error_response(id_, mcp::kInternalError, "upstream unreachable"), sink);
      }
      auto it = up_->headers.find("Content-Type");
      whole_body_ = it == up_->headers.end() || !is_sse(it->second);
    }
    if (whole_body_) return relay_whole_body(sink);

    std::deque<std::string> chunks;
    bool done = false;
    {
      std::unique_lock lock(up_->mu);
      up_->cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return !up_->chunks.empty() || up_->done; });
      chunks.swap(up_->chunks);
      done = up_->done && chunks.empty();
    }
    std::string out;
    std::optional<Finished> resend;
    for (const auto& c : chunks) {
      if (resend) break;  // the rest of this reply is not for the client
      splitter_->feed(c, [&](const SseEvent& ev) {
        if (resend) return;
        const std::string d = ev.data();
        auto message = d.empty() ? std::nullopt : mcp::decode(d);
        if (message && mcp::message_type(*message) == mcp::MessageType::kResponse) {
          // Only this request's own response, once, and through the role: a response to any other
          // request (a resumed stream replaying earlier ones, a GET stream, a duplicate) has not
          // been checked and never reaches the client.
          if (answered_ || mcp::serialize((*message)["id"]) != id_text_) {
            log("dropped a JSON-RPC response to another request (id " + mcp::serialize((*message)["id"]).substr(0, 64) +
                ") on an upstream event stream: it would bypass the handshake checks");
            return;
          }
          answered_ = true;
          if (finish_) {
            Finished f = finish_(std::move(*message));
            finish_ = nullptr;
            if (f.resend) {
              answered_ = false;
              resend = std::move(f);
              return;
            }
            out += ev.render(mcp::serialize(f.message));
            return;
          }
        }
        out += ev.render(std::nullopt);
      });
    }
    if (!out.empty() && !sink.write(out.data(), out.size())) return cancel();
    if (resend) {
      switch_to(std::move(*resend));
      return true;
    }
    if (done) {
      // An event the upstream left without its blank line is dropped, as an SSE client would drop
      // it at the end of the stream: relaying its bytes would pass them on unchecked.
      sink.done();
      return true;
    }
    if (!sink.is_writable()) return cancel();
    return true;
  }

  bool cancel() {
    std::lock_guard lock(up_->mu);
    up_->cancelled = true;
    return false;
  }

 private:
  void switch_to(Finished f) {
    cancel();
    up_ = restart_(mcp::serialize(f.message));
    finish_ = std::move(f.resend);
    splitter_ = std::make_unique<SseSplitter>();
    waiting_headers_ = true;
  }

  // A JSON (or other) body inside the SSE stream the client already has: one event.
  bool relay_whole_body(httplib::DataSink& sink) {
    std::string body;
    int status = 0;
    {
      std::unique_lock lock(up_->mu);
      up_->cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return up_->done; });
      if (!up_->done) return sink.is_writable() || cancel();
      for (auto& c : up_->chunks) body += c;
      status = up_->status;
    }
    auto message = mcp::decode(body);
    if (!message || mcp::message_type(*message) != mcp::MessageType::kResponse) {
      return end_with(mcp::error_response(id_, mcp::kInternalError,
                                          "upstream answered HTTP " + std::to_string(status) + " without a response"),
                      sink);
    }
    if (!finish_) return end_with(std::move(*message), sink);
    Finished f = finish_(std::move(*message));
    finish_ = nullptr;
    if (f.resend) {
      switch_to(std::move(f));
      return true;
    }
    return end_with(std::move(f.message), sink);
  }

  bool end_with(const Json& response, httplib::DataSink& sink) {
    const std::string ev = "event: message\ndata: " + mcp::serialize(response) + "\n\n";
    if (!sink.write(ev.data(), ev.size())) return cancel();
    sink.done();
    return true;
  }

  std::shared_ptr<Upstream> up_;
  Json id_;
  std::string id_text_;
  Finish finish_;
  Restart restart_;
  std::unique_ptr<SseSplitter> splitter_ = std::make_unique<SseSplitter>();
  bool waiting_headers_ = false;
  bool whole_body_ = false;
  bool answered_ = false;  // this request's response has been relayed
};

// Relays the upstream reply to `res`: headers, then the body (the response to `id` through
// `finish` when there is one; a resend it asks for goes upstream through `restart`, and its reply
// is what the client gets).
void relay_reply(const std::shared_ptr<Upstream>& up, httplib::Response& res, const Json& id, Finish finish,
                 const Restart& restart) {
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
  const std::string content_type = content_type_of(up);

  if (is_sse(content_type)) {
    auto relay = std::make_shared<SseRelay>(up, id, std::move(finish), restart);
    res.set_chunked_content_provider(
        "text/event-stream", [relay](size_t, httplib::DataSink& sink) { return relay->step(sink); },
        [relay](bool) { relay->cancel(); });
    return;
  }

  // A whole body (JSON, or anything else such as an error page): wait for the end.
  std::string body;
  {
    std::unique_lock lock(up->mu);
    up->cv.wait(lock, [&] { return up->done; });
    for (auto& c : up->chunks) body += c;
  }
  if (!finish && id.is_null() && content_type.rfind("application/json", 0) == 0) {
    // A GET or DELETE answered with a JSON-RPC response: nothing checked it, so it does not pass.
    if (auto message = mcp::decode(body); message && mcp::message_type(*message) == mcp::MessageType::kResponse) {
      log("dropped a JSON-RPC response in the body of a GET or DELETE: it would bypass the handshake checks");
      res.headers.clear();
      return json_reply(res, 502, mcp::error_response(Json(), mcp::kInternalError, "unexpected response upstream"));
    }
  }
  if (finish && content_type.rfind("application/json", 0) == 0) {
    if (auto message = mcp::decode(body); message && mcp::message_type(*message) == mcp::MessageType::kResponse) {
      Finished f = finish(std::move(*message));
      if (f.resend) {
        // Nothing has reached the client yet: its reply is the resent request's, whatever shape.
        res.headers.clear();
        if (!restart) return json_reply(res, 502, mcp::error_response(id, mcp::kInternalError, "cannot resend"));
        relay_reply(restart(mcp::serialize(f.message)), res, id, std::move(f.resend), restart);
        return;
      }
      body = mcp::serialize(f.message);
    }
  }
  res.set_content(body, content_type.empty() ? "application/octet-stream" : content_type);
}

}  // namespace

int run_http(const HttpOptions& options, const Route& route) {
  Target target;
  auto url = handshake::net::Url::parse(options.upstream);
  if (!url.ok()) {
    log("--upstream: " + url.error().message);
    return 2;
  }
  target.url = std::move(url).value();
  target.client.tls = options.upstream_tls;
  // Checks the TLS options (files, key permissions) now rather than at the first request.
  if (auto probe = handshake::net::Client::open(target.url, target.client); !probe.ok()) {
    log("--upstream: " + probe.error().message);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<handshake::net::TlsCredentials> credentials;
  auto listener = handshake::net::make_server(options.listen_tls, &credentials);
  if (!listener.ok()) {
    log("--tls-cert/--tls-key: " + listener.error().message);
    return 2;
  }
  httplib::Server& server = **listener;
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
    const std::string content_type = req.get_header_value("Content-Type");
    httplib::Headers headers = upstream_headers(req, drop_auth);
    Restart restart = [target, headers, content_type](std::string body) {
      return start_upstream(target, "POST", headers, content_type, std::move(body));
    };
    relay_reply(restart(r.modified ? mcp::serialize(r.message) : req.body), res, id, std::move(r.finish), restart);
  });
  server.Get(options.path, [&](const httplib::Request& req, httplib::Response& res) {
    Json context;
    if (refused(req, res, context)) return;
    relay_reply(start_upstream(target, "GET", upstream_headers(req, drop_auth), {}, {}), res, Json(), nullptr, nullptr);
  });
  server.Delete(options.path, [&](const httplib::Request& req, httplib::Response& res) {
    Json context;
    if (refused(req, res, context)) return;
    relay_reply(start_upstream(target, "DELETE", upstream_headers(req, drop_auth), {}, {}), res, Json(), nullptr,
                nullptr);
  });
  // Oversized bodies: httplib answers 413 itself.

  handshake::net::ServeOptions serve;
  serve.host = options.listen_host;
  serve.port = options.listen_port;
  serve.on_listening = [&](int port) {
    log(std::string("listening on ") + (options.listen_tls ? "https://" : "http://") + options.listen_host + ":" +
        std::to_string(port) + options.path + " -> " + target.url.str());
  };
  if (credentials) serve.on_reload = [&] { return handshake::net::reload(*credentials); };
  serve.log = [](const std::string& line) { log(line); };
  return handshake::net::serve_until_signal(server, serve);
}

}  // namespace hsk::mcp_proxy
