// Offset pagination for the API's lists (offset, limit, total), with a jump to any item by its 1-based index.
import { useState, type FormEvent } from "react";

interface Props {
  offset: number;
  limit: number;
  total: number;
  onChange: (offset: number) => void;
  /** What the list holds, one and several: ["product", "products"]. */
  noun: [string, string];
}

export function Pager({ offset, limit, total, onChange, noun: [one, many] }: Props) {
  const [jump, setJump] = useState("");
  const [error, setError] = useState<string | null>(null);
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const index = Number(jump);
    if (!Number.isInteger(index) || index < 1 || index > total) {
      setError(total ? `Enter a number from 1 to ${total}.` : `There are no ${many} yet.`);
      return;
    }
    setError(null);
    onChange(Math.floor((index - 1) / limit) * limit);
  };
  return (
    <nav className="pager" aria-label={`Pages of ${many}`}>
      <button type="button" onClick={() => onChange(Math.max(0, offset - limit))} disabled={offset === 0}>
        Previous
      </button>
      <span aria-live="polite">
        Page {page} of {pages} · {total} {total === 1 ? one : many}
      </span>
      <button type="button" onClick={() => onChange(offset + limit)} disabled={offset + limit >= total}>
        Next
      </button>
      <form onSubmit={submit} className="jump">
        <label htmlFor="jump-to">Go to #</label>
        <input id="jump-to" inputMode="numeric" value={jump} onChange={(event) => setJump(event.target.value)} size={5} />
        <button type="submit">Go</button>
      </form>
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </nav>
  );
}
