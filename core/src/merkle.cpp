#include "handshake/merkle.hpp"

#include <bit>

#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"

namespace handshake::merkle {
namespace {

Error range_error(const std::string& why) { return make_error(ErrorCode::kInvalidArgument, "merkle.range", why); }
Error proof_error(const std::string& why) { return make_error(ErrorCode::kInvalidArgument, "merkle.proof", why); }

// Largest power of two strictly below n (n >= 2).
std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

// MTH of leaves [begin, end): perfect aligned pieces are read, the rest is split as RFC 9162 does.
Result<Hash> range_hash(std::uint64_t begin, std::uint64_t end, const NodeReader& nodes) {
  const std::uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    return nodes.node(static_cast<unsigned>(std::countr_zero(n)), begin / n);
  }
  const std::uint64_t k = split_point(n);
  HSK_ASSIGN_OR_RETURN(auto left, range_hash(begin, begin + k, nodes));
  HSK_ASSIGN_OR_RETURN(auto right, range_hash(begin + k, end, nodes));
  return node_hash(left, right);
}

// PATH(m, D[begin:end]) of RFC 9162 §2.1.3.1, leaf to root.
Status path(std::uint64_t m, std::uint64_t begin, std::uint64_t end, const NodeReader& nodes, std::vector<Hash>& out) {
  const std::uint64_t n = end - begin;
  if (n <= 1) return {};
  const std::uint64_t k = split_point(n);
  if (m < k) {
    HSK_TRY(path(m, begin, begin + k, nodes, out));
    HSK_ASSIGN_OR_RETURN(auto h, range_hash(begin + k, end, nodes));
    out.push_back(h);
  } else {
    HSK_TRY(path(m - k, begin + k, end, nodes, out));
    HSK_ASSIGN_OR_RETURN(auto h, range_hash(begin, begin + k, nodes));
    out.push_back(h);
  }
  return {};
}

// SUBPROOF(m, D[begin:end], b) of RFC 9162 §2.1.4.1.
Status subproof(std::uint64_t m, std::uint64_t begin, std::uint64_t end, bool b, const NodeReader& nodes,
                std::vector<Hash>& out) {
  const std::uint64_t n = end - begin;
  if (m == n) {
    if (!b) {
      HSK_ASSIGN_OR_RETURN(auto h, range_hash(begin, end, nodes));
      out.push_back(h);
    }
    return {};
  }
  const std::uint64_t k = split_point(n);
  if (m <= k) {
    HSK_TRY(subproof(m, begin, begin + k, b, nodes, out));
    HSK_ASSIGN_OR_RETURN(auto h, range_hash(begin + k, end, nodes));
    out.push_back(h);
  } else {
    HSK_TRY(subproof(m - k, begin + k, end, false, nodes, out));
    HSK_ASSIGN_OR_RETURN(auto h, range_hash(begin, begin + k, nodes));
    out.push_back(h);
  }
  return {};
}

Hash sha256_prefixed(std::uint8_t prefix, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  std::vector<std::uint8_t> buf;
  buf.reserve(1 + a.size() + b.size());
  buf.push_back(prefix);
  buf.insert(buf.end(), a.begin(), a.end());
  buf.insert(buf.end(), b.begin(), b.end());
  return crypto::sha256(buf);
}

}  // namespace

Hash leaf_hash(std::span<const std::uint8_t> data) { return sha256_prefixed(0x00, data, {}); }
Hash node_hash(const Hash& left, const Hash& right) { return sha256_prefixed(0x01, left, right); }
Hash empty_root() { return crypto::sha256({}); }

Result<Hash> root(std::uint64_t size, const NodeReader& nodes) {
  if (size == 0) return empty_root();
  return range_hash(0, size, nodes);
}

Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size, const NodeReader& nodes) {
  if (index >= size) return range_error("leaf index " + std::to_string(index) + " is not below the tree size " + std::to_string(size));
  std::vector<Hash> out;
  HSK_TRY(path(index, 0, size, nodes, out));
  return out;
}

