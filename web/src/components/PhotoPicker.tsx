// Choose a photo three ways: the file dialog, drag-and-drop, or (on a phone) the camera.
// The file is checked here for type and size so a wrong file gets a clear message before any upload.
import { useId, useState, type DragEvent } from "react";

const MAX_BYTES = 10 * 1024 * 1024;

// A HEIC photo (what an iPhone saves) has no media type in some browsers (Chrome on Windows): its name says.
const HEIC_NAME = /\.hei[cf]$/i;

export function checkPhoto(file: File): string | null {
  if (!file.type.startsWith("image/") && !HEIC_NAME.test(file.name))
    return `"${file.name}" is not an image (${file.type || "unknown type"}). Choose a JPEG, PNG, WebP or HEIC photo.`;
  if (file.size > MAX_BYTES) return `"${file.name}" is ${(file.size / 1048576).toFixed(1)} MB; the limit is 10 MB.`;
  return null;
}

export function PhotoPicker({ onPhoto, disabled }: { onPhoto: (file: File) => void; disabled?: boolean }) {
  const id = useId();
  const [dragging, setDragging] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const take = (files: FileList | null) => {
    const file = files?.[0];
    if (!file) return;
    const problem = checkPhoto(file);
    setError(problem);
    if (!problem) onPhoto(file);
  };
  const drop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    if (!disabled) take(event.dataTransfer.files);
  };
  return (
    <div>
      <div
        className={`dropzone${dragging ? " dragging" : ""}`}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={drop}
        data-testid="dropzone"
      >
        <p className="dropzone-hint">Drop a photo here, or</p>
        <div className="button-row">
          {/* Each input before its label: the stylesheet rings the label that follows a focused input. */}
          <input
            id={`${id}-file`}
            className="visually-hidden"
            type="file"
            accept="image/*"
            disabled={disabled}
            data-testid="photo-input"
            onChange={(event) => {
              take(event.target.files);
              event.target.value = "";
            }}
          />
          <label className="button primary" htmlFor={`${id}-file`}>
            Choose a photo
          </label>
          <input
            id={`${id}-camera`}
            className="visually-hidden"
            type="file"
            accept="image/*"
            capture="environment"
            disabled={disabled}
            onChange={(event) => {
              take(event.target.files);
              event.target.value = "";
            }}
          />
          <label className="button" htmlFor={`${id}-camera`}>
            Take a photo
          </label>
        </div>
      </div>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** Said where a chosen photo would be drawn when this browser cannot draw it (HEIC outside Safari): the API reads it. */
export function UnreadablePhoto({ file, then }: { file: File | null; then?: string }) {
  return (
    <p className="help" role="status" data-testid="photo-unreadable">
      This browser cannot show “{file?.name}” (a HEIC photo, as an iPhone saves it, or another format it does not draw), but the service reads it
      {then ? `; ${then}` : ""}.
    </p>
  );
}
