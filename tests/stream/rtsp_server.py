#!/usr/bin/python3
"""A real RTSP server on loopback for the live-source tests (issue 15).

GStreamer's RTSP server (Debian: gir1.2-gst-rtsp-server-1.0, python3-gi,
gstreamer1.0-plugins-good and -bad) serves an H.264 MP4 file at
rtsp://127.0.0.1:PORT/cam, each client from the start of the file (at its
end the stream ends and the client reconnects). Prints "READY <port>" on stdout once it
listens; runs until killed.

usage: rtsp_server.py VIDEO.mp4 [PORT]   (PORT 0 or absent: any free port)
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    video = sys.argv[1]
    port = sys.argv[2] if len(sys.argv) > 2 else "0"
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        '( filesrc location="%s" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
        % video.replace("\\", "\\\\").replace('"', '\\"')
    )
    factory.set_shared(False)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print("cannot listen on port %s" % port, file=sys.stderr)
        return 1
    print("READY %d" % server.get_bound_port(), flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
