// The shop's own terms for an annotated photo, from its own model: its categories with their scores, the best one's
// parents in its tree, its tags, and whether the product's name was read beside the photo.
import type { ShopAnswer } from "../api/types";
import { percent } from "../correction";

function scored(terms: { name: string; score: number }[]): string {
  return terms.map((term) => `${term.name} ${percent(term.score)}`).join(", ");
}

export function ShopTermsAnswer({ shop }: { shop: ShopAnswer }) {
  return (
    <div className="card" data-testid="shop-terms-answer">
      <h2>Your shop&apos;s terms</h2>
      <p className="muted" data-testid="shop-terms-read">
        Model version {shop.version}, {shop.named ? "read with the product's name beside the photo" : "from the photo alone"}
      </p>
      <p>Categories: {scored(shop.categories)}</p>
      {shop.parents && shop.parents.length > 0 && <p>In your tree: {scored(shop.parents)}</p>}
      <p>Tags: {shop.tags.length ? scored(shop.tags) : "none scored 50% or more"}</p>
    </div>
  );
}
