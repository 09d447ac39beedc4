// The model's predictions with their scores, as an editable correction: a category, one value (or none) per
// attribute group, and the colours really in the garment. Tick a prediction, untick it, or edit it by choosing
// any other taxonomy value; every control is a native radio, checkbox or select, so it works from the keyboard.
import { useId } from "react";
import type { Annotation, ReviewIn, Scored, Taxonomy, Term } from "../api/types";
import { colourLabel, humanise, percent } from "../correction";

interface Props {
  annotation: Annotation;
  taxonomy: Taxonomy;
  value: ReviewIn;
  onChange: (value: ReviewIn) => void;
}

export function ScoreBar({ score }: { score: number }) {
  return (
    <span className="score" aria-hidden="true">
      <span className="score-fill" style={{ width: percent(score) }} />
    </span>
  );
}

interface ChoiceProps {
  legend: string;
  options: Scored[];
  vocabulary: Term[];
  selected: string | undefined;
  allowNone: boolean;
  onSelect: (label: string | undefined) => void;
  testId: string;
  /** What "Another …" offers: the legend in lower case unless given. */
  noun?: string;
}

export function Choice({ legend, options, vocabulary, selected, allowNone, onSelect, testId, noun }: ChoiceProps) {
  const name = useId();
  const predicted = options.some((option) => option.label === selected);
  const other = selected !== undefined && !predicted;
  const others = vocabulary.filter((term) => !options.some((option) => option.label === term.label));
  return (
    <fieldset className="choice" data-testid={testId}>
      <legend>{legend}</legend>
      {options.map((option) => (
        <label key={option.label} className="option">
          <input type="radio" name={name} value={option.label} checked={selected === option.label} onChange={() => onSelect(option.label)} />
          <span className="option-name">{option.name}</span>
          <ScoreBar score={option.score} />
          <span className="option-score">{percent(option.score)}</span>
        </label>
      ))}
      {!options.length && <p className="muted small">No prediction above the threshold.</p>}
      <div className="option option-other">
        <input
          type="radio"
          name={name}
          checked={other}
          onChange={() => onSelect(others[0]?.label)}
          aria-label={`${legend}: another value`}
          disabled={!others.length}
        />
        <select
          aria-label={`${legend}: choose another value`}
          value={other ? selected : ""}
          onChange={(event) => event.target.value && onSelect(event.target.value)}
        >
          <option value="">Another {noun ?? legend.toLowerCase()}…</option>
          {others.map((term) => (
            <option key={term.label} value={term.label}>
              {term.name}
            </option>
          ))}
        </select>
      </div>
      {allowNone && (
        <label className="option option-other">
          <input type="radio" name={name} checked={selected === undefined} onChange={() => onSelect(undefined)} />
          <span className="muted">Not set</span>
        </label>
      )}
    </fieldset>
  );
}

export function Predictions({ annotation, taxonomy, value, onChange }: Props) {
  const setAttribute = (group: string, label: string | undefined) => {
    const attributes = { ...value.attributes };
    if (label === undefined) delete attributes[group];
    else attributes[group] = label;
    onChange({ ...value, attributes });
  };
  const toggleColour = (label: string, on: boolean) =>
    onChange({ ...value, colours: on ? [...value.colours, label] : value.colours.filter((colour) => colour !== label) });
  const predictedColours = annotation.colours.map((colour) => ({ ...colour, label: colourLabel(taxonomy, colour.name) }));
  const added = taxonomy.colours.filter((colour) => value.colours.includes(colour.label) && !predictedColours.some((p) => p.label === colour.label));
  const addable = taxonomy.colours.filter((colour) => !value.colours.includes(colour.label));
  const leaves = taxonomy.categories.filter((category) => category.leaf);
  return (
    <div className="predictions">
      <Choice
        legend="Category"
        options={annotation.category}
        vocabulary={leaves}
        selected={value.category}
        allowNone={false}
        onSelect={(label) => onChange({ ...value, category: label ?? "" })}
        testId="choice-category"
      />
      {Object.entries(annotation.attributes).map(([group, options]) => (
        <Choice
          key={group}
          legend={humanise(group)}
          options={options}
          vocabulary={taxonomy.attributes[group] ?? []}
          selected={value.attributes[group]}
          allowNone
          onSelect={(label) => setAttribute(group, label)}
          testId={`choice-${group}`}
        />
      ))}
      <fieldset className="choice" data-testid="choice-colours">
        <legend>Colours</legend>
        {predictedColours.map((colour) => (
          <label key={colour.name} className="option">
            <input
              type="checkbox"
              disabled={!colour.label}
              checked={!!colour.label && value.colours.includes(colour.label)}
              onChange={(event) => colour.label && toggleColour(colour.label, event.target.checked)}
            />
            <span className="swatch" style={{ background: colour.hex }} title={colour.hex} aria-hidden="true" />
            <span className="option-name">{colour.name}</span>
            <ScoreBar score={colour.share} />
            <span className="option-score">{percent(colour.share)}</span>
          </label>
        ))}
        {added.map((colour) => (
          <label key={colour.label} className="option">
            <input type="checkbox" checked onChange={() => toggleColour(colour.label, false)} />
            <span className="swatch" style={{ background: colour.hex }} aria-hidden="true" />
            <span className="option-name">{colour.name}</span>
            <span className="muted">added</span>
            <span />
          </label>
        ))}
        <div className="add-colour">
          <select
            aria-label="Add a colour"
            value=""
            onChange={(event) => event.target.value && toggleColour(event.target.value, true)}
            disabled={!addable.length || value.colours.length >= 8}
          >
            <option value="">Add a colour…</option>
            {addable.map((colour) => (
              <option key={colour.label} value={colour.label}>
                {colour.name}
              </option>
            ))}
          </select>
        </div>
      </fieldset>
    </div>
  );
}
