#include "handshake/session_ticket.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <optional>
#include <span>

#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "secret_files.hpp"
#include "session_ticket_internal.hpp"

namespace handshake {
namespace {

static_assert(kSessionKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);

using KeyId = std::array<std::uint8_t, kSessionKeyIdBytes>;

constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;  // 24
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;       // 16
constexpr std::size_t kHeaderBytes = 1 + kSessionKeyIdBytes;                        // version, key id
constexpr std::size_t kFixedPayloadBytes = 8 + crypto::kPublicKeyBytes;             // expires_at, agent_key
constexpr std::size_t kMaxTicketBytes = kMaxSessionTicketChars / 4 * 3;
constexpr std::string_view kKeyIdLabel = "handshake session ticket key id";
constexpr std::string_view kKeyFilePrefix = "handshake-session-key v1 ";
constexpr std::size_t kKeyTextChars = 43;  // base64url of 32 bytes, no padding
constexpr std::size_t kMaxKeyFileBytes = 256;

Error memory_error() {
  return make_error(ErrorCode::kInternal, "session_key.memory", "cannot allocate guarded memory for a ticket key");
}

Error ticket_error(std::string why) { return make_error(ErrorCode::kInvalidArgument, "session_ticket.invalid", std::move(why)); }

KeyId key_id_of(const unsigned char* key) {
  std::array<unsigned char, crypto_generichash_BYTES> h{};
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(kKeyIdLabel.data()), kKeyIdLabel.size(),
                     key, kSessionKeyBytes);
  KeyId id{};
  std::copy_n(h.begin(), id.size(), id.begin());
  return id;
}

std::string hex_id(const KeyId& id) { return encoding::hex_encode(id); }

// Guarded memory (sodium_malloc: guard pages, locked, wiped by sodium_free).
class SecureBytes {
 public:
  explicit SecureBytes(std::size_t n) : p_(static_cast<unsigned char*>(sodium_malloc(n))), n_(n) {}
  SecureBytes(const SecureBytes&) = delete;
  SecureBytes& operator=(const SecureBytes&) = delete;
  ~SecureBytes() {
    if (p_ != nullptr) sodium_free(p_);
  }
  [[nodiscard]] unsigned char* data() const noexcept { return p_; }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  [[nodiscard]] bool ok() const noexcept { return p_ != nullptr; }

 private:
  unsigned char* p_;
  std::size_t n_;
};

// ---- payload -------------------------------------------------------------------------------------

void put_varint(std::vector<std::uint8_t>& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

// A strict reader: every read is bounds-checked; varints are minimal and at most `max`.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
  [[nodiscard]] bool bytes(std::size_t n, const std::uint8_t*& out) {
    if (n > in_.size() - at_) return false;
    out = in_.data() + at_;
    at_ += n;
    return true;
  }
  [[nodiscard]] bool varint(std::uint64_t& v, std::uint64_t max) {
    v = 0;
    for (unsigned shift = 0; shift < 35; shift += 7) {
      if (at_ >= in_.size()) return false;
      const std::uint8_t b = in_[at_++];
      if (shift > 0 && b == 0) return false;  // not minimal
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v <= max;
    }
    return false;
  }
  [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - at_; }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t at_ = 0;
};

}  // namespace

