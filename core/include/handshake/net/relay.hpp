// The relay kit both proxies are built from: which headers travel end to end, an upstream exchange
// that streams on a thread of its own, and an SSE relay that hands every upstream event to the
// proxy's transform as soon as it arrives (net/sse.hpp splits them), resending in place of the
// request when the transform asks for it. The proxies add only what their protocol says about
// each event (MCP: the response to this call, once; A2A: every task event).
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "handshake/net/http.hpp"
#include "handshake/net/sse.hpp"

namespace handshake::net {

// Hop-by-hop headers (RFC 9110 §7.6.1), those the relay sets itself (length, encodings, type), and
// the peer addresses cpp-httplib puts among a request's headers: none of them is passed on.
[[nodiscard]] bool is_hop_by_hop(std::string_view name);

// What goes upstream.
struct UpstreamRequest {
  std::string method = "POST";
  std::string path = "/";
  httplib::Headers headers;  // end to end (is_hop_by_hop ones are dropped)
  std::string body;          // POST only
  std::string content_type = "application/json";
  std::chrono::seconds read_timeout{24 * 3600};  // between two reads: streams may be quiet for long
};

// One upstream exchange, run on a thread of its own from start(); the status, headers and body
// chunks are handed over as they arrive. Thread-safe. cancel() makes the worker stop reading.
class Exchange {
 public:
  [[nodiscard]] static std::shared_ptr<Exchange> start(const Url& origin, const ClientOptions& client,
                                                       UpstreamRequest request);

  // Waits up to `timeout` for the answer's status and headers (or the failure); true once there.
  bool wait_headers(std::chrono::milliseconds timeout);
  // After wait_headers: no answer at all (connection refused, TLS, timeout), and why.
  [[nodiscard]] bool failed();
  [[nodiscard]] std::string error();
  [[nodiscard]] int status();
  [[nodiscard]] httplib::Headers headers();
  [[nodiscard]] std::string content_type();
  // The body chunks received since the last call, after waiting up to `timeout` for one. `ended`:
  // the exchange is over and nothing is left to take.
  std::deque<std::string> take(std::chrono::milliseconds timeout, bool& ended);
  // Waits up to `timeout` for the end; true, with the whole body (what take() left), once over.
  bool wait_body(std::chrono::milliseconds timeout, std::string& body);
  void cancel();

 private:
  void run(Url origin, ClientOptions client, UpstreamRequest request);

  std::mutex mu_;
  std::condition_variable cv_;
  bool have_headers_ = false, done_ = false, failed_ = false, cancelled_ = false;
  int status_ = 502;
  httplib::Headers headers_;
  std::deque<std::string> chunks_;
  std::string error_;
};

// What becomes of one upstream event (or of an upstream answer that came as a whole body).
struct RelayStep {
  enum class Kind {
    kPass,     // the event as received
    kDrop,     // nothing
    kReplace,  // the event with `data` in place of its data lines
    kEnd,      // `data` as the last event; the stream ends
    kResend,   // POST `data` upstream in place of the request; its answer continues the stream
  };
  Kind kind = Kind::kPass;
  std::string data;
};

struct SseRelayHooks {
  // Every event, as soon as its blank line arrives.
  std::function<RelayStep(const SseEvent&)> on_event;
  // The answer (to the first request or to a resend) is not an event stream: status and body.
  // kReplace or kEnd: `data` as the last event; kResend; kPass or kDrop: the stream just ends.
  std::function<RelayStep(int status, const std::string& body)> on_body;
  // No answer at all: the data of the last event (the reason, in the protocol's error form).
  std::function<std::string(const std::string& why)> on_failure;
  // Starts the exchange for a resend's body.
  std::function<std::shared_ptr<Exchange>(std::string body)> restart;
  // Written as "event: NAME" before the data of kEnd and failure events; empty: no event line.
  std::string event_name;
  // The stream carries no call's answer (an MCP GET stream): it ends when the server drains
  // (net::draining(), SIGTERM), so the client resumes it elsewhere instead of holding the drain.
  bool end_on_drain = false;
};

// An upstream answer relayed to a client as an event stream, event by event. An event the
// upstream leaves without its blank line at the end is dropped, as an SSE client would drop it:
// relaying its bytes would pass them on unchecked.
class SseRelay {
 public:
  SseRelay(std::shared_ptr<Exchange> exchange, SseRelayHooks hooks);
  // One turn of cpp-httplib's chunked content provider: waits at most half a second.
  bool step(httplib::DataSink& sink);
  // Stops the upstream exchange (the client went away); returns false for the provider.
  bool cancel();
  // Sets `relay` as the chunked content provider of `res` (Content-Type text/event-stream).
  static void attach(httplib::Response& res, std::shared_ptr<SseRelay> relay);

 private:
  bool apply(RelayStep s, const SseEvent* ev, std::string& out);
  bool end_with(const std::string& data, httplib::DataSink& sink);

  std::shared_ptr<Exchange> ex_;
  SseRelayHooks hooks_;
  SseSplitter splitter_;
  bool waiting_headers_ = true;
  bool whole_body_ = false;
  std::optional<std::string> resend_;
  bool ended_ = false;
};

}  // namespace handshake::net
