#include "handshake/receipt.hpp"

#include <set>

#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"
#include "handshake/ids.hpp"

namespace handshake {

Result<HashValue> hash_result(const Json& result, std::string_view alg) {
  HSK_ASSIGN_OR_RETURN(auto canon, json::canonicalize(result));
  HashValue h;
  h.alg = std::string(alg);
  if (alg == "sha-256") {
    h.value = encoding::hex_encode(crypto::sha256(encoding::as_bytes(canon)));
  } else if (alg == "sha3-256") {
    HSK_ASSIGN_OR_RETURN(auto d, crypto::sha3_256(encoding::as_bytes(canon)));
    h.value = encoding::hex_encode(d);
  } else {
    return make_error(ErrorCode::kInvalidArgument, "receipt.hash_alg", "hash alg must be sha-256 or sha3-256");
  }
  return h;
}

Result<Json> issue_receipt(const Identity& service, const Acceptance& acceptance, const Json& result,
                           std::string_view status, Timestamp now, const ReceiptOptions& options) {
  if (status != "ok" && status != "error" && status != "partial") {
    return make_error(ErrorCode::kInvalidArgument, "receipt.status", "status must be ok, error or partial");
  }
  if (acceptance.iss != service.did_string()) {
    return make_error(ErrorCode::kInvalidArgument, "receipt.issuer", "the acceptance was issued by another service");
  }
  Receipt r;
  r.id = ids::make_id(ids::kReceiptPrefix, now);
  r.handshake_id = acceptance.request_id;
  r.iss = service.did_string();
  r.sub = acceptance.aud;
  r.action = acceptance.effective_scope.capability;
  r.executed_at = now;
  r.result = std::string(status);
  HSK_ASSIGN_OR_RETURN(r.result_hash, hash_result(result, options.hash_alg));
  r.result_summary = options.result_summary;
  if (!options.upstream_receipts.empty()) r.upstream_receipts = options.upstream_receipts;
  return sign_message(r.to_json(), service.key());
}

Status verify_receipt(const Json& receipt, const KeyResolver& keys, const std::optional<Json>& result) {
  HSK_ASSIGN_OR_RETURN(auto r, Receipt::from_json(receipt));
  const auto key = keys.key_at(r.iss, r.executed_at);
  if (key.status == KeyResolver::Status::kUnavailable) {
    return make_error(ErrorCode::kUnavailable, "did.unavailable", "cannot resolve " + r.iss + ": " + key.detail);
  }
  if (key.status != KeyResolver::Status::kFound) {
    return make_error(ErrorCode::kNotFound, "did.unresolved", "no key known for " + r.iss);
  }
  HSK_TRY(verify_message_signature(receipt, key.key));
  if (result) {
    HSK_ASSIGN_OR_RETURN(auto h, hash_result(*result, r.result_hash.alg));
    if (!crypto::constant_time_equal(h.value, r.result_hash.value)) {
      return make_error(ErrorCode::kSignature, "receipt.result_mismatch", "result_hash does not commit to this result");
    }
  }
  return {};
}

Status verify_receipt_dag(const std::string& root_id, const std::map<std::string, Json>& receipts,
                          const KeyResolver& keys, std::size_t max_receipts) {
  // Iterative depth-first walk with colours: grey on the stack (a grey hit is a cycle), black done.
  std::set<std::string> grey, black;
  struct Frame {
    std::string id;
    std::vector<std::string> children;
    std::size_t next = 0;
  };
  std::vector<Frame> stack;
  auto enter = [&](const std::string& id) -> Status {
    auto it = receipts.find(id);
    if (it == receipts.end()) return make_error(ErrorCode::kNotFound, "receipt.missing", id + ": receipt not provided");
    if (grey.size() + black.size() >= max_receipts) {
      return make_error(ErrorCode::kInvalidArgument, "receipt.too_many", "receipt graph larger than " +
                                                                             std::to_string(max_receipts));
    }
    if (auto s = verify_receipt(it->second, keys); !s.ok()) {
      Error e = s.error();
      e.message = id + ": " + e.message;
      return e;
    }
    if (!it->second.contains("id") || it->second["id"] != id) {
      return make_error(ErrorCode::kInvalidArgument, "receipt.missing", id + ": stored under another id");
    }
    Frame f{id, {}, 0};
    if (it->second.contains("upstream_receipts")) {
      for (const auto& u : it->second["upstream_receipts"]) f.children.push_back(u.get<std::string>());
    }
    grey.insert(id);
    stack.push_back(std::move(f));
    return {};
  };
  HSK_TRY(enter(root_id));
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next == top.children.size()) {
      grey.erase(top.id);
      black.insert(top.id);
      stack.pop_back();
      continue;
    }
    const std::string child = top.children[top.next++];
    if (grey.count(child)) {
      return make_error(ErrorCode::kInvalidArgument, "receipt.cycle", child + ": upstream_receipts form a cycle");
    }
    if (black.count(child)) continue;
    HSK_TRY(enter(child));
  }
  return {};
}

}  // namespace handshake
