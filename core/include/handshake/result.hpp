// Result and error types used across the public API.
//
// Every fallible function returns Result<T> (or Status for Result<void>). Errors carry a closed
// category (ErrorCode), a stable reason token ("json.duplicate_key", "sig.invalid", ...) that
// callers and tests may match on, and a human message. No exceptions cross the public API.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace handshake {

enum class ErrorCode {
  kInvalidArgument,     // caller passed something malformed (bad encoding, bad DID, ...)
  kParse,               // JSON text rejected by the strict parser
  kSchema,              // JSON does not satisfy the message schema
  kUnsupportedVersion,  // protocol version or field set this implementation does not speak
  kSignature,           // a signature did not verify
  kKey,                 // key material missing, malformed or not usable for the operation
  kNotFound,            // a referenced item (DID, key version, file) does not exist
  kPermission,          // filesystem permissions refused (e.g. a key file readable by others)
  kIo,                  // filesystem or OS failure
  kUnavailable,         // a dependency (resolver, store) could not answer
  kInternal,            // a library we call failed unexpectedly
};

[[nodiscard]] constexpr std::string_view to_string(ErrorCode c) noexcept {
  switch (c) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kParse: return "parse";
    case ErrorCode::kSchema: return "schema";
    case ErrorCode::kUnsupportedVersion: return "unsupported_version";
    case ErrorCode::kSignature: return "signature";
    case ErrorCode::kKey: return "key";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kPermission: return "permission";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string reason;   // stable token, e.g. "json.duplicate_key"
  std::string message;  // for humans; never contains secret material

  // "reason: message" — the one-line form the CLI prints.
  [[nodiscard]] std::string to_string() const {
    return message.empty() ? reason : reason + ": " + message;
  }
};

[[nodiscard]] inline Error make_error(ErrorCode code, std::string reason, std::string message = {}) {
  return Error{code, std::move(reason), std::move(message)};
}

// A value or an Error. Access to the value of an errored Result aborts (a programming error),
// so check ok() first, or use value_or().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  [[nodiscard]] T& value() & { check(); return std::get<0>(v_); }
  [[nodiscard]] const T& value() const& { check(); return std::get<0>(v_); }
  [[nodiscard]] T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  [[nodiscard]] const Error& error() const {
    if (ok()) std::abort();
    return std::get<1>(v_);
  }
  template <typename U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void check() const {
    if (!ok()) std::abort();
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), has_error_(true) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool ok() const noexcept { return !has_error_; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] const Error& error() const {
    if (ok()) std::abort();
    return err_;
  }

 private:
  Error err_;
  bool has_error_ = false;
};

using Status = Result<void>;

[[nodiscard]] inline Status ok_status() { return Status{}; }

}  // namespace handshake

// Propagate an error from an expression yielding Result<...>/Status.
#define HSK_TRY(expr)                                  \
  do {                                                 \
    auto&& hsk_try_r_ = (expr);                        \
    if (!hsk_try_r_.ok()) return hsk_try_r_.error();   \
  } while (0)

#define HSK_CONCAT_INNER_(a, b) a##b
#define HSK_CONCAT_(a, b) HSK_CONCAT_INNER_(a, b)
// Declare `lhs` from the value of a Result, or return its error.
#define HSK_ASSIGN_OR_RETURN(lhs, expr) \
  HSK_ASSIGN_OR_RETURN_IMPL_(HSK_CONCAT_(hsk_r_, __LINE__), lhs, expr)
#define HSK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.error();               \
  lhs = std::move(tmp).value()
