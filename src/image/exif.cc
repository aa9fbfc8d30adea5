// EXIF Orientation as PIL 9.4's _getexif() reports it, read with libexif.
#include <libexif/exif-data.h>
#include <libexif/exif-utils.h>

#include <cstring>
#include <memory>
#include <vector>

#include "image/decode_internal.h"

namespace edgevision::image::internal {
namespace {

struct ExifDataDeleter {
  void operator()(ExifData* d) const { exif_data_unref(d); }
};
using ExifDataPtr = std::unique_ptr<ExifData, ExifDataDeleter>;

constexpr uint8_t kExifHeader[6] = {'E', 'x', 'i', 'f', 0, 0};

// A single integer, as PIL's TIFF reader would return an int for it; -1 for
// anything else (PIL would return bytes or a tuple and predict.py would fail).
int IntegerValue(const ExifEntry* e, ExifByteOrder order) {
  if (e == nullptr || e->components != 1 || e->data == nullptr) return -1;
  const size_t need = exif_format_get_size(e->format);
  if (need == 0 || e->size < need) return -1;
  switch (e->format) {
    case EXIF_FORMAT_SHORT: return exif_get_short(e->data, order);
    case EXIF_FORMAT_SSHORT: return exif_get_sshort(e->data, order);
    case EXIF_FORMAT_LONG: {
      const ExifLong v = exif_get_long(e->data, order);
      return v > 0x7FFFFFFF ? -1 : static_cast<int>(v);
    }
    case EXIF_FORMAT_SLONG: return exif_get_slong(e->data, order);
    default: return -1;
  }
}

}  // namespace

int ExifOrientation(std::span<const uint8_t> exif, bool* has_ifd0_orientation) {
  if (has_ifd0_orientation != nullptr) *has_ifd0_orientation = false;
  // libexif wants the "Exif\0\0" prefix; PNG eXIf and some WebP EXIF chunks
  // hold the bare TIFF structure, which PIL accepts too.
  std::vector<uint8_t> owned;
  if (exif.size() < sizeof(kExifHeader) ||
      std::memcmp(exif.data(), kExifHeader, sizeof(kExifHeader)) != 0) {
    owned.reserve(exif.size() + sizeof(kExifHeader));
    owned.insert(owned.end(), kExifHeader, kExifHeader + sizeof(kExifHeader));
    owned.insert(owned.end(), exif.begin(), exif.end());
    exif = owned;
  }
  if (exif.size() > 0xFFFFFFFFu) return -1;

  ExifDataPtr data(exif_data_new());
  if (!data) return -1;
  // Load the tags as they are: no "fixing" to the specification (which adds
  // or drops entries) and keep tags libexif does not expect in an IFD.
  exif_data_unset_option(data.get(), EXIF_DATA_OPTION_IGNORE_UNKNOWN_TAGS);
  exif_data_unset_option(data.get(), EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
  exif_data_load_data(data.get(), exif.data(), static_cast<unsigned int>(exif.size()));

  const ExifByteOrder order = exif_data_get_byte_order(data.get());
  ExifEntry* ifd0 = exif_content_get_entry(data->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
  ExifEntry* sub = exif_content_get_entry(data->ifd[EXIF_IFD_EXIF], EXIF_TAG_ORIENTATION);
  if (has_ifd0_orientation != nullptr) *has_ifd0_orientation = ifd0 != nullptr;
  // PIL's _get_merged_dict(): IFD 0, then updated with the Exif sub-IFD.
  return IntegerValue(sub != nullptr ? sub : ifd0, order);
}

}  // namespace edgevision::image::internal
