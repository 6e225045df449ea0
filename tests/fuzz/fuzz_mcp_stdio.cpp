// The MCP adapter's input side: the stdio line framer and line reader (mcp/stdio.hpp, what
// hsk-mcp-proxy runs on every byte of both pipes), the envelope readers (mcp/envelope.hpp) and
// the ServiceGate with the fixed fuzz world behind it. The input is a byte stream as a client
// would write it to the proxy's stdin.
//
// Properties:
//   - framing does not depend on how the stream is cut into reads: fed whole, byte by byte and in
//     chunks of varying sizes, the framer reports exactly the lines and over-long line sizes of a
//     plain split on '\n' (trailing '\r' dropped, empty lines skipped);
//   - a line is answered with an error (parse error / invalid request) exactly when it is not a
//     JSON-RPC message; every message written back (serialize) is one line that decodes to the
//     same message;
//   - the gate: a non-request passes unchanged; an answer is a JSON-RPC error for the request's
//     id, and a -32010 one carries a Refusal signed by the service; a forwarded tools/call that
//     was checked was accepted for the tool's capability, its request validly signed
//     (check_accepted_request), the request removed from params, and its response gains an
//     Acceptance and a Receipt that verifies against receipt_subject(result); the same line again
//     is refused as a replay;
//   - any response, finished as if it answered an accepted call, carries a receipt committing to
//     what a client can recompute from the result it gets (receipt_subject).
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"
#include "handshake/mcp/envelope.hpp"
#include "handshake/mcp/service_gate.hpp"
#include "handshake/mcp/stdio.hpp"

namespace {

using namespace hsk_fuzz;
namespace mcp = hs::mcp;

// ---- framing --------------------------------------------------------------------------------------

struct Event {
  bool oversize = false;
  std::string line;  // a line, or empty for an over-long one
  std::size_t size = 0;
  bool operator==(const Event&) const = default;
};

// The framer's contract on the whole stream at once.
std::vector<Event> reference_frames(std::string_view in, std::size_t max) {
  std::vector<Event> out;
  while (true) {
    const auto nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    if (nl == std::string_view::npos) {
      // The unterminated tail: delivered at the end unless over the limit.
      if (line.size() <= max) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!line.empty()) out.push_back({false, std::string(line), 0});
      }
      return out;
    }
    if (line.size() > max) {
      out.push_back({true, {}, line.size()});
    } else {
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) out.push_back({false, std::string(line), 0});
    }
    in.remove_prefix(nl + 1);
  }
}

// Runs the framer over `in` cut at the given chunk sizes (cycled; 0 means the rest).
std::vector<Event> frames(std::string_view in, std::size_t max, const std::vector<std::size_t>& cuts) {
  std::vector<Event> out;
  mcp::LineFramer framer(max);
  const auto on_line = [&](std::string_view l) { out.push_back({false, std::string(l), 0}); };
  const auto on_oversize = [&](std::size_t n, const Json&) { out.push_back({true, {}, n}); };
  std::size_t k = 0;
  while (!in.empty()) {
    std::size_t n = cuts[k++ % cuts.size()];
    if (n == 0 || n > in.size()) n = in.size();
    framer.feed(in.substr(0, n), on_line, on_oversize);
    in.remove_prefix(n);
  }
  framer.finish(on_line);
  return out;
}

void check_framing(std::string_view in) {
  // A small limit, so that over-long lines (and limits hit mid-chunk) are common.
  constexpr std::size_t kSmall = 200;
  const auto expect_small = reference_frames(in, kSmall);
  std::vector<std::size_t> varying;
  for (std::size_t i = 0; i < 16 && i < in.size(); ++i) varying.push_back(1 + static_cast<std::uint8_t>(in[i]) % 23);
  if (varying.empty()) varying.push_back(1);
  if (frames(in, kSmall, {1}) != expect_small) violated("framing byte by byte differs from the plain split", in);
  if (frames(in, kSmall, varying) != expect_small) violated("framing in chunks differs from the plain split", in);
  if (frames(in, kSmall, {0}) != expect_small) violated("framing at once differs from the plain split", in);
}

// ---- the gate ---------------------------------------------------------------------------------------

constexpr const char* kToolMap = R"({"unmapped": "refuse", "tools": {
  "list-invoices": {"capability": "billing.invoices.read",
                    "constraints": {"max_invoices": "arguments.limit", "min_amount": {"from": "arguments.min", "default": 0}}},
  "read-file": {"capability": "files.read", "constraints": {"path": "arguments.path"}},
  "delete-invoices": {"capability": "billing.invoices.delete"}}})";

