// The A2A adapter's readers (a2a/envelope.hpp) and the request side of its ServiceGate, with the
// fixed fuzz world behind it, on arbitrary JSON-RPC bodies.
//
// Input: byte 0 = flags (bit 0: A2A v1.0, else v0.3; bit 1: our extension is activated by the
// request's header), the rest = the HTTP body. The body is also read as an activation header.
//
// Properties:
//   - parse_extensions yields trimmed, non-empty URIs without commas, and joining them again
//     parses to the same list;
//   - put_extension / extension_data / strip_extension: what is put is read back, other metadata is
//     untouched, and stripping removes exactly our member (and an emptied metadata);
//   - wrap_task then unwrap gives back the task; state names round-trip through state_of;
//   - the gate: a non-send is forwarded unchanged; a send without our extension is answered with
//     the -32008 error; a refused send is answered with a rejected task (for the request's id)
//     whose status message carries a Refusal signed by the service; a send forwarded with a
//     decision was accepted for its skill's capability, its request validly signed
//     (check_accepted_request), our metadata stripped, the same body again is refused as a
//     replay, and its completed task gets a receipt committing to task_subject; no send that
//     names a handshake skill is forwarded unchecked.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"
#include "handshake/a2a/envelope.hpp"
#include "handshake/a2a/service_gate.hpp"

namespace {

using namespace hsk_fuzz;
namespace a2a = hs::a2a;

void check_extension_header(std::string_view header) {
  const auto uris = a2a::parse_extensions(header);
  std::string joined;
  for (const auto& u : uris) {
    if (u.empty() || u.find(',') != std::string::npos) violated("an extension URI is empty or holds a comma", header);
    for (const char edge : {u.front(), u.back()}) {
      if (edge == ' ' || edge == '\t') violated("an extension URI is not trimmed", header);
    }
    if (!joined.empty()) joined += ", ";
    joined += u;
    if (!a2a::contains(uris, u)) violated("contains() misses a parsed URI", header);
  }
  if (a2a::parse_extensions(joined) != uris) violated("extension URIs do not survive join + parse", header);
}

void check_metadata(const Json& object) {
  if (!object.is_object()) return;
  const Json before_meta = object.contains("metadata") ? object["metadata"] : Json(nullptr);
  // Put then read back.
  Json put = object;
  const Json value{{"probe", 1}};
  a2a::put_extension(put, "probe", value);
  const Json* ours = a2a::extension_data(put);
  if (ours == nullptr || !ours->is_object() || ours->at("probe") != value) violated("put_extension is not read back", object.dump());
  if (before_meta.is_object()) {
    for (const auto& [k, v] : before_meta.items()) {
      if (k != a2a::kExtensionUri && put["metadata"][k] != v) violated("put_extension changed other metadata", object.dump());
    }
  }
  // Strip: exactly our member goes.
  Json stripped = object;
  a2a::strip_extension(stripped);
  if (a2a::extension_data(stripped) != nullptr) violated("strip_extension left our member", object.dump());
  Json expected = object;
  if (before_meta.is_object()) {
    expected["metadata"].erase(std::string(a2a::kExtensionUri));
    if (expected["metadata"].empty()) expected.erase("metadata");
  }
  if (stripped != expected) violated("strip_extension removed more than our member", object.dump());
  (void)a2a::first_data(object);
  (void)a2a::state_text(object);
  (void)a2a::artifacts_without_ours(object);
}

void check_wrapping(const Json& maybe_task) {
  if (!maybe_task.is_object()) return;
  for (const auto v : {a2a::Version::kV03, a2a::Version::kV10}) {
    Json wrapped = a2a::wrap_task(maybe_task, v);
    const a2a::SendResult r = a2a::unwrap(wrapped, v);
    Json expected = maybe_task;
    if (v == a2a::Version::kV03) expected["kind"] = "task";
    if (r.kind != a2a::SendResult::Kind::kTask || r.object == nullptr || *r.object != expected) {
      violated("wrap_task then unwrap does not give the task back", maybe_task.dump());
    }
    // unwrap answers with the result itself or one of its members, nothing else.
    Json copy = maybe_task;
    const a2a::SendResult any = a2a::unwrap(copy, v);
    if (any.object != nullptr && any.object != &copy) {
      bool member = false;
      for (auto& m : copy) member = member || &m == any.object;
      if (!member) violated("unwrap points outside the result", maybe_task.dump());
    }
  }
}

constexpr const char* kSkillMap = R"({"unmapped": "refuse", "skills": {
  "list-invoices": {"capability": "billing.invoices.read",
                    "constraints": {"max_invoices": "data.limit", "min_amount": {"from": "data.min", "default": 0}}},
  "read-file": {"capability": "files.read", "constraints": {"path": "data.path"}},
  "delete-invoices": {"capability": "billing.invoices.delete"}}})";

