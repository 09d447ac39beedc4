// A read-only value with a Copy button (secrets, URLs); falls back to selecting the text where the clipboard is refused.
import { useRef, useState } from "react";

export function CopyField({ label, value, id }: { label: string; value: string; id: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    input.current?.select();
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      // Clipboard access needs a secure context and permission; the selected text can still be copied by hand.
      setCopied(false);
    }
  };
  return (
    <div className="field copy-field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        <input id={id} ref={input} readOnly value={value} onFocus={(event) => event.target.select()} className="mono" />
        <button type="button" onClick={copy}>
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
    </div>
  );
}
