"""Video analysis and alert delivery settings (the ``video`` section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AlertSettings(BaseModel):
    """Where confirmed alerts go. Only reviewer-confirmed alerts ever leave the site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: str | None = Field(
        default=None,
        title="Webhook URL",
        description="Confirmed alerts are POSTed here as JSON; empty turns the webhook off.",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, title="Webhook timeout", description="Seconds to wait for an answer."
    )
    mqtt_host: str | None = Field(
        default=None,
        title="MQTT broker",
        description="Host of the MQTT broker alerts are published to (QoS 1); empty: none.",
    )
    mqtt_port: int = Field(default=1883, ge=1, le=65535, title="MQTT port", description="Port.")
    mqtt_topic_prefix: str = Field(
        default="watchkeeper",
        min_length=1,
        title="MQTT topic prefix",
        description="Alerts go to <prefix>/<camera>/<kind>.",
    )
    retry_initial_s: float = Field(
        default=1.0,
        gt=0,
        title="First retry delay",
        description="Seconds before a failed delivery is tried again; doubles each time.",
    )
    retry_max_s: float = Field(
        default=60.0,
        gt=0,
        title="Longest retry delay",
        description="The retry delay never grows beyond this; deliveries are retried for ever.",
    )


class VideoSettings(BaseModel):
    """How live and recorded video is analysed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detection_interval: int = Field(
        default=5,
        ge=1,
        le=100,
        title="Default detection interval",
        description=(
            "Run the face detector on every Nth frame and track in between, for cameras that "
            "do not set their own. HOG with upsampling 1 costs about 140 ms of CPU per "
            "640x480 frame here, so with detection in a worker process 5 is the smallest "
            "interval that keeps 25 fps real-time on 2 cores (see docs/benchmarks.md)."
        ),
    )
    detect_in_worker: bool = Field(
        default=True,
        title="Detect in a worker process",
        description=(
            "Run the detector in its own process while the main loop decodes, tracks and "
            "embeds, so two cores share the work. Off: everything in one process."
        ),
    )
    embed_every: int = Field(
        default=2,
        ge=1,
        le=100,
        title="Embedding interval",
        description=(
            "A tracked face is embedded on every Nth detection of its track (sooner when the "
            "face grows by a quarter), which feeds its identity vote."
        ),
    )
    detection_upsample: int = Field(
        default=1,
        ge=0,
        le=3,
        title="Detector upsampling for video",
        description="HOG upsampling on video frames (1 finds faces down to about 40 pixels).",
    )
    min_track_frames: int = Field(
        default=3,
        ge=1,
        title="Shortest sighting",
        description="Tracks seen on fewer detections than this leave no sighting.",
    )
    unknown_link_similarity: float | None = Field(
        default=None,
        ge=-1.0,
        le=1.0,
        title="Link unknown people at",
        description=(
            "Similarity at which unknown people seen by different cameras within the sighting "
            "retention are linked as one person; empty: the threshold at a tenth of the target "
            "false-match rate (stricter than identification)."
        ),
    )
    alerts: AlertSettings = Field(default_factory=AlertSettings, title="Alerts")
