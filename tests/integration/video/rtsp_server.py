"""A local RTSP server for the tests, run by Debian's system Python (it has the GStreamer
bindings; the project's virtual environment does not).

    /usr/bin/python3 rtsp_server.py PORT MODE [ARG]

MODE ``test``: a synthetic test picture (ARG: WIDTHxHEIGHT, default 320x240) at 25 fps;
``file``: an MP4 file (ARG: its path, H.264) replayed to each client.
Serves rtsp://127.0.0.1:PORT/live and prints "ready" once listening.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, mode = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    Gst.init(None)
    if mode == "file":
        launch = f'( filesrc location="{arg}" ! qtdemux ! h264parse ! rtph264pay name=pay0 )'
    else:
        width, height = (arg or "320x240").split("x")
        launch = (
            f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},"
            f"height={height},framerate=25/1 ! x264enc tune=zerolatency speed-preset=ultrafast"
            " key-int-max=25 ! rtph264pay name=pay0 config-interval=1 )"
        )
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(mode != "file")
    server.get_mount_points().add_factory("/live", factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
