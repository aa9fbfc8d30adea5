#include "image/resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace edgevision::image {
namespace {

// Pillow's libImaging/Resample.c constants and filters, same expressions.
constexpr int kPrecisionBits = 32 - 8 - 2;

double BilinearFilter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Per output position: the first input index and how many inputs contribute,
// with their weights (ksize slots per position, unused ones 0): in double
// (precompute_coeffs, what the 32bpc passes use) and, for the 8bpc passes,
// in fixed point (normalize_coeffs_8bpc).
struct Coefficients {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<double> exact;
  std::vector<int32_t> weights;
};

// precompute_coeffs() + normalize_coeffs_8bpc() for box (0, in_size).
Coefficients Precompute(int in_size, int out_size, ResampleFilter filter) {
  const double filter_support = filter == ResampleFilter::kBilinear ? 1.0 : 2.0;
  double (*fn)(double) = filter == ResampleFilter::kBilinear ? BilinearFilter : BicubicFilter;

  const float in0 = 0.0f;  // PIL passes the box as floats
  const float in1 = static_cast<float>(in_size);
  double scale = static_cast<double>(in1 - in0) / out_size;
  double filterscale = scale;
  if (filterscale < 1.0) filterscale = 1.0;
  const double support = filter_support * filterscale;
  const int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;

  Coefficients c;
  c.ksize = ksize;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * ksize, 0);
  c.exact.assign(static_cast<size_t>(out_size) * ksize, 0.0);
  for (int xx = 0; xx < out_size; ++xx) {
    double* k = &c.exact[static_cast<size_t>(xx) * ksize];
    const double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    int x = 0;
    for (; x < xmax; ++x) {
      const double w = fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    for (; x < ksize; ++x) k[x] = 0;
    c.first[xx] = xmin;
    c.count[xx] = xmax;
    int32_t* fixed = &c.weights[static_cast<size_t>(xx) * ksize];
    for (x = 0; x < ksize; ++x) {
      fixed[x] = k[x] < 0 ? static_cast<int32_t>(-0.5 + k[x] * (1 << kPrecisionBits))
                          : static_cast<int32_t>(0.5 + k[x] * (1 << kPrecisionBits));
    }
  }
  return c;
}

// clip8(): the sum carries kPrecisionBits fraction bits and the rounding half.
inline uint8_t Clip8(int32_t v) {
  v >>= kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Rows [row0, row0 + out.height) of `in`, resampled horizontally into `out`.
void Horizontal(const Image& in, int row0, const Coefficients& c, Image* out) {
  const int w = out->width;
  for (int yy = 0; yy < out->height; ++yy) {
    const uint8_t* src = in.Row(yy + row0);
    uint8_t* dst = out->Row(yy);
    for (int xx = 0; xx < w; ++xx, dst += 3) {
      const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
      const uint8_t* s = src + static_cast<size_t>(c.first[xx]) * 3;
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0, n = c.count[xx]; x < n; ++x, s += 3) {
        s0 += s[0] * k[x];
        s1 += s[1] * k[x];
        s2 += s[2] * k[x];
      }
      dst[0] = Clip8(s0);
      dst[1] = Clip8(s1);
      dst[2] = Clip8(s2);
    }
  }
}

// Vertical pass; `first` indices are relative to `in`'s first row. Sums each
// output row's taps row by row (the same additions, in the same order, per
// sample as Pillow's loop, so the integer result is identical).
void Vertical(const Image& in, const Coefficients& c, int first_offset, Image* out) {
  const size_t n = static_cast<size_t>(out->width) * 3;
  std::vector<int32_t> acc(n);
  for (int yy = 0; yy < out->height; ++yy) {
    const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
    const int ymin = c.first[yy] - first_offset;
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0, count = c.count[yy]; y < count; ++y) {
      const uint8_t* src = in.Row(ymin + y);
      const int32_t ky = k[y];
      for (size_t i = 0; i < n; ++i) acc[i] += src[i] * ky;
    }
    uint8_t* dst = out->Row(yy);
    for (size_t i = 0; i < n; ++i) dst[i] = Clip8(acc[i]);
  }
}

// ROUND_UP() of Resample.c: (int)(f >= 0.0 ? f + 0.5F : f - 0.5F).
inline int32_t RoundUp(double f) { return static_cast<int32_t>(f >= 0.0 ? f + 0.5f : f - 0.5f); }

// ImagingResampleHorizontal_32bpc for INT32: a double sum per sample,
// in tap order, ROUND_UP()ed.
void Horizontal(const PlaneI32& in, int row0, const Coefficients& c, PlaneI32* out) {
  for (int yy = 0; yy < out->height; ++yy) {
    const int32_t* src = in.Row(yy + row0);
    int32_t* dst = out->Row(yy);
    for (int xx = 0; xx < out->width; ++xx) {
      const double* k = &c.exact[static_cast<size_t>(xx) * c.ksize];
      const int32_t* s = src + c.first[xx];
      double ss = 0.0;
      for (int x = 0, n = c.count[xx]; x < n; ++x) ss += s[x] * k[x];
      dst[xx] = RoundUp(ss);
    }
  }
}

// ImagingResampleVertical_32bpc for INT32.
void Vertical(const PlaneI32& in, const Coefficients& c, int first_offset, PlaneI32* out) {
  const size_t n = static_cast<size_t>(out->width);
  std::vector<double> acc(n);
  for (int yy = 0; yy < out->height; ++yy) {
    const double* k = &c.exact[static_cast<size_t>(yy) * c.ksize];
    const int ymin = c.first[yy] - first_offset;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int y = 0, count = c.count[yy]; y < count; ++y) {  // same order per sample
      const int32_t* src = in.Row(ymin + y);
      const double ky = k[y];
      for (size_t i = 0; i < n; ++i) acc[i] += src[i] * ky;
    }
    int32_t* dst = out->Row(yy);
    for (size_t i = 0; i < n; ++i) dst[i] = RoundUp(acc[i]);
  }
}