struct Gate {
  std::unique_ptr<hs::NonceStore> nonces = hs::make_memory_nonce_store(1024);
  std::unique_ptr<hs::RateLimiter> limiter = hs::make_memory_rate_limiter(1024);
  hs::Service service;
  mcp::ServiceGate gate;

  Gate()
      : service(clone(world().svc), world().options, world().clock, world().keys, world().revocations, *nonces, *limiter),
        gate(service, must(mcp::ToolMap::from_json(must(hs::json::parse_strict(kToolMap))))) {}
};

// One accepted tools/call of the world, its decision reused to finish arbitrary responses.
const mcp::Exchange& accepted_exchange() {
  static const mcp::Exchange* ex = [] {
    const FuzzWorld& w = world();
    const Json one = w.link(w.root, w.agent, {FuzzWorld::cap("billing.invoices.read", {{"max_invoices", 100}})}, 0);
    const Json req = w.request(w.agent, {one}, FuzzWorld::cap("billing.invoices.read", {{"max_invoices", 50}}));
    Json call{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/call"},
              {"params", {{"name", "list-invoices"}, {"arguments", {{"limit", 10}}}, {"_meta", {{mcp::kRequestKey, req}}}}}};
    static Gate g;
    mcp::Inbound in = g.gate.on_client_message(call, mcp::serialize(call));
    if (in.kind != mcp::Inbound::Kind::kForward || !in.exchange.decision || !in.exchange.decision->accepted) {
      violated("fixture: the world's tools/call was not accepted", mcp::serialize(in.message));
    }
    return new mcp::Exchange(std::move(in.exchange));
  }();
  return *ex;
}

const Json* request_meta(const Json& message) {
  if (!message.is_object()) return nullptr;
  const auto p = message.find("params");
  if (p == message.end() || !p->is_object()) return nullptr;
  const auto m = p->find("_meta");
  if (m == p->end() || !m->is_object()) return nullptr;
  const auto r = m->find(mcp::kRequestKey);
  return r == m->end() ? nullptr : &*r;
}

// The response of an accepted call: the Acceptance is the decision's and the Receipt verifies,
// committing to what the client can recompute from the result (or error) it receives.
Json without_ours(Json o) {
  if (o.is_object()) {
    o.erase(std::string(mcp::kAcceptanceKey));
    o.erase(std::string(mcp::kReceiptKey));
  }
  return o;
}

void check_finished(const mcp::Exchange& ex, const Json& response, const Json& finished) {
  const FuzzWorld& w = world();
  if (!response.is_object()) {
    if (finished != response) violated("a non-object response was changed");
    return;
  }
  const Json* holder = nullptr;  // where the adapter put its members
  Json subject;
  if (auto r = finished.find("result"); r != finished.end()) {
    if (!r->is_object()) return;  // nowhere to put a receipt: the client gets the bare result
    const auto m = r->find("_meta");
    if (m == r->end()) violated("an accepted call's result has no _meta", finished.dump());
    holder = &*m;
    subject = mcp::receipt_subject(*r);
  } else if (auto e = finished.find("error"); e != finished.end() && e->is_object()) {
    const auto d = e->find("data");
    if (d == e->end() || !d->is_object()) return;  // data of another type: left alone
    holder = &*d;
    // The receipt commits to the error object as the server sent it; the adapter adds only its
    // own members to data.
    subject = response.at("error");
    const Json original = subject.contains("data") ? subject["data"] : Json(nullptr);
    if (!original.is_null() && without_ours(*d) != without_ours(original)) {
      violated("the error's data was changed beyond the adapter's members", finished.dump());
    }
  } else {
    return;
  }
  if (!holder->is_object()) violated("no _meta/data object for the adapter's members", finished.dump());
  const auto acc = holder->find(mcp::kAcceptanceKey);
  const auto rc = holder->find(mcp::kReceiptKey);
  if (acc == holder->end() || *acc != ex.decision->response) violated("the Acceptance is missing or not the decision's", finished.dump());
  if (rc == holder->end()) {
    // Only a subject that cannot be hashed (JCS refuses it) leaves the call without a receipt.
    if (hs::hash_result(subject).ok()) violated("an accepted call's response has no receipt", finished.dump());
    return;
  }
  if (auto s = hs::verify_receipt(*rc, w.keys, subject); !s.ok()) {
    violated("a receipt does not commit to what the client can recompute", s.error().to_string() + "\n" + finished.dump());
  }
}

bool is_capability(const std::string& granted, const std::string& rule) {
  return granted == rule || (granted.size() > rule.size() && granted.compare(0, rule.size(), rule) == 0 && granted[rule.size()] == ':');
}

