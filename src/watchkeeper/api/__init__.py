"""The HTTP service: JSON API, CompreFace-compatible API and web console (FastAPI)."""

from watchkeeper.api.app import create_app

__all__ = ["create_app"]
