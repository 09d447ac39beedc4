// How far the import of a connected store's catalogue has come: the service reads the store's products a page at a
// time into the shop's catalogue (docs/api.md). While it runs the card asks for it again every few seconds; an
// import whose job gave up says why, with a button that retries it from the page it had reached.
import { useCallback, useEffect } from "react";
import { integrations } from "../api/endpoints";
import type { CatalogueImport, Integration } from "../api/types";
import { useTask } from "../useTask";
import { ErrorMessage } from "./Status";

const EVERY_MS = 3000;

function leftOut(progress: CatalogueImport): string {
  const parts = [
    progress.failed ? `${progress.failed} failed` : "",
    progress.not_shown ? `${progress.not_shown} not on show to customers (drafts, private or hidden), kept out of similar items until they are` : "",
    progress.translations ? `${progress.translations} in another language, left to their own` : "",
  ].filter(Boolean);
  return parts.length ? ` (${parts.join("; ")})` : "";
}

export function ImportProgress({ integration, onChanged }: { integration: Integration; onChanged: (fresh: Integration) => void }) {
  const progress = integration.catalogue_import ?? null;
  const running = progress?.state !== "done" && progress?.state !== "stopped";
  const retry = useTask(
    useCallback(
      async (jobId: string) => {
        await integrations.retry(integration.id, jobId);
        onChanged(await integrations.get(integration.id));
      },
      [integration.id, onChanged],
    ),
  );
  useEffect(() => {
    if (!running) return undefined;
    const timer = window.setInterval(async () => {
      try {
        onChanged(await integrations.get(integration.id));
      } catch {
        // the next look tries again; the card keeps what it showed
      }
    }, EVERY_MS);
    return () => window.clearInterval(timer);
  }, [running, integration.id, onChanged]);
  if (!progress) {
    return <p className="muted" data-testid="catalogue-import">The store's catalogue is waiting to be imported.</p>;
  }
  const done = (progress.imported ?? 0) + (progress.failed ?? 0) + (progress.not_shown ?? 0) + (progress.translations ?? 0);
  const total = progress.total ?? null;
  if (progress.state === "stopped") {
    const job = progress.job;
    return (
      <div data-testid="catalogue-import">
        <p>
          {total === null ? "The catalogue import stopped before it read the store's first page" : `The catalogue import stopped after ${progress.imported ?? 0} of ${total} products`}
          : {progress.reason ?? "its job gave up"}.
        </p>
        {job && (
          <button type="button" onClick={() => retry.run(job)} disabled={retry.busy}>
            {retry.busy ? "Retrying…" : "Retry the import"}
          </button>
        )}
        <ErrorMessage error={retry.error} />
      </div>
    );
  }
  if (progress.state === "done") {
    return (
      <p className="muted" data-testid="catalogue-import">
        Catalogue imported: {progress.imported ?? 0} of {total ?? progress.seen ?? 0} products{leftOut(progress)}.
      </p>
    );
  }
  return (
    <div data-testid="catalogue-import">
      <p className="muted">
        Importing the store's catalogue: {progress.imported ?? 0} of {total ?? "?"} products
        {progress.pages ? `, page ${Math.max(1, (progress.next_page ?? 1) - 1)} of ${progress.pages}` : ""}
        {leftOut(progress)}.
      </p>
      {total ? <progress max={total} value={Math.min(done, total)} aria-label="Catalogue import" /> : null}
    </div>
  );
}
