#include "image/preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "image/orientation.h"
#include "image/resize.h"
#include "image/workspace.h"

namespace edgevision::image {
namespace {

// One output column (or row) of extract_and_resize: the two source indices
// and the weight of the second, after predict.py's clamping.
struct Tap {
  int i0 = 0;
  int i1 = 0;
  double delta = 0.0;      // xDelta / yDelta
  double one_minus = 1.0;  // 1. - delta
};

// extract_bilinear_pixel's per-axis part, literally:
//   d = (i + 0.5) * ratio - 0.5; i0 = int(d); d -= i0; i0 += origin
//   i0 < 0            -> i0 = i1 = 0, d = 0
//   i0 >= size - 1    -> i0 = i1 = size - 1, d = 0
//   else              -> i1 = i0 + 1
// int() truncates toward zero, so a small image's first sample keeps a
// negative d and extrapolates.
Tap MakeTap(int i, double ratio, int origin, int size) {
  Tap t;
  double d = (i + 0.5) * ratio - 0.5;
  int i0 = static_cast<int>(d);
  d -= i0;
  i0 += origin;
  if (i0 < 0) {
    t.i0 = t.i1 = 0;
    d = 0.0;
  } else if (i0 >= size - 1) {
    t.i0 = t.i1 = size - 1;
    d = 0.0;
  } else {
    t.i0 = i0;
    t.i1 = i0 + 1;
  }
  t.delta = d;
  t.one_minus = 1. - d;
  return t;
}

// Output channel c reads source (RGB) channel order[c]: BGR reverses RGB.
std::array<int, 3> SourceChannels(ColorOrder color) {
  return color == ColorOrder::kBGR ? std::array<int, 3>{2, 1, 0} : std::array<int, 3>{0, 1, 2};
}

bool IsIdentity(const PreprocessSpec& s) {
  return s.scale == 1.0f && s.mean == std::array<float, 3>{0, 0, 0} &&
         s.stddev == std::array<float, 3>{1, 1, 1};
}

}  // namespace

Status ValidateSpec(const PreprocessSpec& spec) {
  if (spec.geometry == Geometry::kShorterSide) {
    if (spec.input_width != spec.input_height || spec.input_width < 1 ||
        spec.input_width > kMaxShorterSideInput) {
      return InvalidArgument("preprocess: input size " + std::to_string(spec.input_width) + "x" +
                             std::to_string(spec.input_height) +
                             " must be square and within 1.." +
                             std::to_string(kMaxShorterSideInput) + " (shorter-side crop)");
    }
  } else {
    if (spec.resize_to < 1) return InvalidArgument("preprocess: resize_to must be >= 1");
    if (spec.input_width < 1 || spec.input_height < 1 || spec.input_width > spec.resize_to ||
        spec.input_height > spec.resize_to) {
      return InvalidArgument("preprocess: input size " + std::to_string(spec.input_width) + "x" +
                             std::to_string(spec.input_height) + " must be within 1.." +
                             std::to_string(spec.resize_to) + " (resize_to)");
    }
    if (spec.max_dimension < 1) return InvalidArgument("preprocess: max_dimension must be >= 1");
  }
  if (!std::isfinite(spec.scale)) return InvalidArgument("preprocess: scale is not finite");
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(spec.mean[c])) return InvalidArgument("preprocess: mean is not finite");
    if (!std::isfinite(spec.stddev[c]) || spec.stddev[c] == 0.0f) {
      return InvalidArgument("preprocess: stddev must be finite and non-zero");
    }
  }
  return Status::Ok();
}

Tensor CropResizeNormalize(const Image& rgb, const PreprocessSpec& spec) {
  Tensor out;
  CropResizeNormalizeInto(rgb, spec, &out);
  return out;
}

