#include "handshake/a2a/envelope.hpp"

#include <algorithm>
#include <cctype>

namespace handshake::a2a {

Version version_from_header(std::string_view h) { return h == "1.0" || h == "1" ? Version::kV10 : Version::kV03; }

std::string_view extensions_header(Version v) noexcept { return v == Version::kV10 ? "A2A-Extensions" : "X-A2A-Extensions"; }

std::vector<std::string> parse_extensions(std::string_view header) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= header.size()) {
    const auto j = std::min(header.find(',', i), header.size());
    std::string_view item = header.substr(i, j - i);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    i = j + 1;
  }
  return out;
}

bool contains(const std::vector<std::string>& uris, std::string_view uri) {
  return std::find(uris.begin(), uris.end(), uri) != uris.end();
}

std::string with_extension(std::string_view existing) {
  if (contains(parse_extensions(existing), kExtensionUri)) return std::string(existing);
  if (parse_extensions(existing).empty()) return std::string(kExtensionUri);
  return std::string(existing) + ", " + std::string(kExtensionUri);
}

std::string without_extension(std::string_view existing) {
  std::string kept;
  for (const auto& u : parse_extensions(existing)) {
    if (u != kExtensionUri) kept += (kept.empty() ? "" : ", ") + u;
  }
  return kept;
}

Method classify(std::string_view m) noexcept {
  if (m == "SendMessage" || m == "message/send") return Method::kSend;
  if (m == "SendStreamingMessage" || m == "message/stream") return Method::kStream;
  if (m == "GetTask" || m == "tasks/get") return Method::kGetTask;
  return Method::kOther;
}

Json first_data(const Json& message) {
  if (!message.is_object() || !message.contains("parts") || !message["parts"].is_array()) return nullptr;
  for (const auto& p : message["parts"]) {
    if (!p.is_object() || !p.contains("data")) continue;
    if (p.contains("kind") && p["kind"] != "data") continue;
    return p["data"];
  }
  return nullptr;
}

const Json* extension_data(const Json& object) {
  if (!object.is_object()) return nullptr;
  const auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return nullptr;
  const auto e = m->find(std::string(kExtensionUri));
  return e == m->end() ? nullptr : &*e;
}

void put_extension(Json& object, std::string_view key, Json value) {
  Json& meta = object["metadata"];
  if (!meta.is_object()) meta = Json::object();
  Json& ours = meta[std::string(kExtensionUri)];
  if (!ours.is_object()) ours = Json::object();
  ours[std::string(key)] = std::move(value);
}

void strip_extension(Json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) return;
  object["metadata"].erase(std::string(kExtensionUri));
  if (object["metadata"].empty()) object.erase("metadata");
}

State state_of(std::string_view s) noexcept {
  if (s == "TASK_STATE_REJECTED" || s == "rejected") return State::kRejected;
  if (s == "TASK_STATE_COMPLETED" || s == "completed") return State::kCompleted;
  if (s == "TASK_STATE_FAILED" || s == "failed") return State::kFailed;
  if (s == "TASK_STATE_CANCELED" || s == "canceled") return State::kCanceled;
  return State::kOther;
}

std::string state_name(State s, Version v) {
  const bool v10 = v == Version::kV10;
  switch (s) {
    case State::kRejected: return v10 ? "TASK_STATE_REJECTED" : "rejected";
    case State::kCompleted: return v10 ? "TASK_STATE_COMPLETED" : "completed";
    case State::kFailed: return v10 ? "TASK_STATE_FAILED" : "failed";
    case State::kCanceled: return v10 ? "TASK_STATE_CANCELED" : "canceled";
    case State::kOther: break;
  }
  return v10 ? "TASK_STATE_UNSPECIFIED" : "unknown";
}

