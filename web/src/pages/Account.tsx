// The shop's account: everything it owns as one download, and deleting the account with all of it.
import { useCallback, useState, type FormEvent } from "react";
import { download } from "../api/client";
import { account as accountApi } from "../api/endpoints";
import { useAuth } from "../auth";
import { ErrorMessage } from "../components/Status";
import { navigate } from "../router";
import { useTask } from "../useTask";

export function AccountPage() {
  const { account, deleted } = useAuth();
  const [password, setPassword] = useState("");
  const exporting = useTask(useCallback(() => download("/account/export", "kalas-iris-account.zip"), []));
  const removing = useTask(
    useCallback(
      async (entered: string) => {
        await accountApi.remove(entered);
        deleted(); // the session went with the account: nothing to log out of
        navigate("/login", true);
      },
      [deleted],
    ),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (window.confirm(`Delete ${account?.shop_name ?? "this shop"} and everything it owns? This cannot be undone.`)) removing.run(password);
  };
  return (
    <section>
      <h1 tabIndex={-1}>Account</h1>
      <p className="lead">
        {account?.shop_name} · {account?.email}
      </p>
      <div className="card">
        <h2>Your data</h2>
        <p className="help">Every product, photo, annotation, review, key, callback and store connection of this shop, as one zip.</p>
        <button type="button" onClick={() => exporting.run()} disabled={exporting.busy}>
          {exporting.busy ? "Preparing the download…" : "Download all my data (.zip)"}
        </button>
        <ErrorMessage error={exporting.error} />
      </div>
      <form className="card" onSubmit={submit} data-testid="delete-account">
        <h2>Delete the account</h2>
        <p className="help">
          Deletes the shop and every byte it owns: products, photos, annotations, reviews, the similar-items index, API keys,
          callbacks, and the service&apos;s webhooks in your stores. Download your data first: nothing can be recovered.
        </p>
        <div className="field">
          <label htmlFor="delete-password">Your password</label>
          <input id="delete-password" type="password" autoComplete="current-password" required value={password} onChange={(event) => setPassword(event.target.value)} />
        </div>
        <ErrorMessage error={removing.error} onDismiss={removing.clearError} />
        <div className="button-row">
          <button type="submit" className="danger" disabled={removing.busy || !password}>
            {removing.busy ? "Deleting…" : "Delete my account"}
          </button>
        </div>
      </form>
    </section>
  );
}
