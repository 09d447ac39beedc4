"""Colour science for the colour modules: sRGB ⇄ CIELAB (D65), CIEDE2000, hex notation, k-means in Lab."""
from __future__ import annotations

import numpy as np

_D65 = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (any shape [..., 3]) → CIELAB under D65."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB under D65 → sRGB in [0, 1], clipped to the gamut."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _D65
    linear = np.clip(xyz @ np.linalg.inv(_RGB_TO_XYZ).T, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray, k_l: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference between broadcastable Lab arrays [..., 3] (Sharma, Wu & Dalal 2005)."""
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl, dc = l2 - l1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0, dh)
    dh_big = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar, c_bar_p = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(
        c1p * c2p == 0,
        h_sum,
        np.where(np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -2 * np.sqrt(c_bar_p**7 / (c_bar_p**7 + 25.0**7)) * np.sin(np.radians(60 * np.exp(-(((h_bar - 275) / 25) ** 2))))
    return np.sqrt(
        (dl / (k_l * s_l)) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2 + r_t * (dc / s_c) * (dh_big / s_h)
    )


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    text = value.strip().lstrip("#")
    if len(text) != 6:
        raise ValueError(f"a colour must be written #RRGGBB, got {value!r}")
    try:
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    except ValueError:
        raise ValueError(f"a colour must be written #RRGGBB, got {value!r}") from None


def rgb_to_hex(rgb: np.ndarray) -> str:
    red, green, blue = (int(round(float(channel) * 255)) for channel in rgb)
    return f"#{red:02X}{green:02X}{blue:02X}"


def kmeans(points: np.ndarray, k: int, iterations: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(centres [k', D], member counts [k']) of `points` [N, D]; empty clusters are dropped. Deterministic."""
    if len(points) == 0:
        raise ValueError("no points to cluster")
    # Farthest-point initialisation from the median: deterministic, and it does not start two centres in one blob.
    centres = [np.median(points, axis=0)]
    nearest = squared_distances(points, centres[0][None, :])[:, 0]
    for _ in range(1, min(k, len(points))):
        centres.append(points[nearest.argmax()])
        nearest = np.minimum(nearest, squared_distances(points, centres[-1][None, :])[:, 0])
    centres_array = np.array(centres, dtype=np.float64)
    labels = nearest_centre(points, centres_array)
    for _ in range(iterations):
        counts = np.bincount(labels, minlength=len(centres_array))
        filled = counts > 0
        sums = np.stack([np.bincount(labels, weights=points[:, d], minlength=len(centres_array))
                         for d in range(points.shape[1])], axis=1)
        centres_array[filled] = sums[filled] / counts[filled, None]
        previous, labels = labels, nearest_centre(points, centres_array)
        if np.array_equal(labels, previous):  # converged: further rounds would change nothing (a request's time)
            break
    counts = np.bincount(labels, minlength=len(centres_array))
    return centres_array[counts > 0], counts[counts > 0]


def nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The index of the nearest of `centres` [k, D] (Euclidean) for each of `points` [N, D]."""
    return squared_distances(points, centres).argmin(axis=1)


def squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """[N, k] squared Euclidean distances between `points` [N, D] and `centres` [k, D]."""
    # Summed coordinate by coordinate: a reduction over a length-3 last axis is numpy's slow case.
    squared = np.zeros((len(points), len(centres)))
    for d in range(points.shape[1]):
        squared += (points[:, d, None] - centres[None, :, d]) ** 2
    return squared
