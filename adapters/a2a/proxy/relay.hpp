// hsk-a2a-proxy internals: the A2A JSON-RPC relay over HTTP both roles share (the Agent Card with
// its URLs pointing at the proxy, whole answers and SSE streams, the role's resend), and the two
// roles that give it its meaning.
#pragma once

#include <httplib.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/a2a/agent_gate.hpp"
#include "handshake/a2a/envelope.hpp"
#include "handshake/a2a/service_gate.hpp"
#include "handshake/command_line.hpp"
#include "handshake/json.hpp"
#include "handshake/net/http.hpp"

namespace hsk::a2a_proxy {

namespace a2a = handshake::a2a;
using handshake::Json;

void log(const std::string& line);

class Proxy {
 public:
  virtual ~Proxy() = default;
  handshake::net::Url upstream;                   // its path is the JSON-RPC endpoint
  handshake::net::ClientOptions upstream_client;  // https: CA file (else the system store), mTLS
  std::string self_url;                           // set once listening
  std::size_t max_body = 1024 * 1024;

  // The routes: GET the Agent Card, POST JSON-RPC. Call before binding (the limits set options of
  // the listening socket).
  void serve(httplib::Server& server);

  // What a role made of a client request: an answer now, or `forward` (possibly rewritten).
  struct Step {
    std::optional<Json> answer;
    Json forward;
    bool echo_extension = false;
    std::shared_ptr<void> state;
  };
  // What becomes of an upstream answer (a whole response, or one SSE event).
  struct Outcome {
    Json message;  // for the client; with `resend`, a request to send upstream instead
    // The role sends `message` upstream in place of the request just answered (the agent's cold
    // retry of a warm send refused for its session; step.state now follows it). What is left of
    // the refused answer is dropped; the new answer is what the client gets.
    bool resend = false;
    // The id of the receipt `message` carries, for the X-Handshake-Receipt header of a whole
    // answer (the reference Python SDK's form); "" for none.
    std::string receipt_id;
  };

 protected:
  [[nodiscard]] std::optional<Json> fetch_card() const;

 private:
  virtual Json card(Json upstream_card) = 0;
  // `handshake_header`: the X-Handshake-Request header's value, when the request has one.
  virtual Step on_request(Json rpc, a2a::Version v, const std::vector<std::string>& activated, const std::string& raw,
                          std::optional<std::string_view> handshake_header) = 0;
  virtual Outcome on_response(Step& step, Json response, a2a::Version v) = 0;
  virtual Outcome on_event(Step& step, Json event, a2a::Version v) = 0;
  virtual void outgoing_headers(httplib::Headers& headers, a2a::Version v) = 0;

  void post(const httplib::Request& req, httplib::Response& res);
  void post_whole(const std::shared_ptr<Step>& step, const httplib::Headers& headers, a2a::Version v,
                  httplib::Response& res);
  void post_stream(const std::shared_ptr<Step>& step, const httplib::Headers& headers, a2a::Version v,
                   httplib::Response& res);
};

// --check (check.cpp): the role's options, files, stores and the upstream's Agent Card, one line
// each on stdout. Exit 0 without errors (warnings allowed), 1 with.
int run_check(const handshake::CommandLine& a, const std::string& role);

[[nodiscard]] std::unique_ptr<Proxy> service_proxy(const a2a::ServiceGate& gate);
[[nodiscard]] std::unique_ptr<Proxy> agent_proxy(a2a::AgentGate& gate);

}  // namespace hsk::a2a_proxy
