// Capabilities and the constraint algebra (§10).
//
// Names: dotted lowercase segments ([a-z][a-z0-9_-]* joined by '.'), optionally followed by
// ":<resource>" (printable ASCII, no spaces). "handshake.*" and "x.*" are reserved (§10) and
// refused unless NameOptions::allow_reserved. A granted name covers a requested one when they
// are equal, or when their bases are equal and the granted resource is a glob (resource_path
// syntax) matching the requested resource: "files.write:/projects/*" covers
// "files.write:/projects/a.txt". A requested resource that itself contains glob metacharacters
// names a set of resources and is covered only when the granted glob provably accepts every one
// of them ("/projects/*" covers "/projects/*.txt" but not "/projects/**"); the check is sound but
// conservative.
//
// Constraint types (the service's capability schema, §10 Discovery, says which name has which
// type; tokens carry plain values as in the spec's examples):
//   numeric_max     number                         chain: the lowest;  request value <= it
//   numeric_min     number                         chain: the highest; request value >= it
//   enum            array of JSON values           chain: intersection; request value (or every
//                                                  element of an array value) in it
//   time_window     [start, end] RFC 3339 (or      chain: the overlap; a request value (time or
//                   YYYY-MM-DD: start of day /     [start, end]) lies inside; with no request
//                   end of day UTC), inclusive     value, "now" must lie inside
//   string_pattern  RE2 pattern (anchored: the     chain: conjunction (a value must match every
//                   whole value must match)        pattern); request value a string
//   resource_path   Unix glob ('*' and '?' within  chain: conjunction; request value a path
//                   a segment, '**' across '/',    matching every glob
//                   '[...]' classes)
//   rate_limit      {"count": N, "per_seconds": S} chain: all limits hold (same window: the
//                                                  lowest count); enforced by the service
//   exact           any JSON value (the type of    chain: must stay equal; request value equal
//                   every name the schema does
//                   not type, except max_* ->
//                   numeric_max, min_* -> numeric_min)
//
// A child link that tries to widen its parent (a higher numeric_max, a lower numeric_min, an
// enum value its parent lacks, a window reaching outside its parent's, a higher count for the
// same rate window, a different exact value) is a violation, never silently narrowed; the chain
// validator refuses it with scope_exceeded. Patterns and globs cannot widen: they accumulate.
// A child that omits a constraint inherits its parent's.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::capability {

struct NameOptions {
  bool allow_reserved = false;  // handshake.* and x.* (tests and experiments only)
};

// Errors: kInvalidArgument "capability.name" (grammar), "capability.reserved".
[[nodiscard]] Status validate_name(std::string_view name, const NameOptions& options = {});

// The part before ':' ("files.write" of "files.write:/projects/*").
[[nodiscard]] std::string_view base_name(std::string_view name) noexcept;

// See the header comment.
[[nodiscard]] bool name_covers(std::string_view granted, std::string_view requested);

// Unix glob match of a whole path: '*' and '?' never match '/', '**' matches anything including
// '/', "[abc]" / "[a-z]" / "[!a]" classes, '\' escapes the next character. Linear-space dynamic
// programming: no exponential backtracking on hostile patterns. Patterns longer than 1024 or
// paths longer than 4096 bytes never match.
[[nodiscard]] bool glob_match(std::string_view pattern, std::string_view path);

enum class ConstraintType {
  kNumericMax,
  kNumericMin,
  kStringPattern,
  kEnum,
  kTimeWindow,
  kRateLimit,
  kResourcePath,
  kExact,
};

[[nodiscard]] std::string_view to_string(ConstraintType t) noexcept;  // "numeric_max", ...
// Errors: kInvalidArgument "capability.constraint_type".
[[nodiscard]] Result<ConstraintType> parse_constraint_type(std::string_view text);

struct CapabilitySchema {
  std::string name;  // base name or a full name with a resource glob
  std::string description;
  std::map<std::string, ConstraintType> constraints;
};

// The §10 discovery document, served at /.well-known/handshake/capabilities.json:
//   {"capabilities": [{"name": "billing.invoices.read", "description": "...",
//                      "constraints": {"max_invoices": {"type": "numeric_max",
//                                                       "description": "..."}}}]}
class CapabilitySchemaSet {
 public:
  // Errors: kSchema "capability.schema" with the offending path; names checked by validate_name.
  [[nodiscard]] static Result<CapabilitySchemaSet> from_json(const Json& document,
                                                             const NameOptions& options = {});
  [[nodiscard]] Json to_json() const;

