// JPEG through libjpeg-turbo's libjpeg API, configured as PIL 9.4's
// JpegDecode.c does: default ISLOW DCT, fancy upsampling, no scaling, output
// JCS_RGB for 3 components, grey replicated to RGB, JCS_CMYK for 4 components
// (Adobe-inverted, converted with PIL's cmyk2rgb).
//
// Error handling: libjpeg reports fatal errors through error_exit, which must
// not return. We longjmp back to the setjmp in RunDecode(), a function whose
// objects with destructors all exist before setjmp is called, so no C++
// destructor is skipped (the rule in [csetjmp.syn]). Warnings (corrupt data
// libjpeg can recover from) are ignored, as PIL ignores them; running out of
// data is fatal, as in PIL without LOAD_TRUNCATED_IMAGES.
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <cstring>
#include <string>
#include <vector>
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include "image/decode_internal.h"

namespace edgevision::image::internal {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

struct ProgressMonitor {
  jpeg_progress_mgr pub;  // first member
  int max_scans;
};

// libjpeg callbacks: C linkage, internal linkage.
extern "C" {

static void JpegOnFatalError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

static void JpegOnOutputMessage(j_common_ptr) {}  // warnings and traces: silent

// The whole file is in memory; needing more data means it is truncated.
static boolean JpegOnFillInputBuffer(j_decompress_ptr cinfo) {
  ERREXIT(cinfo, JERR_INPUT_EOF);
  return FALSE;  // not reached
}

static void JpegOnProgress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  auto* progress = reinterpret_cast<ProgressMonitor*>(cinfo->progress);
  auto* dinfo = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (dinfo->input_scan_number > progress->max_scans) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    std::snprintf(err->message, sizeof(err->message), "more than %d scans (limit max_jpeg_scans)",
                  progress->max_scans);
    std::longjmp(err->jump, 1);
  }
}

}  // extern "C"

// Owns a jpeg_decompress_struct wired to an in-memory source.
class Decompressor {
 public:
  explicit Decompressor(int max_scans) {
    cinfo_.err = jpeg_std_error(&err_.pub);
    err_.pub.error_exit = JpegOnFatalError;
    err_.pub.output_message = JpegOnOutputMessage;
    err_.message[0] = '\0';
    progress_.pub.progress_monitor = JpegOnProgress;
    progress_.max_scans = max_scans;
  }
  ~Decompressor() {
    if (created_) jpeg_destroy_decompress(&cinfo_);
  }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  jpeg_decompress_struct* cinfo() { return &cinfo_; }
  ErrorManager* err() { return &err_; }

  // Called after setjmp: may longjmp.
  void Create(std::span<const uint8_t> bytes) {
    jpeg_create_decompress(&cinfo_);
    created_ = true;
    cinfo_.progress = &progress_.pub;
    jpeg_mem_src(&cinfo_, bytes.data(), static_cast<unsigned long>(bytes.size()));
    cinfo_.src->fill_input_buffer = JpegOnFillInputBuffer;
  }

 private:
  jpeg_decompress_struct cinfo_{};
  ErrorManager err_{};
  ProgressMonitor progress_{};
  bool created_ = false;
};

Status JpegError(const char* message) {
  return InvalidArgument(std::string("jpeg: ") + (message[0] ? message : "decoding failed"));
}

