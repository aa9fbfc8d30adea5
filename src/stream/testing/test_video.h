// Test videos made at test time by Debian's ffmpeg (package ffmpeg, in
// scripts/setup-debian.sh --test) from the fruit export's photos: scenes of
// one photo each, so a classifier's answer changes at known times.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "test_support.h"

namespace edgevision::testing {

struct VideoSpec {
  std::vector<std::string> photos = {"apple1.jpg", "banana1.jpg", "apple1.jpg"};  // one scene each
  double scene_s = 2;  // seconds per scene
  int fps = 10;
  int width = 640;
  int height = 480;
  std::string codec = "h264";  // or "mjpeg"
};

inline std::filesystem::path FruitPhoto(const std::string& name) {
  return Export("iotedge-applebanana-tf/images/" + name);
}

// Writes the video to `out` (.mp4 for h264, .avi for mjpeg). False when
// ffmpeg is missing or fails (its stderr goes to the test's output).
inline bool MakeTestVideo(const VideoSpec& v, const std::filesystem::path& out) {
  std::string cmd = "ffmpeg -hide_banner -loglevel error -y";
  std::string filter;
  const std::string pix = v.codec == "mjpeg" ? "yuvj420p" : "yuv420p";
  for (size_t i = 0; i < v.photos.size(); ++i) {
    cmd += " -loop 1 -framerate " + std::to_string(v.fps) + " -t " + std::to_string(v.scene_s) + " -i '" +
           FruitPhoto(v.photos[i]).string() + "'";
    filter += "[" + std::to_string(i) + ":v]scale=" + std::to_string(v.width) + ":" + std::to_string(v.height) +
              ",setsar=1,format=" + pix + "[s" + std::to_string(i) + "];";
  }
  for (size_t i = 0; i < v.photos.size(); ++i) filter += "[s" + std::to_string(i) + "]";
  filter += "concat=n=" + std::to_string(v.photos.size()) + ":v=1:a=0[v]";
  cmd += " -filter_complex '" + filter + "' -map '[v]' -r " + std::to_string(v.fps);
  if (v.codec == "mjpeg") {
    cmd += " -c:v mjpeg -q:v 3";
  } else {
    cmd += " -c:v libx264 -preset ultrafast -g " + std::to_string(v.fps) + " -bf 0";
  }
  cmd += " '" + out.string() + "' </dev/null";
  return std::system(cmd.c_str()) == 0 && std::filesystem::exists(out);
}

}  // namespace edgevision::testing
