// The one filter rule of ReceiptStore::list (receipt_store.hpp), shared by every backend.
#include "handshake/receipt_store.hpp"

#include "handshake/time.hpp"

namespace handshake {
namespace {

std::string text_member(const Json& doc, const char* key) {
  if (!doc.is_object()) return {};
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool capability_matches(const std::string& name, const std::string& wanted) {
  if (name == wanted) return true;
  if (wanted.empty() || name.size() <= wanted.size() || name.compare(0, wanted.size(), wanted) != 0) return false;
  const char next = name[wanted.size()];
  return next == ':' || next == '.';
}

}  // namespace

bool record_matches(const StoredRecord& record, const RecordFilter& filter) {
  const bool receipt = record.kind == StoredRecord::Kind::kReceipt;
  const Json& m = record.message;
  if (filter.kind && *filter.kind != record.kind) return false;
  if (filter.agent && text_member(m, receipt ? "sub" : "aud") != *filter.agent) return false;
  if (filter.capability && !capability_matches(text_member(m, "action"), *filter.capability) &&
      !capability_matches(record.action, *filter.capability)) {
    return false;
  }
  if (filter.code) {
    std::string code;
    if (receipt) {
      code = text_member(m, "result");
    } else if (m.is_object() && m.contains("reason")) {
      code = text_member(m["reason"], "code");
    }
    if (code != *filter.code) return false;
  }
  if (filter.since || filter.until) {
    auto at = time::parse_rfc3339(text_member(m, receipt ? "executed_at" : "iat"));
    if (!at.ok()) return false;
    if (filter.since) {
      auto since = time::parse_rfc3339(*filter.since);
      if (!since.ok() || *at < *since) return false;
    }
    if (filter.until) {
      auto until = time::parse_rfc3339(*filter.until);
      if (!until.ok() || *at > *until) return false;
    }
  }
  return true;
}

}  // namespace handshake
