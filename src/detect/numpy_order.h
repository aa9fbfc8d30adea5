// The two places where numpy's evaluation order shows in the container's
// detector output, reproduced so that equal or nearly equal probabilities
// come out as the container's do:
//   - np.sum over a float32 axis (pairwise summation, 8 accumulators);
//   - np.argsort(kind='quicksort') (numpy's introsort, not stable: the order
//     of equal values is numpy's, not the input order).
// Both follow numpy 1.17-1.24's generic C loops (numpy/core/src/npysort/
// quicksort.cpp aquicksort_, heapsort.cpp aheapsort_, and
// umath/loops_utils.h.src pairwise_sum). numpy >= 1.25 on AVX-512 machines
// dispatches argsort to x86-simd-sort, whose order of ties differs.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>

namespace edgevision::detect {

// np.sum(x) for a contiguous float32 vector, accumulated in float32.
float NumpyPairwiseSum(std::span<const float> x);

// np.argsort(v) (kind='quicksort') for float32 values: `order` (same size as
// `v`) receives the permutation. NaNs sort last, as in numpy.
void NumpyArgsort(std::span<const float> v, std::span<int64_t> order);

}  // namespace edgevision::detect