// PIL's cmyk2rgb on "CMYK;I" data: the file stores inverted CMYK, PIL
// un-inverts on unpack, then out = nk - nk * c / 255 with MULDIV255 rounding.
inline uint8_t CmykChannel(uint8_t stored_c, uint8_t stored_k) {
  const int c = 255 - stored_c;
  const int nk = stored_k;  // 255 - (255 - stored_k)
  const int t = c * nk + 128;
  const int v = nk - (((t >> 8) + t) >> 8);
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

const char* ModeFor(int components) {
  switch (components) {
    case 1: return "L";
    case 3: return "RGB";
    case 4: return "CMYK";
  }
  return nullptr;
}

// PIL's JpegImageFile._open() walks the markers up to SOS in Python before
// libjpeg sees the file, and refuses some files libjpeg reads: an 0xFF
// followed by a byte that is no marker, a segment longer than the file, an
// SOF that is not 8-bit with 1, 3 or 4 components or whose component list
// is cut, a DQT whose tables are cut, JFIF/Adobe segments too short for
// their fields, an ICC_PROFILE chunk without its sequence bytes.
Status CheckMarkersAsPil(std::span<const uint8_t> b) {
  const Status refused = InvalidArgument("jpeg: cannot identify image file (PIL's marker parser refuses it)");
  size_t pos = 3;  // after FF D8 FF
  int cur = 0xFF;
  bool short_icc = false;
  auto segment = [&](std::span<const uint8_t>* out) -> bool {  // i16(read(2)) - 2, then _safe_read
    if (b.size() - pos < 2) return false;
    const int n = (b[pos] << 8 | b[pos + 1]) - 2;
    pos += 2;
    if (n <= 0) {
      *out = {};
      return true;
    }
    if (b.size() - pos < static_cast<size_t>(n)) return false;
    *out = b.subspan(pos, static_cast<size_t>(n));
    pos += static_cast<size_t>(n);
    return true;
  };
  for (;;) {
    if (pos >= b.size()) return refused;
    if (cur != 0xFF) {  // junk between markers is skipped
      cur = b[pos++];
      continue;
    }
    const int marker = 0xFF00 | b[pos++];
    if (marker == 0xFFFF) continue;  // fill byte: cur stays 0xFF
    if (marker == 0xFF00) {
      if (pos >= b.size()) return refused;
      cur = b[pos++];
      continue;
    }
    if (marker < 0xFFC0) return refused;  // "no marker found"
    const bool sof = (marker >= 0xFFC0 && marker <= 0xFFCF && marker != 0xFFC4 && marker != 0xFFC8 &&
                      marker != 0xFFCC) || marker == 0xFFDE;
    const bool no_handler = marker == 0xFFC8 || (marker >= 0xFFD0 && marker <= 0xFFD9) ||
                            (marker >= 0xFFF0 && marker <= 0xFFFD);
    if (!no_handler) {
      std::span<const uint8_t> s;
      if (!segment(&s)) return refused;
      if (sof) {
        if (s.size() < 6 || s[0] != 8 || (s[5] != 1 && s[5] != 3 && s[5] != 4)) return refused;
        if (short_icc) return refused;
        if (s.size() > 6 && (s.size() - 6) % 3 != 0) return refused;
      } else if (marker == 0xFFDB) {
        while (!s.empty()) {
          const size_t length = 1 + (s[0] / 16 == 0 ? 1 : 2) * 64;
          if (s.size() < length) return refused;
          s = s.subspan(length);
        }
      } else if (marker == 0xFFE0 && s.size() >= 4 && std::memcmp(s.data(), "JFIF", 4) == 0) {
        if (s.size() < 7) return refused;
      } else if (marker == 0xFFEE && s.size() >= 5 && std::memcmp(s.data(), "Adobe", 5) == 0) {
        if (s.size() < 7) return refused;
      } else if (marker == 0xFFE2 && s.size() >= 12 && std::memcmp(s.data(), "ICC_PROFILE\0", 12) == 0) {
        short_icc = short_icc || s.size() < 14;
      }
    }
    if (marker == 0xFFDA) return Status::Ok();
    if (pos >= b.size()) return refused;
    cur = b[pos++];
  }
}

// Everything between setjmp and the last libjpeg call lives here; see the
// file comment for why this is safe. `row` and `out` are the caller's.
Status RunDecode(Decompressor& d, std::span<const uint8_t> bytes, const DecodeLimits& limits,
                 std::vector<uint8_t>& row, DecodedImage* out) {
  jpeg_decompress_struct* cinfo = d.cinfo();
  volatile bool finishing = false;  // set between setjmp and a longjmp
  if (setjmp(d.err()->jump)) {
    // PIL's decoder suspends when the data ends after the last scanline
    // (a missing EOI) and keeps the image; any other error is fatal.
    if (finishing && d.err()->pub.msg_code == JERR_INPUT_EOF) return Status::Ok();
    return JpegError(d.err()->message);
  }

  d.Create(bytes);
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(cinfo, TRUE);

  const char* mode = ModeFor(cinfo->num_components);
  if (mode == nullptr) {
    return InvalidArgument("jpeg: cannot handle " + std::to_string(cinfo->num_components) +
                           "-component images");
  }
  if (cinfo->data_precision != 8) {
    return InvalidArgument("jpeg: cannot handle " + std::to_string(cinfo->data_precision) +
                           "-bit samples");
  }
  EV_RETURN_IF_ERROR(CheckDimensions("jpeg", cinfo->image_width, cinfo->image_height, limits));
  out->source_mode = mode;

  // PIL keeps the first APP1 segment starting with "Exif\0".
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 5 &&
        std::memcmp(m->data, "Exif\0", 5) == 0) {
      out->exif_orientation = ExifOrientation({m->data, m->data_length});
      break;
    }
  }

  const bool cmyk = cinfo->num_components == 4;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  // grey -> RGB replicates, as L->RGB
  jpeg_start_decompress(cinfo);
  if (cinfo->output_width != cinfo->image_width || cinfo->output_height != cinfo->image_height ||
      cinfo->output_components != (cmyk ? 4 : 3)) {
    return Internal("jpeg: unexpected output geometry");
  }
  const int width = static_cast<int>(cinfo->output_width);
  const int height = static_cast<int>(cinfo->output_height);
  EV_RETURN_IF_ERROR(AllocateImage(width, height, &out->rgb));
  if (cmyk) {
    row.resize(static_cast<size_t>(width) * 4);
    out->cmy.Reshape(width, height);
    out->black.resize(static_cast<size_t>(width) * height);
  }

  while (cinfo->output_scanline < cinfo->output_height) {
    const int y = static_cast<int>(cinfo->output_scanline);
    JSAMPROW target = cmyk ? row.data() : out->rgb.Row(y);
    jpeg_read_scanlines(cinfo, &target, 1);
    if (cmyk) {
      uint8_t* dst = out->rgb.Row(y);
      uint8_t* cmy = out->cmy.Row(y);
      uint8_t* k = out->black.data() + static_cast<size_t>(y) * width;
      for (int x = 0; x < width; ++x) {
        const uint8_t* s = &row[static_cast<size_t>(x) * 4];
        dst[0] = CmykChannel(s[0], s[3]);
        dst[1] = CmykChannel(s[1], s[3]);
        dst[2] = CmykChannel(s[2], s[3]);
        dst += 3;
        // PIL's "CMYK;I" unpack: the pixels PIL holds before converting.
        cmy[0] = static_cast<uint8_t>(255 - s[0]);
        cmy[1] = static_cast<uint8_t>(255 - s[1]);
        cmy[2] = static_cast<uint8_t>(255 - s[2]);
        cmy += 3;
        k[x] = static_cast<uint8_t>(255 - s[3]);
      }
    }
  }
  // As PIL: read on to EOI, so a corrupt marker after the scan is an error
  // ("broken data stream"), but running out of data there is not.
  finishing = true;
  jpeg_finish_decompress(cinfo);
  return Status::Ok();
}

Status RunReadHeader(Decompressor& d, std::span<const uint8_t> bytes, ImageHeader* header) {
  if (setjmp(d.err()->jump)) return JpegError(d.err()->message);
  d.Create(bytes);
  jpeg_read_header(d.cinfo(), TRUE);
  header->width = static_cast<int>(d.cinfo()->image_width);
  header->height = static_cast<int>(d.cinfo()->image_height);
  return Status::Ok();
}

}  // namespace

Status DecodeJpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out) {
  EV_RETURN_IF_ERROR(CheckMarkersAsPil(bytes));
  Decompressor d(limits.max_jpeg_scans);
  std::vector<uint8_t> row;
  return RunDecode(d, bytes, limits, row, out);
}

Result<ImageHeader> ReadJpegHeader(std::span<const uint8_t> bytes) {
  Decompressor d(DecodeLimits{}.max_jpeg_scans);
  ImageHeader header;
  header.format = "jpeg";
  EV_RETURN_IF_ERROR(RunReadHeader(d, bytes, &header));
  return header;
}

}  // namespace edgevision::image::internal
