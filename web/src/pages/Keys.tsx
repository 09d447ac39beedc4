// API keys: create one (its secret is shown once, to copy), list them, revoke one.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { keys } from "../api/endpoints";
import type { ApiKey, ApiKeyCreated } from "../api/types";
import { CopyField } from "../components/CopyField";
import { Empty, ErrorMessage, Spinner } from "../components/Status";
import { useTask } from "../useTask";

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : "never");

export function KeysPage() {
  const [list, setList] = useState<ApiKey[] | null>(null);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const load = useTask(useCallback(async () => setList((await keys.list()).items), []));
  const create = useTask(
    useCallback(async (keyName: string) => {
      setCreated(await keys.create(keyName));
      setName("");
      setList((await keys.list()).items);
    }, []),
  );
  const revoke = useTask(
    useCallback(async (key: ApiKey) => {
      await keys.revoke(key.id);
      setList((await keys.list()).items);
    }, []),
  );
  const { run } = load;
  useEffect(() => {
    run();
  }, [run]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.run(name.trim());
  };
  return (
    <section>
      <h1 tabIndex={-1}>API keys</h1>
      <p className="lead">
        Scripts and your shop's back end send a key as the <code>X-API-Key</code> header.
      </p>
      <form className="card inline-form" onSubmit={submit}>
        <div className="field grow">
          <label htmlFor="key-name">Name of the new key</label>
          <input id="key-name" required maxLength={80} value={name} onChange={(event) => setName(event.target.value)} placeholder="catalogue sync script" />
        </div>
        <button type="submit" className="primary" disabled={create.busy}>
          {create.busy ? "Creating…" : "Create key"}
        </button>
      </form>
      <ErrorMessage error={create.error} onDismiss={create.clearError} />
      {created && (
        <div className="card secret" data-testid="new-key">
          <h2>Key "{created.name}" created</h2>
          <p>
            <strong>Copy it now: it is shown only once.</strong> Store it as a secret; anyone holding it can use your account.
          </p>
          <CopyField id="new-key-secret" label="Secret key" value={created.secret} />
          <button type="button" onClick={() => setCreated(null)}>
            I have copied it
          </button>
        </div>
      )}
      <ErrorMessage error={load.error ?? revoke.error} />
      {load.busy && !list && <Spinner label="Loading keys…" />}
      {list && !list.length && <Empty>No keys yet.</Empty>}
      {list && list.length > 0 && (
        <div className="table-wrap">
          <table className="table cards" data-testid="keys">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((key) => (
                <tr key={key.id} data-testid="key-row">
                  <td data-label="Name" className="wrap">{key.name}</td>
                  <td data-label="Key" className="mono">{key.prefix}…</td>
                  <td data-label="Created">{when(key.created)}</td>
                  <td data-label="Last used">{when(key.last_used)}</td>
                  <td data-label="State">{key.revoked ? <span className="badge muted">revoked</span> : <span className="badge ok">active</span>}</td>
                  <td>
                    {!key.revoked && (
                      <button
                        type="button"
                        className="danger"
                        disabled={revoke.busy}
                        onClick={() => window.confirm(`Revoke the key "${key.name}"? Scripts using it stop working at once.`) && revoke.run(key)}
                      >
                        Revoke<span className="visually-hidden"> {key.name}</span>
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
