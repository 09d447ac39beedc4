// A gallery of similar products; one card is focusable at a time and the arrow keys (and Home/End) move through it,
// wrapping by rows as the grid lays them out at the current width.
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import type { SearchItem, SimilarItem } from "../api/types";
import { percent } from "../correction";

/** What a card says of its match: a photo's similarity (a cosine, shown from 0 %: below it is no likeness), or for
 *  a words search the share of the query's words the product's own text holds (its photo's score only ranks). */
function match(item: SimilarItem | SearchItem): { badge: string; spoken: string } | null {
  if ("words" in item) {
    const words = `${percent(item.words)} of your words`;
    return item.words > 0 ? { badge: words, spoken: words } : null;
  }
  const similarity = percent(Math.max(0, item.score));
  return { badge: similarity, spoken: `similarity ${similarity}` };
}

function columns(grid: HTMLElement): number {
  const cards = Array.from(grid.children) as HTMLElement[];
  if (cards.length < 2) return 1;
  const top = cards[0].offsetTop;
  const perRow = cards.findIndex((card) => card.offsetTop !== top);
  return perRow === -1 ? cards.length : perRow;
}

export function Gallery({ items }: { items: (SimilarItem | SearchItem)[] }) {
  const grid = useRef<HTMLUListElement>(null);
  const [active, setActive] = useState(0);
  useEffect(() => setActive(0), [items]);

  const move = (event: KeyboardEvent<HTMLUListElement>) => {
    const across = grid.current ? columns(grid.current) : 1;
    const steps: Record<string, number> = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: across, ArrowUp: -across };
    let next = active;
    if (event.key in steps) next = active + steps[event.key];
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = items.length - 1;
    else return;
    event.preventDefault();
    next = Math.min(items.length - 1, Math.max(0, next));
    setActive(next);
    (grid.current?.children[next] as HTMLElement | undefined)?.focus();
  };

  return (
    <ul ref={grid} className="gallery" aria-label="Most similar products, best first; arrow keys move through them" onKeyDown={move}>
      {items.map((item, index) => {
        const image = item.product.images[0];
        const matched = match(item);
        return (
          <li
            key={item.product.id}
            className={`product-card${index === active ? " active" : ""}`}
            tabIndex={index === active ? 0 : -1}
            onFocus={() => setActive(index)}
            aria-label={`${index + 1}. ${item.product.title}${matched ? `, ${matched.spoken}` : ""}`}
            data-testid="similar-item"
          >
            {image ? <img src={image.url} alt="" loading="lazy" /> : <div className="no-image">No image</div>}
            <div className="product-meta">
              <span className="product-title">{item.product.title}</span>
              {item.product.sku && <span className="muted">{item.product.sku}</span>}
              {matched && <span className="badge">{matched.badge}</span>}
            </div>
          </li>
        );
      })}
    </ul>
  );
}
