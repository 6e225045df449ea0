// RFC 9162 inclusion and consistency proof verifiers (merkle.hpp) against a fixed tree.
//
// The input (layout in fuzz_support.hpp) claims a proof for the tree of a given size, whose root
// is the real one. Properties: an accepted inclusion proof is the genuine proof of the genuine
// leaf at that index, and an accepted consistency proof is the genuine proof between the two
// sizes; anything else accepted would be a forgery. The genuine proofs themselves verify.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hsk_fuzz;
  namespace mk = hs::merkle;
  const auto in = decode_merkle_input(data, size);
  if (!in) return 0;
  const FixedTree& t = fixed_tree();
  auto in_tree = [&](std::uint64_t s) { return s >= 1 && s <= kTreeSize; };
  const auto root_for = [&](std::uint64_t s) { return in_tree(s) ? t.roots[s] : t.roots[kTreeSize]; };

  if (!in->consistency) {
    const std::uint64_t index = in->a, tree_size = in->b;
    (void)mk::root_from_inclusion_proof(index, tree_size, in->leaf, in->proof);
    const auto verdict = mk::verify_inclusion(index, tree_size, in->leaf, in->proof, root_for(tree_size));
    if (in_tree(tree_size) && index < tree_size) {
      const auto genuine = must(mk::inclusion_proof(index, tree_size, t.tree));
      if (!mk::verify_inclusion(index, tree_size, t.leaves[index], genuine, t.roots[tree_size]).ok()) {
        violated("a genuine inclusion proof does not verify");
      }
      if (verdict.ok() && (in->leaf != t.leaves[index] || in->proof != genuine)) {
        violated("a forged inclusion proof verified");
      }
    } else if (in_tree(tree_size) && verdict.ok()) {
      violated("an inclusion proof for an index outside the tree verified");
    }
  } else {
    const std::uint64_t size1 = in->a, size2 = in->b;
    const auto verdict = mk::verify_consistency(size1, size2, in->proof, root_for(size1), root_for(size2));
    if (in_tree(size1) && in_tree(size2) && size1 <= size2) {
      const auto genuine = must(mk::consistency_proof(size1, size2, t.tree));
      if (!mk::verify_consistency(size1, size2, genuine, t.roots[size1], t.roots[size2]).ok()) {
        violated("a genuine consistency proof does not verify");
      }
      if (verdict.ok() && in->proof != genuine) violated("a forged consistency proof verified");
    } else if (in_tree(size1) && in_tree(size2) && verdict.ok()) {
      violated("a consistency proof from a larger to a smaller tree verified");
    } else if (size1 == 0 && verdict.ok()) {
      violated("a consistency proof from the empty tree verified");
    }
  }
  return 0;
}
