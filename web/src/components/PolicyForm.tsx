// A store's tagging policy: the precision what is written must reach (with what each target bought on held-out
// photos), which attribute groups and whether colours become tags, and the shop's own words for any term.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { integrations } from "../api/endpoints";
import type { PolicyOut, TaggingPolicy, Target } from "../api/types";
import { humanise, percent } from "../correction";
import { ErrorMessage, Notice, Spinner } from "./Status";
import { useTask } from "../useTask";
import { SubmitRow } from "./SubmitRow";

const GROUPS = ["gender", "age", "usage", "season", "pattern"];
const KINDS: Record<string, string> = { "fashion-products": "shop photos", clothing: "consumer photos" };

function renameText(rename: Record<string, string>): string {
  return Object.entries(rename)
    .map(([from, to]) => `${from} = ${to}`)
    .join("\n");
}

function parseRename(text: string): Record<string, string> | string {
  const rename: Record<string, string> = {};
  for (const [index, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    const [from, to, ...rest] = line.split("=").map((part) => part.trim());
    if (!from || !to || rest.length) return `Line ${index + 1} should read "Term = the shop's word", e.g. "Men = Herren".`;
    rename[from] = to;
  }
  return rename;
}

function optionText(option: PolicyOut["options"][number]): string {
  const figures = Object.entries(option.held_out).map(
    ([kind, f]) => `${KINDS[kind] ?? kind}: ${percent(f.coverage)} applied (${percent(f.leaf_coverage)} to the exact category), ${f.precision === null ? "—" : percent(f.precision)} right`,
  );
  return `${percent(Number(option.target))} sure${figures.length ? ` — ${figures.join("; ")}` : ""}`;
}

export function PolicyForm({ integrationId }: { integrationId: string }) {
  const [loaded, setLoaded] = useState<PolicyOut | null>(null);
  const [policy, setPolicy] = useState<TaggingPolicy | null>(null);
  const [rename, setRename] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const apply = (out: PolicyOut) => {
    setLoaded(out);
    setPolicy(out.policy);
    setRename(renameText(out.policy.rename));
  };
  const load = useTask(useCallback(async () => apply(await integrations.policy(integrationId)), [integrationId]));
  const save = useTask(
    useCallback(
      async (body: TaggingPolicy) => {
        apply(await integrations.setPolicy(integrationId, body));
        setSaved(true);
      },
      [integrationId],
    ),
  );
  const { run } = load;
  useEffect(() => {
    run();
  }, [run]);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!policy) return;
    const parsed = parseRename(rename);
    setProblem(typeof parsed === "string" ? parsed : null);
    if (typeof parsed !== "string") save.run({ ...policy, rename: parsed });
  };
  const toggle = (group: string, on: boolean) =>
    policy && setPolicy({ ...policy, attribute_groups: on ? [...policy.attribute_groups, group] : policy.attribute_groups.filter((g) => g !== group) });
  const chosen = loaded?.options.find((option) => option.target === policy?.target);
  if (!policy || !loaded) return load.busy ? <Spinner label="Loading the tagging policy…" /> : <ErrorMessage error={load.error} />;
  return (
    <form className="policy" onSubmit={submit} data-testid="policy-form" aria-labelledby={`policy-${integrationId}`}>
      <h3 id={`policy-${integrationId}`}>Tagging policy</h3>
      <p className="help">Only what is at least this sure is written to the store; the rest waits in the review queue.</p>
      <div className="field">
        <label htmlFor={`target-${integrationId}`}>Write a category or tag when it is at least</label>
        <select id={`target-${integrationId}`} value={policy.target} onChange={(event) => setPolicy({ ...policy, target: event.target.value as Target })}>
          {loaded.options.map((option) => (
            <option key={option.target} value={option.target}>
              {optionText(option)}
            </option>
          ))}
        </select>
        {chosen && <p className="muted small" data-testid="policy-coverage">On held-out photos: {optionText(chosen)}</p>}
        {!loaded.options.length && <p className="muted small">The served model is not calibrated: nothing is written until it is.</p>}
      </div>
      <fieldset className="choice">
        <legend>Tags from</legend>
        {GROUPS.map((group) => (
          <label key={group} className="option">
            <input type="checkbox" checked={policy.attribute_groups.includes(group)} onChange={(event) => toggle(group, event.target.checked)} />
            <span className="option-name">{humanise(group)}</span>
          </label>
        ))}
        <label className="option">
          <input type="checkbox" checked={policy.colours} onChange={(event) => setPolicy({ ...policy, colours: event.target.checked })} />
          <span className="option-name">Main colours</span>
        </label>
      </fieldset>
      <div className="field">
        <label htmlFor={`rename-${integrationId}`}>Your words (one per line: Term = your word)</label>
        <textarea id={`rename-${integrationId}`} rows={3} placeholder={"Men = Herren\nFall = Autumn"} value={rename} onChange={(event) => setRename(event.target.value)} />
      </div>
      <ErrorMessage error={problem ?? save.error} />
      {saved && <Notice>Policy saved: it applies to the products annotated from now on.</Notice>}
      <SubmitRow busy={save.busy} label="Save policy" busyLabel="Saving…" />
    </form>
  );
}
