// The shop's own model: its terms, examples per term, held-out precision and recall (a plot), versions, a retrain.
import { useCallback, useEffect, useState } from "react";
import { shopModel } from "../api/endpoints";
import type { ShopModel, ShopTerm } from "../api/types";
import { Empty, ErrorMessage, Spinner } from "../components/Status";
import { useTask } from "../useTask";

const percent = (value: number | null | undefined) => (value == null ? "—" : `${(value * 100).toFixed(1)} %`);
const WAITING = new Set(["queued", "running"]);
// The training job's states in the shop's words.
const TRAINING_STATES: Record<string, string> = { queued: "waiting", running: "training", done: "done", dead: "failed", superseded: "replaced" };

function Bar({ label, value }: { label: string; value: number | null }) {
  return (
    <div className="pr-bar" title={`${label} ${percent(value)}`}>
      <span className="pr-label">{label}</span>
      <span className="pr-track" role="img" aria-label={`${label} ${percent(value)}`}>
        <span className={`pr-fill ${label}`} style={{ width: `${Math.round((value ?? 0) * 100)}%` }} />
      </span>
      <span className="pr-value">{percent(value)}</span>
    </div>
  );
}

function Terms({ title, terms, testId }: { title: string; terms: ShopTerm[]; testId: string }) {
  if (!terms.length) return null;
  return (
    <div className="card">
      <h2>{title}</h2>
      <ul className="terms" data-testid={testId}>
        {terms.map((term) => (
          <li key={term.name} className="term" data-testid="term">
            <div className="term-head">
              <strong>{term.name}</strong>
              <span className="muted">
                {term.examples} example{term.examples === 1 ? "" : "s"}
                {term.needs > 0 ? ` · needs ${term.needs} more` : term.support ? ` · ${term.support} held out` : ""}
              </span>
            </div>
            {term.needs === 0 && (
              <div className="pr">
                <Bar label="precision" value={term.precision} />
                <Bar label="recall" value={term.recall} />
              </div>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

export function ShopModelPage() {
  const [model, setModel] = useState<ShopModel | null>(null);
  const load = useTask(useCallback(async () => setModel(await shopModel.get()), []));
  const retrain = useTask(
    useCallback(async () => {
      await shopModel.train();
      setModel(await shopModel.get());
    }, []),
  );
  const { run } = load;
  useEffect(() => {
    run();
  }, [run]);
  const waiting = model?.training != null && WAITING.has(model.training.state);
  // A training learns the terms with enough products; with none, there is nothing to retrain.
  const learnable = model != null && [...model.categories, ...model.tags].some((term) => term.needs === 0);
  useEffect(() => {
    if (!waiting) return;
    const timer = window.setInterval(run, 1500); // follow the training until it ends
    return () => window.clearInterval(timer);
  }, [waiting, run]);

  const current = model?.current;
  return (
    <section>
      <h1 tabIndex={-1}>Shop model</h1>
      <p className="lead">
        Your own categories and tags, learned from your catalogue's products. A term is learned once {model?.min_examples ?? 5} products
        carry it; figures are measured on a fifth of your products held out at each training.
      </p>
      <ErrorMessage error={load.error ?? retrain.error} onDismiss={retrain.clearError} />
      {load.busy && !model && <Spinner label="Loading the shop model…" />}
      {model && (
        <>
          <div className="card" data-testid="shop-model-summary">
            {current ? (
              <p>
                <strong>Version {current.version}</strong>, trained {new Date(current.created).toLocaleString()} on {current.products} photos in{" "}
                {current.train_seconds.toFixed(1)} s. Held out: category top-1 {percent(current.held_out?.category_top1)}, tag micro-F1{" "}
                {percent(current.held_out?.tag_micro_f1)} from the photos alone
                {current.held_out_named ? (
                  <span data-testid="held-out-named">
                    ; with the product&apos;s name beside its photo (your store&apos;s products: {current.held_out_named.products} held out),
                    category top-1 {percent(current.held_out_named.category_top1)}, tag micro-F1 {percent(current.held_out_named.tag_micro_f1)}
                  </span>
                ) : (
                  <span data-testid="names-not-learned">
                    ; your products&apos; names are not read yet: they are once {model.min_named} of the products a training learns from
                    have one (a fifth are held out to score it)
                  </span>
                )}
                .
              </p>
            ) : (
              <p>No model yet: annotations answer the generic taxonomy only.</p>
            )}
            {model.training && (
              <p data-testid="training">
                Last training:{" "}
                <span className={`badge ${model.training.state === "dead" ? "muted" : "ok"}`}>
                  {TRAINING_STATES[model.training.state] ?? model.training.state}
                </span>{" "}
                {model.training.outcome ?? model.training.last_error ?? model.training.reason}
              </p>
            )}
            {learnable ? (
              <button type="button" className="primary" disabled={retrain.busy || waiting} onClick={() => retrain.run()}>
                {waiting ? "Training…" : "Retrain now"}
              </button>
            ) : (
              <p className="help" data-testid="cannot-train">
                Nothing to train yet: a category or tag needs {model.min_examples} products before the model learns it (see
                what each still needs below).
              </p>
            )}
          </div>
          {!model.categories.length && !model.tags.length && (
            <Empty>No product carries a category or tag of your own yet: add them to your products, or connect your store.</Empty>
          )}
          <Terms title="Categories" terms={model.categories} testId="categories" />
          <Terms title="Tags" terms={model.tags} testId="tags" />
          {model.versions.length > 1 && (
            <div className="card">
              <h2>Versions</h2>
              <ul data-testid="versions">
                {model.versions.map((v) => (
                  <li key={v.version}>
                    Version {v.version}: {v.products} photos, top-1 {percent(v.held_out?.category_top1)}, tags {percent(v.held_out?.tag_micro_f1)}
                  </li>
                ))}
              </ul>
            </div>
          )}
        </>
      )}
    </section>
  );
}
