#include "stream/ffmpeg/ffmpeg_source.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libavutil/hwcontext.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>

namespace edgevision::stream {

namespace {

// RAII for every FFmpeg handle: a deleter and a unique_ptr alias each.
struct FormatDeleter {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct CodecDeleter {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};
struct BufferDeleter {
  void operator()(AVBufferRef* p) const { av_buffer_unref(&p); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;
using AvFramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using BufferPtr = std::unique_ptr<AVBufferRef, BufferDeleter>;
// An AVDictionary that is freed whatever avformat_open_input left in it.
class Dictionary {
 public:
  Dictionary() = default;
  Dictionary(const Dictionary&) = delete;
  Dictionary& operator=(const Dictionary&) = delete;
  ~Dictionary() { av_dict_free(&dict_); }
  void Set(const std::string& key, const std::string& value) { av_dict_set(&dict_, key.c_str(), value.c_str(), 0); }
  AVDictionary** get() { return &dict_; }

 private:
  AVDictionary* dict_ = nullptr;
};

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof text);
  return text;
}

// FFmpeg's own log goes to stderr at "error" level and above only: a camera
// that sends garbage would otherwise flood the log (we count and log it).
void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_FATAL);
    avdevice_register_all();
    avformat_network_init();
  });
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// A local file (paced at its frame rate when realtime): not a URL with a
// scheme other than file://, and not a device.
bool IsFile(const std::string& url) {
  return StartsWith(url, "file:") || (url.find("://") == std::string::npos && !StartsWith(url, "/dev/"));
}

class FfmpegSource final : public FrameSource {
 public:
  FfmpegSource(const SourceSpec& spec, std::function<bool()> cancelled)
      : spec_(spec), cancelled_(std::move(cancelled)) {}

  Status Open() {
    InitOnce();
    std::string url = spec_.url;
    std::string format = spec_.format;
    if (StartsWith(url, "v4l2://")) {
      url = url.substr(7);
      if (format.empty()) format = "video4linux2";
    } else if (StartsWith(url, "/dev/video") && format.empty()) {
      format = "video4linux2";
    }
    is_file_ = IsFile(spec_.url);
    const AVInputFormat* input_format = nullptr;
    if (!format.empty()) {
      input_format = av_find_input_format(format.c_str());
      if (!input_format) return InvalidArgument("FFmpeg has no input format " + format);
    }
    Dictionary options;
    if (StartsWith(url, "rtsp")) options.Set("rtsp_transport", spec_.transport);
    for (const auto& [key, value] : spec_.ffmpeg_options) options.Set(key, value);

    AVFormatContext* raw = avformat_alloc_context();
    if (!raw) return ResourceExhausted("out of memory");
    raw->interrupt_callback.callback = &FfmpegSource::InterruptCallback;
    raw->interrupt_callback.opaque = this;
    opening_ = true;
    Arm(spec_.limits.open_timeout);
    int rc = avformat_open_input(&raw, url.c_str(), input_format, options.get());  // frees raw on failure
    if (rc < 0) return OpenError("cannot open the source", rc);
    format_.reset(raw);
    Arm(spec_.limits.open_timeout);
    rc = avformat_find_stream_info(format_.get(), nullptr);
    opening_ = false;
    if (rc < 0) return OpenError("cannot read the stream's parameters", rc);
    const AVCodec* codec = nullptr;
    stream_ = av_find_best_stream(format_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream_ < 0 || !codec) return Unavailable("no video stream FFmpeg can decode");
    const AVStream* st = format_->streams[stream_];
    passthrough_jpeg_ = st->codecpar->codec_id == AV_CODEC_ID_MJPEG;
    if (passthrough_jpeg_) {
      decoder_.name = "jpeg as sent";
    } else {
      std::string why_not;  // every hardware decoder that did not open, and why
      if (!spec_.hwdecode || !OpenHardwareDecoder(codec, st->codecpar, &why_not)) {
        codec_.reset(avcodec_alloc_context3(codec));
        if (!codec_) return ResourceExhausted("out of memory");
        if ((rc = avcodec_parameters_to_context(codec_.get(), st->codecpar)) < 0) return OpenError("codec", rc);
        codec_->thread_count = 1;  // the model gets the cores; one decode thread per source
        if ((rc = avcodec_open2(codec_.get(), codec, nullptr)) < 0) return OpenError("cannot open the decoder", rc);
        decoder_ = DecoderInfo{codec->name, false, spec_.hwdecode ? why_not : ""};
      }
    }
    time_base_ = av_q2d(st->time_base);
    packet_.reset(av_packet_alloc());
    frame_.reset(av_frame_alloc());
    if (!packet_ || !frame_) return ResourceExhausted("out of memory");
    return Status::Ok();
  }

