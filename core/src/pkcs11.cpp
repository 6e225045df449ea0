// Ed25519 keys in a PKCS#11 token (pkcs11.hpp). The module is dlopen()ed; every call goes through
// its function list. One Module per module path per process (C_Initialize once).
#include "handshake/pkcs11.hpp"

#include <dlfcn.h>
#include <sodium.h>

#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include <p11-kit/pkcs11.h>

#include "handshake/did.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HSK_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HSK_LSAN 1
#endif
#ifdef HSK_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace handshake::pkcs11 {

namespace {

// What a vendor module allocates inside its calls is its own business: under LeakSanitizer it is
// not reported (SoftHSM2 keeps OpenSSL objects it never frees). Our own allocations outside these
// calls are still checked.
struct ModuleCall {
#ifdef HSK_LSAN
  ModuleCall() { __lsan_disable(); }
  ~ModuleCall() { __lsan_enable(); }
#endif
  ModuleCall(const ModuleCall&) = delete;
  ModuleCall& operator=(const ModuleCall&) = delete;
#ifndef HSK_LSAN
  ModuleCall() {}   // user-provided: a guard, not an unused variable
  ~ModuleCall() {}  // NOLINT(modernize-use-equals-default)
#endif
};

Error uri_error(const std::string& why) { return make_error(ErrorCode::kInvalidArgument, "pkcs11.uri", why); }

std::string rv_text(CK_RV rv) {
  switch (rv) {
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
    case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "CKR 0x%lx", static_cast<unsigned long>(rv));
      return buf;
    }
  }
}

Error unavailable(const std::string& what, CK_RV rv) {
  return make_error(ErrorCode::kUnavailable, "signer.unavailable", what + ": " + rv_text(rv));
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> pct_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return uri_error("a % without two hex digits");
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return uri_error("a % without two hex digits");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// One loaded module: its function list, initialized once for the process.
struct Module {
  void* handle = nullptr;
  CK_FUNCTION_LIST_PTR f = nullptr;
  std::mutex mu;

  // A token that went away and came back is not always seen again by a module until it starts
  // over (SoftHSM2 keeps its slot list from C_Initialize): C_Finalize, then C_Initialize. Every
  // session of the process on this module is gone; their signers reconnect in turn.
  Status restart() {
    const ModuleCall in_module;
    std::lock_guard lock(mu);
    (void)f->C_Finalize(nullptr);
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    const CK_RV rv = f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) return unavailable("C_Initialize", rv);
    return {};
  }
};

Result<Module*> module_for(const std::string& path) {
  const ModuleCall in_module;
  static std::mutex mu;
  static std::map<std::string, Module> modules;  // never unloaded: signers may outlive anything
  std::lock_guard lock(mu);
  if (auto it = modules.find(path); it != modules.end()) return &it->second;
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* why = ::dlerror();
    return make_error(ErrorCode::kIo, "pkcs11.module", "cannot load " + path + ": " + (why ? why : "?"));
  }
  auto get = reinterpret_cast<CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR)>(::dlsym(h, "C_GetFunctionList"));
  CK_FUNCTION_LIST_PTR f = nullptr;
  if (get == nullptr || get(&f) != CKR_OK || f == nullptr) {
    ::dlclose(h);
    return make_error(ErrorCode::kIo, "pkcs11.module", path + " is not a PKCS#11 module");
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  const CK_RV rv = f->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    ::dlclose(h);
    return make_error(ErrorCode::kIo, "pkcs11.module", path + ": C_Initialize: " + rv_text(rv));
  }
  auto& m = modules[path];
  m.handle = h;
  m.f = f;
  return &m;
}