  void add(CapabilitySchema schema);
  // The schema whose name covers `capability_name` (exact names first), or nullptr.
  [[nodiscard]] const CapabilitySchema* find(std::string_view capability_name) const;
  // The type the schema gives `constraint` of `capability_name`; untyped names are inferred as
  // described in the header comment.
  [[nodiscard]] ConstraintType type_of(std::string_view capability_name, std::string_view constraint) const;
  [[nodiscard]] bool empty() const noexcept { return schemas_.empty(); }

 private:
  std::vector<CapabilitySchema> schemas_;
};

struct RateLimit {
  std::string constraint;  // the constraint's name
  std::int64_t count = 0;
  std::int64_t per_seconds = 0;
};

// What went wrong when a chain or a request does not fit.
struct Violation {
  enum class Kind {
    kMalformed,  // a constraint value is not of its type's shape
    kWidened,    // a child link tried to widen its parent
    kExceeded,   // a request value falls outside the effective scope
  };
  Kind kind = Kind::kExceeded;
  std::string constraint;  // the constraint's name
  std::string detail;      // human-readable, names the constraint and both values
};

// The effective constraints of one capability down a chain (the intersection of every link).
class ConstraintSet {
 public:
  // The root link's constraints. Violation kMalformed for a value not of its type's shape.
  [[nodiscard]] static std::variant<ConstraintSet, Violation> from_link(const Json& constraints,
                                                                        std::string_view capability_name,
                                                                        const CapabilitySchemaSet& schemas);
  // Intersects with the next link's constraints. kWidened when the child widens, kMalformed
  // for a malformed value; on a violation *this is unchanged.
  [[nodiscard]] std::optional<Violation> narrow(const Json& child_constraints);
  // Checks the request's declared values (see the header comment) at time `now`. kExceeded or
  // kMalformed; a constraint the chain does not have is not a violation (the chain grants it
  // unbounded), except for a malformed value of a typed name. `request_constraints` must be an
  // object (null counts as {}; anything else is kMalformed).
  [[nodiscard]] std::optional<Violation> check_request(const Json& request_constraints, Timestamp now) const;
  // The effective scope after also applying the request's own limits (a request for
  // max_invoices 50 under a grant of 100 yields 50). Precondition: check_request passed.
  [[nodiscard]] ConstraintSet narrowed_by_request(const Json& request_constraints) const;
  // Plain JSON values in the tokens' shapes: numbers, arrays, [start, end], a pattern string (or
  // an array of them when several accumulated), {"count","per_seconds"} (or an array).
  [[nodiscard]] Json to_json() const;
  [[nodiscard]] std::vector<RateLimit> rate_limits() const;

  // The exact internal state (to_json() loses it: a single accumulated pattern and a plain
  // pattern look alike, and untyped names would be re-inferred), for carrying a set across
  // processes (session tickets, session_ticket.hpp):
  //   {"capability": "files.write:/projects/*",
  //    "schema": {"<name>": "<type>", ...},         the capability schema's types (copied at
  //                                                 from_link; they type request values the
  //                                                 chain does not bound)
  //    "constraints": {"<name>": ["<type>", <value>], ...}}
  // <value> is the normalized accumulated value: numeric_max/min a number; enum a non-empty
  // array; time_window [start, end]; string_pattern/resource_path and rate_limit always an array
  // (of strings; of {"count", "per_seconds"} with distinct windows).
  [[nodiscard]] Json to_state_json() const;
  // The inverse: from_state_json(s.to_state_json()) behaves exactly as s (and gives the same
  // to_json() and to_state_json()). Strict: exactly those members; the capability name by the
  // grammar of validate_name (reserved names allowed); known type names; every value already in
  // its type's normalized form (patterns compile, windows parse, no duplicates). Errors:
  // kSchema "capability.state" naming the offending member; never throws.
  [[nodiscard]] static Result<ConstraintSet> from_state_json(const Json& state);

  ConstraintSet() = default;

 private:
  // The type of `constraint` for this capability: the schema's (copied at from_link, so the set
  // never points into a CapabilitySchemaSet that may not outlive it), else inferred.
  [[nodiscard]] ConstraintType type_for(std::string_view constraint) const;

  std::string capability_;
  std::map<std::string, ConstraintType, std::less<>> schema_types_;  // the matching schema's types
  // Constraint name -> accumulated value in a normalized shape (see capability.cpp):
  //   numeric_max/min: the original JSON number;  enum: array;  time_window: [start, end] strings;
  //   string_pattern/resource_path: array of strings;  rate_limit: array of {"count","per_seconds"};
  //   exact: the value.
  std::map<std::string, Json> state_;
  std::map<std::string, ConstraintType> types_;
};

}  // namespace handshake::capability
