// Past reviews: every corrected annotation, newest first, with the photo, what the model said and what the
// person changed it to, with the shop's own terms when the review gave them. Pages of a few at a time, and a jump
// to any review by its number.
import { useCallback, useEffect, useState } from "react";
import { download } from "../api/client";
import { annotations, taxonomy as fetchTaxonomy } from "../api/endpoints";
import type { Annotation, Page, ReviewShopTerms, Taxonomy } from "../api/types";
import { humanise, percent } from "../correction";
import { Pager } from "../components/Pager";
import { Empty, ErrorMessage, Spinner } from "../components/Status";
import { useTask } from "../useTask";

const LIMIT = 5;

function CroppedPhoto({ annotation }: { annotation: Annotation }) {
  const { image, crop } = annotation;
  const share = (value: number, of: number) => `${((value / of) * 100).toFixed(2)}%`;
  return (
    <div className="review-photo">
      <img src={image.url} alt="The reviewed photo" loading="lazy" />
      {crop && (
        <div
          className="crop-box"
          aria-label={`Annotated crop ${crop.width}×${crop.height} at (${crop.x}, ${crop.y})`}
          style={{ left: share(crop.x, image.width), top: share(crop.y, image.height), width: share(crop.width, image.width), height: share(crop.height, image.height) }}
        />
      )}
    </div>
  );
}

function namer(taxonomy: Taxonomy | null) {
  const find = (terms: { label: string; name: string }[], label: string) => terms.find((term) => term.label === label)?.name ?? label;
  return {
    category: (label: string) => (taxonomy ? find(taxonomy.categories, label) : label),
    attribute: (group: string, label: string) => (taxonomy ? find(taxonomy.attributes[group] ?? [], label) : label),
    colour: (label: string) => taxonomy?.colours.find((colour) => colour.label === label),
  };
}

/** The shop's own category and tags the review gave a store product (its store's names), under the queue's labels. */
function ShopTerms({ terms }: { terms: ReviewShopTerms }) {
  if (!terms.category && !terms.tags.length) return null;
  return (
    <table className="compare shop-terms">
      <caption>Your shop's own terms</caption>
      <tbody>
        {terms.category && (
          <tr>
            <th scope="row">Your category</th>
            <td data-testid="review-shop-category">{terms.category}</td>
          </tr>
        )}
        {terms.tags.length > 0 && (
          <tr>
            <th scope="row">Your tags</th>
            <td data-testid="review-shop-tags">
              {terms.tags.map((tag) => (
                <span key={tag} className="chip">
                  {tag}
                </span>
              ))}
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function Comparison({ annotation, index, taxonomy }: { annotation: Annotation; index: number; taxonomy: Taxonomy | null }) {
  const names = namer(taxonomy);
  const review = annotation.review!;
  const predictedAttributes = Object.entries(annotation.attributes).filter(([, options]) => options.length);
  const groups = Array.from(new Set([...predictedAttributes.map(([group]) => group), ...Object.keys(review.attributes)]));
  const top = annotation.category[0];
  const changed = (before: string | undefined, after: string | undefined) => (before !== after ? "changed" : undefined);
  // The colours by name, as a set: the prediction names its colours, the review gives vocabulary labels.
  const colourNames = (list: string[]) => [...new Set(list)].sort().join("|");
  const coloursChanged =
    colourNames(annotation.colours.map((colour) => colour.name)) !==
    colourNames(review.colours.map((label) => names.colour(label)?.name ?? label));
  // Said in words too, not by colour and weight alone: a screen reader reads the row's header.
  const marker = (className: string | undefined) => (className ? <span className="visually-hidden"> (changed)</span> : null);
  return (
    <article className="card review" data-testid="review" aria-labelledby={`review-${annotation.id}`}>
      <CroppedPhoto annotation={annotation} />
      <div>
        <h2 id={`review-${annotation.id}`}>
          #{index} · {new Date(review.created).toLocaleString()}
        </h2>
        <p className="muted" data-testid="review-byline">
          {annotation.source.title && `${annotation.source.title} · `}reviewed by {review.reviewer}
        </p>
        <table className="compare">
          <thead>
            <tr>
              <th scope="col"></th>
              <th scope="col">Prediction</th>
              <th scope="col">Correction</th>
            </tr>
          </thead>
          <tbody>
            <tr className={changed(top?.label, review.category)}>
              <th scope="row">Category{marker(changed(top?.label, review.category))}</th>
              <td>{top ? `${top.name} (${percent(top.score)})` : "—"}</td>
              <td data-testid="review-category" data-label={review.category}>
                {names.category(review.category)}
              </td>
            </tr>
            {groups.map((group) => {
              const best = annotation.attributes[group]?.[0];
              return (
                <tr key={group} className={changed(best?.label, review.attributes[group])}>
                  <th scope="row">
                    {humanise(group)}
                    {marker(changed(best?.label, review.attributes[group]))}
                  </th>
                  <td>{best ? `${best.name} (${percent(best.score)})` : "—"}</td>
                  <td>{review.attributes[group] ? names.attribute(group, review.attributes[group]) : "not set"}</td>
                </tr>
              );
            })}
            <tr className={coloursChanged ? "changed" : undefined} data-testid="review-colours">
              <th scope="row">Colours{marker(coloursChanged ? "changed" : undefined)}</th>
              <td>
                {annotation.colours.map((colour) => (
                  <span key={colour.name} className="chip">
                    <span className="swatch" style={{ background: colour.hex }} aria-hidden="true" />
                    {colour.name}
                  </span>
                ))}
              </td>
              <td>
                {review.colours.length
                  ? review.colours.map((label) => {
                      const colour = names.colour(label);
                      return (
                        <span key={label} className="chip">
                          {colour && <span className="swatch" style={{ background: colour.hex }} aria-hidden="true" />}
                          {colour?.name ?? label}
                        </span>
                      );
                    })
                  : "none"}
              </td>
            </tr>
          </tbody>
        </table>
        {review.shop && <ShopTerms terms={review.shop} />}
      </div>
    </article>
  );
}

export function ReviewsPage() {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<Annotation> | null>(null);
  const [taxonomy, setTaxonomy] = useState<Taxonomy | null>(null);
  const load = useTask(
    useCallback(async (from: number) => {
      const [found, labels] = await Promise.all([annotations.list(from, LIMIT, true), fetchTaxonomy()]);
      setPage(found);
      setTaxonomy(labels);
    }, []),
  );
  const exporting = useTask(useCallback(() => download("/reviews/export", "reviewed.zip"), []));
  const { run } = load;
  useEffect(() => {
    run(offset);
  }, [offset, run]);
  return (
    <section>
      <h1 tabIndex={-1}>Past reviews</h1>
      <p className="lead">The corrections saved from the Annotate page; they become training data.</p>
      <div className="button-row">
        <button type="button" onClick={() => exporting.run()} disabled={exporting.busy || !page?.total}>
          {exporting.busy ? "Preparing the export…" : "Download for training (.zip)"}
        </button>
      </div>
      <ErrorMessage error={load.error ?? exporting.error} />
      {page && <Pager offset={offset} limit={LIMIT} total={page.total} onChange={setOffset} noun={["review", "reviews"]} />}
      {load.busy && <Spinner label="Loading reviews…" />}
      {page && !load.busy && !page.items.length && <Empty>No reviews yet. Annotate a photo and save your corrections.</Empty>}
      {page && !load.busy && page.items.map((annotation, index) => <Comparison key={annotation.id} annotation={annotation} index={page.offset + index + 1} taxonomy={taxonomy} />)}
    </section>
  );
}