struct Gate {
  std::unique_ptr<hs::NonceStore> nonces = hs::make_memory_nonce_store(1024);
  std::unique_ptr<hs::RateLimiter> limiter = hs::make_memory_rate_limiter(1024);
  hs::Service service;
  a2a::ServiceGate gate;

  Gate()
      : service(clone(world().svc), world().options, world().clock, world().keys, world().revocations, *nonces, *limiter),
        gate(service, must(hs::ActionMap::from_json(must(hs::json::parse_strict(kSkillMap)), a2a::skill_map_format()))) {}
};

const Json* sent_message(const Json& rpc) {
  if (!rpc.is_object()) return nullptr;
  const auto p = rpc.find("params");
  if (p == rpc.end() || !p->is_object()) return nullptr;
  const auto m = p->find("message");
  return m == p->end() || !m->is_object() ? nullptr : &*m;
}

bool is_capability(const std::string& granted, const std::string& rule) {
  return granted == rule || (granted.size() > rule.size() && granted.compare(0, rule.size(), rule) == 0 && granted[rule.size()] == ':');
}

// A refusal answer: a rejected task for the request's id, the signed Refusal in its status message.
const Json& refused_task_refusal(Json& answer, const Json& id, a2a::Version v) {
  if (!answer.is_object() || answer.value("id", Json()) != id || !answer.contains("result")) {
    violated("a refusal is not a JSON-RPC result for the request", answer.dump());
  }
  const a2a::SendResult r = a2a::unwrap(answer["result"], v);
  if (r.kind != a2a::SendResult::Kind::kTask) violated("a refusal is not a task", answer.dump());
  if (a2a::state_of(a2a::state_text(*r.object)) != a2a::State::kRejected) violated("a refused task is not rejected", answer.dump());
  const Json* ext = a2a::extension_data((*r.object)["status"]["message"]);
  if (ext == nullptr || !ext->is_object() || !ext->contains("refusal")) violated("a refused task carries no refusal", answer.dump());
  return ext->at("refusal");
}

