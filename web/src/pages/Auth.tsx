// Sign up and log in: one form, two modes.
import { useCallback, useState, type FormEvent } from "react";
import { auth } from "../api/endpoints";
import { useAuth } from "../auth";
import { ErrorMessage, Notice } from "../components/Status";
import { Link } from "../router";
import { useTask } from "../useTask";

export function AuthPage({ mode }: { mode: "login" | "signup" }) {
  const { signIn, notice } = useAuth();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [shop, setShop] = useState("");
  const submit = useTask(
    useCallback(async () => {
      const session = mode === "signup" ? await auth.signup(email.trim(), password, shop.trim()) : await auth.login(email.trim(), password);
      signIn(session);
    }, [mode, email, password, shop, signIn]),
  );
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    submit.run();
  };
  const signup = mode === "signup";
  return (
    <section className="card auth-card">
      <img src="/icons/icon.svg" alt="" width={56} height={56} />
      <h1 tabIndex={-1}>{signup ? "Create your shop's account" : "Log in to Kalas-Iris"}</h1>
      {notice && !signup && <Notice>{notice}</Notice>}
      <form onSubmit={onSubmit} className="stack">
        {signup && (
          <div className="field">
            <label htmlFor="shop">Shop name</label>
            <input id="shop" required maxLength={120} value={shop} onChange={(event) => setShop(event.target.value)} autoComplete="organization" />
          </div>
        )}
        <div className="field">
          <label htmlFor="email">E-mail</label>
          <input id="email" type="email" required value={email} onChange={(event) => setEmail(event.target.value)} autoComplete="email" />
        </div>
        <div className="field">
          <label htmlFor="password">Password</label>
          <input
            id="password"
            type="password"
            required
            minLength={signup ? 10 : 1}
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            autoComplete={signup ? "new-password" : "current-password"}
            aria-describedby={signup ? "password-help" : undefined}
          />
          {signup && (
            <small id="password-help" className="help">
              At least 10 characters.
            </small>
          )}
        </div>
        <ErrorMessage error={submit.error} />
        <button type="submit" className="primary" disabled={submit.busy}>
          {submit.busy ? (signup ? "Creating account…" : "Logging in…") : signup ? "Sign up" : "Log in"}
        </button>
      </form>
      <p>
        {signup ? (
          <>
            Already have an account? <Link href="/login">Log in</Link>
          </>
        ) : (
          <>
            New here? <Link href="/signup">Create an account</Link>
          </>
        )}
      </p>
    </section>
  );
}
