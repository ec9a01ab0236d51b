"""The web console's pages: Jinja2 templates, static files and the view models they show.

Server-rendered HTML with no JavaScript build step. The routes that serve these pages live in
``watchkeeper.api.routers.console``, which sits above this package.
"""

from watchkeeper.web.pages import STATIC_DIR, FaceBox, Overlay, Pages, overlay_for

__all__ = ["STATIC_DIR", "FaceBox", "Overlay", "Pages", "overlay_for"]
