// The shop's own category and tags for a store product, as part of its correction: offered when the shop has a
// model, its answer's categories with their scores first, any other of the shop's terms by choice. A saved review
// writes them to the store by their existing ids and the shop's model learns them.
import { useId } from "react";
import type { Annotation, ReviewShopTerms } from "../api/types";
import { percent } from "../correction";
import { Choice, ScoreBar } from "./Predictions";

interface Props {
  annotation: Annotation;
  categories: string[];
  tags: string[];
  value: ReviewShopTerms;
  onChange: (value: ReviewShopTerms) => void;
}

const term = (name: string) => ({ label: name, name });

export function ShopTermsChoice({ annotation, categories, tags, value, onChange }: Props) {
  const legendId = useId();
  const answered = annotation.shop?.categories.filter((category) => categories.includes(category.name)) ?? [];
  const scores = new Map((annotation.shop?.tags ?? []).map((tag) => [tag.name, tag.score]));
  const toggle = (name: string, on: boolean) =>
    onChange({ ...value, tags: on ? [...value.tags, name] : value.tags.filter((tag) => tag !== name) });
  return (
    <div className="predictions" data-testid="shop-terms">
      {annotation.shop && (
        <p className="muted" data-testid="shop-terms-read">
          Your model&apos;s scores, {annotation.shop.named ? "read with the product's name beside its photo" : "from the photo alone"}.
        </p>
      )}
      {categories.length > 0 && (
        <Choice
          legend="Your category"
          options={answered.map((category) => ({ ...term(category.name), score: category.score }))}
          vocabulary={categories.map(term)}
          selected={value.category ?? undefined}
          allowNone
          onSelect={(name) => onChange({ ...value, category: name ?? null })}
          testId="choice-shop-category"
          noun="of your categories"
        />
      )}
      {tags.length > 0 && (
        <fieldset className="choice" data-testid="choice-shop-tags" aria-labelledby={legendId}>
          <legend id={legendId}>Your tags</legend>
          {tags.map((name) => (
            <label key={name} className="option">
              <input type="checkbox" checked={value.tags.includes(name)} onChange={(event) => toggle(name, event.target.checked)} />
              <span className="option-name">{name}</span>
              {scores.has(name) ? <ScoreBar score={scores.get(name)!} /> : <span />}
              <span className="option-score">{scores.has(name) ? percent(scores.get(name)!) : ""}</span>
            </label>
          ))}
        </fieldset>
      )}
    </div>
  );
}