Json agent_message(Version v, std::string_view message_id, std::string_view text,
                   const std::optional<std::string>& context_id, const std::optional<std::string>& task_id) {
  Json m;
  if (v == Version::kV10) {
    m = Json{{"messageId", message_id}, {"role", "ROLE_AGENT"}, {"parts", Json::array({Json{{"text", text}}})}};
  } else {
    m = Json{{"kind", "message"},
             {"messageId", message_id},
             {"role", "agent"},
             {"parts", Json::array({Json{{"kind", "text"}, {"text", text}}})}};
  }
  if (context_id) m["contextId"] = *context_id;
  if (task_id) m["taskId"] = *task_id;
  return m;
}

SendResult unwrap(Json& result, Version v) {
  SendResult r;
  if (!result.is_object()) return r;
  if (v == Version::kV10 || !result.contains("kind")) {
    static constexpr std::pair<const char*, SendResult::Kind> kMembers[] = {
        {"task", SendResult::Kind::kTask},
        {"message", SendResult::Kind::kMessage},
        {"statusUpdate", SendResult::Kind::kStatusUpdate},
        {"artifactUpdate", SendResult::Kind::kArtifactUpdate}};
    for (const auto& [name, kind] : kMembers) {
      if (auto it = result.find(name); it != result.end() && it->is_object()) return SendResult{kind, &*it};
    }
    if (v == Version::kV10) return r;
  }
  // Read by hand: value() throws when "kind" is there but not a string.
  const auto k = result.find("kind");
  const std::string kind = k != result.end() && k->is_string() ? k->get<std::string>() : std::string();
  if (kind == "task") return SendResult{SendResult::Kind::kTask, &result};
  if (kind == "message") return SendResult{SendResult::Kind::kMessage, &result};
  if (kind == "status-update") return SendResult{SendResult::Kind::kStatusUpdate, &result};
  if (kind == "artifact-update") return SendResult{SendResult::Kind::kArtifactUpdate, &result};
  return r;
}

Json wrap_task(Json task, Version v) {
  if (v == Version::kV10) return Json{{"task", std::move(task)}};
  task["kind"] = "task";
  return task;
}

std::string state_text(const Json& holder) {
  if (!holder.is_object()) return {};
  auto st = holder.find("status");
  if (st == holder.end() || !st->is_object()) return {};
  auto v = st->find("state");
  return v != st->end() && v->is_string() ? v->get<std::string>() : std::string();
}

Json artifacts_without_ours(const Json& task) {
  Json out = Json::array();
  if (!task.is_object() || !task.contains("artifacts") || !task["artifacts"].is_array()) return out;
  for (Json a : task["artifacts"]) {
    strip_extension(a);
    out.push_back(std::move(a));
  }
  return out;
}

Json task_subject(const FinishedTask& task) {
  return Json{{"a2a_task_id", task.task_id},
              {"a2a_context_id", task.context_id},
              {"state", task.state},
              {"artifacts", task.artifacts}};
}

ReceiptEvidence task_evidence(const EvidenceFn& fn, std::string_view skill, const Json& message, const FinishedTask& task) {
  const State state = state_of(task.state);
  ReceiptEvidence out;
  if (fn) {
    if (auto custom = fn(skill, message, task.artifacts, state)) {
      if (custom->ok()) return std::move(*custom).value();
      out.summary = Json{{"evidence_error", custom->error().reason}};
      out.result = task_subject(task);
      out.status = "error";
      return out;
    }
  }
  out.result = task_subject(task);
  out.status = state == State::kCompleted ? "ok" : "error";
  return out;
}

bool is_end_to_end_header(std::string_view name) noexcept {
  static constexpr std::string_view kKeep[] = {"A2A-Version", "A2A-Extensions", "X-A2A-Extensions", "Accept"};
  for (std::string_view k : kKeep) {
    if (k.size() == name.size() &&
        std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); })) {
      return true;
    }
  }
  return false;
}

void point_card_at(Json& card, const std::string& url) {
  if (!card.is_object()) return;
  for (const char* list : {"supportedInterfaces", "additionalInterfaces"}) {
    if (auto it = card.find(list); it != card.end() && it->is_array()) {
      for (auto& i : *it) {
        if (i.is_object() && i.contains("url")) i["url"] = url;
      }
    }
  }
  if (card.contains("url")) card["url"] = url;
}

}  // namespace handshake::a2a
