// WebP through libwebp. PIL 9.4 decodes every WebP with WebPAnimDecoder
// (RGBA canvas, default options) and reports mode "RGBA" when
// WebPGetFeatures says the file has alpha, else "RGB". For a still image that
// equals a plain WebPDecode of the frame, which we do straight into the Image
// buffer; animations go through WebPAnimDecoder for their first frame.
// The EXIF chunk is read with the demuxer, as PIL's get_chunk("EXIF") does.
#include <webp/decode.h>
#include <webp/demux.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "image/decode_internal.h"

namespace edgevision::image::internal {
namespace {

struct DemuxDeleter {
  void operator()(WebPDemuxer* d) const { WebPDemuxDelete(d); }
};
struct AnimDecoderDeleter {
  void operator()(WebPAnimDecoder* d) const { WebPAnimDecoderDelete(d); }
};

const char* StatusName(VP8StatusCode code) {
  switch (code) {
    case VP8_STATUS_OK: return "ok";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "corrupt bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated file";
  }
  return "unknown error";
}

}  // namespace

Status DecodeWebp(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out) {
  WebPBitstreamFeatures features;
  VP8StatusCode code = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (code != VP8_STATUS_OK) return InvalidArgument(std::string("webp: ") + StatusName(code));
  EV_RETURN_IF_ERROR(CheckDimensions("webp", features.width, features.height, limits));

  const WebPData data{bytes.data(), bytes.size()};
  std::unique_ptr<WebPDemuxer, DemuxDeleter> demux(WebPDemux(&data));
  if (!demux) return InvalidArgument("webp: invalid or truncated container");
  const int width = static_cast<int>(WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_WIDTH));
  const int height = static_cast<int>(WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_HEIGHT));
  EV_RETURN_IF_ERROR(CheckDimensions("webp", width, height, limits));
  out->source_mode = features.has_alpha ? "RGBA" : "RGB";

  WebPChunkIterator chunk;
  if (WebPDemuxGetChunk(demux.get(), "EXIF", 1, &chunk)) {
    out->exif_orientation = ExifOrientation({chunk.chunk.bytes, chunk.chunk.size});
    WebPDemuxReleaseChunkIterator(&chunk);
  }

  EV_RETURN_IF_ERROR(AllocateImage(width, height, &out->rgb));
  if (!features.has_animation) {
    // With alpha: RGBA (not premultiplied), then split; else RGB in place.
    std::vector<uint8_t> rgba(features.has_alpha ? static_cast<size_t>(width) * height * 4 : 0);
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) return Internal("webp: decoder version mismatch");
    config.output.colorspace = features.has_alpha ? MODE_RGBA : MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = features.has_alpha ? rgba.data() : out->rgb.pixels.data();
    config.output.u.RGBA.stride = width * (features.has_alpha ? 4 : 3);
    config.output.u.RGBA.size = features.has_alpha ? rgba.size() : out->rgb.pixels.size();
    code = WebPDecode(bytes.data(), bytes.size(), &config);
    WebPFreeDecBuffer(&config.output);  // no-op for external memory
    if (code != VP8_STATUS_OK) return InvalidArgument(std::string("webp: ") + StatusName(code));
    if (features.has_alpha) {
      out->alpha.resize(static_cast<size_t>(width) * height);
      uint8_t* dst = out->rgb.pixels.data();
      for (size_t i = 0; i < out->alpha.size(); ++i, dst += 3) {
        std::memcpy(dst, &rgba[4 * i], 3);
        out->alpha[i] = rgba[4 * i + 3];
      }
    }
    return Status::Ok();
  }

  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) return Internal("webp: decoder version mismatch");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  std::unique_ptr<WebPAnimDecoder, AnimDecoderDeleter> anim(WebPAnimDecoderNew(&data, &options));
  if (!anim) return InvalidArgument("webp: cannot decode the animation");
  uint8_t* canvas = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(anim.get(), &canvas, &timestamp) || canvas == nullptr) {
    return InvalidArgument("webp: cannot decode the first frame");
  }
  uint8_t* dst = out->rgb.pixels.data();
  for (size_t i = 0, n = static_cast<size_t>(width) * height; i < n; ++i, dst += 3, canvas += 4) {
    std::memcpy(dst, canvas, 3);
  }
  return Status::Ok();
}

Result<ImageHeader> ReadWebpHeader(std::span<const uint8_t> bytes) {
  ImageHeader header;
  header.format = "webp";
  // An extended file states its canvas in the VP8X chunk: read it directly,
  // so a huge canvas is refused even when the rest does not validate.
  if (bytes.size() >= 30 && std::memcmp(bytes.data() + 12, "VP8X", 4) == 0) {
    header.width = 1 + (bytes[24] | bytes[25] << 8 | bytes[26] << 16);
    header.height = 1 + (bytes[27] | bytes[28] << 8 | bytes[29] << 16);
    return header;
  }
  WebPBitstreamFeatures features;
  const VP8StatusCode code = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (code != VP8_STATUS_OK) return InvalidArgument(std::string("webp: ") + StatusName(code));
  header.width = features.width;
  header.height = features.height;
  return header;
}

}  // namespace edgevision::image::internal