  Result<Frame> Read() override {
    while (true) {
      if (interrupted_) return Unavailable("interrupted");
      // A decoded frame waiting in the decoder comes first.
      if (codec_) {
        int rc = avcodec_receive_frame(codec_.get(), frame_.get());
        if (rc == 0) {
          Result<Frame> f = Convert();
          av_frame_unref(frame_.get());
          if (f.ok()) EV_RETURN_IF_ERROR(Pace(frame_pts_));
          return f;
        }
        if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) return InvalidArgument("undecodable frame: " + AvError(rc));
        if (rc == AVERROR_EOF) {
          if (!spec_.loop) return Unavailable("end of stream");
          EV_RETURN_IF_ERROR(Rewind());
          continue;
        }
      }
      Arm(spec_.limits.read_timeout);
      int rc = av_read_frame(format_.get(), packet_.get());
      if (rc == AVERROR_EOF || (rc < 0 && format_->pb && avio_feof(format_->pb))) {
        if (codec_) {
          avcodec_send_packet(codec_.get(), nullptr);  // drain, then EOF above
          continue;
        }
        if (!spec_.loop) return Unavailable("end of stream");
        EV_RETURN_IF_ERROR(Rewind());
        continue;
      }
      if (rc == AVERROR_EXIT) return interrupted_ ? Unavailable("interrupted") : Unavailable("no data for " + Seconds(spec_.limits.read_timeout));
      if (rc < 0) return Unavailable("read failed: " + AvError(rc));
      struct Unref {
        AVPacket* p;
        ~Unref() { av_packet_unref(p); }
      } unref{packet_.get()};
      if (packet_->stream_index != stream_) continue;
      const int64_t pts = packet_->pts != AV_NOPTS_VALUE ? packet_->pts : packet_->dts;
      if (passthrough_jpeg_) {
        if (static_cast<size_t>(packet_->size) > spec_.limits.max_frame_bytes) {
          return InvalidArgument("a JPEG frame of " + std::to_string(packet_->size) + " bytes is over the limit");
        }
        Frame f;
        f.encoded.assign(packet_->data, packet_->data + packet_->size);
        EV_RETURN_IF_ERROR(Pace(pts));
        f.read_at = std::chrono::steady_clock::now();
        return f;
      }
      rc = avcodec_send_packet(codec_.get(), packet_.get());
      if (rc < 0 && rc != AVERROR(EAGAIN)) return InvalidArgument("undecodable packet: " + AvError(rc));
    }
  }

  DecoderInfo decoder() const override { return decoder_; }

  void Interrupt() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      interrupted_ = true;
    }
    wake_.notify_all();
  }

 private:
  static int InterruptCallback(void* opaque) {
    auto* self = static_cast<FfmpegSource*>(opaque);
    if (self->interrupted_) return 1;
    if (self->opening_ && self->cancelled_ && self->cancelled_()) return 1;
    return std::chrono::steady_clock::now() > self->deadline_.load() ? 1 : 0;
  }

  static std::string Seconds(std::chrono::milliseconds ms) { return std::to_string(ms.count() / 1000.0).substr(0, 4) + " s"; }

  void Arm(std::chrono::milliseconds timeout) { deadline_ = std::chrono::steady_clock::now() + timeout; }

  Status OpenError(const std::string& what, int rc) {
    if (cancelled_ && cancelled_()) return Unavailable("cancelled while opening");
    if (rc == AVERROR_EXIT) return Unavailable(what + ": timed out");
    return Unavailable(what + ": " + AvError(rc));
  }

  Status Rewind() {
    int rc = av_seek_frame(format_.get(), stream_, 0, AVSEEK_FLAG_BACKWARD);
    if (rc < 0) return Unavailable("end of stream (cannot loop: " + AvError(rc) + ")");
    if (codec_) avcodec_flush_buffers(codec_.get());
    pace_anchor_set_ = false;
    return Status::Ok();
  }

  // A file read in real time: waits until the frame's time has come. A
  // stream comes at its own pace.
  Status Pace(int64_t pts) {
    if (!is_file_ || !spec_.realtime || pts == AV_NOPTS_VALUE) return Status::Ok();
    const auto now = std::chrono::steady_clock::now();
    const double t = static_cast<double>(pts) * time_base_;
    if (!pace_anchor_set_) {
      pace_anchor_set_ = true;
      pace_anchor_ = now;
      pace_first_ = t;
      return Status::Ok();
    }
    const auto due = pace_anchor_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(t - pace_first_));
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait_until(lock, due, [&] { return interrupted_.load(); });
    if (interrupted_) return Unavailable("interrupted");
    return Status::Ok();
  }

  // ---- hardware decoding (hwdecode=auto): tried, never required ----

  // Opens codec_ on a hardware decoder FFmpeg offers for `codec` and that
  // opens on this machine: first a V4L2 memory-to-memory wrapper
  // (h264_v4l2m2m: the Raspberry Pi's), then each hardware device type this
  // FFmpeg was built with (av_hwdevice_iterate_types: VAAPI, VDPAU, CUDA,
  // ...) that the decoder supports. False, with every attempt's failure in
  // `why_not`, when none opens.
  bool OpenHardwareDecoder(const AVCodec* codec, const AVCodecParameters* par, std::string* why_not) {
    auto failed = [why_not](const std::string& what, const std::string& why) {
      *why_not += (why_not->empty() ? "" : "; ") + what + ": " + why;
    };
    const std::string m2m = std::string(codec->name) + "_v4l2m2m";
    if (const AVCodec* wrapper = avcodec_find_decoder_by_name(m2m.c_str())) {
      CodecPtr ctx(avcodec_alloc_context3(wrapper));
      int rc = ctx ? avcodec_parameters_to_context(ctx.get(), par) : AVERROR(ENOMEM);
      if (rc >= 0) rc = avcodec_open2(ctx.get(), wrapper, nullptr);
      if (rc >= 0) {
        codec_ = std::move(ctx);
        decoder_ = DecoderInfo{m2m, true, ""};
        return true;
      }
      failed(m2m, AvError(rc));
    } else {
      failed(m2m, "not in this FFmpeg");
    }
    for (AVHWDeviceType type = av_hwdevice_iterate_types(AV_HWDEVICE_TYPE_NONE); type != AV_HWDEVICE_TYPE_NONE;
         type = av_hwdevice_iterate_types(type)) {
      const std::string name = av_hwdevice_get_type_name(type);
      AVPixelFormat hw_format = AV_PIX_FMT_NONE;
      for (int i = 0;; ++i) {
        const AVCodecHWConfig* config = avcodec_get_hw_config(codec, i);
        if (!config) break;
        if ((config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) && config->device_type == type) {
          hw_format = config->pix_fmt;
          break;
        }
      }
      if (hw_format == AV_PIX_FMT_NONE) continue;  // this decoder cannot use that device type
      AVBufferRef* raw_device = nullptr;
      int rc = av_hwdevice_ctx_create(&raw_device, type, nullptr, nullptr, 0);
      BufferPtr device(raw_device);
      if (rc < 0) {
        failed(name, AvError(rc));
        continue;
      }
      CodecPtr ctx(avcodec_alloc_context3(codec));
      rc = ctx ? avcodec_parameters_to_context(ctx.get(), par) : AVERROR(ENOMEM);
      if (rc >= 0) {
        ctx->hw_device_ctx = av_buffer_ref(device.get());
        ctx->opaque = this;
        ctx->get_format = &FfmpegSource::PickHardwareFormat;
        hw_format_ = hw_format;
        rc = avcodec_open2(ctx.get(), codec, nullptr);
      }
      if (rc < 0) {
        failed(name, AvError(rc));
        continue;
      }
      codec_ = std::move(ctx);
      decoder_ = DecoderInfo{std::string(codec->name) + " (" + name + ")", true, ""};
      return true;
    }
    hw_format_ = AV_PIX_FMT_NONE;
    if (why_not->empty()) *why_not = "FFmpeg has no hardware decoder for " + std::string(codec->name);
    return false;
  }

  static AVPixelFormat PickHardwareFormat(AVCodecContext* ctx, const AVPixelFormat* formats) {
    const AVPixelFormat wanted = static_cast<FfmpegSource*>(ctx->opaque)->hw_format_;
    for (const AVPixelFormat* f = formats; *f != AV_PIX_FMT_NONE; ++f) {
      if (*f == wanted) return *f;
    }
    return formats[0];  // FFmpeg's own choice (software) for a stream the device cannot decode
  }

  // The decoded frame as RGB8, with the stream's colour matrix and range.
  Result<Frame> Convert() {
    if (hw_format_ != AV_PIX_FMT_NONE && frame_->format == hw_format_) {
      // A frame in device memory: copied to system memory (NV12 or the like) first.
      if (!sw_frame_) sw_frame_.reset(av_frame_alloc());
      if (!sw_frame_) return ResourceExhausted("out of memory");
      av_frame_unref(sw_frame_.get());
      const int rc = av_hwframe_transfer_data(sw_frame_.get(), frame_.get(), 0);
      if (rc < 0) return InvalidArgument("cannot copy a hardware frame: " + AvError(rc));
      av_frame_copy_props(sw_frame_.get(), frame_.get());
      return ConvertFrame(sw_frame_.get());
    }
    return ConvertFrame(frame_.get());
  }

  Result<Frame> ConvertFrame(AVFrame* src) {
    frame_pts_ = src->best_effort_timestamp;
    if (src->width <= 0 || src->height <= 0 ||
        static_cast<uint64_t>(src->width) * static_cast<uint64_t>(src->height) > spec_.limits.max_pixels) {
      return InvalidArgument("a frame of " + std::to_string(src->width) + "x" + std::to_string(src->height) +
                             " is outside the limits");
    }
    AVPixelFormat fmt = static_cast<AVPixelFormat>(src->format);
    bool full_range = src->color_range == AVCOL_RANGE_JPEG;
    // The deprecated yuvj formats are full-range yuv: say so to swscale.
    switch (fmt) {
      case AV_PIX_FMT_YUVJ420P: fmt = AV_PIX_FMT_YUV420P; full_range = true; break;
      case AV_PIX_FMT_YUVJ422P: fmt = AV_PIX_FMT_YUV422P; full_range = true; break;
      case AV_PIX_FMT_YUVJ444P: fmt = AV_PIX_FMT_YUV444P; full_range = true; break;
      default: break;
    }
    sws_.reset(sws_getCachedContext(sws_.release(), src->width, src->height, fmt, src->width, src->height,
                                    AV_PIX_FMT_RGB24, SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                                    nullptr, nullptr, nullptr));
    if (!sws_) return InvalidArgument("no conversion from this pixel format to RGB");
    const int space = src->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601;
    sws_setColorspaceDetails(sws_.get(), sws_getCoefficients(space), full_range ? 1 : 0,
                             sws_getCoefficients(SWS_CS_ITU601), 1, 0, 1 << 16, 1 << 16);
    Frame f;
    f.rgb.Reshape(src->width, src->height);
    uint8_t* dst[4] = {f.rgb.pixels.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {src->width * 3, 0, 0, 0};
    sws_scale(sws_.get(), src->data, src->linesize, 0, src->height, dst, dst_stride);
    f.read_at = std::chrono::steady_clock::now();
    return f;
  }

  SourceSpec spec_;
  std::function<bool()> cancelled_;
  FormatPtr format_;
  CodecPtr codec_;  // null for MJPEG: its JPEGs go out as sent
  PacketPtr packet_;
  AvFramePtr frame_;
  AvFramePtr sw_frame_;  // a hardware frame copied to system memory
  SwsPtr sws_;
  DecoderInfo decoder_;
  AVPixelFormat hw_format_ = AV_PIX_FMT_NONE;  // the device's frame format when a hardware device decodes
  int stream_ = -1;
  bool passthrough_jpeg_ = false;
  bool is_file_ = false;
  double time_base_ = 0;
  int64_t frame_pts_ = AV_NOPTS_VALUE;
  bool pace_anchor_set_ = false;
  std::chrono::steady_clock::time_point pace_anchor_{};
  double pace_first_ = 0;
  std::atomic<bool> opening_{false};
  std::atomic<std::chrono::steady_clock::time_point> deadline_{};
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace

Result<std::unique_ptr<FrameSource>> OpenFfmpegSource(const SourceSpec& spec, const std::function<bool()>& cancelled) {
  auto source = std::make_unique<FfmpegSource>(spec, cancelled);
  EV_RETURN_IF_ERROR(source->Open());
  return std::unique_ptr<FrameSource>(std::move(source));
}

std::string FfmpegVersions() {
  auto v = [](unsigned x) {
    return std::to_string(AV_VERSION_MAJOR(x)) + "." + std::to_string(AV_VERSION_MINOR(x)) + "." +
           std::to_string(AV_VERSION_MICRO(x));
  };
  return "libavformat " + v(avformat_version()) + ", libavcodec " + v(avcodec_version()) + ", libswscale " +
         v(swscale_version());
}

}  // namespace edgevision::stream