Result<std::vector<Hash>> consistency_proof(std::uint64_t size1, std::uint64_t size2, const NodeReader& nodes) {
  if (size1 == 0 || size1 > size2) return range_error("a consistency proof needs 0 < size1 <= size2");
  std::vector<Hash> out;
  if (size1 == size2) return out;
  HSK_TRY(subproof(size1, 0, size2, true, nodes, out));
  return out;
}

Result<Hash> root_from_inclusion_proof(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                                       std::span<const Hash> proof) {
  if (index >= size) return range_error("leaf index not below the tree size");
  if (proof.size() > kMaxProofLength) return proof_error("proof longer than any tree allows");
  std::uint64_t fn = index, sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return proof_error("inclusion proof longer than the tree is deep");
    if ((fn & 1) != 0 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) fn >>= 1, sn >>= 1;
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1, sn >>= 1;
  }
  if (sn != 0) return proof_error("inclusion proof shorter than the tree is deep");
  return r;
}

Status verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf, std::span<const Hash> proof,
                        const Hash& expected) {
  HSK_ASSIGN_OR_RETURN(auto r, root_from_inclusion_proof(index, size, leaf, proof));
  if (!crypto::constant_time_equal(r, expected)) {
    return make_error(ErrorCode::kSignature, "merkle.mismatch", "the proof does not lead to this root");
  }
  return {};
}

Status verify_consistency(std::uint64_t size1, std::uint64_t size2, std::span<const Hash> proof, const Hash& root1,
                          const Hash& root2) {
  if (size1 == 0 || size1 > size2) return range_error("a consistency proof needs 0 < size1 <= size2");
  if (proof.size() > kMaxProofLength) return proof_error("proof longer than any tree allows");
  if (size1 == size2) {
    if (!proof.empty()) return proof_error("equal sizes take an empty proof");
    if (!crypto::constant_time_equal(root1, root2)) {
      return make_error(ErrorCode::kSignature, "merkle.mismatch", "equal sizes with different roots");
    }
    return {};
  }
  if (proof.empty()) return proof_error("empty consistency proof");
  std::vector<Hash> path(proof.begin(), proof.end());
  if (std::has_single_bit(size1)) path.insert(path.begin(), root1);
  std::uint64_t fn = size1 - 1, sn = size2 - 1;
  while ((fn & 1) != 0) fn >>= 1, sn >>= 1;
  Hash fr = path[0], sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return proof_error("consistency proof longer than the tree is deep");
    if ((fn & 1) != 0 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) fn >>= 1, sn >>= 1;
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1, sn >>= 1;
  }
  if (sn != 0) return proof_error("consistency proof shorter than the tree is deep");
  if (!crypto::constant_time_equal(fr, root1) || !crypto::constant_time_equal(sr, root2)) {
    return make_error(ErrorCode::kSignature, "merkle.mismatch", "the proof does not connect these roots");
  }
  return {};
}

void MemoryTree::append(const Hash& leaf) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf);
  // Complete every perfect subtree that this leaf closes.
  std::uint64_t index = levels_[0].size() - 1;
  for (unsigned level = 0; (index & 1) == 1; ++level, index >>= 1) {
    if (levels_.size() <= level + 1) levels_.emplace_back();
    const auto& row = levels_[level];
    levels_[level + 1].push_back(node_hash(row[row.size() - 2], row[row.size() - 1]));
  }
}

Result<Hash> MemoryTree::node(unsigned level, std::uint64_t index) const {
  if (level >= levels_.size() || index >= levels_[level].size()) {
    return make_error(ErrorCode::kNotFound, "merkle.node", "no subtree at level " + std::to_string(level) +
                                                               " index " + std::to_string(index));
  }
  return levels_[level][index];
}

}  // namespace handshake::merkle
