"""Box extraction along a trace: pixel fractions, background, errors, DQ."""

from __future__ import annotations

import numpy as np
import pytest

from stisdarks.extraction import box_weights, trace_rows

NY, NX = 60, 40


def spectrum(flux, centre, sigma=1.0, background=None):
    """Image with a Gaussian profile of total ``flux[x]`` per column centred on ``centre[x]``."""
    rows = np.arange(NY)[:, None]
    # integrate the Gaussian over each pixel for an exact total
    from scipy.special import erf

    lo = (rows - 0.5 - centre[None, :]) / (np.sqrt(2) * sigma)
    hi = (rows + 0.5 - centre[None, :]) / (np.sqrt(2) * sigma)
    img = flux[None, :] * 0.5 * (erf(hi) - erf(lo))
    if background is not None:
        img = img + background
    return img


def test_trace_rows_are_zero_indexed():
    np.testing.assert_array_equal(trace_rows(np.array([1.0, 30.5])), [0.0, 29.5])


@pytest.mark.parametrize("centre", [20.0, 20.3, 20.5, 20.77])
def test_box_weights_cover_exactly_the_box(centre):
    w = box_weights(NY, np.full(NX, centre), 7.0)
    np.testing.assert_allclose(w.sum(axis=0), 7.0)
    assert w.min() >= 0 and w.max() <= 1
    rows = np.nonzero(w[:, 0])[0]
    assert rows.min() == int(np.floor(centre - 3.5 + 0.5)) and rows.max() == int(
        np.ceil(centre + 3.5 - 0.5)
    )
    # a box centred on a pixel centre with an odd height takes whole pixels
    if centre == 20.0:
        assert set(np.unique(w)) == {0.0, 1.0}


def test_box_is_clipped_at_the_image_edge():
    w = box_weights(NY, np.full(NX, 1.0), 7.0)
    np.testing.assert_allclose(w.sum(axis=0), 5.0)  # rows -2.5 .. 4.5 -> 0 .. 4.5
