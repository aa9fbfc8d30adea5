// A detector's answer drawn on the image it ran on: one rectangle per
// detection, one colour per tag (`edgevision predict --draw`,
// GET /sources/{name}/latest.jpg).
//
// Thread-safety: a pure function.
#pragma once

#include <vector>

#include "detect/detection.h"
#include "image/image.h"

namespace edgevision::predict {

// Draws each detection's box (normalised coordinates, as answered) on
// `image`; boxes crossing the border are clipped.
void DrawDetections(image::Image* image, const std::vector<detect::Detection>& detections);

}  // namespace edgevision::predict
