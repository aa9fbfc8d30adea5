#include "predict/draw_detections.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "image/draw.h"

namespace edgevision::predict {

void DrawDetections(image::Image* img, const std::vector<detect::Detection>& detections) {
  static constexpr std::array<std::array<uint8_t, 3>, 6> kColours = {
      {{255, 40, 40}, {40, 200, 40}, {40, 120, 255}, {255, 200, 0}, {220, 0, 220}, {0, 210, 210}}};
  const int thickness = std::max(2, std::min(img->width, img->height) / 200);
  for (const detect::Detection& d : detections) {
    const auto px = [](double v, int size) { return static_cast<int>(std::lround(v * size)); };
    image::DrawRectangle(img, px(d.box.left, img->width), px(d.box.top, img->height),
                         px(d.box.left + d.box.width, img->width), px(d.box.top + d.box.height, img->height),
                         kColours[static_cast<size_t>(d.tag_index) % kColours.size()], thickness);
  }
}

}  // namespace edgevision::predict
