// Annotate: choose or shoot a photo, see the predictions, crop and annotate again, correct and save a review.
import { useCallback, useEffect, useState } from "react";
import { annotations, taxonomy as fetchTaxonomy } from "../api/endpoints";
import type { Annotation, Crop, ReviewIn, Taxonomy } from "../api/types";
import { correctionProblem, initialCorrection } from "../correction";
import { CropBox } from "../components/CropBox";
import { PhotoPicker, UnreadablePhoto } from "../components/PhotoPicker";
import { Predictions } from "../components/Predictions";
import { ShopTermsAnswer } from "../components/ShopTermsAnswer";
import { ErrorMessage, Notice, Spinner } from "../components/Status";
import { Link, navigate } from "../router";
import { usePhoto } from "../usePhoto";
import { useTask } from "../useTask";

function cropText(crop: Crop | null): string {
  return crop ? `the crop ${crop.width}×${crop.height} at (${crop.x}, ${crop.y})` : "the whole photo";
}

export function AnnotatePage() {
  const photo = usePhoto();
  const { showStored } = photo;
  const [annotation, setAnnotation] = useState<Annotation | null>(null);
  const [correction, setCorrection] = useState<ReviewIn | null>(null);
  const [saved, setSaved] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [taxonomy, setTaxonomy] = useState<Taxonomy | null>(null);
  const [name, setName] = useState("");
  const loadTaxonomy = useTask(useCallback(async () => setTaxonomy(await fetchTaxonomy()), []));
  const { run: runTaxonomy } = loadTaxonomy;
  useEffect(() => {
    runTaxonomy();
  }, [runTaxonomy]);

  const annotate = useTask(
    useCallback(async (file: File, crop: Crop | null, title: string) => {
      const result = await annotations.upload(file, file.name || "photo.jpg", crop, title);
      showStored(result.image.url);  // in place of a file this browser cannot draw: the API's JPEG of a HEIC photo
      setAnnotation(result);
      setSaved(false);
      navigate(`/annotate?annotation=${encodeURIComponent(result.id)}`, true); // a reload shows it again
      return result;
    }, [showStored]),
  );
  // The annotation the page's address names (reloaded, or a link kept): shown again, its photo fetched back from
  // the service so that it can be cropped and annotated again.
  const { setFile } = photo;
  const restore = useTask(
    useCallback(async (id: string) => {
      try {
        const found = await annotations.get(id);
        showStored(found.image.url);
        setAnnotation(found);
        const stored = await fetch(found.image.url);
        if (stored.ok) {
          const blob = await stored.blob();
          setFile(new File([blob], "photo.jpg", { type: blob.type || "image/jpeg" }));
          showStored(found.image.url);
        }
      } catch (caught) {
        navigate("/annotate", true);
        throw caught;
      }
    }, [setFile, showStored]),
  );
  const { run: runRestore } = restore;
  useEffect(() => {
    const id = new URLSearchParams(window.location.search).get("annotation");
    if (id) runRestore(id);
  }, [runRestore]);
  const save = useTask(
    useCallback(async (id: string, value: ReviewIn) => {
      await annotations.review(id, value);
      setSaved(true);
    }, []),
  );

  const choose = (file: File) => {
    photo.setFile(file);
    setAnnotation(null);
    annotate.run(file, null, name);
  };
  // The correction starts from the predictions once both the annotation and the taxonomy are here.
  useEffect(() => {
    if (annotation && taxonomy) setCorrection(initialCorrection(annotation, taxonomy));
  }, [annotation, taxonomy]);

  const submitReview = () => {
    if (!annotation || !correction) return;
    const found = correctionProblem(correction);
    setProblem(found);
    if (!found) save.run(annotation.id, correction);
  };

  return (
    <section>
      <h1 tabIndex={-1}>Annotate a photo</h1>
      <p className="lead">The category, attributes and colours of a garment. Draw a box on the photo to annotate only that part.</p>
      <div className="field">
        <label htmlFor="annotate-name">Product name (optional)</label>
        <input id="annotate-name" maxLength={300} value={name} onChange={(event) => setName(event.target.value)}
          aria-describedby="annotate-name-help" />
        <p className="help" id="annotate-name-help">Your shop&apos;s own model reads it beside the photo, as it does a store product&apos;s.</p>
      </div>
      <PhotoPicker onPhoto={choose} disabled={annotate.busy} />
      <div className="two-columns">
        <div>
          {photo.src && (
            <>
              <CropBox src={photo.src} alt="The photo to annotate" box={photo.box} onChange={photo.setBox} onImageLoad={photo.onImageLoad} onImageError={photo.onImageError} />
              {photo.unreadable && <UnreadablePhoto file={photo.file} then="it is shown from the service's copy once annotated" />}
              <div className="button-row">
                <button
                  type="button"
                  className="primary"
                  disabled={!photo.box || annotate.busy}
                  onClick={() => photo.file && annotate.run(photo.file, photo.crop(), name)}
                >
                  Annotate the crop
                </button>
                <button type="button" disabled={!photo.box} onClick={() => photo.setBox(null)}>
                  Clear the crop
                </button>
                <button type="button" disabled={annotate.busy || !photo.file} onClick={() => photo.file && annotate.run(photo.file, null, name)}>
                  Annotate the whole photo
                </button>
              </div>
              {!photo.box && <p className="help">Drag on the photo to draw a crop box (or focus the photo and press Enter).</p>}
            </>
          )}
        </div>
        {/* What a screen reader announces: the outcome in a line, not every prediction (errors are alerts). */}
        <p className="visually-hidden" aria-live="polite" data-testid="annotation-status">
          {annotate.busy ? "Annotating…" : annotation ? `Annotated: ${annotation.category[0]?.name ?? "no category"}.` : ""}
        </p>
        <div>
          {annotate.busy && <Spinner label="Annotating…" />}
          {restore.busy && <Spinner label="Loading the annotation…" />}
          <ErrorMessage error={annotate.error} onDismiss={annotate.clearError} />
          <ErrorMessage error={restore.error && `The annotation this page's address names could not be shown: ${restore.error}`} onDismiss={restore.clearError} />
          <ErrorMessage error={loadTaxonomy.error && `The label lists could not be loaded: ${loadTaxonomy.error}`} />
          {annotation?.shop && !annotate.busy && <ShopTermsAnswer shop={annotation.shop} />}
          {annotation && correction && taxonomy && !annotate.busy && (
            <div className="card" data-testid="annotation">
              <h2>Predictions</h2>
              <p className="muted" data-testid="annotation-scope">
                For {cropText(annotation.crop)} · model {annotation.model.name} {annotation.model.version}
              </p>
              <Predictions key={annotation.id} annotation={annotation} taxonomy={taxonomy} value={correction} onChange={(value) => (setCorrection(value), setSaved(false))} />
              <ErrorMessage error={problem ?? save.error} />
              {saved && (
                <Notice>
                  Review saved. See it under <Link href="/reviews">Past reviews</Link>.
                </Notice>
              )}
              <div className="button-row">
                <button type="button" className="primary" onClick={submitReview} disabled={save.busy}>
                  {save.busy ? "Saving…" : "Save review"}
                </button>
                <button type="button" onClick={() => setCorrection(initialCorrection(annotation, taxonomy))}>
                  Reset to the predictions
                </button>
              </div>
            </div>
          )}
        </div>
      </div>
    </section>
  );
}
