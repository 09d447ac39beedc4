// Integrations: register a WooCommerce store, copy the delivery URL and webhook secret into its webhook form,
// and follow each delivery's job.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { integrations } from "../api/endpoints";
import type { Integration, IntegrationChange, IntegrationIn } from "../api/types";
import { CopyField } from "../components/CopyField";
import { DeliveryLog } from "../components/DeliveryLog";
import { ImportProgress } from "../components/ImportProgress";
import { PolicyForm } from "../components/PolicyForm";
import { Empty, ErrorMessage, Notice, Spinner } from "../components/Status";
import { useTask } from "../useTask";
import { SubmitRow } from "../components/SubmitRow";

function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function StoreForm({ onCreated }: { onCreated: (integration: Integration, webhookSecret: string) => void }) {
  const [form, setForm] = useState<IntegrationIn>(() => ({ store_url: "", consumer_key: "", consumer_secret: "", webhook_secret: newSecret() }));
  const create = useTask(
    useCallback(
      async (body: IntegrationIn) => {
        onCreated(await integrations.create(body), body.webhook_secret);
        // The next store gets a fresh form and its own secret.
        setForm({ store_url: "", consumer_key: "", consumer_secret: "", webhook_secret: newSecret() });
      },
      [onCreated],
    ),
  );
  const field = (name: keyof IntegrationIn) => ({
    id: `store-${name}`,
    value: form[name],
    required: true,
    onChange: (event: { target: { value: string } }) => setForm({ ...form, [name]: event.target.value.trim() }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.run(form);
  };
  return (
    <form className="card" onSubmit={submit} data-testid="store-form">
      <h2>Connect a WooCommerce store</h2>
      <p className="help">
        Create a REST API key with Read/Write access in WooCommerce → Settings → Advanced → REST API, and paste it here
        with the store's address (that settings page's own address will do).
      </p>
      <div className="form-grid">
        <div className="field wide">
          <label htmlFor="store-store_url">Store URL</label>
          <input type="url" placeholder="https://shop.example" {...field("store_url")} />
        </div>
        <div className="field">
          <label htmlFor="store-consumer_key">Consumer key</label>
          <input placeholder="ck_…" autoComplete="off" className="mono" {...field("consumer_key")} />
        </div>
        <div className="field">
          <label htmlFor="store-consumer_secret">Consumer secret</label>
          <input type="password" placeholder="cs_…" autoComplete="off" className="mono" {...field("consumer_secret")} />
        </div>
        <div className="wide">
          <CopyField id="store-webhook_secret" label="Webhook secret (the service sets up the store's webhooks with it; paste it into WooCommerce only if your key may not manage webhooks)" value={form.webhook_secret} />
          <button type="button" onClick={() => setForm({ ...form, webhook_secret: newSecret() })}>
            New secret
          </button>
        </div>
      </div>
      <ErrorMessage error={create.error} onDismiss={create.clearError} />
      <SubmitRow busy={create.busy} label="Connect store" busyLabel="Connecting…" />
    </form>
  );
}

// A new REST API key (the old one revoked), a new webhook secret, or the store's new address: the integration,
// its delivery URL, policy and history stay. The store is asked with new keys first; keys it refuses change nothing.
function ChangeForm({ integration, onChanged }: { integration: Integration; onChanged: (changed: Integration, webhookSecret: string | null) => void }) {
  const empty = (store_url: string): IntegrationIn => ({ store_url, consumer_key: "", consumer_secret: "", webhook_secret: "" });
  const [form, setForm] = useState<IntegrationIn>(() => empty(integration.store_url));
  const [saved, setSaved] = useState(false);
  const change = useTask(
    useCallback(
      async (body: IntegrationChange) => {
        setSaved(false);
        const changed = await integrations.change(integration.id, body);
        onChanged(changed, body.webhook_secret ?? null);
        setForm(empty(changed.store_url));
        setSaved(true);
      },
      [integration.id, onChanged],
    ),
  );
  const id = (name: keyof IntegrationIn) => `change-${integration.id}-${name}`;
  const field = (name: keyof IntegrationIn) => ({
    id: id(name),
    value: form[name],
    onChange: (event: { target: { value: string } }) => setForm({ ...form, [name]: event.target.value.trim() }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const body: IntegrationChange = {};
    if (form.store_url !== integration.store_url) body.store_url = form.store_url;
    if (form.consumer_key || form.consumer_secret) Object.assign(body, { consumer_key: form.consumer_key, consumer_secret: form.consumer_secret });
    if (form.webhook_secret) body.webhook_secret = form.webhook_secret;
    change.run(body);
  };
  return (
    <details data-testid="change-store">
      <summary>Change keys, webhook secret or store URL</summary>
      <form onSubmit={submit}>
        <div className="form-grid">
          <div className="field wide">
            <label htmlFor={id("store_url")}>Store URL</label>
            <input type="url" required {...field("store_url")} />
          </div>
          <div className="field">
            <label htmlFor={id("consumer_key")}>New consumer key</label>
            <input placeholder="ck_…" autoComplete="off" className="mono" {...field("consumer_key")} />
          </div>
          <div className="field">
            <label htmlFor={id("consumer_secret")}>New consumer secret</label>
            <input type="password" placeholder="cs_…" autoComplete="off" className="mono" {...field("consumer_secret")} />
          </div>
          <div className="wide">
            {form.webhook_secret ? (
              <CopyField id={id("webhook_secret")} label="New webhook secret (given to the service's webhooks in the store)" value={form.webhook_secret} />
            ) : (
              <p className="help">The webhook secret stays as it is unless you make a new one.</p>
            )}
            <button type="button" onClick={() => setForm({ ...form, webhook_secret: newSecret() })}>
              New webhook secret
            </button>
          </div>
        </div>
        {saved && <Notice>Saved: the store answered with what you gave, and the service's webhooks have it.</Notice>}
        <ErrorMessage error={change.error} onDismiss={change.clearError} />
        <SubmitRow busy={change.busy} label="Save changes" busyLabel="Asking the store…" />
      </form>
    </details>
  );
}

function StoreCard({ integration, secret, onRemoved, onChanged }: {
  integration: Integration;
  secret: string | null;
  onRemoved: () => void;
  onChanged: (changed: Integration, webhookSecret: string | null) => void;
}) {
  const [synced, setSynced] = useState(false);
  const sync = useTask(
    useCallback(async () => {
      await integrations.sync(integration.id);
      setSynced(true);
    }, [integration.id]),
  );
  const remove = useTask(
    useCallback(async () => {
      await integrations.remove(integration.id);
      onRemoved();
    }, [integration.id, onRemoved]),
  );
  const refreshed = useCallback((fresh: Integration) => onChanged(fresh, null), [onChanged]);
  return (
    <article className="card" data-testid="integration">
      <h2>{integration.store_url}</h2>
      <p className="muted">
        Key {integration.consumer_key} · connected {new Date(integration.created).toLocaleString()}
        {integration.last_ping && ` · last ping ${new Date(integration.last_ping * 1000).toLocaleString()}`}
      </p>
      {integration.reconnected && (
        <p className="muted" data-testid="reconnected">
          Connected again after a disconnect on {new Date(integration.reconnected).toLocaleString()}: its products'
          catalogue entries, review queue, jobs and tagging policy are the ones it had.
        </p>
      )}
      {integration.store_language && (
        <p className="muted" data-testid="store-language">
          A multilingual store: the service reads and writes it in <strong>{integration.store_language}</strong>. A
          product in another language is left to its {integration.store_language} version, whose categories and tags
          the store copies to its translations.
        </p>
      )}
      <ImportProgress integration={integration} onChanged={refreshed} />
      <p className="muted" data-testid="last-sync">
        {integration.last_sync
          ? `Last sync ${new Date(integration.last_sync.at * 1000).toLocaleString()}: ${integration.last_sync.listed} product(s) changed in the store${
              integration.last_sync.published ? `, ${integration.last_sync.published} scheduled product(s) published` : ""
            }, ${integration.last_sync.queued} queued for annotation.`
          : "Not synced yet."}{" "}
        The service also syncs the store by itself (every 15 minutes by default), so products whose webhooks never arrived are annotated too.
      </p>
      {integration.webhooks?.state === "registered" ? (
        <p data-testid="webhooks-state">
          The service created its webhooks in the store (Product created, updated, deleted and restored
          {integration.webhooks.ids["product.published"] ? ", and Product published" : ""}); a sync turns them back on if the
          store disables them.
          {integration.webhooks.unsupported?.includes("product.published") &&
            " This store is older than WooCommerce 10.8, which has no Product published topic: a scheduled product enters similar items at the next sync after it is published."}
        </p>
      ) : (
        <>
          {integration.webhooks?.error && <ErrorMessage error={integration.webhooks.error} />}
          <p>
            In WooCommerce → Settings → Advanced → Webhooks, add webhooks for the topics <strong>Product created</strong>,{" "}
            <strong>Product updated</strong>, <strong>Product deleted</strong>, <strong>Product restored</strong> and, in
            WooCommerce 10.8 and later, <strong>Product published</strong> (API version WP REST API v3) with this delivery URL
            and the secret you chose.
          </p>
        </>
      )}
      <CopyField id={`delivery-${integration.id}`} label="Delivery URL" value={integration.delivery_url} />
      {secret && <CopyField id={`secret-${integration.id}`} label="Webhook secret (shown only now; the service keeps it encrypted)" value={secret} />}
      {Object.keys(integration.jobs).length > 0 && (
        <p className="muted">
          Jobs:{" "}
          {Object.entries(integration.jobs)
            .map(([state, count]) => `${count} ${state}`)
            .join(", ")}
        </p>
      )}
      <div className="button-row">
        <button type="button" onClick={() => sync.run()} disabled={sync.busy}>
          {sync.busy ? "Asking…" : "Sync now"}
        </button>
        <button
          type="button"
          className="danger"
          disabled={remove.busy}
          onClick={() => window.confirm(`Disconnect ${integration.store_url}? The service's webhooks are removed from it. Its products stay in your catalogue, and connecting it again takes up where it left off.`) && remove.run()}
        >
          Disconnect
        </button>
      </div>
      {synced && <Notice>Sync queued: products changed in the store since the last sync will be annotated.</Notice>}
      <ErrorMessage error={sync.error ?? remove.error} />
      <ChangeForm integration={integration} onChanged={onChanged} />
      <PolicyForm integrationId={integration.id} />
      <DeliveryLog integration={integration} />
    </article>
  );
}

export function IntegrationsPage() {
  const [list, setList] = useState<Integration[] | null>(null);
  const [fresh, setFresh] = useState<{ id: string; secret: string } | null>(null);
  const load = useTask(useCallback(async () => setList((await integrations.list()).items), []));
  const { run } = load;
  useEffect(() => {
    run();
  }, [run]);
  const created = useCallback((integration: Integration, secret: string) => {
    setFresh({ id: integration.id, secret });
    setList((current) => [integration, ...(current ?? [])]);
  }, []);
  const changed = useCallback((integration: Integration, secret: string | null) => {
    if (secret) setFresh({ id: integration.id, secret });
    setList((current) => (current ?? []).map((other) => (other.id === integration.id ? integration : other)));
  }, []);
  return (
    <section>
      <h1 tabIndex={-1}>Integrations</h1>
      <p className="lead">New products in your store are annotated automatically; the categories and tags are written back.</p>
      {list && !list.length && <StoreForm onCreated={created} />}
      <ErrorMessage error={load.error} />
      {load.busy && !list && <Spinner label="Loading stores…" />}
      {list && !list.length && <Empty>No store connected yet.</Empty>}
      {list?.map((integration) => (
        <StoreCard
          key={integration.id}
          integration={integration}
          secret={fresh?.id === integration.id ? fresh.secret : null}
          onRemoved={() => setList((current) => (current ?? []).filter((other) => other.id !== integration.id))}
          onChanged={changed}
        />
      ))}
      {/* A shop connects one store in most cases: once it has, the form waits folded under its stores. */}
      {list && list.length > 0 && (
        <details data-testid="connect-another">
          <summary>Connect another store</summary>
          <StoreForm onCreated={created} />
        </details>
      )}
    </section>
  );
}
