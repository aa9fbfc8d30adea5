#include "detect/numpy_order.h"

#include <bit>
#include <cstddef>
#include <utility>

namespace edgevision::detect {

namespace {

// numpy's npy::float_tag::less: NaNs are larger than every number.
bool Less(float a, float b) { return a < b || (b != b && a == a); }

constexpr std::ptrdiff_t kSmallQuicksort = 15;  // SMALL_QUICKSORT
constexpr int kStackSize = 128;                 // PYA_QS_STACK (NPY_BITSOF_INTP * 2)

// Moves `tmp` down the 1-based heap `a[1..n]` from position i (aheapsort_'s inner loop).
void SiftDown(const float* v, int64_t* a, int64_t tmp, std::ptrdiff_t i, std::ptrdiff_t n) {
  for (std::ptrdiff_t j = i << 1; j <= n;) {
    if (j < n && Less(v[a[j]], v[a[j + 1]])) j += 1;
    if (Less(v[tmp], v[a[j]])) {
      a[i] = a[j];
      i = j;
      j += j;
    } else {
      break;
    }
  }
  a[i] = tmp;
}

// aheapsort_ on [first, first + n).
void HeapArgsort(const float* v, int64_t* first, std::ptrdiff_t n) {
  int64_t* a = first - 1;  // 1-based heap indexing, as numpy
  for (std::ptrdiff_t l = n >> 1; l > 0; --l) SiftDown(v, a, a[l], l, n);
  for (; n > 1;) {
    const int64_t tmp = a[n];
    a[n] = a[1];
    n -= 1;
    SiftDown(v, a, tmp, 1, n);
  }
}

float PairwiseSum(const float* a, std::ptrdiff_t n) {
  if (n < 8) {
    float res = 0.0f;  // numpy starts from 0. (so -0.0 sums to +0.0, as here)
    for (std::ptrdiff_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {  // PW_BLOCKSIZE
    float r[8];
    for (int k = 0; k < 8; ++k) r[k] = a[k];
    std::ptrdiff_t i;
    for (i = 8; i < n - (n % 8); i += 8) {
      for (int k = 0; k < 8; ++k) r[k] += a[i + k];
    }
    float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  std::ptrdiff_t n2 = n / 2;
  n2 -= n2 % 8;
  return PairwiseSum(a, n2) + PairwiseSum(a + n2, n - n2);
}

}  // namespace

float NumpyPairwiseSum(std::span<const float> x) {
  return PairwiseSum(x.data(), static_cast<std::ptrdiff_t>(x.size()));
}

void NumpyArgsort(std::span<const float> values, std::span<int64_t> order) {
  const std::ptrdiff_t num = static_cast<std::ptrdiff_t>(values.size());
  for (std::ptrdiff_t k = 0; k < num; ++k) order[k] = k;
  if (num < 2) return;
  const float* v = values.data();
  int64_t* pl = order.data();
  int64_t* pr = pl + num - 1;
  int64_t* stack[kStackSize];
  int64_t** sptr = stack;
  int depth[kStackSize];
  int* psdepth = depth;
  int cdepth = (std::bit_width(static_cast<uint64_t>(num)) - 1) * 2;  // npy_get_msb(num) * 2
  int64_t *pm, *pi, *pj, *pk;
  int64_t vi;
  float vp;

  for (;;) {
    if (cdepth < 0) {
      HeapArgsort(v, pl, pr - pl + 1);
      goto stack_pop;
    }
    while ((pr - pl) > kSmallQuicksort) {
      pm = pl + ((pr - pl) >> 1);
      if (Less(v[*pm], v[*pl])) std::swap(*pm, *pl);
      if (Less(v[*pr], v[*pm])) std::swap(*pr, *pm);
      if (Less(v[*pm], v[*pl])) std::swap(*pm, *pl);
      vp = v[*pm];
      pi = pl;
      pj = pr - 1;
      std::swap(*pm, *pj);
      for (;;) {
        do {
          ++pi;
        } while (Less(v[*pi], vp));
        do {
          --pj;
        } while (Less(vp, v[*pj]));
        if (pi >= pj) break;
        std::swap(*pi, *pj);
      }
      pk = pr - 1;
      std::swap(*pi, *pk);
      // Push the larger partition on the stack.
      if (pi - pl < pr - pi) {
        *sptr++ = pi + 1;
        *sptr++ = pr;
        pr = pi - 1;
      } else {
        *sptr++ = pl;
        *sptr++ = pi - 1;
        pl = pi + 1;
      }
      *psdepth++ = --cdepth;
    }
    // Insertion sort.
    for (pi = pl + 1; pi <= pr; ++pi) {
      vi = *pi;
      vp = v[vi];
      pj = pi;
      pk = pi - 1;
      while (pj > pl && Less(vp, v[*pk])) *pj-- = *pk--;
      *pj = vi;
    }
  stack_pop:
    if (sptr == stack) break;
    pr = *(--sptr);
    pl = *(--sptr);
    cdepth = *(--psdepth);
  }
}

}  // namespace edgevision::detect
