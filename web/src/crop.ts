// Crop boxes as fractions of the displayed photo (0..1), so they survive resizing; converted to the photo's own
// pixels only when sent to the API.

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PixelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/** The box spanned by two corner points (any order), clamped to the photo. */
export function boxFromPoints(ax: number, ay: number, bx: number, by: number): Box {
  const x0 = clamp(Math.min(ax, bx), 0, 1);
  const y0 = clamp(Math.min(ay, by), 0, 1);
  const x1 = clamp(Math.max(ax, bx), 0, 1);
  const y1 = clamp(Math.max(ay, by), 0, 1);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Moves the box by (dx, dy), or resizes it from its bottom-right corner, without leaving the photo. */
export function nudge(box: Box, dx: number, dy: number, resize: boolean): Box {
  if (resize) {
    return { ...box, width: clamp(box.width + dx, 0.02, 1 - box.x), height: clamp(box.height + dy, 0.02, 1 - box.y) };
  }
  return { ...box, x: clamp(box.x + dx, 0, 1 - box.width), y: clamp(box.y + dy, 0, 1 - box.height) };
}

/** The box in the photo's own pixels (rounded inwards to whole pixels), as the API expects. */
export function toPixels(box: Box, naturalWidth: number, naturalHeight: number): PixelBox {
  const x = Math.round(box.x * naturalWidth);
  const y = Math.round(box.y * naturalHeight);
  return {
    x,
    y,
    width: Math.max(1, Math.min(naturalWidth - x, Math.round(box.width * naturalWidth))),
    height: Math.max(1, Math.min(naturalHeight - y, Math.round(box.height * naturalHeight))),
  };
}

/** Boxes smaller than this share of either side are treated as an accidental tap, not a crop. */
export const MIN_SIDE = 0.03;
