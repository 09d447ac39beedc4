// The console's frame: the navigation, the page for the current path, and the sign-in gate.
import { useEffect, useRef, useState, type ReactNode } from "react";
import { annotations } from "./api/endpoints";
import { useAuth } from "./auth";
import { AnnotatePage } from "./pages/Annotate";
import { AuthPage } from "./pages/Auth";
import { CataloguePage } from "./pages/Catalogue";
import { IntegrationsPage } from "./pages/Integrations";
import { KeysPage } from "./pages/Keys";
import { ShopModelPage } from "./pages/ShopModel";
import { AccountPage } from "./pages/Account";
import { QUEUE_CHANGED, QueuePage } from "./pages/Queue";
import { ReviewsPage } from "./pages/Reviews";
import { SimilarPage } from "./pages/Similar";
import { Link, navigate, usePath } from "./router";

interface Route {
  path: string;
  title: string;
  page: () => ReactNode;
}

const ROUTES: Route[] = [
  { path: "/annotate", title: "Annotate", page: () => <AnnotatePage /> },
  { path: "/similar", title: "Similar items", page: () => <SimilarPage /> },
  { path: "/queue", title: "Review queue", page: () => <QueuePage /> },
  { path: "/reviews", title: "Past reviews", page: () => <ReviewsPage /> },
  { path: "/catalogue", title: "Catalogue", page: () => <CataloguePage /> },
  { path: "/integrations", title: "Integrations", page: () => <IntegrationsPage /> },
  { path: "/shop-model", title: "Shop model", page: () => <ShopModelPage /> },
  { path: "/keys", title: "API keys", page: () => <KeysPage /> },
  { path: "/account", title: "Account", page: () => <AccountPage /> },
];

const PUBLIC = new Set(["/login", "/signup"]);
// The page a signed-out visitor asked for, opened once they have logged in (this tab only).
const AFTER_LOGIN = "kalas.after-login";
const WAITING_EVERY_MS = 60_000;

/** How many store products the tagging policy held in the review queue (nothing written: they wait for a person;
 *  those it applied wait too, but need no one), asked again at each page change, when the queue page saves a
 *  review (QUEUE_CHANGED) and every minute: the nav shows it, so that a person sees held products without opening
 *  the queue. A failed ask keeps the last count. */
function useWaiting(path: string, signedIn: boolean): number | null {
  const [waiting, setWaiting] = useState<number | null>(null);
  useEffect(() => {
    if (!signedIn) return;
    let live = true;
    const ask = () =>
      annotations.queue(0, 1, "held").then(
        (page) => live && setWaiting(page.total),
        () => undefined,
      );
    ask();
    const timer = window.setInterval(ask, WAITING_EVERY_MS);
    window.addEventListener(QUEUE_CHANGED, ask);
    return () => {
      live = false;
      window.clearInterval(timer);
      window.removeEventListener(QUEUE_CHANGED, ask);
    };
  }, [path, signedIn]);
  return waiting;
}

export function App() {
  const path = usePath();
  const { account, signOut } = useAuth();
  const main = useRef<HTMLElement>(null);
  const route = ROUTES.find((candidate) => candidate.path === path);
  const waiting = useWaiting(path, account != null);

  useEffect(() => {
    if (!account && !PUBLIC.has(path)) {
      if (route) sessionStorage.setItem(AFTER_LOGIN, path + window.location.search); // back there once logged in
      navigate("/login", true);
    } else if (account && (PUBLIC.has(path) || !route)) {
      const wanted = sessionStorage.getItem(AFTER_LOGIN);
      sessionStorage.removeItem(AFTER_LOGIN);
      const known = wanted != null && ROUTES.some((candidate) => candidate.path === wanted.split("?")[0]);
      navigate(known && PUBLIC.has(path) ? wanted : "/annotate", true);
    }
  }, [account, path, route]);

  useEffect(() => {
    document.title = `${route?.title ?? (path === "/signup" ? "Sign up" : "Log in")} · Kalas-Iris`;
    // Move focus to the new page's heading so keyboard and screen-reader users know the page changed.
    main.current?.querySelector("h1")?.focus();
  }, [path, route]);

  if (!account) {
    return (
      <main ref={main} className="auth-layout">
        <AuthPage mode={path === "/signup" ? "signup" : "login"} />
      </main>
    );
  }
  return (
    <div className="layout">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/annotate" className="brand">
          <img src="/icons/icon.svg" alt="" width={28} height={28} />
          Kalas-Iris
        </Link>
        <nav aria-label="Console" className="nav">
          {ROUTES.map((candidate) => (
            <Link key={candidate.path} href={candidate.path} aria-current={candidate.path === path ? "page" : undefined}>
              {candidate.title}
              {candidate.path === "/queue" && waiting ? (
                <span className="nav-count" data-testid="queue-waiting">
                  {waiting}
                  <span className="visually-hidden"> held</span>
                </span>
              ) : null}
            </Link>
          ))}
        </nav>
        <div className="account">
          <span className="account-name" title={account.email}>
            {account.shop_name}
          </span>
          <button type="button" onClick={() => signOut().then(() => navigate("/login"))}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" ref={main} className="content">
        {route?.page()}
      </main>
    </div>
  );
}
