// A form generated from a JSON Schema of an object (a tool's input schema, or what an
// MCP server asks for): a field per property of a simple type (string, number,
// integer, boolean, enum); properties of other types are edited as JSON. A schema the
// form cannot express, or the reviewer's choice, falls back to one JSON textarea.
import { useState } from "preact/hooks";

function simpleType(prop) {
  if (!prop || typeof prop !== "object") return null;
  if (Array.isArray(prop.enum) && prop.enum.every((v) => typeof v === "string")) return "enum";
  const t = Array.isArray(prop.type) ? prop.type.find((x) => x !== "null") : prop.type;
  return ["string", "number", "integer", "boolean"].includes(t) ? t : null;
}

export function formable(schema) {
  return Boolean(schema && schema.type === "object" && schema.properties && typeof schema.properties === "object");
}

// The form's fields as text, from a value.
function fieldsOf(schema, value) {
  const fields = {};
  for (const [name, prop] of Object.entries(schema.properties)) {
    const v = value?.[name];
    const t = simpleType(prop);
    if (t === "boolean") fields[name] = Boolean(v);
    else if (t) fields[name] = v === undefined || v === null ? "" : String(v);
    else fields[name] = v === undefined ? "" : JSON.stringify(v, null, 2);
  }
  return fields;
}

// The value from the form's fields; throws naming the field that is wrong.
function valueOf(schema, fields, base) {
  const out = { ...(base || {}) };
  const required = new Set(schema.required || []);
  for (const [name, prop] of Object.entries(schema.properties)) {
    const t = simpleType(prop);
    const raw = fields[name];
    if (t === "boolean") {
      out[name] = Boolean(raw);
      continue;
    }
    if (raw === "" || raw === undefined) {
      if (required.has(name)) throw new Error(`${name} is required`);
      delete out[name];
      continue;
    }
    if (t === "integer" || t === "number") {
      const n = Number(raw);
      if (!Number.isFinite(n) || (t === "integer" && !Number.isInteger(n))) throw new Error(`${name} must be ${t === "integer" ? "an integer" : "a number"}`);
      out[name] = n;
    } else if (t) {
      out[name] = raw;
    } else {
      try {
        out[name] = JSON.parse(raw);
      } catch (e) {
        throw new Error(`${name}: not JSON (${e.message})`);
      }
    }
  }
  return out;
}

// onSubmit gets the value (an object); submitLabel names the button.
export function SchemaForm({ schema, value, onSubmit, submitLabel, busy, testid }) {
  const canForm = formable(schema);
  const [asJson, setAsJson] = useState(!canForm);
  const [fields, setFields] = useState(() => (canForm ? fieldsOf(schema, value) : {}));
  const [json, setJson] = useState(() => JSON.stringify(value ?? {}, null, 2));
  const [error, setError] = useState("");

  const switchMode = () => {
    setError("");
    try {
      if (asJson) {
        setFields(fieldsOf(schema, JSON.parse(json)));
      } else {
        setJson(JSON.stringify(valueOf(schema, fields, value), null, 2));
      }
      setAsJson(!asJson);
    } catch (e) {
      setError(e.message);
    }
  };
  const submit = (e) => {
    e.preventDefault();
    setError("");
    let v;
    try {
      v = asJson ? JSON.parse(json) : valueOf(schema, fields, value);
    } catch (err) {
      setError(err.message);
      return;
    }
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      setError("the input must be a JSON object");
      return;
    }
    onSubmit(v);
  };

  return (
    <form class="schema-form" onSubmit={submit} data-testid={testid}>
      {asJson ? (
        <label class="block">
          Input (JSON)
          <textarea rows="8" class="mono" value={json} onInput={(e) => setJson(e.currentTarget.value)} data-testid="schema-json" />
        </label>
      ) : (
        Object.entries(schema.properties).map(([name, prop]) => {
          const t = simpleType(prop);
          const required = (schema.required || []).includes(name);
          const set = (v) => setFields({ ...fields, [name]: v });
          const label = (
            <span>
              {name}
              {required && <span aria-hidden="true"> *</span>}
              {prop?.description && <span class="muted"> — {prop.description}</span>}
            </span>
          );
          if (t === "boolean") {
            return (
              <label key={name} class="check">
                <input type="checkbox" checked={fields[name]} onChange={(e) => set(e.currentTarget.checked)} /> {label}
              </label>
            );
          }
          if (t === "enum") {
            return (
              <label key={name} class="block">
                {label}
                <select value={fields[name]} onChange={(e) => set(e.currentTarget.value)} required={required}>
                  {!required && <option value="">(none)</option>}
                  {prop.enum.map((v) => <option key={v} value={v}>{v}</option>)}
                </select>
              </label>
            );
          }
          if (t) {
            return (
              <label key={name} class="block">
                {label}
                <input
                  type={t === "string" ? "text" : "number"}
                  step={t === "integer" ? "1" : "any"}
                  value={fields[name]}
                  required={required}
                  onInput={(e) => set(e.currentTarget.value)}
                  data-testid={`field-${name}`}
                />
              </label>
            );
          }
          return (
            <label key={name} class="block">
              {label} <span class="muted">(JSON)</span>
              <textarea rows="4" class="mono" value={fields[name]} onInput={(e) => set(e.currentTarget.value)} />
            </label>
          );
        })
      )}
      {error && <p class="field-error" role="alert">{error}</p>}
      <div class="form-buttons">
        <button type="submit" class="primary" disabled={busy} data-testid="schema-submit">{submitLabel}</button>
        {canForm && (
          <button type="button" class="link" onClick={switchMode}>
            {asJson ? "Edit as a form" : "Edit as JSON"}
          </button>
        )}
      </div>
    </form>
  );
}
