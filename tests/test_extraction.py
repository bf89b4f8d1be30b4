"""Box extraction along a trace: pixel fractions, background, errors, DQ."""

from __future__ import annotations

import numpy as np
import pytest

from stisdarks.extraction import box_weights, extract_box, trace_rows

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


def test_recovers_a_known_flux_along_a_tilted_trace():
    x = np.arange(NX)
    centre = 25.2 + 0.08 * x  # tilted, sub-pixel centres
    flux = 1000.0 + 50.0 * np.sin(x / 5.0)
    background = 3.0 + 0.05 * np.arange(NY)[:, None]  # linear in the row: the two boxes average out
    img = spectrum(flux, centre, background=background)
    err = np.ones_like(img)
    out = extract_box(img, err, np.zeros(img.shape, np.int16), centre, 11.0, -15.0, 15.0, 5.0, 5.0)
    np.testing.assert_allclose(out["net"], flux, rtol=1e-6)
    np.testing.assert_allclose(out["background"], 11.0 * (3.0 + 0.05 * centre), rtol=1e-9)
    np.testing.assert_allclose(out["gross"], out["net"] + out["background"], rtol=1e-12)


def test_noisy_extraction_error_matches_the_scatter():
    rng = np.random.default_rng(1)
    centre = np.full(NX, 30.0)
    flux = np.full(NX, 500.0)
    model = spectrum(flux, centre, background=10.0)
    err = np.sqrt(model)
    nets = []
    for _ in range(200):
        img = model + rng.normal(0, 1, model.shape) * err
        out = extract_box(
            img, err, np.zeros(img.shape, np.int16), centre, 7.0, -12.0, 12.0, 6.0, 6.0
        )
        nets.append(out["net"])
    nets = np.array(nets)
    assert np.mean(nets) == pytest.approx(500.0 * 0.99999, rel=0.01)
    np.testing.assert_allclose(out["net_error"], nets.std(axis=0).mean(), rtol=0.1)
    # the formula: source variance plus the background mean's variance scaled to the box; the
    # background boxes (centres 18 and 42, 6 tall) hold 5 whole pixels and two halves each
    bk_var = 10.0 * (2 * (5 + 2 * 0.25)) / 12.0**2
    expected = np.sqrt((err[27:34, 0] ** 2).sum() + 7.0**2 * bk_var)
    assert out["net_error"][0] == pytest.approx(expected, rel=1e-6)


def test_dq_is_or_of_the_box_and_masked_by_sdqflags():
    img = np.ones((NY, NX))
    dq = np.zeros((NY, NX), np.int16)
    centre = np.full(NX, 30.0)
    dq[30, 3] = 16  # hot pixel in the box
    dq[33, 4] = 8  # edge row of a 7-pixel box
    dq[40, 5] = 16  # outside the box
    dq[29, 6] = 1024  # not in sdqflags below
    out = extract_box(img, img, dq, centre, 7.0, -12.0, 12.0, 5.0, 5.0, sdqflags=31743 & ~1024)
    assert out["dq"][3] == 16 and out["dq"][4] == 8 and out["dq"][5] == 0 and out["dq"][6] == 0
    assert out["dq"].dtype == np.int16


def test_without_background_boxes_the_background_is_zero():
    img = spectrum(np.full(NX, 100.0), np.full(NX, 30.0), background=5.0)
    out = extract_box(img, np.ones_like(img), np.zeros(img.shape, np.int16), np.full(NX, 30.0), 9.0,
                      -12.0, 12.0, 0.0, 0.0)  # fmt: skip
    np.testing.assert_array_equal(out["background"], 0.0)
    np.testing.assert_allclose(out["gross"], out["net"])
    np.testing.assert_allclose(out["net"], 100.0 * 0.99999 + 9 * 5.0, rtol=1e-4)
