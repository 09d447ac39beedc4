// Catalogue: the shop's products with their images, the state of its similar-items index, and an import form.
import { useCallback, useEffect, useState } from "react";
import { catalogue, products } from "../api/endpoints";
import type { ImportResult, IndexStatus, Page, Product } from "../api/types";
import { Pager } from "../components/Pager";
import { Empty, ErrorMessage, Notice, Spinner } from "../components/Status";
import { parseProducts } from "../importFile";
import { useTask } from "../useTask";

const LIMIT = 20;
const EXAMPLE = `title,sku,url,image_urls
Navy crew-neck tee,TEE-NAVY-M,https://shop.example/tee,https://shop.example/img/tee.jpg`;

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
        <span className="muted">State</span>
        <strong>{status.indexed >= status.products ? "up to date" : "behind"}</strong>
      </div>
    </div>
  );
}

function ImportForm({ onImported }: { onImported: () => void }) {
  const [text, setText] = useState("");
  const [result, setResult] = useState<ImportResult | null>(null);
  const send = useTask(
    useCallback(async (raw: string) => {
      setResult(await products.import(parseProducts(raw)));
      onImported();
    }, [onImported]),
  );
  return (
    <form
      className="card"
      onSubmit={(event) => {
        event.preventDefault();
        send.run(text);
      }}
    >
      <h2>Import products</h2>
      <p className="help">
        CSV with the columns <code>title, sku, url, image_urls</code> or a JSON list; up to 100 products at a time. The images are fetched from
        their URLs and added to the similar-items index.
      </p>
      <div className="field">
        <label htmlFor="import-file">From a file</label>
        <input id="import-file" type="file" accept=".csv,.json,text/csv,application/json" onChange={async (event) => setText((await event.target.files?.[0]?.text()) ?? "")} />
      </div>
      <div className="field">
        <label htmlFor="import-text">Or paste the list</label>
        <textarea id="import-text" value={text} onChange={(event) => setText(event.target.value)} placeholder={EXAMPLE} className="mono" />
      </div>
      <ErrorMessage error={send.error} onDismiss={send.clearError} />
      {result && (
        <Notice>
          Imported {result.created} product{result.created === 1 ? "" : "s"}
          {result.failed > 0 && `; ${result.failed} failed: ${result.items.filter((item) => item.error).map((item) => `#${item.index + 1} ${item.error!.message}`).join("; ")}`}
        </Notice>
      )}
      <button type="submit" className="primary" disabled={send.busy}>
        {send.busy ? "Importing…" : "Import"}
      </button>
    </form>
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
      <ImportForm onImported={reload} />
      <h2>Products</h2>
      {page && <Pager offset={offset} limit={LIMIT} total={page.total} onChange={setOffset} noun="products" />}
      {load.busy && !page && <Spinner label="Loading products…" />}
      {page && !page.items.length && <Empty>No products yet: import some above.</Empty>}
      {page && page.items.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="products">
            <thead>
              <tr>
                <th scope="col">Image</th>
                <th scope="col">Title</th>
                <th scope="col">SKU</th>
                <th scope="col">Added</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((product) => (
                <tr key={product.id}>
                  <td>{product.images[0] ? <img src={product.images[0].url} alt="" width={48} height={48} style={{ objectFit: "contain" }} /> : "—"}</td>
                  <td>{product.url ? <a href={product.url}>{product.title}</a> : product.title}</td>
                  <td className="mono">{product.sku ?? "—"}</td>
                  <td>{new Date(product.created).toLocaleDateString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