void check_line(std::string_view line) {
  const mcp::ClientLine in = mcp::read_client_line(line);
  if (!in.message) {
    if (!in.error || in.error->at("error").at("code") != mcp::kParseError) violated("undecodable line without a parse error");
    return;
  }
  const Json& m = *in.message;
  // Written back, a message is one line that decodes to itself.
  const std::string wire = mcp::serialize(m);
  if (wire.find('\n') != std::string::npos || wire.find('\r') != std::string::npos) violated("serialize wrote a newline", wire);
  const auto again = mcp::decode(wire);
  if (!again || *again != m) violated("a decoded message does not survive serialize + decode", std::string(line));
  if ((in.type == mcp::MessageType::kInvalid) != in.error.has_value()) violated("an error answer iff invalid: broken");
  if (in.error) {
    if (mcp::message_type(*in.error) != mcp::MessageType::kResponse) violated("the error answer is not a response");
    return;
  }
  (void)mcp::method_of(m);
  (void)mcp::receipt_status(m);
  if (auto r = mcp::refusal_of(m)) (void)hs::Refusal::from_json(*r);

  // The gate, with a fresh nonce store so that verification is a function of the input.
  Gate g;
  mcp::Inbound out = g.gate.on_client_message(m, line);
  if (std::getenv("HSK_FUZZ_VERBOSE") != nullptr) {
    std::fprintf(stderr, "%s %s\n", out.exchange.decision ? "accepted" : "not-accepted",
                 out.kind == mcp::Inbound::Kind::kAnswer ? mcp::serialize(out.message).substr(0, 200).c_str() : "forwarded");
  }
  if (in.type != mcp::MessageType::kRequest) {
    if (out.kind != mcp::Inbound::Kind::kForward || out.message != m) violated("a non-request was not passed unchanged");
  } else if (out.kind == mcp::Inbound::Kind::kAnswer) {
    if (mcp::message_type(out.message) != mcp::MessageType::kResponse || out.message.at("id") != in.id ||
        !out.message.contains("error")) {
      violated("an answer is not a JSON-RPC error for the request", out.message.dump());
    }
    if (out.message["error"]["code"] == mcp::kHandshakeRefused) {
      const auto r = mcp::refusal_of(out.message);
      if (!r) violated("a -32010 answer carries no refusal", out.message.dump());
      check_signed_refusal(*r);
    }
  } else if (out.exchange.decision) {
    const hs::Decision& d = *out.exchange.decision;
    if (!d.accepted) violated("forwarded a call whose handshake was refused");
    check_decision(d, world());
    check_accepted_request(*d.request, world());
    const auto tools = g.gate.tool_map();
    const auto* rule = tools->find(out.exchange.tool);
    if (rule == nullptr || !is_capability(d.acceptance->effective_scope.capability, rule->capability)) {
      violated("accepted a call for another capability than its tool's", out.message.dump());
    }
    if (request_meta(out.message) != nullptr) violated("the handshake was forwarded to the server", out.message.dump());
    Json response{{"jsonrpc", "2.0"}, {"id", in.id}, {"result", {{"content", Json::array({{{"type", "text"}, {"text", "2 invoices"}}})}}}};
    check_finished(out.exchange, response, g.gate.on_response(out.exchange, response));
    const mcp::Inbound replay = g.gate.on_client_message(m, line);
    const auto r = mcp::refusal_of(replay.message);
    const auto refusal = r ? hs::Refusal::from_json(*r) : hs::Refusal::from_json(Json());
    if (replay.kind != mcp::Inbound::Kind::kAnswer || !refusal.ok() || refusal->reason.code != "replay_detected") {
      violated("the same tools/call was not refused as a replay", std::string(line));
    }
  } else if (mcp::method_of(m) == "tools/call" && request_meta(m) != nullptr && out.exchange.kind == mcp::Exchange::Kind::kToolCall) {
    violated("a tools/call with a handshake was forwarded unchecked", std::string(line));
  }

  // Whatever the line is, finish it as the response to the world's accepted call.
  if (in.type == mcp::MessageType::kResponse) {
    const mcp::Exchange& ex = accepted_exchange();
    check_finished(ex, m, g.gate.on_response(ex, m));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = as_text(data, size);
  check_framing(in);
  mcp::LineFramer framer(64 * 1024);
  std::size_t lines = 0;
  const auto on_line = [&](std::string_view line) {
    if (++lines <= 8) check_line(line);  // bounded work per input
  };
  framer.feed(in, on_line, [](std::size_t, const Json&) {});
  framer.finish(on_line);
  return 0;
}