// The PIN, read from its owner-only file and wiped after use.
class Pin {
 public:
  static Result<Pin> read(const Uri& uri) {
    Pin p;
    if (!uri.pin_file) return p;
    HSK_ASSIGN_OR_RETURN(p.value_, read_secret_file(*uri.pin_file, 256));
    while (!p.value_.empty() && (p.value_.back() == '\n' || p.value_.back() == '\r')) p.value_.pop_back();
    return p;
  }
  Pin() = default;
  Pin(Pin&& o) noexcept : value_(std::move(o.value_)) { o.wipe(); }
  Pin& operator=(Pin&& o) noexcept {
    wipe();
    value_ = std::move(o.value_);
    o.wipe();
    return *this;
  }
  ~Pin() { wipe(); }
  [[nodiscard]] bool empty() const { return value_.empty(); }
  [[nodiscard]] CK_UTF8CHAR_PTR data() { return reinterpret_cast<CK_UTF8CHAR_PTR>(value_.data()); }
  [[nodiscard]] CK_ULONG size() const { return static_cast<CK_ULONG>(value_.size()); }

 private:
  void wipe() {
    if (!value_.empty()) sodium_memzero(value_.data(), value_.size());
    value_.clear();
  }
  std::string value_;
};

std::string padded_label(const unsigned char* label, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(label), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// The slot whose token has the label `token`.
Result<CK_SLOT_ID> find_slot(CK_FUNCTION_LIST_PTR f, const std::string& token) {
  CK_ULONG n = 0;
  CK_RV rv = f->C_GetSlotList(CK_TRUE, nullptr, &n);
  if (rv != CKR_OK) return unavailable("C_GetSlotList", rv);
  std::vector<CK_SLOT_ID> slots(n);
  rv = f->C_GetSlotList(CK_TRUE, slots.data(), &n);
  if (rv != CKR_OK) return unavailable("C_GetSlotList", rv);
  for (CK_ULONG i = 0; i < n; ++i) {
    CK_TOKEN_INFO info{};
    if (f->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    if (padded_label(info.label, sizeof info.label) == token) return slots[i];
  }
  return make_error(ErrorCode::kNotFound, "pkcs11.token", "no token labelled '" + token + "'");
}

// Finds objects of `cls` labelled `label` (at most a few).
Result<std::vector<CK_OBJECT_HANDLE>> find_objects(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                                                   const std::string& label) {
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                         {CKA_LABEL, const_cast<char*>(label.data()), static_cast<CK_ULONG>(label.size())}};
  CK_RV rv = f->C_FindObjectsInit(s, tmpl, 2);
  if (rv != CKR_OK) return unavailable("C_FindObjectsInit", rv);
  std::vector<CK_OBJECT_HANDLE> found(4);
  CK_ULONG n = 0;
  rv = f->C_FindObjects(s, found.data(), static_cast<CK_ULONG>(found.size()), &n);
  (void)f->C_FindObjectsFinal(s);
  if (rv != CKR_OK) return unavailable("C_FindObjects", rv);
  found.resize(n);
  return found;
}

Result<std::vector<std::uint8_t>> attribute(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                            CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE a{type, nullptr, 0};
  CK_RV rv = f->C_GetAttributeValue(s, o, &a, 1);
  if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return make_error(ErrorCode::kKey, "pkcs11.key", "cannot read the attribute: " + rv_text(rv));
  }
  std::vector<std::uint8_t> v(a.ulValueLen);
  a.pValue = v.data();
  rv = f->C_GetAttributeValue(s, o, &a, 1);
  if (rv != CKR_OK) return make_error(ErrorCode::kKey, "pkcs11.key", "cannot read the attribute: " + rv_text(rv));
  v.resize(a.ulValueLen);
  return v;
}

// CKA_EC_POINT of an Ed25519 key: the 32 bytes, either raw or as a DER OCTET STRING (04 20 ...).
Result<crypto::PublicKey> ec_point(const std::vector<std::uint8_t>& v) {
  crypto::PublicKey pk{};
  if (v.size() == 32) {
    std::copy(v.begin(), v.end(), pk.begin());
  } else if (v.size() == 34 && v[0] == 0x04 && v[1] == 0x20) {
    std::copy(v.begin() + 2, v.end(), pk.begin());
  } else {
    return make_error(ErrorCode::kKey, "pkcs11.key", "the public key is not a 32-byte Ed25519 point");
  }
  if (!crypto::is_valid_public_key(pk)) return make_error(ErrorCode::kKey, "pkcs11.key", "the public key is not usable");
  return pk;
}