namespace {

// CropResizeNormalizeInto on a valid spec and a non-empty image, into
// spec.input_height * spec.input_width * 3 floats at `out`.
void CropResizeNormalizeTo(const Image& rgb, const PreprocessSpec& spec, float* out) {

  // extract_and_resize(img, (T, T)): img.shape = (H, W, 3).
  const int64_t h = rgb.height;
  const int64_t w = rgb.width;
  const int64_t t0 = spec.resize_to;  // targetSize[0]: rows
  const int64_t t1 = spec.resize_to;  // targetSize[1]: columns
  const int64_t determinant = w * t0 - h * t1;
  double ratio = 0.0;
  int x_origin = 0;
  int y_origin = 0;
  if (determinant < 0) {
    ratio = static_cast<double>(w) / static_cast<double>(t1);
    y_origin = static_cast<int>(0.5 * (static_cast<double>(h) - ratio * static_cast<double>(t0)));
  } else if (determinant > 0) {
    ratio = static_cast<double>(h) / static_cast<double>(t0);
    x_origin = static_cast<int>(0.5 * (static_cast<double>(w) - ratio * static_cast<double>(t1)));
  } else {
    ratio = static_cast<double>(h) / static_cast<double>(t0);
  }

  // crop_center(img, cropx, cropy) on the T x T result.
  const int crop_w = spec.input_width;
  const int crop_h = spec.input_height;
  const int start_x = std::max(0, spec.resize_to / 2 - crop_w / 2);
  const int start_y = std::max(0, spec.resize_to / 2 - crop_h / 2);

  std::vector<Tap> cols(crop_w);
  for (int x = 0; x < crop_w; ++x) cols[x] = MakeTap(start_x + x, ratio, x_origin, rgb.width);

  const std::array<int, 3> order = SourceChannels(spec.color);
  float* dst = out;
  for (int y = 0; y < crop_h; ++y) {
    const Tap r = MakeTap(start_y + y, ratio, y_origin, rgb.height);
    const uint8_t* row0 = rgb.Row(r.i0);  // predict.py's "b" row (y0)
    const uint8_t* row1 = rgb.Row(r.i1);  // "t" row (y1)
    for (int x = 0; x < crop_w; ++x) {
      const Tap& c = cols[x];
      const uint8_t* bl = row0 + 3 * c.i0;
      const uint8_t* br = row0 + 3 * c.i1;
      const uint8_t* tl = row1 + 3 * c.i0;
      const uint8_t* tr = row1 + 3 * c.i1;
      for (int ch = 0; ch < 3; ++ch) {
        const int s = order[ch];
        const double b = c.delta * br[s] + c.one_minus * bl[s];
        const double t = c.delta * tr[s] + c.one_minus * tl[s];
        const double pixel = r.delta * t + r.one_minus * b;
        *dst++ = static_cast<float>(pixel);
      }
    }
  }

  if (!IsIdentity(spec)) {
    float* v = out;
    for (size_t i = 0, n = static_cast<size_t>(crop_h) * static_cast<size_t>(crop_w) * 3; i < n; i += 3) {
      for (int ch = 0; ch < 3; ++ch)
        v[i + ch] = (v[i + ch] * spec.scale - spec.mean[ch]) / spec.stddev[ch];
    }
  }
}

}  // namespace

void CropResizeNormalizeInto(const Image& rgb, const PreprocessSpec& spec, Tensor* out) {
  if (rgb.width < 1 || rgb.height < 1 || !ValidateSpec(spec).ok()) {
    out->Reshape(0, 0, 0);
    return;
  }
  out->Reshape(spec.input_height, spec.input_width, 3);
  CropResizeNormalizeTo(rgb, spec, out->data.data());
}

ShorterSidePlan PlanShorterSide(int width, int height, int n) {
  // predict.py: aspect_ratio = width / height (a float64); round() is
  // Python's, half to even, which nearbyint does in the default mode.
  ShorterSidePlan plan;
  const double aspect = static_cast<double>(width) / static_cast<double>(height);
  if (width < height) {
    plan.width = n;
    plan.height = static_cast<int>(std::nearbyint(n / aspect));
  } else {
    plan.height = n;
    plan.width = static_cast<int>(std::nearbyint(n * aspect));
  }
  plan.left = (plan.width - n) / 2;  // both >= 0: the longer side rounds to >= n
  plan.top = (plan.height - n) / 2;
  return plan;
}

