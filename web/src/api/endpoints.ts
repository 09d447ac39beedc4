// One function per API route the console uses (paths as in api/routes/*.py).
import { request } from "./client";
import { once } from "./retries";
import type { ShopModel, ShopModelTraining, Account, Annotation, Delivery, IndexStatus, Integration, IntegrationChange, IntegrationIn, Job, PolicyOut, Taxonomy, TaggingPolicy, ApiKey, ApiKeyCreated, Crop, ImportResult, Page, Product, ProductIn, Review, ReviewIn, SearchResult, Session, SimilarResult } from "./types";

export const auth = {
  signup: (email: string, password: string, shop_name: string) =>
    request<Session>("/auth/signup", { method: "POST", json: { email, password, shop_name } }),
  login: (email: string, password: string) => request<Session>("/auth/login", { method: "POST", json: { email, password } }),
  logout: () => request<void>("/auth/logout", { method: "POST" }),
  me: () => request<Account>("/auth/me"),
};

export const account = {
  remove: (password: string) =>
    request<{ deleted: Record<string, number> }>("/account", { method: "DELETE", json: { password } }),
};

export const keys = {
  list: () => request<Page<ApiKey>>("/keys", { query: { limit: 200 } }),
  create: (name: string) => request<ApiKeyCreated>("/keys", { method: "POST", json: { name } }),
  revoke: (id: string) => request<ApiKey>(`/keys/${encodeURIComponent(id)}`, { method: "DELETE" }),
};

function photoForm(photo: Blob, filename: string, crop: Crop | null, title = ""): FormData {
  const form = new FormData();
  form.set("file", photo, filename);
  if (crop) form.set("crop", JSON.stringify(crop));
  if (title.trim()) form.set("title", title.trim());
  return form;
}

export const annotations = {
  /** `title`: the product's name, which a shop model that learned its shop's names reads beside the photo. */
  upload: (photo: Blob, filename: string, crop: Crop | null, title = "") =>
    once(["annotate", photo, filename, crop, title], (idempotencyKey) =>
      request<Annotation>("/annotations", { method: "POST", form: photoForm(photo, filename, crop, title), idempotencyKey })),
  get: (id: string) => request<Annotation>(`/annotations/${encodeURIComponent(id)}`),
  list: (offset: number, limit: number, reviewed?: boolean) =>
    request<Page<Annotation>>("/annotations", { query: { offset, limit, reviewed } }),
  review: (id: string, correction: ReviewIn) =>
    once(["review", id, correction], (idempotencyKey) =>
      request<Review>(`/annotations/${encodeURIComponent(id)}/review`, { method: "POST", json: correction, idempotencyKey })),
  /** Store products annotated and not reviewed yet: held ones first. */
  queue: (offset: number, limit: number, state?: "held" | "applied") =>
    request<Page<Annotation>>("/reviews/queue", { query: { offset, limit, state } }),
  /** Out of the queue with nothing written to the store: the product keeps the terms it has. */
  leaveAsItIs: (id: string) => request<void>(`/reviews/queue/${encodeURIComponent(id)}`, { method: "DELETE" }),
};

export const similar = {
  search: (photo: Blob, filename: string, crop: Crop | null, k: number, catalogue: "shop" | "demo") => {
    const form = photoForm(photo, filename, crop);
    form.set("k", String(k));
    form.set("catalogue", catalogue);
    return request<SimilarResult>("/similar", { method: "POST", form });
  },
};

export const products = {
  list: (offset: number, limit: number) => request<Page<Product>>("/products", { query: { offset, limit } }),
  upload: (title: string, sku: string, photos: File[], categories: string[] = [], tags: string[] = []) => {
    const form = new FormData();
    form.set("title", title);
    if (sku) form.set("sku", sku);
    if (categories.length) form.set("categories", JSON.stringify(categories));
    if (tags.length) form.set("tags", JSON.stringify(tags));
    photos.forEach((photo) => form.append("images", photo, photo.name));
    return once(["add product", title, sku, photos, categories, tags], (idempotencyKey) =>
      request<Product>("/products/upload", { method: "POST", form, idempotencyKey }));
  },
  import: (items: ProductIn[]) => request<ImportResult>("/products/import", { method: "POST", json: { products: items } }),
  /** Products ranked by words: what their photos show, and their own titles and tags. */
  search: (q: string, k: number, catalogue: "shop" | "demo") =>
    request<SearchResult>("/products/search", { query: { q, k, catalogue } }),
  setTerms: (id: string, categories: string[], tags: string[]) =>
    request<Product>(`/products/${encodeURIComponent(id)}`, { method: "PATCH", json: { categories, tags } }),
};

export const catalogue = {
  status: () => request<IndexStatus>("/catalogue/index"),
};

export const integrations = {
  list: () => request<Page<Integration>>("/integrations"),
  get: (id: string) => request<Integration>(`/integrations/${encodeURIComponent(id)}`),
  create: (body: IntegrationIn) => request<Integration>("/integrations", { method: "POST", json: body }),
  change: (id: string, body: IntegrationChange) =>
    request<Integration>(`/integrations/${encodeURIComponent(id)}`, { method: "PATCH", json: body }),
  remove: (id: string) => request<void>(`/integrations/${encodeURIComponent(id)}`, { method: "DELETE" }),
  deliveries: (id: string, offset: number, limit: number) =>
    request<Page<Delivery>>(`/integrations/${encodeURIComponent(id)}/deliveries`, { query: { offset, limit } }),
  retry: (id: string, jobId: string) =>
    request<Job>(`/integrations/${encodeURIComponent(id)}/jobs/${encodeURIComponent(jobId)}/retry`, { method: "POST" }),
  sync: (id: string) => request<{ job: Job }>(`/integrations/${encodeURIComponent(id)}/sync`, { method: "POST" }),
  policy: (id: string) => request<PolicyOut>(`/integrations/${encodeURIComponent(id)}/policy`),
  setPolicy: (id: string, policy: TaggingPolicy) =>
    request<PolicyOut>(`/integrations/${encodeURIComponent(id)}/policy`, { method: "PUT", json: policy }),
};

let taxonomyOnce: Promise<Taxonomy> | null = null;

/** The taxonomy rarely changes: fetched once per page load (and again after a failure). */
export function taxonomy(): Promise<Taxonomy> {
  taxonomyOnce ??= request<Taxonomy>("/taxonomy").catch((error) => {
    taxonomyOnce = null;
    throw error;
  });
  return taxonomyOnce;
}

export const shopModel = {
  get: () => request<ShopModel>("/shop-model"),
  train: () => request<ShopModelTraining>("/shop-model/train", { method: "POST" }),
};