// The token's key pair behind crypto::Signer. Sessions are pooled; a failure that means the token
// or the sessions are gone drops them all, and the next signature starts again (recovery).
class TokenSigner final : public crypto::Signer {
 public:
  TokenSigner(Module* m, Uri uri, std::size_t sessions) : m_(m), uri_(std::move(uri)), max_(sessions == 0 ? 1 : sessions) {}
  ~TokenSigner() override {
    const ModuleCall in_module;
    drop_all();
  }

  // Opens the first session, logs in, finds the keys, reads the public key.
  Status open(KeyInfo* info) {
    std::unique_lock lock(mu_);
    HSK_TRY(reconnect(lock));
    if (info != nullptr) {
      info->public_key = public_key_;
      info->did = did_;
    }
    return {};
  }

  [[nodiscard]] Result<crypto::Signature> try_sign(std::span<const std::uint8_t> message) const override {
    auto self = const_cast<TokenSigner*>(this);
    return self->sign_now(message);
  }
  [[nodiscard]] const crypto::PublicKey& public_key() const noexcept override { return public_key_; }
  [[nodiscard]] std::string where() const override { return "pkcs11:token=" + uri_.token + ";object=" + uri_.object; }

 private:
  Result<crypto::Signature> sign_now(std::span<const std::uint8_t> message) {
    const ModuleCall in_module;
    CK_SESSION_HANDLE s = 0;
    {
      std::unique_lock lock(mu_);
      if (broken_) HSK_TRY(reconnect(lock));
      cv_.wait(lock, [&] { return !idle_.empty() || open_ < max_ || broken_; });
      if (broken_) HSK_TRY(reconnect(lock));
      if (!idle_.empty()) {
        s = idle_.back();
        idle_.pop_back();
      } else {
        CK_RV rv = m_->f->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &s);
        if (rv != CKR_OK) {
          broken_ = true;
          return unavailable("C_OpenSession", rv);
        }
        ++open_;
      }
    }
    CK_MECHANISM mech{CKM_EDDSA, nullptr, 0};
    crypto::Signature sig{};
    CK_ULONG len = sig.size();
    CK_RV rv = m_->f->C_SignInit(s, &mech, key_);
    if (rv == CKR_OK) rv = m_->f->C_Sign(s, const_cast<CK_BYTE_PTR>(message.data()), static_cast<CK_ULONG>(message.size()),
                                         sig.data(), &len);
    std::lock_guard lock(mu_);
    if (rv != CKR_OK || len != sig.size()) {
      (void)m_->f->C_CloseSession(s);
      --open_;
      broken_ = true;  // whatever failed, the next signature starts from a fresh session and login
      cv_.notify_all();
      return unavailable("C_Sign with " + where(), rv);
    }
    idle_.push_back(s);
    cv_.notify_one();
    // Not verified again here: the public key came from the token itself, and every verifier
    // checks the signature anyway (a second verification would double the cost of each answer).
    return sig;
  }

  void drop_all() {
    for (auto s : idle_) (void)m_->f->C_CloseSession(s);
    open_ -= idle_.size();
    idle_.clear();
  }

  // With mu_ held: closes what is left, finds the token again, logs in, finds the key. After a
  // failure, a second attempt restarts the module first (the token may have come back).
  Status reconnect(std::unique_lock<std::mutex>& lock) {
    auto first = connect(lock);
    if (first.ok() || !opened_before_) return first;
    if (first.error().code != ErrorCode::kUnavailable && first.error().code != ErrorCode::kNotFound) return first;
    idle_.clear();  // the restart closes every session
    open_ = 0;
    HSK_TRY(m_->restart());
    return connect(lock);
  }

  Status connect(std::unique_lock<std::mutex>&) {
    const ModuleCall in_module;
    drop_all();
    if (open_ == 0 && opened_before_) (void)m_->f->C_CloseAllSessions(slot_);
    HSK_ASSIGN_OR_RETURN(slot_, find_slot(m_->f, uri_.token));
    CK_SESSION_HANDLE s = 0;
    CK_RV rv = m_->f->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &s);
    if (rv != CKR_OK) return unavailable("C_OpenSession", rv);
    auto close_on_error = [&](Error e) {
      (void)m_->f->C_CloseSession(s);
      return e;
    };
    HSK_ASSIGN_OR_RETURN(auto pin, Pin::read(uri_));
    rv = m_->f->C_Login(s, CKU_USER, pin.empty() ? nullptr : pin.data(), pin.size());
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE) {
      return close_on_error(make_error(ErrorCode::kPermission, "pkcs11.pin",
                                       "the token '" + uri_.token + "' refused the PIN: " + rv_text(rv)));
    }
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return close_on_error(unavailable("C_Login", rv));
    auto priv = find_objects(m_->f, s, CKO_PRIVATE_KEY, uri_.object);
    if (!priv.ok()) return close_on_error(priv.error());
    auto pub = find_objects(m_->f, s, CKO_PUBLIC_KEY, uri_.object);
    if (!pub.ok()) return close_on_error(pub.error());
    if (priv->size() != 1 || pub->size() != 1) {
      return close_on_error(make_error(ErrorCode::kNotFound, "pkcs11.object",
                                       "the token '" + uri_.token + "' holds " + std::to_string(priv->size()) +
                                           " private and " + std::to_string(pub->size()) +
                                           " public keys labelled '" + uri_.object + "' (one of each is needed)"));
    }
    auto type = attribute(m_->f, s, (*priv)[0], CKA_KEY_TYPE);
    if (!type.ok() || type->size() != sizeof(CK_KEY_TYPE) ||
        *reinterpret_cast<const CK_KEY_TYPE*>(type->data()) != CKK_EC_EDWARDS) {
      return close_on_error(make_error(ErrorCode::kKey, "pkcs11.key", "'" + uri_.object + "' is not an Ed25519 key"));
    }
    auto point = attribute(m_->f, s, (*pub)[0], CKA_EC_POINT);
    if (!point.ok()) return close_on_error(point.error());
    auto pk = ec_point(*point);
    if (!pk.ok()) return close_on_error(pk.error());
    if (opened_before_ && *pk != public_key_) {
      return close_on_error(make_error(ErrorCode::kKey, "pkcs11.key", "the key labelled '" + uri_.object + "' changed"));
    }
    public_key_ = *pk;
    if (auto id = attribute(m_->f, s, (*priv)[0], CKA_ID); id.ok() && !id->empty()) {
      did_ = std::string(id->begin(), id->end());
    }
    key_ = (*priv)[0];
    idle_.push_back(s);
    ++open_;
    broken_ = false;
    opened_before_ = true;
    return {};
  }

  Module* m_;
  Uri uri_;
  std::size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CK_SESSION_HANDLE> idle_;
  std::size_t open_ = 0;
  bool broken_ = false, opened_before_ = false;
  CK_SLOT_ID slot_ = 0;
  CK_OBJECT_HANDLE key_ = 0;
  crypto::PublicKey public_key_{};
  std::optional<std::string> did_;
};

}  // namespace

