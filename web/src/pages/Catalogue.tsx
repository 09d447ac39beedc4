// Catalogue: the shop's products with their images, the state of its similar-items index, and an import form.
import { useCallback, useEffect, useState } from "react";
import { catalogue, products } from "../api/endpoints";
import type { IndexStatus, Page, Product } from "../api/types";
import { AddProductForm } from "../components/AddProductForm";
import { TermsEditor } from "../components/TermsEditor";
import { ImportForm } from "../components/ImportForm";
import { Pager } from "../components/Pager";
import { TextSearch } from "../components/TextSearch";
import { Empty, ErrorMessage, Spinner } from "../components/Status";
import { useTask } from "../useTask";

const LIMIT = 20;

function indexState(status: IndexStatus): string {
  if (status.indexed !== status.products) return "behind";
  if (status.stale) return `${status.stale} from an older model`;
  return "up to date";
}

function IndexCard({ status }: { status: IndexStatus }) {
  return (
    <div className="stat-row" data-testid="index-status">
      <div className="stat">
        <span className="muted">Products</span>
        <strong>{status.products}</strong>
      </div>
      <div className="stat">
        <span className="muted">In the index</span>
        <strong>{status.indexed}</strong>
      </div>
      <div className="stat">
        <span className="muted">Image vectors</span>
        <strong>{status.vectors}</strong>
      </div>
      <div className="stat">
        <span className="muted">Index</span>
        <strong>{status.kind ? `${status.kind === "flat" ? "exact" : "approximate"} (${status.kind})` : "empty"}</strong>
      </div>
      <div className="stat">
        <span className="muted">State</span>
        <strong data-testid="index-state">{indexState(status)}</strong>
      </div>
    </div>
  );
}

export function CataloguePage() {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<Product> | null>(null);
  const [status, setStatus] = useState<IndexStatus | null>(null);
  const load = useTask(
    useCallback(async (from: number) => {
      const [found, index] = await Promise.all([products.list(from, LIMIT), catalogue.status()]);
      setPage(found);
      setStatus(index);
    }, []),
  );
  const { run } = load;
  useEffect(() => {
    run(offset);
  }, [offset, run]);
  const reload = useCallback(() => run(offset), [run, offset]);
  return (
    <section>
      <h1 tabIndex={-1}>Catalogue</h1>
      <p className="lead">Your products: the gallery that Similar items searches.</p>
      {status && <IndexCard status={status} />}
      <ErrorMessage error={load.error} />
      {load.error && (
        <button type="button" onClick={reload} disabled={load.busy}>
          Try again
        </button>
      )}
      <div className="two-columns">
        <AddProductForm onAdded={reload} />
        <ImportForm onImported={reload} />
      </div>
      <h2>Search</h2>
      <TextSearch />
      <h2>Products</h2>
      {page && <Pager offset={offset} limit={LIMIT} total={page.total} onChange={setOffset} noun={["product", "products"]} />}
      {load.busy && !page && <Spinner label="Loading products…" />}
      {page && !page.items.length && <Empty>No products yet: import some above.</Empty>}
      {page && page.items.length > 0 && (
        <div className="table-wrap">
          <table className="table cards" data-testid="products">
            <thead>
              <tr>
                <th scope="col">Image</th>
                <th scope="col">Title</th>
                <th scope="col">SKU</th>
                <th scope="col">Your categories and tags</th>
                <th scope="col">Added</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((product) => (
                <tr key={product.id}>
                  <td data-label="Image">{product.images[0] ? <img src={product.images[0].url} alt="" width={48} height={48} style={{ objectFit: "contain" }} /> : "—"}</td>
                  <td data-label="Title" className="wrap">{product.url ? <a href={product.url}>{product.title}</a> : product.title}</td>
                  <td data-label="SKU" className="mono">{product.sku ?? "—"}</td>
                  <td data-label="Your categories and tags" className="wrap">
                    <TermsEditor product={product} onSaved={reload} />
                  </td>
                  <td data-label="Added">{new Date(product.created).toLocaleDateString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
