// A source of frames (stream/frame.h): what `serve --source NAME=URL` watches.
//
// FrameSource is the outside world behind a small interface, so that the
// runner (stream/source_runner.h) can be tested against sources that fail on
// purpose. The real ones: FFmpeg (RTSP, HTTP(S) MJPEG, V4L2 devices, video
// files: stream/ffmpeg/ffmpeg_source.h, in the FFmpeg module that
// stream/ffmpeg_module.h loads when one is opened) and a watched directory
// (stream/directory_source.h, inotify).
//
// Thread-safety: Read runs on one thread (the source's reader); Interrupt may
// be called from any thread at any time, also before or during Read.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "stream/frame.h"

namespace edgevision::stream {

// Every limit of a source, with its default (one home: docs/streams.md).
struct SourceLimits {
  // A read that gets no data for this long fails (Unavailable) and the
  // source reconnects: a camera that stops sending is a dead camera.
  std::chrono::milliseconds read_timeout{10'000};
  // Opening (DNS, TCP, RTSP handshake, probing the stream) may take this long.
  std::chrono::milliseconds open_timeout{10'000};
  // Largest frame accepted, in pixels (width * height) and, for an encoded
  // frame or a file in a watched directory, in bytes.
  uint64_t max_pixels = 40'000'000;
  size_t max_frame_bytes = 32u << 20;

  bool operator==(const SourceLimits&) const = default;
};

// `--source NAME=URL[,key=value...]`, parsed.
struct SourceSpec {
  std::string name;  // [A-Za-z0-9_-]{1,64}: used in URLs, metrics and records
  std::string url;   // rtsp://, rtsps://, http(s)://, file path or file://, /dev/videoN or v4l2://, dir:PATH
  double fps = 5;    // target sampling rate; 0 = as fast as the model allows
  int debounce = 3;  // frames a new result must persist before it is an event
  double threshold = 0.5;   // probability a tag or a box needs to count
  int heartbeat_s = 60;     // publish the current result every N s; 0 = never
  bool realtime = true;     // a file is read at its own frame rate (false: as fast as it decodes)
  bool loop = false;        // a file starts again at its end (else it ends, and is reopened after backoff)
  std::string transport = "tcp";  // RTSP: tcp or udp
  std::string format;       // FFmpeg input format to force (e.g. mjpeg, v4l2); "" = probe
  std::map<std::string, std::string> ffmpeg_options;  // ffmpeg.KEY=VALUE: passed to avformat_open_input
  // A hardware decoder when FFmpeg has one that opens here (auto), falling
  // back to software with the reason logged and shown; never (off).
  bool hwdecode = true;
  SourceLimits limits;

  bool operator==(const SourceSpec&) const = default;
};

// Parses "NAME=URL[,key=value...]". Keys: fps, debounce, threshold,
// heartbeat, realtime, loop, transport, format, timeout (seconds, read and
// open), hwdecode (auto or off), ffmpeg.<option>. Errors: InvalidArgument naming the offending part.
Result<SourceSpec> ParseSourceSpec(const std::string& text);

// What kind of source a URL is.
enum class SourceKind { kFfmpeg, kDirectory };
SourceKind KindOf(const SourceSpec& spec);

// Which decoder a source's frames go through (GET /sources "decoder").
struct DecoderInfo {
  std::string name;      // e.g. "h264", "h264_v4l2m2m", "h264 (vaapi)", "jpeg as sent"
  bool hardware = false;
  std::string fallback;  // why hardware decoding is not used ("" when it is, or when hwdecode=off)

  bool operator==(const DecoderInfo&) const = default;
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // Blocks until the next frame. Errors: Unavailable when the stream ended
  // or the connection was lost (the runner reconnects), InvalidArgument for
  // one frame that could not be used (the runner counts it and reads on),
  // Unavailable after Interrupt (the runner knows it asked).
  virtual Result<Frame> Read() = 0;
  // Makes a Read in progress (and every later one) return Unavailable soon.
  virtual void Interrupt() = 0;
  // The decoder in use; fixed once opened.
  virtual DecoderInfo decoder() const { return {}; }
};

// Opens a source. `cancelled` is polled while opening (a shutdown must not
// wait for a camera that does not answer). Errors: Unavailable when the
// source cannot be reached now (retried with backoff), InvalidArgument when
// it can never work (no such format), Unsupported when this installation
// cannot open such a source (the FFmpeg module or FFmpeg's libraries are
// missing: the source is in state error, not retried).
using SourceOpener = std::function<Result<std::unique_ptr<FrameSource>>(const SourceSpec& spec,
                                                                         const std::function<bool()>& cancelled)>;

// The real sources: FFmpeg (through FfmpegModule::Default()) or a watched
// directory, by KindOf(spec).
Result<std::unique_ptr<FrameSource>> OpenSource(const SourceSpec& spec, const std::function<bool()>& cancelled);

}  // namespace edgevision::stream
