#!/usr/bin/python3
"""A real RTSP server on loopback for the live-source tests (issue 15).

GStreamer's RTSP server (Debian: gir1.2-gst-rtsp-server-1.0, python3-gi,
gstreamer1.0-plugins-good and -bad) serves an H.264 MP4 file at
rtsp://127.0.0.1:PORT/cam, each client from the start of the file, in a loop
without end as a camera does: a consumer slower than the clip (a model under
qemu-user, ~1.5 s per frame) still sees every scene on a later pass instead
of reconnecting to the clip's start at each end of stream (issue 18). The
stream ends only when the server goes away. Prints "READY <port>" on stdout
once it listens; runs until killed.

The clip's access units are read once (qtdemux, h264parse) and replayed by
an appsrc with timestamps that keep growing across passes, so the stream is
one continuous stream to the client (no seek, no time jumping back).

usage: rtsp_server.py VIDEO.mp4 [PORT]   (PORT 0 or absent: any free port)
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

# GST_BUFFER_COPY_ALL (not in the introspection data): flags, timestamps,
# metadata and memory (shared, not copied).
COPY_ALL = (
    Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.TIMESTAMPS | Gst.BufferCopyFlags.META | Gst.BufferCopyFlags.MEMORY
)


def read_clip(video):
    """The clip's H.264 access units (byte-stream) and their caps."""
    pipeline = Gst.parse_launch(
        "filesrc name=file ! qtdemux ! h264parse config-interval=-1 "
        "! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
    )
    pipeline.get_by_name("file").set_property("location", video)
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    units, caps = [], None
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        caps = sample.get_caps()
        unit = sample.get_buffer()
        units.append((unit.pts, unit.duration, unit))
    pipeline.set_state(Gst.State.NULL)
    return units, caps


class LoopingClip:
    """Feeds one client's appsrc the clip's units, pass after pass."""

    def __init__(self, units):
        self.units = units
        pts, duration, _ = units[-1]
        self.length = pts + (duration if duration != Gst.CLOCK_TIME_NONE else 0)
        self.next = 0
        self.offset = 0

    def need_data(self, src, _length):
        pts, duration, original = self.units[self.next]
        # A new buffer sharing the unit's memory (Buffer.copy() would be a
        # reference: its timestamps are the next pass's too).
        unit = original.copy_region(COPY_ALL, 0, original.get_size())
        unit.pts = unit.dts = self.offset + pts
        unit.duration = duration
        self.next += 1
        if self.next == len(self.units):
            self.next = 0
            self.offset += self.length
        src.emit("push-buffer", unit)


def main():
    video = sys.argv[1]
    port = sys.argv[2] if len(sys.argv) > 2 else "0"
    Gst.init(None)
    units, caps = read_clip(video)
    if not units:
        print("no H.264 frames in %s" % video, file=sys.stderr)
        return 1
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=clip format=time ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(False)  # each client its own pipeline, from the clip's start

    def configure(_factory, media):
        src = media.get_element().get_by_name_recurse_up("clip")
        src.set_property("caps", caps)
        clip = LoopingClip(units)
        src.connect("need-data", clip.need_data)
        media.clip = clip  # lives as long as the client's media

    factory.connect("media-configure", configure)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print("cannot listen on port %s" % port, file=sys.stderr)
        return 1
    print("READY %d" % server.get_bound_port(), flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
