"""Settings of the HTTP service: where it listens and the limits it enforces on every request."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(
        "127.0.0.1",
        title="Listen address",
        description="Loopback by default, so nothing is reachable from the network until an "
        "administrator chooses to expose it (preferably behind a TLS proxy).",
    )
    port: int = Field(8000, ge=1, le=65535, title="Port", description="TCP port to listen on.")
    max_body_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1024,
        title="Largest request body",
        description="Requests with a larger body are refused with 413 before they are read.",
    )
    max_image_pixels: int = Field(
        25_000_000,
        ge=10_000,
        title="Largest image",
        description="Uploaded images with more pixels than this are refused from their header "
        "alone, before decoding (guards against decompression bombs).",
    )
    session_hours: float = Field(
        12.0,
        gt=0.0,
        le=24.0 * 30,
        title="Session length",
        description="How long a token from sign-in stays valid, in hours.",
    )
    login_burst: int = Field(
        5,
        ge=1,
        le=1000,
        title="Login attempts in a burst",
        description="Sign-in attempts allowed at once per username and per client address.",
    )
    login_refill_s: float = Field(
        12.0,
        gt=0.0,
        title="Login attempt refill",
        description="Seconds until one more sign-in attempt is allowed after a burst is spent.",
    )
    secure_cookies: bool = Field(
        False,
        title="Secure cookies",
        description="Mark the console's session cookie Secure (send it over HTTPS only). Turn "
        "on when the service sits behind a TLS proxy.",
    )
    graceful_shutdown_s: float = Field(
        10.0,
        ge=0.0,
        title="Graceful shutdown",
        description="Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.",
    )
