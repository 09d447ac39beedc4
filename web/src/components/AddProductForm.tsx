// Add one product from photos on this device (or the phone's camera): it is embedded and joins the index at once.
import { useCallback, useState, type FormEvent } from "react";
import { products } from "../api/endpoints";
import type { Product } from "../api/types";
import { checkPhoto } from "./PhotoPicker";
import { ErrorMessage, Notice } from "./Status";
import { termNames } from "../terms";
import { useTask } from "../useTask";

export function AddProductForm({ onAdded }: { onAdded: () => void }) {
  const [title, setTitle] = useState("");
  const [sku, setSku] = useState("");
  const [categories, setCategories] = useState("");
  const [tags, setTags] = useState("");
  const [photos, setPhotos] = useState<File[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [added, setAdded] = useState<Product | null>(null);
  const [round, setRound] = useState(0); // remounts the file input, whose chosen files cannot be cleared otherwise
  const add = useTask(
    useCallback(
      async (name: string, code: string, files: File[], own: { categories: string[]; tags: string[] }) => {
        setAdded(await products.upload(name, code, files, own.categories, own.tags));
        setTitle("");
        setSku("");
        setCategories("");
        setTags("");
        setPhotos([]);
        setRound((value) => value + 1);
        onAdded();
      },
      [onAdded],
    ),
  );
  const choose = (files: FileList | null) => {
    const chosen = Array.from(files ?? []);
    const wrong = chosen.map(checkPhoto).find(Boolean) ?? (chosen.length > 8 ? "Choose at most 8 photos per product." : null);
    setProblem(wrong);
    setAdded(null); // the last product's notice is not about this one
    setPhotos(wrong ? [] : chosen);
    if (wrong) setRound((value) => value + 1); // the refused files leave the input, which would still name them
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setAdded(null);
    if (problem) return; // the refused photos' reason stays said until other photos are chosen
    if (!photos.length) setProblem("Choose at least one photo of the product.");
    else add.run(title.trim(), sku.trim(), photos, { categories: termNames(categories), tags: termNames(tags) });
  };
  return (
    <form className="card stack" onSubmit={submit} data-testid="add-product">
      <h2>Add a product</h2>
      <div className="field">
        <label htmlFor="product-title">Title</label>
        <input id="product-title" required maxLength={300} value={title} onChange={(event) => setTitle(event.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="product-sku">SKU (optional)</label>
        <input id="product-sku" maxLength={100} value={sku} onChange={(event) => setSku(event.target.value)} className="mono" />
      </div>
      <div className="field">
        <label htmlFor="product-categories">Your categories (optional, comma-separated)</label>
        <input id="product-categories" value={categories} onChange={(event) => setCategories(event.target.value)} placeholder="Men > Shirts" />
      </div>
      <div className="field">
        <label htmlFor="product-tags">Your tags (optional, comma-separated)</label>
        <input id="product-tags" value={tags} onChange={(event) => setTags(event.target.value)} placeholder="linen, striped" />
      </div>
      <div className="field">
        <label htmlFor="product-photos">Photos (1 to 8)</label>
        <input key={round} id="product-photos" type="file" accept="image/*" multiple onChange={(event) => choose(event.target.files)} />
      </div>
      <ErrorMessage error={problem ?? add.error} />
      {added && <Notice>Added "{added.title}" to the catalogue.</Notice>}
      <div>
        <button type="submit" className="primary" disabled={add.busy}>
          {add.busy ? "Adding…" : "Add product"}
        </button>
      </div>
    </form>
  );
}
