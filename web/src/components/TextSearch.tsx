// A search box: words ("striped shirt", "navy dress") to the products whose photos and own words match them best.
import { useCallback, useId, useState, type FormEvent } from "react";
import { products } from "../api/endpoints";
import type { SearchResult } from "../api/types";
import { Gallery } from "./Gallery";
import { Empty, ErrorMessage, Spinner } from "./Status";
import { useTask } from "../useTask";

/** `chooseCatalogue`: also offer the demo gallery (the Similar items page); otherwise the shop's own catalogue. */
export function TextSearch({ chooseCatalogue = false, count = 12 }: { chooseCatalogue?: boolean; count?: number }) {
  const id = useId();
  const [query, setQuery] = useState("");
  const [catalogue, setCatalogue] = useState<"shop" | "demo">("shop");
  const [result, setResult] = useState<SearchResult | null>(null);
  const search = useTask(
    useCallback(async (q: string, which: "shop" | "demo") => {
      setResult(await products.search(q, count, which));
    }, [count]),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (query.trim()) search.run(query.trim(), catalogue);
  };
  return (
    <div className="text-search">
      <form role="search" className="button-row" onSubmit={submit}>
        <label htmlFor={id}>Search by words</label>
        <input
          id={id}
          type="search"
          value={query}
          maxLength={200}
          placeholder="striped shirt, navy blue dress…"
          onChange={(event) => setQuery(event.target.value)}
        />
        {chooseCatalogue && (
          <>
            <label htmlFor={`${id}-catalogue`}>in</label>
            <select id={`${id}-catalogue`} aria-label="Search in" value={catalogue} onChange={(event) => setCatalogue(event.target.value as "shop" | "demo")}>
              <option value="shop">my catalogue</option>
              <option value="demo">the demo catalogue</option>
            </select>
          </>
        )}
        <button type="submit" className="primary" disabled={search.busy || !query.trim()}>
          Search
        </button>
      </form>
      <div aria-live="polite">
        {search.busy && <Spinner label="Searching…" />}
        <ErrorMessage error={search.error} onDismiss={search.clearError} />
        {result && !search.busy && (
          <>
            <h3>
              {result.items.length} best for “{result.query}” in {result.catalogue === "shop" ? "your catalogue" : "the demo catalogue"}
            </h3>
            {result.items.length ? <Gallery items={result.items} /> : <Empty>Nothing matches these words yet.</Empty>}
          </>
        )}
      </div>
    </div>
  );
}