namespace {

// Steps 3-4 of the Docker 2.2 pipeline on a resized image.
void CropToTensor(const Image& resized, const ShorterSidePlan& plan, const PreprocessSpec& spec,
                  float* dst) {
  const int n = spec.input_width;
  const std::array<int, 3> order = SourceChannels(spec.color);
  const bool identity = IsIdentity(spec);
  for (int y = 0; y < n; ++y) {
    const uint8_t* row = resized.Row(plan.top + y) + 3 * plan.left;
    for (int x = 0; x < n; ++x, row += 3) {
      for (int ch = 0; ch < 3; ++ch) {
        const float v = row[order[ch]];
        *dst++ = identity ? v : (v * spec.scale - spec.mean[ch]) / spec.stddev[ch];
      }
    }
  }
}

// One 8-bit plane as an RGB image (v, v, v), so it goes through the same
// orientation and resampling code; Pillow resamples every band alike.
Image PlaneAsImage(const Buffer<uint8_t>& plane, int width, int height) {
  Image im;
  im.width = width;
  im.height = height;
  im.pixels.resize(plane.size() * 3);
  for (size_t i = 0; i < plane.size(); ++i) {
    im.pixels[3 * i] = im.pixels[3 * i + 1] = im.pixels[3 * i + 2] = plane[i];
  }
  return im;
}

// Pillow's resize of an RGBA/LA image: convert to RGBa (c * a / 255 with
// MULDIV255's rounding), resample, convert back (c * 255 / a, clipped; a
// of 0 or 255 copies), then convert("RGB") drops the alpha. Unchanged
// sizes are a plain copy (Image.resize returns before converting).
Image ResizePremultiplied(const Image& rgb, const Image& alpha, int width, int height) {
  if (width == rgb.width && height == rgb.height) return rgb;
  Image pre = rgb;
  for (size_t i = 0; i < pre.pixels.size(); ++i) {
    const unsigned a = alpha.pixels[i - i % 3];
    const unsigned t = pre.pixels[i] * a + 128;
    pre.pixels[i] = static_cast<uint8_t>(((t >> 8) + t) >> 8);
  }
  Image out = ResizeLikePil(pre, width, height, ResampleFilter::kBilinear);
  const Image a_out = ResizeLikePil(alpha, width, height, ResampleFilter::kBilinear);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const unsigned a = a_out.pixels[i - i % 3];
    if (a == 0 || a == 255) continue;
    const unsigned v = 255u * out.pixels[i] / a;
    out.pixels[i] = static_cast<uint8_t>(v > 255 ? 255 : v);
  }
  return out;
}

// Pillow's resize of a CMYK image, then convert("RGB"): C, M, Y and K are
// resampled alike, then cmyk2rgb: nk = 255 - k, out = nk - c * nk / 255
// (MULDIV255's rounding), clipped.
Image ResizeCmykThenConvert(const Image& cmy, const Image& black, int width, int height) {
  const Image c = ResizeLikePil(cmy, width, height, ResampleFilter::kBilinear);
  const Image k = ResizeLikePil(black, width, height, ResampleFilter::kBilinear);
  Image out;
  out.Reshape(width, height);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    const int nk = 255 - k.pixels[i - i % 3];
    const int t = c.pixels[i] * nk + 128;
    const int v = nk - (((t >> 8) + t) >> 8);
    out.pixels[i] = static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
  }
  return out;
}

// Pillow's resize of a mode "I" image (32bpc, no clipping between the
// passes), then convert("RGB"): i2rgb clips each sample to 0..255.
Image ResizeIThenConvert(const PlaneI32& plane, int width, int height) {
  const PlaneI32 resized = ResizeLikePil(plane, width, height, ResampleFilter::kBilinear);
  Image out;
  out.Reshape(width, height);
  for (size_t i = 0; i < resized.samples.size(); ++i) {
    const int32_t v = resized.samples[i];
    out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] =
        static_cast<uint8_t>(v <= 0 ? 0 : (v >= 255 ? 255 : v));
  }
  return out;
}

