// Shows a photo and lets the user draw a crop box on it with a mouse, a pen or a finger (pointer events), or
// place and adjust one from the keyboard (arrows move it, Shift+arrows resize it, Delete clears it).
import { useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { boxFromPoints, MIN_SIDE, nudge, type Box } from "../crop";

interface Props {
  src: string;
  alt: string;
  box: Box | null;
  onChange: (box: Box | null) => void;
  onImageLoad?: (image: HTMLImageElement) => void;
  onImageError?: () => void;
}

const STEP = 0.02;

export function CropBox({ src, alt, box, onChange, onImageLoad, onImageError }: Props) {
  const surface = useRef<HTMLDivElement>(null);
  const start = useRef<{ x: number; y: number } | null>(null);
  const [draft, setDraft] = useState<Box | null>(null);

  const point = (event: PointerEvent) => {
    const rect = surface.current!.getBoundingClientRect();
    return { x: (event.clientX - rect.left) / rect.width, y: (event.clientY - rect.top) / rect.height };
  };
  const down = (event: PointerEvent<HTMLDivElement>) => {
    if (event.button !== 0) return;
    event.currentTarget.setPointerCapture(event.pointerId);
    start.current = point(event);
    setDraft(null);
  };
  const move = (event: PointerEvent<HTMLDivElement>) => {
    if (!start.current) return;
    const here = point(event);
    setDraft(boxFromPoints(start.current.x, start.current.y, here.x, here.y));
  };
  const up = (event: PointerEvent<HTMLDivElement>) => {
    if (!start.current) return;
    const here = point(event);
    const drawn = boxFromPoints(start.current.x, start.current.y, here.x, here.y);
    start.current = null;
    setDraft(null);
    // A tap (or a tiny drag) is not a crop: keep the previous box.
    if (drawn.width >= MIN_SIDE && drawn.height >= MIN_SIDE) onChange(drawn);
  };
  const key = (event: KeyboardEvent<HTMLDivElement>) => {
    const moves: Record<string, [number, number]> = { ArrowLeft: [-STEP, 0], ArrowRight: [STEP, 0], ArrowUp: [0, -STEP], ArrowDown: [0, STEP] };
    if (event.key in moves) {
      event.preventDefault();
      const [dx, dy] = moves[event.key];
      onChange(nudge(box ?? { x: 0.25, y: 0.25, width: 0.5, height: 0.5 }, dx, dy, event.shiftKey));
    } else if (event.key === "Delete" || event.key === "Backspace" || event.key === "Escape") {
      if (box) {
        event.preventDefault();
        onChange(null);
      }
    } else if (event.key === "Enter" && !box) {
      event.preventDefault();
      onChange({ x: 0.25, y: 0.25, width: 0.5, height: 0.5 });
    }
  };
  const shown = draft ?? box;
  const percent = (value: number) => `${(value * 100).toFixed(2)}%`;
  return (
    <div className="crop-frame">
      <div
        ref={surface}
        className="crop-surface"
        tabIndex={0}
        role="application"
        aria-label="Crop box: drag on the photo to draw one; arrow keys move it, Shift+arrows resize it, Delete clears it"
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={up}
        onPointerCancel={() => {
          start.current = null;
          setDraft(null);
        }}
        onKeyDown={key}
        data-testid="crop-surface"
      >
        <img src={src} alt={alt} draggable={false} onLoad={(event) => onImageLoad?.(event.currentTarget)} onError={() => onImageError?.()} />
        {shown && (
          <div
            className={`crop-box${draft ? " drawing" : ""}`}
            data-testid="crop-box"
            style={{ left: percent(shown.x), top: percent(shown.y), width: percent(shown.width), height: percent(shown.height) }}
          />
        )}
      </div>
    </div>
  );
}
