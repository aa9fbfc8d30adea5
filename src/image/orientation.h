// EXIF orientation exactly as the reference predict.py's update_orientation:
//
//   o = orientation - 1
//   if o >= 4:                 TRANSPOSE
//   if o in (2, 3, 6, 7):      FLIP_TOP_BOTTOM
//   if o in (1, 2, 5, 6):      FLIP_LEFT_RIGHT
//
// so 1 (and 0 or any negative value) leaves the image alone, 2..8 give the
// standard EXIF meanings, and values >= 9 (invalid in EXIF) transpose only.
//
// Thread-safety: pure functions.
#pragma once

#include "image/decode.h"
#include "image/image.h"

namespace edgevision::image {

// The orientation value predict.py acts on for a decoded file: its EXIF
// orientation when the file opened in PIL mode "RGB", else -1 (predict.py
// converts other modes to RGB first, and the converted image has no EXIF).
int ReferenceOrientation(const DecodedImage& decoded);

// True when `orientation` changes the image (see the table above).
bool OrientationChangesImage(int orientation);

// True when `orientation` transposes the image (swaps width and height).
bool OrientationTransposes(int orientation);

// Applies predict.py's transposes for `orientation` and returns the result;
// returns `image` itself (moved, no copy) when nothing changes.
Image ApplyExifOrientation(Image image, int orientation);

// The same into `out` (its buffer reused; a copy when nothing changes).
// `out` must not be `image`.
void ApplyExifOrientationInto(const Image& image, int orientation, Image* out);
// The same for a mode "I" plane (PIL transposes every mode alike).
void ApplyExifOrientationInto(const PlaneI32& plane, int orientation, PlaneI32* out);

}  // namespace edgevision::image
