// A product's own categories and tags (what the shop model learns from): shown, and edited as comma-separated names.
import { useCallback, useState, type FormEvent } from "react";
import { products } from "../api/endpoints";
import type { Product } from "../api/types";
import { ErrorMessage } from "./Status";
import { termNames } from "../terms";
import { useTask } from "../useTask";

export function TermsEditor({ product, onSaved }: { product: Product; onSaved: () => void }) {
  const [editing, setEditing] = useState(false);
  const [categories, setCategories] = useState(product.categories.join(", "));
  const [tags, setTags] = useState(product.tags.join(", "));
  const save = useTask(
    useCallback(async () => {
      await products.setTerms(product.id, termNames(categories), termNames(tags));
      setEditing(false);
      onSaved();
    }, [product.id, categories, tags, onSaved]),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.run();
  };
  if (!editing) {
    const shown = [...product.categories, ...product.tags.map((tag) => `#${tag}`)];
    return (
      <span data-testid="product-terms">
        {shown.length ? shown.join(", ") : <span className="muted">none</span>}{" "}
        <button type="button" aria-label={`Edit the terms of ${product.title}`} onClick={() => setEditing(true)}>
          Edit
        </button>
      </span>
    );
  }
  const id = `terms-${product.id}`;
  return (
    <form onSubmit={submit} className="terms-form">
      <label htmlFor={`${id}-categories`}>Categories</label>
      <input id={`${id}-categories`} value={categories} onChange={(event) => setCategories(event.target.value)} placeholder="Men > Shirts" />
      <label htmlFor={`${id}-tags`}>Tags</label>
      <input id={`${id}-tags`} value={tags} onChange={(event) => setTags(event.target.value)} placeholder="linen, striped" />
      <button type="submit" className="primary" disabled={save.busy}>
        {save.busy ? "Saving…" : "Save"}
      </button>
      <ErrorMessage error={save.error} onDismiss={save.clearError} />
    </form>
  );
}
