"""Privacy masks and regions of interest, applied to a frame before any analysis.

Pure functions on arrays: they return new images and never change their input. The order
matters and is fixed here: privacy masks are blanked first, in full-picture coordinates, so that
no later crop, resize or model can ever see what is under them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from watchkeeper.config.cameras import CameraSettings, PointXY
from watchkeeper.core import Faces, Frame, Image
from watchkeeper.core.errors import InvalidInputError

MASK_FILL_RGB = (0, 0, 0)


def polygon_mask(
    polygons: Sequence[Sequence[PointXY]], resolution_wh: tuple[int, int]
) -> np.ndarray:
    """Boolean (H, W) array, True inside any of the polygons (pixel points, edges included)."""
    import cv2

    width, height = resolution_wh
    canvas = np.zeros((height, width), np.uint8)
    for polygon in polygons:
        points = np.asarray(polygon, dtype=np.float64)
        if points.ndim != 2 or points.shape[0] < 3 or points.shape[1] != 2:
            raise InvalidInputError("a polygon needs at least 3 (x, y) points")
        # fillPoly wants integer vertices; rounding outwards by half a pixel would be overkill
        # for masks drawn by hand on a console, so plain rounding is used.
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 1)
    return canvas.astype(bool)


def blank_privacy_masks(image: Image, masks: Sequence[Sequence[PointXY]]) -> Image:
    """A copy of ``image`` with every mask polygon filled black.

    >>> img = np.full((10, 10, 3), 255, np.uint8)
    >>> out = blank_privacy_masks(img, [[(0, 0), (4, 0), (4, 4), (0, 4)]])
    >>> int(out[2, 2, 0]), int(out[8, 8, 0]), int(img[2, 2, 0])
    (0, 255, 255)
    """
    out = np.array(image, dtype=np.uint8, copy=True)
    if not masks:
        return out
    inside = polygon_mask(masks, (out.shape[1], out.shape[0]))
    out[inside] = MASK_FILL_RGB
    return out


@dataclass(frozen=True, slots=True)
class AnalysisView:
    """The part of a frame that analysis may see, and how to map results back.

    ``image`` is cropped to the region of interest (its bounding box, with everything outside a
    polygon region blanked) and has privacy masks blanked. Boxes found in ``image`` are moved
    back to full-picture pixels by :meth:`faces_to_frame`.
    """

    image: Image
    offset_xy: tuple[int, int]
    frame_resolution_wh: tuple[int, int]

    def faces_to_frame(self, faces: Faces) -> Faces:
        """``faces`` found in ``image`` with boxes and landmarks in full-frame pixels."""
        dx, dy = self.offset_xy
        if dx == 0 and dy == 0:
            return faces
        shift = np.array([dx, dy, dx, dy], np.float32)
        landmarks = None
        if faces.landmarks is not None:
            landmarks = faces.landmarks + np.array([dx, dy], np.float32)
        return faces.with_columns(xyxy=faces.xyxy + shift, landmarks=landmarks)


def roi_bounds_xyxy(
    resolution_wh: tuple[int, int],
    roi_xyxy: tuple[float, float, float, float] | None = None,
    roi_polygon: Sequence[PointXY] | None = None,
) -> tuple[int, int, int, int]:
    """Integer pixel bounds of the region, clipped to the picture (the whole picture if none)."""
    width, height = resolution_wh
    if roi_xyxy is not None:
        x1, y1, x2, y2 = roi_xyxy
    elif roi_polygon is not None:
        pts = np.asarray(roi_polygon, dtype=np.float64)
        x1, y1 = pts.min(axis=0)
        # Polygon points name pixels, which the filled polygon includes: the bounds end one
        # pixel past the largest vertex (xyxy bounds are exclusive at x2, y2).
        x2, y2 = np.round(pts.max(axis=0)) + 1
    else:
        return 0, 0, width, height
    left = int(np.clip(np.floor(x1), 0, width))
    top = int(np.clip(np.floor(y1), 0, height))
    right = int(np.clip(np.ceil(x2), 0, width))
    bottom = int(np.clip(np.ceil(y2), 0, height))
    if right <= left or bottom <= top:
        raise InvalidInputError(f"the region of interest lies outside the {width}x{height} picture")
    return left, top, right, bottom


def analysis_view(
    image: Image,
    *,
    privacy_masks: Sequence[Sequence[PointXY]] = (),
    roi_xyxy: tuple[float, float, float, float] | None = None,
    roi_polygon: Sequence[PointXY] | None = None,
) -> AnalysisView:
    """Blank privacy masks, then limit the picture to the region of interest.

    >>> img = np.full((100, 200, 3), 200, np.uint8)
    >>> view = analysis_view(img, roi_xyxy=(50, 10, 150, 90))
    >>> view.image.shape, view.offset_xy
    ((80, 100, 3), (50, 10))
    """
    if roi_xyxy is not None and roi_polygon is not None:
        raise InvalidInputError("give either roi_xyxy or roi_polygon, not both")
    resolution_wh = (int(image.shape[1]), int(image.shape[0]))
    masked = blank_privacy_masks(image, privacy_masks)
    if roi_polygon is not None:
        outside = ~polygon_mask([roi_polygon], resolution_wh)
        masked[outside] = MASK_FILL_RGB
    left, top, right, bottom = roi_bounds_xyxy(resolution_wh, roi_xyxy, roi_polygon)
    cropped = np.ascontiguousarray(masked[top:bottom, left:right])
    return AnalysisView(cropped, (left, top), resolution_wh)


def camera_view(frame: Frame, settings: CameraSettings) -> AnalysisView:
    """:func:`analysis_view` with a camera's configured masks and region."""
    return analysis_view(
        frame.image,
        privacy_masks=settings.privacy_masks,
        roi_xyxy=settings.roi_xyxy,
        roi_polygon=settings.roi_polygon,
    )
