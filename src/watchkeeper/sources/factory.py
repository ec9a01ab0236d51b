"""Build the right source for a camera's settings."""

from __future__ import annotations

from watchkeeper.config.cameras import CameraSettings, SourceKind
from watchkeeper.sources.base import VideoSource
from watchkeeper.sources.files import ImageFolderSource, VideoFileSource
from watchkeeper.sources.stream import StreamSource
from watchkeeper.sources.webcam import WebcamSource


def open_source(settings: CameraSettings) -> VideoSource:
    """The source a camera's settings describe (nothing is opened until it is iterated).

    >>> open_source(CameraSettings(camera_id="door", source="rtsp://10.0.0.5/live")).source_id
    'door'
    """
    kind = settings.resolved_kind
    if kind is SourceKind.STREAM:
        return StreamSource(
            settings.source,
            source_id=settings.camera_id,
            fps_cap=settings.fps_cap,
            rtsp_transport=settings.rtsp_transport,
            open_timeout_s=settings.open_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            reconnect=settings.reconnect,
        )
    if kind is SourceKind.WEBCAM:
        return WebcamSource(
            int(settings.source), source_id=settings.camera_id, fps_cap=settings.fps_cap
        )
    if kind is SourceKind.FOLDER:
        return ImageFolderSource(
            settings.source,
            source_id=settings.camera_id,
            fps=settings.folder_fps,
            fps_cap=settings.fps_cap,
        )
    return VideoFileSource(settings.source, source_id=settings.camera_id, fps_cap=settings.fps_cap)