void check_gate(const Json& rpc, std::string_view body, a2a::Version v, bool activated) {
  const std::vector<std::string> header = activated ? std::vector<std::string>{std::string(a2a::kExtensionUri)}
                                                    : std::vector<std::string>{"https://example.com/other-ext"};
  Gate g;
  a2a::Inbound in = g.gate.on_request(rpc, v, header, body);
  const std::string method = rpc.is_object() && rpc.contains("method") && rpc["method"].is_string() ? rpc["method"].get<std::string>() : "";
  const a2a::Method kind = a2a::classify(method);
  const bool send = kind == a2a::Method::kSend || kind == a2a::Method::kStream;
  const Json* message = sent_message(rpc);
  const Json id = rpc.is_object() && rpc.contains("id") ? rpc["id"] : Json(nullptr);
  if (!send || message == nullptr) {
    if (in.kind != a2a::Inbound::Kind::kForward || in.message != rpc) violated("a non-send was not passed unchanged", std::string(body));
    return;
  }
  if (!activated) {
    if (in.kind != a2a::Inbound::Kind::kAnswer || in.message["error"]["code"] != -32008) {
      violated("a send without our extension was not refused with -32008", std::string(body));
    }
    return;
  }
  if (in.kind == a2a::Inbound::Kind::kAnswer) {
    check_signed_refusal(refused_task_refusal(in.message, id, v));
    return;
  }
  if (!in.exchange.decision) violated("a send under a refusing skill map was forwarded unchecked", std::string(body));
  const hs::Decision& d = *in.exchange.decision;
  if (!d.accepted) violated("forwarded a send whose handshake was refused");
  check_decision(d, world());
  check_accepted_request(*d.request, world());
  const Json* ext = a2a::extension_data(*message);
  const auto skill_map = g.gate.skills();
  const hs::ActionRule* rule = ext != nullptr && ext->is_object() && ext->contains("skill") && (*ext)["skill"].is_string()
                                   ? skill_map->find((*ext)["skill"].get<std::string>())
                                   : nullptr;
  if (rule == nullptr || !is_capability(d.acceptance->effective_scope.capability, rule->capability)) {
    violated("accepted a send for another capability than its skill's", std::string(body));
  }
  const Json* forwarded = sent_message(in.message);
  if (forwarded == nullptr || a2a::extension_data(*forwarded) != nullptr) violated("our metadata was forwarded", in.message.dump());

  // The agent completes the task: its receipt commits to the task subject.
  Json task{{"id", "task-1"}, {"contextId", "ctx-1"},
            {"status", {{"state", a2a::state_name(a2a::State::kCompleted, v)}}},
            {"artifacts", Json::array({Json{{"artifactId", "a-1"}, {"parts", Json::array({Json{{"text", "2 invoices"}}})}}})}};
  Json response{{"jsonrpc", "2.0"}, {"id", id}, {"result", a2a::wrap_task(task, v)}};
  Json finished = g.gate.on_response(in.exchange, response);
  const a2a::SendResult r = a2a::unwrap(finished["result"], v);
  const Json* carried = r.kind == a2a::SendResult::Kind::kTask ? a2a::extension_data(*r.object) : nullptr;
  if (carried == nullptr || !carried->contains("receipt")) violated("a completed accepted task has no receipt", finished.dump());
  const Json artifacts = a2a::artifacts_without_ours(*r.object);
  const Json subject = a2a::task_subject(a2a::FinishedTask{"task-1", "ctx-1", a2a::state_name(a2a::State::kCompleted, v), artifacts});
  if (auto s = hs::verify_receipt(carried->at("receipt"), world().keys, subject); !s.ok()) {
    violated("a task receipt does not commit to the task subject", s.error().to_string() + "\n" + finished.dump());
  }

  a2a::Inbound replay = g.gate.on_request(rpc, v, header, body);
  if (replay.kind != a2a::Inbound::Kind::kAnswer) violated("the same send was not refused as a replay", std::string(body));
  const auto refusal = hs::Refusal::from_json(refused_task_refusal(replay.message, id, v));
  if (!refusal.ok() || refusal->reason.code != "replay_detected") violated("the same send was not refused as a replay", std::string(body));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const a2a::Version v = (data[0] & 1u) != 0 ? a2a::Version::kV10 : a2a::Version::kV03;
  const bool activated = (data[0] & 2u) != 0;
  const std::string_view body = as_text(data + 1, size - 1);

  check_extension_header(body);
  (void)a2a::version_from_header(body);
  for (const auto s : {a2a::State::kRejected, a2a::State::kCompleted, a2a::State::kFailed, a2a::State::kCanceled}) {
    if (a2a::state_of(a2a::state_name(s, v)) != s) violated("a state name does not read back");
  }

  // The proxy decodes bodies permissively and lets the gate re-read the handshake strictly.
  const Json rpc = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (rpc.is_discarded()) return 0;
  if (const Json* m = sent_message(rpc)) check_metadata(*m);
  if (rpc.is_object()) {
    check_metadata(rpc);
    if (rpc.contains("result")) {
      Json result = rpc["result"];
      const a2a::SendResult r = a2a::unwrap(result, v);
      if (r.object != nullptr) check_metadata(*r.object);
      check_wrapping(rpc["result"]);
    }
  }
  check_gate(rpc, body, v, activated);
  return 0;
}
