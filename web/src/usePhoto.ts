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
  onImageError: () => void;
  /** True when this browser cannot draw the chosen file (a HEIC photo outside Safari) and no stored copy is shown. */
  unreadable: boolean;
  /** Show the API's stored copy of the photo (a HEIC photo is kept as a JPEG of it) when the file cannot be drawn. */
  showStored: (url: string) => void;
  /** The crop in the photo's own (EXIF-upright) pixels, as the API reads it; null without a crop. */
  crop: () => Crop | null;
}

export function usePhoto(): Photo {
  const [file, setFileState] = useState<File | null>(null);
  const [src, setSrc] = useState<string | null>(null);
  const [box, setBox] = useState<Box | null>(null);
  const [size, setSize] = useState<{ width: number; height: number } | null>(null);
  const [failed, setFailed] = useState(false);
  const [stored, setStored] = useState<string | null>(null);

  useEffect(() => () => void (src && URL.revokeObjectURL(src)), [src]);

  const setFile = useCallback((next: File) => {
    setFileState(next);
    setBox(null);
    setSize(null);
    setFailed(false);
    setStored(null);
    setSrc(URL.createObjectURL(next));
  }, []);
  const onImageError = useCallback(() => setFailed(true), []);
  // Browsers draw images EXIF-upright (image-orientation: from-image), the same frame the API crops in.
  const onImageLoad = useCallback((image: HTMLImageElement) => setSize({ width: image.naturalWidth, height: image.naturalHeight }), []);
  const crop = useCallback(() => (box && size ? toPixels(box, size.width, size.height) : null), [box, size]);
  const shown = (failed || !src) && stored ? stored : src;
  return { file, src: shown, box, setFile, setBox, onImageLoad, onImageError, unreadable: failed && !stored, showStored: setStored, crop };
}
