// The photo being worked on: the file, an object URL to show it, its upright pixel size, and the crop drawn on it.
import { useCallback, useEffect, useState } from "react";
import { toPixels, type Box } from "./crop";
import type { Crop } from "./api/types";

export interface Photo {
  file: File | null;
  src: string | null;
  box: Box | null;
  setFile: (file: File) => void;
  setBox: (box: Box | null) => void;
  onImageLoad: (image: HTMLImageElement) => void;
  /** The crop in the photo's own (EXIF-upright) pixels, as the API reads it; null without a crop. */
  crop: () => Crop | null;
}

export function usePhoto(): Photo {
  const [file, setFileState] = useState<File | null>(null);
  const [src, setSrc] = useState<string | null>(null);
  const [box, setBox] = useState<Box | null>(null);
  const [size, setSize] = useState<{ width: number; height: number } | null>(null);

  useEffect(() => () => void (src && URL.revokeObjectURL(src)), [src]);

  const setFile = useCallback((next: File) => {
    setFileState(next);
    setBox(null);
    setSize(null);
    setSrc(URL.createObjectURL(next));
  }, []);
  // Browsers draw images EXIF-upright (image-orientation: from-image), the same frame the API crops in.
  const onImageLoad = useCallback((image: HTMLImageElement) => setSize({ width: image.naturalWidth, height: image.naturalHeight }), []);
  const crop = useCallback(() => (box && size ? toPixels(box, size.width, size.height) : null), [box, size]);
  return { file, src, box, setFile, setBox, onImageLoad, crop };
}