namespace detail {
namespace {

// The constraint types by their one-byte code in a ticket (append only: codes are a format).
constexpr std::string_view kTypeCodes[] = {"numeric_max",    "numeric_min",   "enum",       "time_window",
                                           "string_pattern", "resource_path", "rate_limit", "exact"};

std::optional<std::uint8_t> type_code(const Json& name) {
  if (!name.is_string()) return std::nullopt;
  for (std::size_t i = 0; i < std::size(kTypeCodes); ++i) {
    if (kTypeCodes[i] == name.get_ref<const std::string&>()) return static_cast<std::uint8_t>(i);
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<std::uint8_t>> encode_session_payload(const SessionTicket& t) {
  auto scope_error = [](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, "session_ticket.scope", why);
  };
  const Json state = t.chain_scope.to_state_json();
  std::vector<std::string_view> table;
  auto index = [&](std::string_view s) -> std::uint64_t {
    for (std::size_t i = 0; i < table.size(); ++i) {
      if (table[i] == s) return i;
    }
    table.push_back(s);
    return table.size() - 1;
  };
  const std::uint64_t agent = index(t.agent);
  const std::uint64_t granted = index(t.granted_name);
  std::vector<std::uint64_t> refs;
  for (const auto& [id, issuer] : t.delegations) {
    refs.push_back(index(id));
    refs.push_back(index(issuer));
  }
  for (const auto& p : t.principals) refs.push_back(index(p));

  // The scope's state (ConstraintSet::to_state_json) in binary: names through the string table,
  // types as one byte, each value as compact JSON text.
  struct Entry {
    std::uint64_t name;
    std::uint8_t type;
    std::string value;  // JSON text (constraints only)
  };
  const std::uint64_t capability = index(state.at("capability").get_ref<const std::string&>());
  std::vector<Entry> schema, constraints;
  for (auto it = state.at("schema").begin(); it != state.at("schema").end(); ++it) {
    const auto code = type_code(it.value());
    if (!code) return scope_error("unknown constraint type");
    schema.push_back({index(it.key()), *code, {}});
  }
  for (auto it = state.at("constraints").begin(); it != state.at("constraints").end(); ++it) {
    const auto code = type_code(it.value().at(0));
    if (!code) return scope_error("unknown constraint type");
    Entry e{index(it.key()), *code, {}};
    try {
      e.value = it.value().at(1).dump();
    } catch (const Json::exception& ex) {
      return scope_error(ex.what());
    }
    constraints.push_back(std::move(e));
  }

  std::vector<std::uint8_t> out;
  std::size_t size = kFixedPayloadBytes + 16 + 3 * (refs.size() + schema.size()) + 8 * constraints.size();
  for (std::string_view s : table) size += s.size() + 2;
  for (const Entry& e : constraints) size += e.value.size();
  out.reserve(size);
  const auto micros = static_cast<std::uint64_t>(t.expires_at.time_since_epoch().count());
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(micros >> shift));
  out.insert(out.end(), t.agent_key.begin(), t.agent_key.end());
  put_varint(out, table.size());
  for (std::string_view s : table) {
    put_varint(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
  }
  put_varint(out, agent);
  put_varint(out, granted);
  put_varint(out, t.delegations.size());
  std::size_t r = 0;
  for (std::size_t i = 0; i < t.delegations.size(); ++i) {
    put_varint(out, refs[r++]);
    put_varint(out, refs[r++]);
  }
  put_varint(out, t.principals.size());
  for (std::size_t i = 0; i < t.principals.size(); ++i) put_varint(out, refs[r++]);
  put_varint(out, capability);
  put_varint(out, schema.size());
  for (const Entry& e : schema) {
    put_varint(out, e.name);
    out.push_back(e.type);
  }
  put_varint(out, constraints.size());
  for (const Entry& e : constraints) {
    put_varint(out, e.name);
    out.push_back(e.type);
    put_varint(out, e.value.size());
    out.insert(out.end(), e.value.begin(), e.value.end());
  }
  return out;
}

Result<SessionTicket> decode_session_payload(std::span<const std::uint8_t> payload) {
  auto bad = [](const char* what) { return ticket_error(std::string("malformed payload: ") + what); };
  Reader in(payload);
  SessionTicket t;
  const std::uint8_t* p = nullptr;
  if (!in.bytes(8, p)) return bad("expires_at");
  std::uint64_t micros = 0;
  for (int i = 0; i < 8; ++i) micros = (micros << 8) | p[i];
  t.expires_at = Timestamp(std::chrono::microseconds(static_cast<std::int64_t>(micros)));
  if (!in.bytes(crypto::kPublicKeyBytes, p)) return bad("agent_key");
  std::copy_n(p, crypto::kPublicKeyBytes, t.agent_key.begin());

  std::uint64_t count = 0;
  // Every entry takes at least one byte, so no count may exceed what is left.
  if (!in.varint(count, in.remaining())) return bad("string count");
  std::vector<std::string_view> table;
  table.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t len = 0;
    if (!in.varint(len, in.remaining()) || !in.bytes(len, p)) return bad("string");
    table.emplace_back(reinterpret_cast<const char*>(p), len);
  }
  auto ref = [&](std::string_view& out) {
    std::uint64_t i = 0;
    if (table.empty() || !in.varint(i, table.size() - 1)) return false;
    out = table[i];
    return true;
  };
  auto str = [&](std::string& out) {
    std::string_view v;
    if (!ref(v)) return false;
    out = std::string(v);
    return true;
  };
  if (!str(t.agent)) return bad("agent");
  if (!str(t.granted_name)) return bad("granted");
  if (!in.varint(count, in.remaining()) || count == 0) return bad("delegations");
  t.delegations.resize(count);
  for (auto& [id, issuer] : t.delegations) {
    if (!str(id) || !str(issuer)) return bad("delegation");
  }
  if (!in.varint(count, in.remaining())) return bad("principals");
  t.principals.resize(count);
  for (auto& principal : t.principals) {
    if (!str(principal)) return bad("principal");
  }

  // The scope, back to its state JSON; from_state_json checks every value.
  auto type = [&](Json& out) {
    const std::uint8_t* b = nullptr;
    if (!in.bytes(1, b) || *b >= std::size(kTypeCodes)) return false;
    out = std::string(kTypeCodes[*b]);
    return true;
  };
  std::string_view name;
  if (!ref(name)) return bad("scope capability");
  Json state = Json::object();
  state["capability"] = std::string(name);
  Json& schema = state["schema"] = Json::object();
  if (!in.varint(count, in.remaining())) return bad("scope schema");
  for (std::uint64_t i = 0; i < count; ++i) {
    Json t_name;
    if (!ref(name) || !type(t_name)) return bad("scope schema entry");
    const std::string key(name);
    if (schema.contains(key)) return bad("scope schema entry named twice");
    schema[key] = std::move(t_name);
  }
  Json& constraints = state["constraints"] = Json::object();
  if (!in.varint(count, in.remaining())) return bad("scope constraints");
  json::ParseLimits limits;
  limits.max_bytes = kMaxTicketBytes;
  limits.max_depth = 64;
  for (std::uint64_t i = 0; i < count; ++i) {
    Json t_name;
    std::uint64_t len = 0;
    if (!ref(name) || !type(t_name) || !in.varint(len, in.remaining()) || !in.bytes(len, p)) {
      return bad("scope constraint");
    }
    const std::string key(name);
    if (constraints.contains(key)) return bad("scope constraint named twice");
    auto value = json::parse_strict(std::string_view(reinterpret_cast<const char*>(p), len), limits);
    if (!value.ok()) return bad("scope constraint value is not JSON");
    constraints[key] = Json::array({std::move(t_name), std::move(value).value()});
  }
  if (in.remaining() != 0) return bad("trailing bytes");
  auto scope = capability::ConstraintSet::from_state_json(state);
  if (!scope.ok()) return ticket_error("malformed payload: scope: " + scope.error().message);
  t.chain_scope = std::move(scope).value();
  return t;
}

}  // namespace detail

// ---- keys ----------------------------------------------------------------------------------------

struct SessionTicketKeys::Slots {
  explicit Slots(std::size_t n) : keys(n * kSessionKeyBytes), ids(n) {}
  SecureBytes keys;  // n keys of 32 bytes, current first; read-only once filled
  std::vector<KeyId> ids;
  [[nodiscard]] const unsigned char* key(std::size_t i) const { return keys.data() + i * kSessionKeyBytes; }
};

SessionTicketKeys::SessionTicketKeys(std::unique_ptr<Slots> slots) : slots_(std::move(slots)) {}

SessionTicketKeys::~SessionTicketKeys() = default;

Result<std::shared_ptr<const SessionTicketKeys>> SessionTicketKeys::from_files(
    const std::vector<std::filesystem::path>& paths) {
  if (paths.empty()) return make_error(ErrorCode::kInvalidArgument, "session_key.none", "no session key file given");
  crypto::ensure_initialized();
  auto slots = std::make_unique<Slots>(paths.size());
  if (!slots->keys.ok()) return memory_error();
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const std::filesystem::path& path = paths[i];
    auto read = read_secret_file(path, kMaxKeyFileBytes);
    if (!read.ok()) return read.error();
    std::string& text = read.value();
    std::string_view body(text);
    if (!body.empty() && body.back() == '\n') body.remove_suffix(1);
    std::size_t decoded = 0;
    const bool ok = body.size() == kKeyFilePrefix.size() + kKeyTextChars && body.substr(0, kKeyFilePrefix.size()) == kKeyFilePrefix &&
                    sodium_base642bin(slots->keys.data() + i * kSessionKeyBytes, kSessionKeyBytes,
                                      body.data() + kKeyFilePrefix.size(), kKeyTextChars, nullptr, &decoded, nullptr,
                                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
                    decoded == kSessionKeyBytes;
    sodium_memzero(text.data(), text.size());
    if (!ok) {
      return make_error(ErrorCode::kKey, "session_key.format",
                        path.string() + " is not a session key file (one line: \"" + std::string(kKeyFilePrefix) +
                            "\" and 43 base64url characters; see hsk session-key)");
    }
    slots->ids[i] = key_id_of(slots->key(i));
    for (std::size_t j = 0; j < i; ++j) {
      if (slots->ids[j] == slots->ids[i]) {
        return make_error(ErrorCode::kKey, "session_key.duplicate",
                          path.string() + " holds the same key (id " + hex_id(slots->ids[i]) + ") as " +
                              paths[j].string());
      }
    }
  }
  sodium_mprotect_readonly(slots->keys.data());
  return std::shared_ptr<const SessionTicketKeys>(new SessionTicketKeys(std::move(slots)));
}

Result<std::shared_ptr<const SessionTicketKeys>> SessionTicketKeys::generate() {
  crypto::ensure_initialized();
  auto slots = std::make_unique<Slots>(1);
  if (!slots->keys.ok()) return memory_error();
  randombytes_buf(slots->keys.data(), kSessionKeyBytes);
  slots->ids[0] = key_id_of(slots->key(0));
  sodium_mprotect_readonly(slots->keys.data());
  return std::shared_ptr<const SessionTicketKeys>(new SessionTicketKeys(std::move(slots)));
}

std::vector<std::string> SessionTicketKeys::key_ids() const {
  std::vector<std::string> out;
  for (const KeyId& id : slots_->ids) out.push_back(hex_id(id));
  return out;
}

// ---- tickets -------------------------------------------------------------------------------------

Result<std::string> SessionTicketKeys::seal(std::string_view audience, const SessionTicket& ticket) const {
  if (ticket.delegations.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "session_ticket.invalid", "a session needs its delegations");
  }
  HSK_ASSIGN_OR_RETURN(auto payload, detail::encode_session_payload(ticket));
  const std::size_t total = kHeaderBytes + kNonceBytes + payload.size() + kTagBytes;
  if (total > kMaxTicketBytes) {
    return make_error(ErrorCode::kInvalidArgument, "session_ticket.too_large",
                      "a ticket of " + std::to_string(total) + " bytes exceeds " + std::to_string(kMaxTicketBytes));
  }
  std::vector<std::uint8_t> out(total);
  out[0] = kSessionTicketVersion;
  std::copy(slots_->ids[0].begin(), slots_->ids[0].end(), out.begin() + 1);
  randombytes_buf(out.data() + kHeaderBytes, kNonceBytes);
  std::string ad(reinterpret_cast<const char*>(out.data()), kHeaderBytes);
  ad.append(audience);
  unsigned long long sealed = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + kHeaderBytes + kNonceBytes, &sealed, payload.data(),
                                             payload.size(), reinterpret_cast<const unsigned char*>(ad.data()),
                                             ad.size(), nullptr, out.data() + kHeaderBytes, slots_->key(0));
  return encoding::base64url_encode(out);
}

