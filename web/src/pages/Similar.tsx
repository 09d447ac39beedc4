// Similar items: upload or shoot a photo, optionally crop it, and browse the closest products of a catalogue.
import { useCallback, useState, type FormEvent } from "react";
import { similar } from "../api/endpoints";
import type { SimilarResult } from "../api/types";
import { CropBox } from "../components/CropBox";
import { Gallery } from "../components/Gallery";
import { PhotoPicker, UnreadablePhoto } from "../components/PhotoPicker";
import { TextSearch } from "../components/TextSearch";
import { Empty, ErrorMessage, Spinner } from "../components/Status";
import { usePhoto } from "../usePhoto";
import { useTask } from "../useTask";

export function SimilarPage() {
  const photo = usePhoto();
  const [k, setK] = useState(12);
  const [catalogue, setCatalogue] = useState<"shop" | "demo">("shop");
  const [result, setResult] = useState<SimilarResult | null>(null);
  const search = useTask(
    useCallback(async (file: File, crop: ReturnType<typeof photo.crop>, count: number, which: "shop" | "demo") => {
      setResult(await similar.search(file, file.name || "photo.jpg", crop, count, which));
    }, []),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (photo.file) search.run(photo.file, photo.crop(), k, catalogue);
  };
  return (
    <section>
      <h1 tabIndex={-1}>Similar items</h1>
      <p className="lead">Find the products of your catalogue that look most like a photo, or that match a few words.</p>
      <TextSearch chooseCatalogue />
      <PhotoPicker
        onPhoto={(file) => {
          photo.setFile(file);
          setResult(null);
          search.run(file, null, k, catalogue);
        }}
        disabled={search.busy}
      />
      {photo.src && (
        <div className="two-columns narrow-left">
          <div>
            <CropBox src={photo.src} alt="The photo to search with" box={photo.box} onChange={photo.setBox} onImageLoad={photo.onImageLoad} onImageError={photo.onImageError} />
            {photo.unreadable && <UnreadablePhoto file={photo.file} />}
            <form className="button-row" onSubmit={submit}>
              <label htmlFor="k">Show</label>
              <select id="k" aria-label="How many similar items to show" value={k} onChange={(event) => setK(Number(event.target.value))}>
                {[6, 12, 24, 48].map((count) => (
                  <option key={count} value={count}>
                    {count}
                  </option>
                ))}
              </select>
              <label htmlFor="catalogue">from</label>
              <select id="catalogue" aria-label="Similar items from" value={catalogue} onChange={(event) => setCatalogue(event.target.value as "shop" | "demo")}>
                <option value="shop">my catalogue</option>
                <option value="demo">the demo catalogue</option>
              </select>
              <button type="submit" className="primary" disabled={search.busy}>
                {photo.box ? "Search with the crop" : "Search"}
              </button>
              {photo.box && (
                <button type="button" onClick={() => photo.setBox(null)}>
                  Clear the crop
                </button>
              )}
            </form>
          </div>
          <div aria-live="polite">
            {search.busy && <Spinner label="Searching…" />}
            <ErrorMessage error={search.error} onDismiss={search.clearError} />
            {result && !search.busy && (
              <>
                <h2>
                  {result.items.length} most similar in {result.catalogue === "shop" ? "your catalogue" : "the demo catalogue"}
                </h2>
                {result.items.length ? <Gallery items={result.items} /> : <Empty>This catalogue has no products yet. Import some under Catalogue.</Empty>}
              </>
            )}
          </div>
        </div>
      )}
    </section>
  );
}
