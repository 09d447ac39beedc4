// Import products whose photos are at public URLs, from a CSV or JSON list (pasted or read from a file).
import { useCallback, useState } from "react";
import { products } from "../api/endpoints";
import type { ImportResult } from "../api/types";
import { parseProducts } from "../importFile";
import { useTask } from "../useTask";
import { ErrorMessage, Notice } from "./Status";

const EXAMPLE = `title,sku,url,image_urls,categories,tags
Navy crew-neck tee,TEE-NAVY-M,https://shop.example/tee,https://shop.example/img/tee.jpg,Men > T-Shirts,cotton|basics`;

export function ImportForm({ onImported }: { onImported: () => void }) {
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
        CSV with the columns <code>title, sku, url, image_urls</code> and, if you like, your own <code>categories, tags</code> (several
        separated by <code>|</code>), or a JSON list; up to 100 products at a time. The images are fetched from their URLs and added to the
        similar-items index; your categories and tags teach your shop model.
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
      {result && result.failed === 0 && <Notice>Imported {result.created} product{result.created === 1 ? "" : "s"}</Notice>}
      {result && result.failed > 0 && (
        // Some rows failed: an error, not a success, though the others came in.
        <ErrorMessage
          error={`Imported ${result.created} product${result.created === 1 ? "" : "s"}; ${result.failed} failed: ${result.items
            .filter((item) => item.error)
            .map((item) => `#${item.index + 1} ${item.error!.message}`)
            .join("; ")}`}
        />
      )}
      <button type="submit" className="primary" disabled={send.busy}>
        {send.busy ? "Importing…" : "Import"}
      </button>
    </form>
  );
}

