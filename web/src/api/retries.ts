// Sending a create again without doing it twice (docs/api.md, "Creates a retry cannot do twice"). A create the
// console sends carries an Idempotency-Key: the same attempt sent again after it failed — "Cannot reach the
// service" on a phone whose connection dropped after the upload had landed, a second tap — carries the same key,
// and the service answers it with what it did the first time instead of doing it again. Once an attempt has
// succeeded its key is spent: choosing the photo again, or saving another correction, is a new attempt.

const pending = new Map<string, string>();
const blobIds = new WeakMap<Blob, number>();
let blobsSeen = 0;

/** The attempt as text: its parts, with each photo named by the object the browser gave (the same file chosen twice
 * is two attempts; the file object kept and sent again is one). */
function describe(parts: unknown[]): string {
  return JSON.stringify(parts, (_, value) => {
    if (!(value instanceof Blob)) return value;
    if (!blobIds.has(value)) blobIds.set(value, ++blobsSeen);
    return `photo #${blobIds.get(value)}`;
  });
}

function newKey(): string {
  // getRandomValues also works outside a secure context (a phone opening the console by the host's address on the
  // shop's network), where crypto.randomUUID is missing.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** `send` with this attempt's key: the key of the same attempt that failed before, else a new one. */
export async function once<T>(parts: unknown[], send: (key: string) => Promise<T>): Promise<T> {
  const attempt = describe(parts);
  const key = pending.get(attempt) ?? newKey();
  pending.set(attempt, key);
  const result = await send(key);
  pending.delete(attempt);
  return result;
}
