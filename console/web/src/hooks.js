import { useEffect, useRef, useState } from "preact/hooks";

// Calls load() now, whenever deps change, and every intervalMs while the page is
// visible (a hidden tab does not poll; it loads once more when shown again). Returns
// {data, error, loading, reload}. A slow answer never overwrites a newer one.
export function usePolled(load, deps, intervalMs = 2000) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = () => {
    const mine = ++generation.current;
    return loadRef.current().then(
      (data) => mine === generation.current && setState({ data, error: null, loading: false }),
      (error) => mine === generation.current && setState((s) => ({ ...s, error, loading: false })),
    );
  };

  useEffect(() => {
    // The previous data stays shown until the new answer replaces it (no flicker).
    setState((s) => ({ ...s, loading: true }));
    reload();
    if (!intervalMs) return undefined;
    let timer = null;
    let stopped = false;
    const tick = () => {
      timer = null;
      if (stopped) return;
      if (document.visibilityState === "visible") {
        reload().finally(() => {
          if (!stopped) timer = setTimeout(tick, intervalMs);
        });
      }
    };
    const onVisible = () => {
      if (document.visibilityState === "visible" && !timer && !stopped) tick();
    };
    timer = setTimeout(tick, intervalMs);
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, deps);

  return { ...state, reload };
}
