// The FFmpeg-backed FrameSource: RTSP (rtsp://, rtsps://), HTTP(S) MJPEG
// (multipart/x-mixed-replace, what ESP32-CAMs and most IP cameras serve),
// V4L2 devices (/dev/videoN or v4l2:///dev/videoN: USB cameras, the Pi
// camera through libcamera's V4L2 layer) and video files (a path or file://).
// Debian's libavformat demuxes, libavcodec decodes (with
// a hardware decoder when hwdecode=auto finds one that opens here, else
// software: never required), libswscale converts to RGB8.
//
// An MJPEG stream's frames are not decoded here: each JPEG goes out as sent
// (Frame::encoded) and is decoded by our own JPEG decoder, exactly as a
// posted JPEG is. Other codecs are decoded here and converted to RGB8 with
// the stream's colour matrix and range (BT.601 unless the stream says
// otherwise), bilinear chroma, accurate rounding.
//
// This file is part of the FFmpeg module (edgevision-ffmpeg.so,
// stream/ffmpeg/module_abi.h): only the module links FFmpeg. The binary
// reaches these functions through stream/ffmpeg_module.h.
//
// Thread-safety: as FrameSource.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "stream/source.h"

namespace edgevision::stream {

// Error messages never quote the URL (it may hold a password).
// Errors: Unavailable when the input cannot be opened or has no video
// stream now (retried), InvalidArgument for an unknown forced format,
// Unavailable too when `cancelled` turned true while opening.
Result<std::unique_ptr<FrameSource>> OpenFfmpegSource(const SourceSpec& spec, const std::function<bool()>& cancelled);

// "libavformat 59.27.100, libavcodec 59.37.100, libswscale 6.7.100": for the log.
std::string FfmpegVersions();

}  // namespace edgevision::stream
