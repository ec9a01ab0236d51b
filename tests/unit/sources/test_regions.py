"""Privacy masks are blanked before analysis; the region of interest crops and maps back."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.core import Faces, Frame
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.sources.regions import analysis_view, blank_privacy_masks, camera_view

SQUARE = ((10.0, 10.0), (29.0, 10.0), (29.0, 29.0), (10.0, 29.0))


def textured(height: int = 60, width: int = 80) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(1, 256, (height, width, 3), dtype=np.uint8)


def test_privacy_mask_blanks_inside_only_and_copies() -> None:
    image = textured()
    out = blank_privacy_masks(image, [SQUARE])
    assert out is not image
    assert not out[10:30, 10:30].any()
    np.testing.assert_array_equal(out[40:, 40:], image[40:, 40:])
    np.testing.assert_array_equal(out[:, 31:], image[:, 31:])
    assert image[15, 15].all()  # input untouched


def test_several_masks_and_triangles() -> None:
    image = textured()
    triangle = ((50.0, 5.0), (70.0, 5.0), (50.0, 25.0))
    out = blank_privacy_masks(image, [SQUARE, triangle])
    assert not out[20, 20].any()
    assert not out[7, 52].any()  # inside the triangle
    assert out[24, 69].any()  # outside the triangle's hypotenuse


def test_roi_rectangle_crops_and_maps_boxes_back() -> None:
    image = textured()
    view = analysis_view(image, roi_xyxy=(20, 10, 70, 50))
    assert view.image.shape == (40, 50, 3)
    assert view.offset_xy == (20, 10)
    np.testing.assert_array_equal(view.image, image[10:50, 20:70])
    found = Faces(
        xyxy=np.array([[1, 2, 11, 12]], np.float32),
        detector_score=[0.9],
        landmarks=np.full((1, 5, 2), 5.0, np.float32),
    )
    back = view.faces_to_frame(found)
    np.testing.assert_allclose(back.xyxy, [[21, 12, 31, 22]])
    assert back.landmarks is not None
    np.testing.assert_allclose(back.landmarks[0, 0], [25, 15])


def test_roi_polygon_blanks_outside_and_masks_apply_first() -> None:
    image = textured()
    diamond = ((40.0, 0.0), (79.0, 30.0), (40.0, 59.0), (0.0, 30.0))
    view = analysis_view(image, roi_polygon=diamond, privacy_masks=[SQUARE])
    assert view.offset_xy == (0, 0)
    assert view.image.shape == image.shape
    assert not view.image[1, 1].any()  # corner: outside the diamond
    assert not view.image[25, 25].any()  # inside the diamond but under the privacy mask
    np.testing.assert_array_equal(view.image[30, 40], image[30, 40])


def test_roi_outside_the_picture_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="outside"):
        analysis_view(textured(), roi_xyxy=(100, 100, 200, 200))
    with pytest.raises(InvalidInputError):
        analysis_view(textured(), roi_xyxy=(0, 0, 5, 5), roi_polygon=SQUARE)
    with pytest.raises(InvalidInputError):
        blank_privacy_masks(textured(), [((0.0, 0.0), (5.0, 5.0))])


def test_camera_view_uses_the_settings() -> None:
    settings = CameraSettings(
        camera_id="lobby", source="lobby.mp4", roi_xyxy=(0, 0, 40, 40), privacy_masks=(SQUARE,)
    )
    view = camera_view(Frame(textured(), source_id="lobby"), settings)
    assert view.image.shape == (40, 40, 3)
    assert not view.image[15, 15].any()
    assert view.image[35, 35].any()
