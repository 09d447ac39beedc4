// The API's bodies, as api/schemas.py defines them (dates arrive as ISO strings).

export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

export interface Account {
  id: string;
  email: string;
  shop_name: string;
  created: string;
}

export interface Session {
  token: string;
  expires: string;
  account: Account;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created: string;
  last_used: string | null;
  revoked: string | null;
}

export interface ApiKeyCreated extends ApiKey {
  secret: string;
}

export interface Crop {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Scored {
  label: string;
  name: string;
  score: number;
}

export interface Colour {
  name: string;
  hex: string;
  share: number;
}

export interface ModelInfo {
  name: string;
  version: string;
  /** The exact weights and photo framing that answered (null on answers stored before digests were kept). */
  digest?: string | null;
}

export interface StoredImage {
  id: string;
  url: string;
  width: number;
  height: number;
}

/** The shop's own terms a review gives a store product (names its products carry). */
export interface ReviewShopTerms {
  category: string | null;
  tags: string[];
}

export interface ReviewIn {
  category: string;
  attributes: Record<string, string>;
  colours: string[];
  shop?: ReviewShopTerms | null;
}

export interface Review extends ReviewIn {
  id: string;
  annotation_id: string;
  reviewer: string;
  created: string;
}

export interface Annotation {
  id: string;
  image: StoredImage;
  source: Record<string, string>;
  crop: Crop | null;
  category: Scored[];
  attributes: Record<string, Scored[]>;
  colours: Colour[];
  model: ModelInfo;
  created: string;
  review: Review | null;
  groups?: Scored[];
  policy?: PolicyOutcome | null;
  shop?: ShopAnswer | null;
  /** A store product's annotation taken out of the review queue unreviewed: why. */
  left_queue?: string | null;
}

/** The shop's own terms for a photo, from its own model (scores calibrated on its held-out products). */
export interface ShopAnswer {
  version: number;
  /** Whether the product's name was read beside the photo. */
  named?: boolean;
  categories: { name: string; score: number }[];
  /** The best category's parents in the shop's tree, nearest first. */
  parents?: { name: string; score: number }[];
  tags: { name: string; score: number }[];
}

export interface PolicyOutcome {
  state: "applied" | "held";
  category: string | null;
  tags: string[];
  level: "leaf" | "group" | "shop" | null;
}

export type Target = "0.90" | "0.95" | "0.97" | "0.99";

export interface TaggingPolicy {
  target: Target;
  attribute_groups: string[];
  colours: boolean;
  rename: Record<string, string>;
}

export interface HeldOutFigures {
  precision: number | null;
  coverage: number;
  leaf_coverage: number;
  photos: number;
}

export interface PolicyOut {
  policy: TaggingPolicy;
  options: { target: Target; held_out: Record<string, HeldOutFigures> }[];
}

export interface Webhooks {
  state: "registered" | "manual";
  ids: Record<string, number>;
  created: string[];
  reactivated: string[];
  error: string | null;
  /** newer topics the store does not have (product.published: WooCommerce 10.8 and later) */
  unsupported?: string[];
}

export interface Product {
  id: string;
  sku: string | null;
  title: string;
  url: string | null;
  metadata: Record<string, string>;
  categories: string[];
  tags: string[];
  images: StoredImage[];
  created: string;
  updated: string;
}

export interface ProductIn {
  title: string;
  sku?: string | null;
  url?: string | null;
  metadata?: Record<string, string>;
  image_urls: string[];
  categories?: string[];
  tags?: string[];
}

export interface ErrorDetail {
  code: string;
  message: string;
}

export interface ImportResult {
  created: number;
  failed: number;
  items: { index: number; product: Product | null; error: ErrorDetail | null }[];
}

export interface SimilarItem {
  score: number;
  product: Product;
}

export interface SearchItem extends SimilarItem {
  photo: number;
  words: number;
}

export interface SearchResult {
  query: string;
  catalogue: "shop" | "demo";
  items: SearchItem[];
}

export interface SimilarResult {
  catalogue: "shop" | "demo";
  items: SimilarItem[];
  model: ModelInfo;
}

export interface IndexStatus {
  products: number;
  indexed: number;
  vectors: number;
  kind: string | null;
  dim: number | null;
  /** Products whose vectors an older model made: embedded again in the background (null: not known yet). */
  stale: number | null;
}

export interface IntegrationIn {
  store_url: string;
  consumer_key: string;
  consumer_secret: string;
  webhook_secret: string;
}

/** What changes of a connected store (PATCH): the key pair together, or nothing of it. */
export type IntegrationChange = Partial<IntegrationIn>;

export interface SyncSummary {
  at: number;
  modified_after: string | null;
  listed: number;
  queued: number;
  /** the store's scheduled products, looked at again at the next sync */
  scheduled?: number;
  /** scheduled at the sync before and published since */
  published?: number;
  next_after: string;
}

export interface Integration {
  id: string;
  kind: "woocommerce";
  store_url: string;
  consumer_key: string;
  consumer_secret: string;
  webhook_secret: string;
  delivery_url: string;
  created: string;
  /** A store connected again: when it had been disconnected (it took back its former integration). */
  reconnected?: string | null;
  last_ping: number | null;
  last_sync: SyncSummary | null;
  jobs: Record<string, number>;
  webhooks?: Webhooks | null;
  /** A multilingual store's language, as the service's requests get it (WPML, Polylang). */
  store_language?: string | null;
  /** The store's catalogue import at connect; null while its job waits. */
  catalogue_import?: CatalogueImport | null;
}

export interface CatalogueImport {
  /** stopped: its job gave up (`reason`); retrying that job (`job`) goes on from `next_page`. */
  state: "running" | "stopped" | "done";
  reason?: string;
  job?: string;
  next_page?: number;
  pages?: number | null;
  total?: number | null;
  seen?: number;
  imported?: number;
  failed?: number;
  translations?: number;
  not_shown?: number;
}

export type JobState = "queued" | "running" | "done" | "dead" | "superseded";

export interface JobStep {
  at: number;
  attempt: number;
  step: string;
  detail: string;
  ok: boolean;
}

export interface Job {
  id: string;
  kind: string;
  product_id: number | null;
  state: JobState;
  reason: string;
  attempts: number;
  run_after: number;
  last_error: string | null;
  outcome: string | null;
  created: number;
  updated: number;
  steps: JobStep[];
}

export interface Delivery {
  id: string;
  delivery_id: string;
  topic: string;
  product_id: number | null;
  received: number;
  outcome: string;
  job: Job | null;
}

export interface Term {
  label: string;
  name: string;
}

export interface Taxonomy {
  categories: (Term & { parent: string | null; leaf: boolean })[];
  attributes: Record<string, Term[]>;
  colours: (Term & { hex: string })[];
}

/** A shop's own model (GET /shop-model). */
export interface ShopTerm {
  name: string;
  examples: number;
  needs: number;
  precision: number | null;
  recall: number | null;
  support: number;
}

export interface ShopModelVersion {
  version: number;
  created: string;
  products: number;
  train_seconds: number;
  held_out: HeldOutFiguresOfShop | null;
  held_out_named?: HeldOutFiguresOfShop | null;
}

export interface HeldOutFiguresOfShop {
  products: number;
  category_top1: number | null;
  category_ece: number | null;
  tag_micro_f1: number | null;
}

export interface ShopModelTraining {
  id: string;
  state: string;
  reason: string;
  outcome: string | null;
  last_error: string | null;
  created: number;
  updated: number;
}

export interface ShopModel {
  state: "trained" | "none";
  min_examples: number;
  min_named: number;
  categories: ShopTerm[];
  tags: ShopTerm[];
  current: ShopModelVersion | null;
  versions: ShopModelVersion[];
  training: ShopModelTraining | null;
}
