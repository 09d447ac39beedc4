// The review queue: store products an integration annotated and nobody reviewed yet. Those the tagging policy held
// (nothing was written to the store) come first, then those it applied. Saving a correction writes it to the store,
// the merchant's own categories and tags kept, and makes it training data. A shop with its own model also picks
// its own category and tags: written by their existing ids, and learned by its model.
import { useCallback, useEffect, useRef, useState } from "react";
import { annotations, shopModel, taxonomy as fetchTaxonomy } from "../api/endpoints";
import type { Annotation, Page, ReviewIn, ReviewShopTerms, Taxonomy } from "../api/types";
import { correctionProblem, initialCorrection, initialShopTerms } from "../correction";
import { Pager } from "../components/Pager";
import { Predictions } from "../components/Predictions";
import { ShopTermsChoice } from "../components/ShopTermsChoice";
import { Empty, ErrorMessage, Notice, Spinner } from "../components/Status";
import { useTask } from "../useTask";

/** Sent on `window` when a review leaves the queue (App.tsx counts what waits). */
export const QUEUE_CHANGED = "kalas:queue-changed";

const LIMIT = 5;

/** The shop's own terms (every one its products carry), when it has a model. */
interface ShopVocabulary {
  categories: string[];
  tags: string[];
}

function Outcome({ annotation }: { annotation: Annotation }) {
  const policy = annotation.policy;
  if (!policy) return null;
  if (policy.state === "held") return <p className="badge warn" data-testid="queue-state">Held: not sure enough, nothing written to the store</p>;
  const written = [policy.category, ...policy.tags].filter(Boolean).join(", ");
  const level = policy.level === "group" ? " (its group)" : policy.level === "shop" ? " (your terms)" : "";
  return (
    <p className="badge ok" data-testid="queue-state">
      Applied{level}: {written}
    </p>
  );
}

/** What a reviewer did with a queued product: a correction written to the store, or left as it is. */
type Done = "written" | "left";

interface ItemProps {
  annotation: Annotation;
  taxonomy: Taxonomy;
  vocabulary: ShopVocabulary | null;
  onDone: (done: Done) => void;
}

function QueueItem({ annotation, taxonomy, vocabulary, onDone }: ItemProps) {
  const [correction, setCorrection] = useState<ReviewIn>(() => initialCorrection(annotation, taxonomy));
  const [shopTerms, setShopTerms] = useState<ReviewShopTerms>(() => initialShopTerms(annotation));
  const [problem, setProblem] = useState<string | null>(null);
  const save = useTask(
    useCallback(
      async (value: ReviewIn) => {
        await annotations.review(annotation.id, value);
        onDone("written");
      },
      [annotation.id, onDone],
    ),
  );
  const leave = useTask(
    useCallback(async () => {
      await annotations.leaveAsItIs(annotation.id);
      onDone("left");
    }, [annotation.id, onDone]),
  );
  const busy = save.busy || leave.busy;
  const submit = () => {
    const found = correctionProblem(correction);
    setProblem(found);
    if (!found) save.run(vocabulary ? { ...correction, shop: shopTerms } : correction);
  };
  return (
    <article className="card review" data-testid="queue-item" aria-labelledby={`queue-${annotation.id}`}>
      <div className="review-photo">
        <img src={annotation.image.url} alt="The store product's photo" loading="lazy" />
      </div>
      <div>
        <h2 id={`queue-${annotation.id}`} tabIndex={-1}>{annotation.source.title ?? `Store product ${annotation.source.product_id}`}</h2>
        <p className="muted">
          {annotation.source.title && `Store product ${annotation.source.product_id} · `}
          {annotation.source.page && (
            <>
              <a href={annotation.source.page} target="_blank" rel="noreferrer noopener">
                its page in the store
              </a>
              {" · "}
            </>
          )}
          annotated {new Date(annotation.created).toLocaleString()}
        </p>
        <Outcome annotation={annotation} />
        {vocabulary && (
          <>
            <h3>Your own terms</h3>
            <ShopTermsChoice annotation={annotation} categories={vocabulary.categories} tags={vocabulary.tags} value={shopTerms} onChange={setShopTerms} />
            <h3>The taxonomy's terms</h3>
          </>
        )}
        <Predictions annotation={annotation} taxonomy={taxonomy} value={correction} onChange={setCorrection} />
        <ErrorMessage error={problem ?? save.error ?? leave.error} />
        <div className="button-row">
          <button type="button" className="primary" onClick={submit} disabled={busy} aria-describedby={`queue-${annotation.id}`}>
            {save.busy ? "Saving…" : "Save and write to the store"}
          </button>
          <button
            type="button"
            onClick={() => leave.run()}
            disabled={busy}
            aria-describedby={`queue-${annotation.id}`}
            title="Nothing is written: the product keeps the terms it has in the store"
          >
            {leave.busy ? "Leaving…" : "Leave as it is"}
          </button>
        </div>
      </div>
    </article>
  );
}