Result<SessionTicket> SessionTicketKeys::open(std::string_view audience, std::string_view ticket) const {
  constexpr std::size_t kMinBytes = kHeaderBytes + kNonceBytes + kTagBytes + kFixedPayloadBytes;
  if (ticket.size() > kMaxSessionTicketChars) return ticket_error("longer than a ticket can be");
  auto raw = encoding::base64url_decode(ticket);
  if (!raw.ok()) return ticket_error("not base64url");
  const std::vector<std::uint8_t>& in = *raw;
  if (in.size() < kMinBytes) return ticket_error("too short to be a ticket");
  if (in[0] != kSessionTicketVersion) return ticket_error("unknown ticket version");
  const unsigned char* key = nullptr;
  for (std::size_t i = 0; i < slots_->ids.size(); ++i) {
    if (std::equal(slots_->ids[i].begin(), slots_->ids[i].end(), in.begin() + 1)) key = slots_->key(i);
  }
  if (key == nullptr) return ticket_error("sealed under a key this service does not hold");
  std::string ad(reinterpret_cast<const char*>(in.data()), kHeaderBytes);
  ad.append(audience);
  std::vector<std::uint8_t> payload(in.size() - kHeaderBytes - kNonceBytes - kTagBytes);
  unsigned long long opened = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(payload.data(), &opened, nullptr, in.data() + kHeaderBytes + kNonceBytes,
                                                 in.size() - kHeaderBytes - kNonceBytes,
                                                 reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                                 in.data() + kHeaderBytes, key) != 0) {
    return ticket_error("does not open: changed, sealed under another key or for another audience");
  }
  return detail::decode_session_payload(payload);
}

Result<std::string> write_session_key_file(const std::filesystem::path& path, bool overwrite) {
  crypto::ensure_initialized();
  constexpr std::size_t kB64 = sodium_base64_ENCODED_LEN(kSessionKeyBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  const std::size_t text_size = kKeyFilePrefix.size() + kKeyTextChars + 1;
  SecureBytes buf(kSessionKeyBytes + kB64 + text_size);
  if (!buf.ok()) return memory_error();
  unsigned char* key = buf.data();
  char* b64 = reinterpret_cast<char*>(buf.data() + kSessionKeyBytes);
  char* text = b64 + kB64;
  randombytes_buf(key, kSessionKeyBytes);
  sodium_bin2base64(b64, kB64, key, kSessionKeyBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::memcpy(text, kKeyFilePrefix.data(), kKeyFilePrefix.size());
  std::memcpy(text + kKeyFilePrefix.size(), b64, kKeyTextChars);
  text[text_size - 1] = '\n';
  HSK_TRY(write_secret_file(path, std::string_view(text, text_size), overwrite));
  return hex_id(key_id_of(key));
}

}  // namespace handshake
