// The namespace the lists and forms work in, chosen in the header when the principal
// may use more than one. Empty: the orchestrator's default for the caller (its only
// namespace, else "default"). Runs carry theirs in their ids, so a run's page needs none.
import { useEffect, useState } from "preact/hooks";

let current = "";
const listeners = new Set();

export function setNamespace(ns) {
  current = ns;
  listeners.forEach((fn) => fn(ns));
}

export function useNamespace() {
  const [ns, setNs] = useState(current);
  useEffect(() => {
    listeners.add(setNs);
    return () => listeners.delete(setNs);
  }, []);
  return ns;
}
