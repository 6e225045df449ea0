#include "handshake/identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "handshake/encoding.hpp"
#include "handshake/json.hpp"
#include "handshake/schema.hpp"
#include "secret_files.hpp"

namespace handshake {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

Error options_error(const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, "identity.options", why);
}

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.find('.') == std::string_view::npos) return false;
  if (d.front() == '.' || d.back() == '.' || d.front() == '-') return false;
  if (!std::all_of(d.begin(), d.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
      })) {
    return false;
  }
  // Every label: 1..63 characters, no leading or trailing hyphen (RFC 1123 host names).
  for (std::size_t start = 0; start <= d.size();) {
    const std::size_t dot = std::min(d.find('.', start), d.size());
    const std::string_view label = d.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    start = dot + 1;
  }
  return true;
}

std::string errno_text() { return std::strerror(errno); }

// Writes all of `data` to `fd`.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

Result<Identity> Identity::generate(const IdentityOptions& o) {
  if (o.handle && o.type != PrincipalType::kUser) return options_error("--handle is only for user principals");
  if (o.domain && o.type != PrincipalType::kOrg) return options_error("--domain is only for org principals");
  if (o.type == PrincipalType::kUser && !o.handle) return options_error("a user principal needs a handle");

  std::optional<crypto::SigningKey> key;
  if (o.seed) {
    HSK_ASSIGN_OR_RETURN(auto k, crypto::SigningKey::from_seed(*o.seed));
    key.emplace(std::move(k));
  } else {
    key.emplace(crypto::SigningKey::generate());
  }

  Did did;
  did.type = o.type;
  if (o.type == PrincipalType::kUser) {
    did.id = *o.handle;
  } else if (o.domain) {
    if (!valid_domain(*o.domain)) return options_error("domain must be a lowercase host name such as acme.com");
    did.id = *o.domain;
  } else {
    did.id = key_hash_id(key->public_key());
  }
  if (auto parsed = parse_did(did.str()); !parsed.ok()) return options_error(parsed.error().message);
  return Identity(std::move(did), std::make_shared<const crypto::SigningKey>(std::move(*key)), 1);
}

Result<Identity> Identity::from_key(Did did, crypto::SigningKey key, std::uint64_t key_version) {
  return from_signer(std::move(did), std::make_shared<const crypto::SigningKey>(std::move(key)), key_version);
}

Result<Identity> Identity::from_signer(Did did, std::shared_ptr<const crypto::Signer> signer, std::uint64_t key_version) {
  if (!signer) return options_error("no signer");
  if (key_version == 0) return options_error("key_version starts at 1");
  if (key_version == 1 && did.type != PrincipalType::kUser && is_key_hash_id(did.id) &&
      !did_binds_key(did, signer->public_key())) {
    return make_error(ErrorCode::kKey, "identity.did_mismatch",
                      "the DID's identifier is not the hash of this key (version 1 must be)");
  }
  return Identity(std::move(did), std::move(signer), key_version);
}

Identity Identity::rotated() const {
  return Identity(did_, std::make_shared<const crypto::SigningKey>(crypto::SigningKey::generate()), key_version_ + 1);
}

Status write_secret_file(const std::filesystem::path& path, std::string_view body, bool overwrite) {
  const std::filesystem::path target = path;
  const std::filesystem::path tmp =
      overwrite ? std::filesystem::path(path.string() + ".tmp-" + std::to_string(::getpid())) : path;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return make_error(ErrorCode::kIo, "keyfile.exists", path.string() + " already exists; refusing to replace a key");
    }
    return make_error(ErrorCode::kIo, "keyfile.write", "cannot create " + tmp.string() + ": " + errno_text());
  }
  // The mode argument of open() is filtered by the umask; set it explicitly.
  const bool ok = ::fchmod(fd, 0600) == 0 && write_all(fd, body) && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return make_error(ErrorCode::kIo, "keyfile.write", "cannot write " + tmp.string() + ": " + std::strerror(saved));
  }
  if (overwrite && ::rename(tmp.c_str(), target.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    return make_error(ErrorCode::kIo, "keyfile.write", "cannot replace " + target.string() + ": " + why);
  }
  return {};
}