Result<Uri> Uri::parse(std::string_view text) {
  if (!is_uri(text)) return uri_error("a PKCS#11 URI starts with pkcs11:");
  if (text.size() > 4096) return uri_error("too long");
  Uri u;
  u.text = std::string(text);
  std::string_view rest = text.substr(7);
  std::string_view path = rest, query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    path = rest.substr(0, q);
    query = rest.substr(q + 1);
  }
  std::map<std::string, std::string> seen;
  auto take = [&](std::string_view attrs, char sep) -> Status {
    while (!attrs.empty()) {
      const auto end = attrs.find(sep);
      const std::string_view a = attrs.substr(0, end);
      attrs = end == std::string_view::npos ? std::string_view() : attrs.substr(end + 1);
      if (a.empty()) continue;
      const auto eq = a.find('=');
      if (eq == std::string_view::npos) return uri_error("attribute '" + std::string(a) + "' has no value");
      const std::string name(a.substr(0, eq));
      HSK_ASSIGN_OR_RETURN(auto value, pct_decode(a.substr(eq + 1)));
      if (seen.count(name) != 0) return uri_error("attribute " + name + " is repeated");
      seen[name] = std::move(value);
    }
    return {};
  };
  HSK_TRY(take(path, ';'));
  HSK_TRY(take(query, '&'));
  if (seen.count("pin-value") != 0) {
    return uri_error("pin-value is refused: a PIN does not belong in a URI; use pin-source=file:PATH (owner-only)");
  }
  for (const auto& [k, v] : seen) {
    if (k != "token" && k != "object" && k != "module-path" && k != "pin-source" && k != "type") {
      return uri_error("attribute " + k + " is not supported (token, object, type, module-path, pin-source)");
    }
  }
  if (seen.count("type") != 0 && seen["type"] != "private") return uri_error("type must be private (the signing key)");
  for (const char* required : {"token", "object", "module-path"}) {
    if (seen.count(required) == 0 || seen[required].empty()) return uri_error(std::string(required) + "= is required");
  }
  u.token = seen["token"];
  u.object = seen["object"];
  u.module_path = seen["module-path"];
  if (auto it = seen.find("pin-source"); it != seen.end()) {
    if (it->second.rfind("file:", 0) != 0 || it->second.size() == 5) return uri_error("pin-source must be file:PATH");
    u.pin_file = it->second.substr(5);
  }
  return u;
}

