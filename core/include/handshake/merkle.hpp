// RFC 9162 §2.1 Merkle trees: hashing, proofs from stored subtree hashes, offline verification.
//
// The registry (§12 anchoring) appends receipt commitments as leaves. Proofs are built from a
// NodeReader that returns the hash of a perfect, aligned subtree (level L, index i: leaves
// [i·2^L, (i+1)·2^L)), so each proof costs O(log n) reads and never recomputes the tree.
// Verification is pure: compute the root the proof implies, then compare.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "handshake/result.hpp"

namespace handshake::merkle {

using Hash = std::array<std::uint8_t, 32>;

inline constexpr std::size_t kMaxProofLength = 64;

// SHA-256(0x00 || data).
[[nodiscard]] Hash leaf_hash(std::span<const std::uint8_t> data);
// SHA-256(0x01 || left || right).
[[nodiscard]] Hash node_hash(const Hash& left, const Hash& right);
// SHA-256 of the empty string: the root of the empty tree.
[[nodiscard]] Hash empty_root();

// The hashes a tree stores: perfect subtrees addressed by (level, index).
class NodeReader {
 public:
  virtual ~NodeReader() = default;
  // Errors are passed through to the caller (kNotFound, kUnavailable for a failing store).
  [[nodiscard]] virtual Result<Hash> node(unsigned level, std::uint64_t index) const = 0;
};

// Root of the first `size` leaves. Errors: those of the reader.
[[nodiscard]] Result<Hash> root(std::uint64_t size, const NodeReader& nodes);
// RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size` leaves.
// Errors: kInvalidArgument "merkle.range" when index >= size; those of the reader.
[[nodiscard]] Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size,
                                                       const NodeReader& nodes);
// RFC 9162 §2.1.4.1 consistency proof between sizes size1 <= size2. Equal sizes give an empty
// proof. Errors: kInvalidArgument "merkle.range" when size1 is 0 or greater than size2.
[[nodiscard]] Result<std::vector<Hash>> consistency_proof(std::uint64_t size1, std::uint64_t size2,
                                                         const NodeReader& nodes);

// Root implied by `proof` for leaf `index` of a tree of `size` leaves (RFC 9162 §2.1.3.2).
// Errors: kInvalidArgument "merkle.range" when index >= size, "merkle.proof" when the proof has
// the wrong length.
[[nodiscard]] Result<Hash> root_from_inclusion_proof(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                                                     std::span<const Hash> proof);
// Errors: those of root_from_inclusion_proof, kSignature "merkle.mismatch" when the implied root
// differs from `root`.
[[nodiscard]] Status verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                                      std::span<const Hash> proof, const Hash& root);
// Checks that tree `size2` extends tree `size1` (RFC 9162 §2.1.4.2). A proof from size 0 is
// rejected; equal sizes need an empty proof and equal roots. Errors: kInvalidArgument
// "merkle.range", "merkle.proof"; kSignature "merkle.mismatch".
[[nodiscard]] Status verify_consistency(std::uint64_t size1, std::uint64_t size2, std::span<const Hash> proof,
                                        const Hash& root1, const Hash& root2);

// An in-memory tree that stores every perfect subtree hash as leaves arrive (2n hashes for n
// leaves). The building block for tests and for the registry's write path.
class MemoryTree final : public NodeReader {
 public:
  void append(const Hash& leaf);
  [[nodiscard]] std::uint64_t size() const noexcept { return levels_.empty() ? 0 : levels_[0].size(); }
  [[nodiscard]] Result<Hash> node(unsigned level, std::uint64_t index) const override;

 private:
  std::vector<std::vector<Hash>> levels_;  // levels_[L][i]: perfect subtree hashes
};

}  // namespace handshake::merkle