function doneSentence({ written, left }: Record<Done, number>): string {
  const parts = [];
  if (written) parts.push(`${written === 1 ? "1 correction" : `${written} corrections`} sent to the store`);
  if (left) parts.push(`${left === 1 ? "1 product" : `${left} products`} left as ${left === 1 ? "it is" : "they are"}`);
  return `${parts.join("; ")}.`;
}

export function QueuePage() {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<Annotation> | null>(null);
  const [taxonomy, setTaxonomy] = useState<Taxonomy | null>(null);
  const [vocabulary, setVocabulary] = useState<ShopVocabulary | null>(null);
  const [done, setDone] = useState<Record<Done, number>>({ written: 0, left: 0 });
  const load = useTask(
    useCallback(async (from: number) => {
      const [found, labels, model] = await Promise.all([annotations.queue(from, LIMIT), fetchTaxonomy(), shopModel.get()]);
      setPage(found);
      setTaxonomy(labels);
      const names = (terms: { name: string }[]) => terms.map((term) => term.name);
      setVocabulary(model.state === "trained" ? { categories: names(model.categories), tags: names(model.tags) } : null);
    }, []),
  );
  const { run } = load;
  useEffect(() => {
    run(offset);
  }, [offset, run]);
  // After a review the item leaves the page: focus goes to the next product's name (or the page's heading when
  // none is left), not to the top of the document, so a keyboard or screen-reader user goes on from there.
  const section = useRef<HTMLElement>(null);
  const [refocus, setRefocus] = useState(false);
  useEffect(() => {
    if (!refocus || load.busy) return;
    setRefocus(false);
    const within = section.current;
    (within?.querySelector<HTMLElement>("[data-testid=queue-item] h2") ?? within?.querySelector<HTMLElement>("h1"))?.focus();
  }, [refocus, load.busy, page]);
  const finished = useCallback((what: Done) => {
    setDone((counts) => ({ ...counts, [what]: counts[what] + 1 }));
    setRefocus(true);
    run(offset);
    window.dispatchEvent(new Event(QUEUE_CHANGED)); // the nav's count of held products
  }, [offset, run]);
  return (
    <section ref={section}>
      <h1 tabIndex={-1}>Review queue</h1>
      <p className="lead">Store products waiting for a person: the held ones first. A saved correction is written to the store; a product left as it is keeps what it has.</p>
      {done.written + done.left > 0 && <Notice>{doneSentence(done)}</Notice>}
      <ErrorMessage error={load.error} />
      {page && <Pager offset={offset} limit={LIMIT} total={page.total} onChange={setOffset} noun={["product", "products"]} />}
      {load.busy && !page && <Spinner label="Loading the queue…" />}
      {page && !page.items.length && <Empty>Nothing waits for a review.</Empty>}
      {page && taxonomy && page.items.map((annotation) => <QueueItem key={annotation.id} annotation={annotation} taxonomy={taxonomy} vocabulary={vocabulary} onDone={finished} />)}
    </section>
  );
}
