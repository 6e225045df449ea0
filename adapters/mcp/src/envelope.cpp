#include "handshake/mcp/envelope.hpp"

namespace handshake::mcp {

MessageType message_type(const Json& m) noexcept {
  if (!m.is_object()) return MessageType::kInvalid;
  const auto method = m.find("method");
  const auto id = m.find("id");
  const bool has_id = id != m.end() && (id->is_string() || id->is_number());
  if (method != m.end()) {
    if (!method->is_string()) return MessageType::kInvalid;
    if (id == m.end()) return MessageType::kNotification;
    return has_id ? MessageType::kRequest : MessageType::kInvalid;
  }
  if (id != m.end() && (m.contains("result") || m.contains("error"))) return MessageType::kResponse;
  return MessageType::kInvalid;
}

std::string_view method_of(const Json& m) noexcept {
  if (!m.is_object()) return {};
  const auto it = m.find("method");
  if (it == m.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

Json error_response(const Json& id, int code, std::string message, std::optional<Json> data) {
  Json error{{"code", code}, {"message", std::move(message)}};
  if (data) error["data"] = std::move(*data);
  return Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

Json refusal_response(const Json& id, const Decision& decision) {
  if (decision.response.is_null()) {
    // Nothing signed to carry (the service's key is unavailable): an internal error that says so.
    return error_response(id, kInternalError,
                          decision.refusal ? decision.refusal->detail : std::string("the service cannot sign its answer now"));
  }
  std::string message = "handshake refused";
  if (decision.refusal) {
    message += ": ";
    message += to_string(decision.refusal->code);
    if (!decision.refusal->detail.empty()) message += ": " + decision.refusal->detail;
  }
  return error_response(id, kHandshakeRefused, std::move(message),
                        Json{{std::string(kRefusalKey), decision.response}});
}

std::optional<Json> refusal_of(const Json& response) {
  if (!response.is_object()) return std::nullopt;
  const auto e = response.find("error");
  if (e == response.end() || !e->is_object()) return std::nullopt;
  const auto code = e->find("code");
  if (code == e->end() || !code->is_number_integer() || code->get<std::int64_t>() != kHandshakeRefused) {
    return std::nullopt;
  }
  const auto data = e->find("data");
  if (data == e->end() || !data->is_object()) return std::nullopt;
  const auto r = data->find(kRefusalKey);
  if (r == data->end()) return std::nullopt;
  return *r;
}

Json receipt_subject(const Json& result) {
  if (!result.is_object()) return result;
  if (auto sc = result.find("structuredContent"); sc != result.end()) return *sc;
  Json subject = result;
  if (auto meta = subject.find("_meta"); meta != subject.end() && meta->is_object()) {
    meta->erase(std::string(kAcceptanceKey));
    meta->erase(std::string(kReceiptKey));
    if (auto h = meta->find(kReferenceKey); h != meta->end() && h->is_object()) {
      h->erase(std::string(kReferenceReceiptField));
      if (h->empty()) meta->erase(h);
    }
    if (meta->empty()) subject.erase("_meta");
  }
  return subject;
}

std::string_view receipt_status(const Json& result) {
  if (result.is_object()) {
    if (auto e = result.find("isError"); e != result.end() && e->is_boolean() && e->get<bool>()) return "error";
  }
  return "ok";
}

std::string serialize(const Json& message) {
  return message.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<Json> decode(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace handshake::mcp
