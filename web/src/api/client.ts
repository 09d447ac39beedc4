// The one place the console talks HTTP: adds the session token, turns the API's error body into an ApiError
// whose message can be shown as is, and signals an expired session so the app can send the user to log in.

const BASE = "/api/v1";
const TOKEN_KEY = "kalas.session";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const expiredListeners = new Set<Listener>();

export function onSessionExpired(listener: Listener): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText || "request failed"}`;
  try {
    const body = await response.json();
    const error = body?.error ?? body?.detail;
    if (typeof error === "string") message = error;
    else if (error && typeof error.message === "string") {
      message = error.message;
      code = error.code ?? code;
    }
  } catch {
    // Not JSON (a proxy's HTML page): keep the status line.
  }
  return new ApiError(response.status, code, message);
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  form?: FormData;
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
  /** For a create: the same key on a request sent again gets the first answer, not a second create (retries.ts). */
  idempotencyKey?: string;
}

export function url(path: string, query?: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const search = params.toString();
  return `${BASE}${path}${search ? `?${search}` : ""}`;
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  let body: BodyInit | undefined;
  if (options.form) body = options.form;
  else if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  let response: Response;
  try {
    response = await fetch(url(path, options.query), { method: options.method ?? "GET", headers, body, signal: options.signal });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, "network", "Cannot reach the Kalas-Iris service. Check your connection and try again.");
  }
  if (response.status === 401 && token) {
    setToken(null);
    expiredListeners.forEach((listener) => listener());
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return undefined as T;
  const type = response.headers.get("Content-Type") ?? "";
  return (type.includes("json") ? await response.json() : await response.text()) as T;
}

/** Fetches a file the API sends as an attachment (it needs the session header, so a plain link cannot) and saves it. */
export async function download(path: string, filename: string): Promise<void> {
  const token = getToken();
  const response = await fetch(url(path), { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) throw await errorFrom(response);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
