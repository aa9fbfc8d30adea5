// PIL-exact resampling and predict.py's "downscale to at most 1600 px" step.
//
// ResizeLikePil reproduces Pillow 9.4's Image.resize(size, BILINEAR|BICUBIC)
// for 8-bit RGB bit for bit (libImaging/Resample.c): separable convolution,
// horizontal pass over only the rows the vertical pass needs, then vertical;
// the filter support is scaled by the downscale factor (antialiasing);
// coefficients are computed in double, normalised to sum 1, rounded to
// 22-bit fixed point (PRECISION_BITS = 32 - 8 - 2) and each pass rounds and
// clips to 8 bits (mode "I" images: see the PlaneI32 overload). Build with
// -ffp-contract=off (our CMakeLists does): a fused multiply-add would change
// coefficient rounding.
//
// Thread-safety: pure functions.
#pragma once

#include "core/status.h"
#include "image/image.h"

namespace edgevision::image {

enum class ResampleFilter { kBilinear, kBicubic };

// Image.resize((width, height), filter). Returns a copy when the size is
// unchanged (as PIL does). Preconditions: `in` non-empty, width and height >= 1.
Image ResizeLikePil(const Image& in, int width, int height, ResampleFilter filter);

// The same into `out`, with `temp` for the horizontal pass; both buffers
// are reused (a worker's Workspace). Neither may be `in`, nor each other.
void ResizeLikePilInto(const Image& in, int width, int height, ResampleFilter filter, Image* out,
                       Image* temp);

// The same for a mode "I" image (PIL's 32bpc path, ImagingResample*_32bpc):
// the same coefficients, kept in double; each pass sums in double and
// rounds half away from zero (ROUND_UP) to int32, with no clipping.
PlaneI32 ResizeLikePil(const PlaneI32& in, int width, int height, ResampleFilter filter);

// Image.resize((width, height), NEAREST), which Pillow forces for palette
// ("P") and bilevel ("1") images: ImagingScaleAffine's source index
// int(x0 + (x + 0.5) * in / out), the coordinate accumulated in double as
// Pillow accumulates it. Preconditions as ResizeLikePil.
Image ResizeNearestLikePil(const Image& in, int width, int height);
void ResizeNearestLikePilInto(const Image& in, int width, int height, Image* out);

// What resize_down_to_1600_max_dim decides for a width x height image:
//   if h < max and w < max: keep;
//   else new size = (max * w // h, max) if h > w else (max, max * h // w),
//   BILINEAR when max(new) / max(old) >= 0.5, else BICUBIC.
// A side of 1600 or more is "resized" even to its own size (a copy).
struct DownscalePlan {
  bool resize = false;
  int width = 0;
  int height = 0;
  ResampleFilter filter = ResampleFilter::kBilinear;
};
DownscalePlan PlanDownscale(int width, int height, int max_dimension = 1600);

// InvalidArgument when `plan` (for a width x height image) resizes to a zero
// side, as below; else OK.
Status CheckDownscalePlan(const DownscalePlan& plan, int width, int height);

// Applies PlanDownscale. InvalidArgument when the new size has a zero side
// (an image at least 1600 wide and fewer than w / 1600 rows high: PIL raises
// "height and width must be > 0" and predict.py returns an error).
Result<Image> DownscaleToMaxDimension(Image image, int max_dimension = 1600);

}  // namespace edgevision::image