Result<std::shared_ptr<const crypto::Signer>> open_signer(const Uri& uri, KeyInfo* info, std::size_t sessions) {
  HSK_ASSIGN_OR_RETURN(auto* module, module_for(uri.module_path));
  auto signer = std::make_shared<TokenSigner>(module, uri, sessions);
  HSK_TRY(signer->open(info));
  return std::shared_ptr<const crypto::Signer>(std::move(signer));
}

Result<Identity> load_identity(const Uri& uri) {
  KeyInfo info;
  HSK_ASSIGN_OR_RETURN(auto signer, open_signer(uri, &info));
  if (!info.did) {
    return make_error(ErrorCode::kKey, "pkcs11.key",
                      "the key '" + uri.object + "' names no DID (CKA_ID): make it with hsk keygen --pkcs11");
  }
  HSK_ASSIGN_OR_RETURN(auto did, parse_did(*info.did));
  return Identity::from_signer(std::move(did), std::move(signer), 1);
}

Result<Identity> generate_identity(const Uri& uri, PrincipalType type) {
  if (type == PrincipalType::kUser) {
    return make_error(ErrorCode::kInvalidArgument, "pkcs11.kind", "a user DID names a handle, not a key: use agent, svc or org");
  }
  HSK_ASSIGN_OR_RETURN(auto* module, module_for(uri.module_path));
  const ModuleCall in_module;
  CK_FUNCTION_LIST_PTR f = module->f;
  HSK_ASSIGN_OR_RETURN(auto slot, find_slot(f, uri.token));
  CK_SESSION_HANDLE s = 0;
  CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
  if (rv != CKR_OK) return unavailable("C_OpenSession", rv);
  struct Closer {
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE s;
    ~Closer() { (void)f->C_CloseSession(s); }
  } closer{f, s};
  HSK_ASSIGN_OR_RETURN(auto pin, Pin::read(uri));
  rv = f->C_Login(s, CKU_USER, pin.empty() ? nullptr : pin.data(), pin.size());
  if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE) {
    return make_error(ErrorCode::kPermission, "pkcs11.pin", "the token '" + uri.token + "' refused the PIN: " + rv_text(rv));
  }
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return unavailable("C_Login", rv);
  for (CK_OBJECT_CLASS cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
    HSK_ASSIGN_OR_RETURN(auto existing, find_objects(f, s, cls, uri.object));
    if (!existing.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "pkcs11.exists",
                        "the token '" + uri.token + "' already holds a key labelled '" + uri.object + "'");
    }
  }
  // Ed25519 by its OID 1.3.101.112, DER-encoded (RFC 8410).
  CK_BYTE ed25519_oid[] = {0x06, 0x03, 0x2B, 0x65, 0x70};
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_KEY_TYPE kt = CKK_EC_EDWARDS;
  std::string label = uri.object;
  CK_ATTRIBUTE pub_tmpl[] = {{CKA_KEY_TYPE, &kt, sizeof kt},
                             {CKA_EC_PARAMS, ed25519_oid, sizeof ed25519_oid},
                             {CKA_TOKEN, &yes, sizeof yes},
                             {CKA_VERIFY, &yes, sizeof yes},
                             {CKA_ENCRYPT, &no, sizeof no},
                             {CKA_WRAP, &no, sizeof no},
                             {CKA_LABEL, label.data(), static_cast<CK_ULONG>(label.size())}};
  CK_ATTRIBUTE priv_tmpl[] = {{CKA_KEY_TYPE, &kt, sizeof kt},
                              {CKA_TOKEN, &yes, sizeof yes},
                              {CKA_PRIVATE, &yes, sizeof yes},
                              {CKA_SIGN, &yes, sizeof yes},
                              {CKA_SENSITIVE, &yes, sizeof yes},
                              {CKA_EXTRACTABLE, &no, sizeof no},
                              {CKA_DECRYPT, &no, sizeof no},
                              {CKA_UNWRAP, &no, sizeof no},
                              {CKA_DERIVE, &no, sizeof no},
                              {CKA_LABEL, label.data(), static_cast<CK_ULONG>(label.size())}};
  CK_MECHANISM gen{CKM_EC_EDWARDS_KEY_PAIR_GEN, nullptr, 0};
  CK_OBJECT_HANDLE pub = 0, priv = 0;
  rv = f->C_GenerateKeyPair(s, &gen, pub_tmpl, sizeof pub_tmpl / sizeof pub_tmpl[0], priv_tmpl,
                            sizeof priv_tmpl / sizeof priv_tmpl[0], &pub, &priv);
  if (rv != CKR_OK) return make_error(ErrorCode::kKey, "pkcs11.key", "C_GenerateKeyPair (Ed25519): " + rv_text(rv));
  auto destroy = [&](Error e) {
    (void)f->C_DestroyObject(s, priv);
    (void)f->C_DestroyObject(s, pub);
    return e;
  };
  auto point = attribute(f, s, pub, CKA_EC_POINT);
  if (!point.ok()) return destroy(point.error());
  auto pk = ec_point(*point);
  if (!pk.ok()) return destroy(pk.error());
  const std::string did = did_for_key(type, *pk).str();
  CK_ATTRIBUTE id{CKA_ID, const_cast<char*>(did.data()), static_cast<CK_ULONG>(did.size())};
  for (CK_OBJECT_HANDLE o : {priv, pub}) {
    rv = f->C_SetAttributeValue(s, o, &id, 1);
    if (rv != CKR_OK) return destroy(make_error(ErrorCode::kKey, "pkcs11.key", "cannot set CKA_ID: " + rv_text(rv)));
  }
  return load_identity(uri);
}

}  // namespace handshake::pkcs11

namespace handshake {
Result<Identity> load_identity(const std::string& key_file_or_uri) {
  if (pkcs11::is_uri(key_file_or_uri)) {
    HSK_ASSIGN_OR_RETURN(auto uri, pkcs11::Uri::parse(key_file_or_uri));
    return pkcs11::load_identity(uri);
  }
  return load_key_file(key_file_or_uri);
}
}  // namespace handshake