Status save_key_file(const Identity& identity, const std::filesystem::path& path, bool overwrite) {
  // The one reader of a key's secret (seed_bytes): a key held in hardware has no file.
  const auto* in_process = dynamic_cast<const crypto::SigningKey*>(&identity.key());
  if (in_process == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "keyfile.not_exportable",
                      "this key is held by " + identity.key().where() + ": it has no key file");
  }
  Json doc{{"type", "handshake-key"},
           {"format_version", 1},
           {"did", identity.did_string()},
           {"key_version", identity.key_version()},
           {"alg", "Ed25519"},
           {"public_key", encoding::base64url_encode(identity.public_key())},
           {"seed", encoding::base64url_encode(in_process->seed_bytes())}};
  auto text = json::canonicalize(doc);
  if (!text.ok()) return text.error();
  std::string body = *text + "\n";
  Status written = write_secret_file(path, body, overwrite);
  std::fill(body.begin(), body.end(), '\0');
  return written;
}

Result<std::string> read_secret_file(const std::filesystem::path& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return make_error(ErrorCode::kIo, "keyfile.read", "cannot open " + path.string() + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return make_error(ErrorCode::kIo, "keyfile.read", "cannot stat " + path.string());
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(ErrorCode::kPermission, "keyfile.permissions",
                      path.string() + " has mode " + mode + "; a secret file must not be accessible to group or others (chmod 600)");
  }
  if (!S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return make_error(ErrorCode::kKey, "keyfile.format", path.string() + " is not a regular file of at most " +
                                                             std::to_string(max_bytes) + " bytes");
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  return text;
}

Result<Identity> load_key_file(const std::filesystem::path& path) {
  auto read = read_secret_file(path, kMaxKeyFileBytes);
  if (!read.ok()) {
    if (read.error().reason == "keyfile.format") {
      return make_error(ErrorCode::kKey, "keyfile.format", path.string() + " is not a key file");
    }
    return read.error();
  }
  std::string text = std::move(read).value();

  auto doc = json::parse_strict(text);
  std::fill(text.begin(), text.end(), '\0');
  if (!doc.ok()) return doc.error();
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kKey, "keyfile.format", path.string() + ": " + why);
  };
  const Json& j = *doc;
  // Compare as JSON: j.value("type", "") would throw on a non-string "type".
  if (!j.is_object() || !j.contains("type") || j["type"] != "handshake-key") {
    return bad("\"type\" must be \"handshake-key\"");
  }
  if (!j.contains("format_version") || j["format_version"] != 1) return bad("unsupported format_version");
  for (const auto& [k, v] : j.items()) {
    static constexpr std::string_view kKnown[] = {"type", "format_version", "did", "key_version", "alg", "public_key", "seed"};
    // The name is not quoted: in a key file a misplaced secret may be a member name.
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown)) {
      return bad("unknown member (a key file has exactly type, format_version, did, key_version, alg, public_key, seed)");
    }
  }
  if (!j.contains("alg") || j["alg"] != "Ed25519") return bad("\"alg\" must be \"Ed25519\"");
  if (!j.contains("did") || !j["did"].is_string()) return bad("\"did\" missing");
  auto did = parse_did(j["did"].get<std::string>());
  if (!did.ok()) return bad(did.error().message);
  if (!j.contains("key_version") || !j["key_version"].is_number_integer() || j["key_version"].get<std::int64_t>() < 1) {
    return bad("\"key_version\" must be a positive integer");
  }
  if (!j.contains("seed") || !j["seed"].is_string() || !j.contains("public_key") || !j["public_key"].is_string()) {
    return bad("\"seed\" and \"public_key\" are required");
  }
  auto seed = encoding::base64url_decode(j["seed"].get<std::string>());
  if (!seed.ok() || seed->size() != crypto::kSeedBytes) return bad("\"seed\" must be 32 bytes in base64url");
  auto key = crypto::SigningKey::from_seed(*seed);
  std::fill(seed->begin(), seed->end(), std::uint8_t{0});
  if (!key.ok()) return key.error();
  // The published format as a backstop. Its messages may quote member names (which may be
  // secret here), so they are not passed on.
  if (!schema::validate("key-file.json", j).ok()) return bad("does not match schemas/v0.2.3/key-file.json");
  auto pub = encoding::base64url_decode(j["public_key"].get<std::string>());
  if (!pub.ok() || !crypto::constant_time_equal(*pub, key->public_key())) {
    return make_error(ErrorCode::kKey, "keyfile.mismatch", path.string() + ": public_key is not the key of this seed");
  }
  return Identity::from_key(*did, std::move(key).value(), static_cast<std::uint64_t>(j["key_version"].get<std::int64_t>()));
}

}  // namespace handshake
