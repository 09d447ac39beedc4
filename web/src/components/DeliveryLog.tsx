// The webhook deliveries of one store, newest first: each one's job state, its steps, and a retry button for a
// job that has died (or finished, to annotate the product again).
import { useCallback, useEffect, useState } from "react";
import { integrations } from "../api/endpoints";
import type { Delivery, Integration, JobState, Page } from "../api/types";
import { Pager } from "./Pager";
import { Empty, ErrorMessage, Spinner } from "./Status";
import { useTask } from "../useTask";

const LIMIT = 10;
const STATE_BADGE: Record<JobState, string> = { queued: "", running: "", done: "ok", dead: "bad", superseded: "muted" };
const RETRYABLE = new Set<JobState>(["dead", "done"]);
const time = (epoch: number) => new Date(epoch * 1000).toLocaleString();

export function DeliveryLog({ integration }: { integration: Integration }) {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<Delivery> | null>(null);
  const load = useTask(useCallback(async (from: number) => setPage(await integrations.deliveries(integration.id, from, LIMIT)), [integration.id]));
  const retry = useTask(
    useCallback(
      async (jobId: string) => {
        await integrations.retry(integration.id, jobId);
        setPage(await integrations.deliveries(integration.id, offset, LIMIT));
      },
      [integration.id, offset],
    ),
  );
  const { run } = load;
  useEffect(() => {
    run(offset);
  }, [offset, run]);
  return (
    <div data-testid="delivery-log">
      <div className="button-row">
        <h3 style={{ margin: 0 }}>Delivery log</h3>
        <button type="button" onClick={() => run(offset)} disabled={load.busy}>
          {load.busy ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      <ErrorMessage error={load.error ?? retry.error} />
      {!page && load.busy && <Spinner label="Loading deliveries…" />}
      {page && !page.items.length && <Empty>No deliveries yet: they come when a product is created or edited in the store (the service's webhooks, or the ones you saved in WooCommerce).</Empty>}
      {page && page.items.length > 0 && (
        <>
          <Pager offset={offset} limit={LIMIT} total={page.total} onChange={setOffset} noun={["delivery", "deliveries"]} />
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Received</th>
                  <th scope="col">Topic</th>
                  <th scope="col">Product</th>
                  <th scope="col">Job</th>
                  <th scope="col">Detail</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((delivery) => {
                  const job = delivery.job;
                  return (
                    <tr key={delivery.id} data-testid="delivery-row">
                      <td>{time(delivery.received)}</td>
                      <td>{delivery.topic}</td>
                      <td>{delivery.product_id ?? "—"}</td>
                      <td>
                        {job ? <span className={`badge ${STATE_BADGE[job.state]}`}>{job.state}</span> : <span className="muted">{delivery.outcome}</span>}
                        {job && job.attempts > 1 && <span className="muted"> · {job.attempts} tries</span>}
                      </td>
                      <td className="muted wrap">{job?.last_error ?? job?.outcome ?? delivery.outcome}</td>
                      <td>
                        {job && RETRYABLE.has(job.state) && (
                          <button type="button" disabled={retry.busy} onClick={() => retry.run(job.id)}>
                            Retry<span className="visually-hidden"> the job for product {delivery.product_id}</span>
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
