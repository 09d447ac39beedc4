// The signed-in account: kept with its session token in localStorage, cleared on log-out, when the API answers 401
// (an expired or revoked session), or when the shop deleted its account; the log-in page says which (`notice`).
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { onSessionExpired, setToken } from "./api/client";
import { auth } from "./api/endpoints";
import type { Account, Session } from "./api/types";

const ACCOUNT_KEY = "kalas.account";

interface AuthState {
  account: Account | null;
  notice: string | null;
  signIn: (session: Session) => void;
  signOut: () => Promise<void>;
  /** The account is gone (deleted with its sessions): forget it here, nothing to log out of. */
  deleted: () => void;
}

const AuthContext = createContext<AuthState | null>(null);

function storedAccount(): Account | null {
  try {
    return JSON.parse(localStorage.getItem(ACCOUNT_KEY) ?? "null");
  } catch {
    return null;
  }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [account, setAccount] = useState<Account | null>(storedAccount);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(
    () =>
      onSessionExpired(() => {
        localStorage.removeItem(ACCOUNT_KEY);
        setAccount(null);
        setNotice("Your session has ended. Log in again.");
      }),
    [],
  );

  const signIn = useCallback((session: Session) => {
    setToken(session.token);
    localStorage.setItem(ACCOUNT_KEY, JSON.stringify(session.account));
    setNotice(null);
    setAccount(session.account);
  }, []);

  const signOut = useCallback(async () => {
    try {
      await auth.logout();
    } finally {
      // Forget the session here even if the server could not be reached: the user asked to leave.
      setToken(null);
      localStorage.removeItem(ACCOUNT_KEY);
      setAccount(null);
    }
  }, []);

  const deleted = useCallback(() => {
    setToken(null);
    localStorage.removeItem(ACCOUNT_KEY);
    setAccount(null);
    setNotice("Your account and all its data were deleted.");
  }, []);

  const value = useMemo(() => ({ account, notice, signIn, signOut, deleted }), [account, notice, signIn, signOut, deleted]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}