Status PreprocessShorterSide(const PreprocessSpec& spec, Workspace* ws, float* out) {
  const DecodedImage& decoded = ws->decoded;
  // Which files predict.py orients: with kConvertLast every file whose PIL
  // plugin has _getexif (JPEG, PNG, WebP), whatever its mode.
  int orientation = ReferenceOrientation(decoded);
  if (spec.pil_order == PilOrder::kConvertLast) {
    const std::string& f = decoded.format;
    orientation = (f == "jpeg" || f == "png" || f == "webp") ? decoded.exif_orientation : -1;
  }
  const Image* image = &decoded.rgb;
  if (OrientationChangesImage(orientation)) {
    ApplyExifOrientationInto(decoded.rgb, orientation, &ws->oriented);
    image = &ws->oriented;
  }
  const int n = spec.input_width;
  const ShorterSidePlan plan = PlanShorterSide(image->width, image->height, n);
  const bool same_size = plan.width == image->width && plan.height == image->height;
  const std::string& mode = decoded.source_mode;
  const bool last = spec.pil_order == PilOrder::kConvertLast;
  if (same_size) {
    // Image.resize to the same size is a copy in every mode.
  } else if (last && (mode == "P" || mode == "1")) {
    ResizeNearestLikePilInto(*image, plan.width, plan.height, &ws->resized);
    image = &ws->resized;
  } else if (last && mode == "CMYK" && !decoded.black.empty()) {
    // Rare (CMYK/YCCK JPEG, Docker 2.2 only): not allocation-free.
    ws->resized = ResizeCmykThenConvert(ApplyExifOrientation(decoded.cmy, orientation),
                                        ApplyExifOrientation(PlaneAsImage(decoded.black, decoded.rgb.width,
                                                                          decoded.rgb.height),
                                                             orientation),
                                        plan.width, plan.height);
    image = &ws->resized;
  } else if (last && mode == "I" && !decoded.grey32.empty()) {
    // Rare (16-bit grey PNG, Docker 2.2 only): not allocation-free.
    PlaneI32 oriented;
    const PlaneI32* plane = &decoded.grey32;
    if (OrientationChangesImage(orientation)) {
      ApplyExifOrientationInto(decoded.grey32, orientation, &oriented);
      plane = &oriented;
    }
    ws->resized = ResizeIThenConvert(*plane, plan.width, plan.height);
    image = &ws->resized;
  } else if (last && !decoded.alpha.empty() && (mode == "RGBA" || mode == "LA")) {
    // Rare (PNG/WebP with alpha, Docker 2.2 only): not allocation-free.
    const Image alpha = ApplyExifOrientation(
        PlaneAsImage(decoded.alpha, decoded.rgb.width, decoded.rgb.height), orientation);
    ws->resized = ResizePremultiplied(*image, alpha, plan.width, plan.height);
    image = &ws->resized;
  } else {
    ResizeLikePilInto(*image, plan.width, plan.height, ResampleFilter::kBilinear, &ws->resized,
                      &ws->temp);
    image = &ws->resized;
  }
  CropToTensor(*image, plan, spec, out);
  return Status::Ok();
}

}  // namespace

Result<Tensor> PreprocessDecoded(DecodedImage decoded, const PreprocessSpec& spec) {
  Workspace ws;
  ws.decoded = std::move(decoded);
  EV_RETURN_IF_ERROR(PreprocessInto(spec, &ws));
  return std::move(ws.tensor);
}

Status PreprocessInto(const PreprocessSpec& spec, Workspace* ws, std::span<float> target) {
  EV_RETURN_IF_ERROR(ValidateSpec(spec));
  const DecodedImage& decoded = ws->decoded;
  if (decoded.rgb.width < 1 || decoded.rgb.height < 1) {
    return InvalidArgument("preprocess: image has no pixels");
  }
  const size_t floats = static_cast<size_t>(spec.input_height) * static_cast<size_t>(spec.input_width) * 3;
  float* out = target.data();
  if (target.empty()) {
    ws->tensor.Reshape(spec.input_height, spec.input_width, 3);
    out = ws->tensor.data.data();
  } else if (target.size() != floats) {
    return InvalidArgument("preprocess: the target holds " + std::to_string(target.size()) + " floats, the model input " +
                           std::to_string(floats));
  }
  if (spec.geometry == Geometry::kShorterSide) return PreprocessShorterSide(spec, ws, out);
  const int orientation = ReferenceOrientation(decoded);
  const Image* image = &decoded.rgb;
  if (OrientationChangesImage(orientation)) {
    ApplyExifOrientationInto(decoded.rgb, orientation, &ws->oriented);
    image = &ws->oriented;
  }
  const DownscalePlan plan = PlanDownscale(image->width, image->height, spec.max_dimension);
  EV_RETURN_IF_ERROR(CheckDownscalePlan(plan, image->width, image->height));
  if (plan.resize && (plan.width != image->width || plan.height != image->height)) {
    ResizeLikePilInto(*image, plan.width, plan.height, plan.filter, &ws->resized, &ws->temp);
    image = &ws->resized;
  }
  CropResizeNormalizeTo(*image, spec, out);
  return Status::Ok();
}

Result<Tensor> PreprocessBytes(std::span<const uint8_t> bytes, const PreprocessSpec& spec,
                               const DecodeLimits& limits) {
  EV_RETURN_IF_ERROR(ValidateSpec(spec));
  EV_ASSIGN_OR_RETURN(DecodedImage decoded, Decode(bytes, limits));
  return PreprocessDecoded(std::move(decoded), spec);
}

}  // namespace edgevision::image