void CopyInto(const Image& in, Image* out) {
  out->Reshape(in.width, in.height);
  std::memcpy(out->pixels.data(), in.pixels.data(), in.pixels.size());
}

void CopyInto(const PlaneI32& in, PlaneI32* out) {
  out->Reshape(in.width, in.height);
  std::memcpy(out->samples.data(), in.samples.data(), in.samples.size() * sizeof(int32_t));
}

// ImagingResampleInner: horizontal pass over only the rows the vertical
// pass reads, then the vertical pass; either is skipped when its size is
// unchanged, both (a copy) when neither changes.
template <typename Img>
void ResampleInto(const Img& in, int width, int height, ResampleFilter filter, Img* out, Img* temp) {
  if (width == in.width && height == in.height) {
    CopyInto(in, out);
    return;
  }
  const bool need_horizontal = width != in.width;
  const bool need_vertical = height != in.height;

  const Coefficients vert = Precompute(in.height, height, filter);
  const int ybox_first = vert.first[0];
  const int ybox_last = vert.first[height - 1] + vert.count[height - 1];

  const Img* src = &in;
  int first_offset = 0;
  if (need_horizontal) {
    const Coefficients horiz = Precompute(in.width, width, filter);
    Img* h_out = need_vertical ? temp : out;
    h_out->Reshape(width, need_vertical ? ybox_last - ybox_first : height);
    Horizontal(in, ybox_first, horiz, h_out);
    if (!need_vertical) return;
    src = temp;
    first_offset = ybox_first;
  }
  out->Reshape(width, height);
  Vertical(*src, vert, first_offset, out);
}

}  // namespace

Image ResizeLikePil(const Image& in, int width, int height, ResampleFilter filter) {
  if (width == in.width && height == in.height) return in;
  Image out, temp;
  ResizeLikePilInto(in, width, height, filter, &out, &temp);
  return out;
}

void ResizeLikePilInto(const Image& in, int width, int height, ResampleFilter filter, Image* out,
                       Image* temp) {
  ResampleInto(in, width, height, filter, out, temp);
}

PlaneI32 ResizeLikePil(const PlaneI32& in, int width, int height, ResampleFilter filter) {
  PlaneI32 out, temp;
  ResampleInto(in, width, height, filter, &out, &temp);
  return out;
}

namespace {

// ImagingScaleAffine's table for one axis: start at a/2 (a = in / out) and
// add a per step; negative coordinates clamp to the first pixel.
std::vector<int> NearestTable(int in_size, int out_size) {
  const double a = static_cast<double>(in_size) / out_size;
  std::vector<int> table(out_size);
  double v = a * 0.5;
  for (int i = 0; i < out_size; ++i, v += a) {
    const int idx = v < 0.0 ? 0 : static_cast<int>(v);
    table[i] = std::min(idx, in_size - 1);
  }
  return table;
}

}  // namespace

Image ResizeNearestLikePil(const Image& in, int width, int height) {
  if (width == in.width && height == in.height) return in;
  Image out;
  ResizeNearestLikePilInto(in, width, height, &out);
  return out;
}

void ResizeNearestLikePilInto(const Image& in, int width, int height, Image* out) {
  const std::vector<int> xs = NearestTable(in.width, width);
  const std::vector<int> ys = NearestTable(in.height, height);
  out->Reshape(width, height);
  for (int y = 0; y < height; ++y) {
    const uint8_t* src = in.Row(ys[y]);
    uint8_t* dst = out->Row(y);
    for (int x = 0; x < width; ++x, dst += 3) std::memcpy(dst, src + 3 * xs[x], 3);
  }
}

DownscalePlan PlanDownscale(int width, int height, int max_dimension) {
  DownscalePlan plan;
  plan.width = width;
  plan.height = height;
  if (height < max_dimension && width < max_dimension) return plan;
  const int64_t m = max_dimension;
  if (height > width) {
    plan.width = static_cast<int>(m * width / height);
    plan.height = max_dimension;
  } else {
    plan.width = max_dimension;
    plan.height = static_cast<int>(m * height / width);
  }
  plan.resize = true;
  // max(new) / max(old) >= 0.5, with max(new) == max_dimension.
  const int64_t old_max = std::max(width, height);
  plan.filter = 2 * m >= old_max ? ResampleFilter::kBilinear : ResampleFilter::kBicubic;
  return plan;
}

Status CheckDownscalePlan(const DownscalePlan& plan, int width, int height) {
  if (!plan.resize || (plan.width > 0 && plan.height > 0)) return Status::Ok();
  return InvalidArgument("image " + std::to_string(width) + "x" + std::to_string(height) +
                         " cannot be downscaled to " + std::to_string(plan.width) + "x" +
                         std::to_string(plan.height) +
                         " (the reference fails: height and width must be > 0)");
}

Result<Image> DownscaleToMaxDimension(Image image, int max_dimension) {
  const DownscalePlan plan = PlanDownscale(image.width, image.height, max_dimension);
  if (!plan.resize) return image;
  EV_RETURN_IF_ERROR(CheckDownscalePlan(plan, image.width, image.height));
  if (plan.width == image.width && plan.height == image.height) return image;
  return ResizeLikePil(image, plan.width, plan.height, plan.filter);
}

}  // namespace edgevision::image
