// Runs one async action at a time for a component and exposes its loading state and readable error message.
import { useCallback, useEffect, useRef, useState } from "react";
import { messageOf } from "./api/client";

export interface Task<A extends unknown[], T> {
  run: (...args: A) => Promise<T | undefined>;
  busy: boolean;
  error: string | null;
  clearError: () => void;
}

export function useTask<A extends unknown[], T>(action: (...args: A) => Promise<T>): Task<A, T> {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const run = useCallback(
    async (...args: A) => {
      setBusy(true);
      setError(null);
      try {
        return await action(...args);
      } catch (caught) {
        if (mounted.current) setError(messageOf(caught));
        return undefined;
      } finally {
        if (mounted.current) setBusy(false);
      }
    },
    [action],
  );
  return { run, busy, error, clearError: useCallback(() => setError(null), []) };
}
