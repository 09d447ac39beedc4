// The model's predictions with their scores, as an editable correction: a category, one value (or none) per
// attribute group, and the colours that are really in the garment. Every choice is a native radio or checkbox.
import { useId, useState } from "react";
import type { Annotation, ReviewIn, Scored } from "../api/types";
import { humanise, percent } from "../correction";

interface Props {
  annotation: Annotation;
  value: ReviewIn;
  onChange: (value: ReviewIn) => void;
}

function ScoreBar({ score }: { score: number }) {
  return (
    <span className="score" aria-hidden="true">
      <span className="score-fill" style={{ width: percent(score) }} />
    </span>
  );
}

interface ChoiceProps {
  legend: string;
  options: Scored[];
  selected: string | undefined;
  allowNone: boolean;
  onSelect: (label: string | undefined) => void;
  testId: string;
}

function Choice({ legend, options, selected, allowNone, onSelect, testId }: ChoiceProps) {
  const name = useId();
  const predicted = options.some((option) => option.label === selected);
  const [other, setOther] = useState(!predicted && selected ? selected : "");
  const otherChosen = selected !== undefined && !predicted;
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
      <label className="option">
        <input type="radio" name={name} checked={otherChosen} onChange={() => onSelect(other)} aria-label={`${legend}: other value`} />
        <input
          type="text"
          className="other-input"
          placeholder="Other…"
          value={otherChosen ? selected : other}
          aria-label={`${legend}: type another value`}
          onChange={(event) => {
            setOther(event.target.value);
            onSelect(event.target.value);
          }}
        />
      </label>
      {allowNone && (
        <label className="option">
          <input type="radio" name={name} checked={selected === undefined} onChange={() => onSelect(undefined)} />
          <span className="option-name muted">Not set</span>
        </label>
      )}
    </fieldset>
  );
}

export function Predictions({ annotation, value, onChange }: Props) {
  const [newColour, setNewColour] = useState("");
  const setAttribute = (group: string, label: string | undefined) => {
    const attributes = { ...value.attributes };
    if (label === undefined) delete attributes[group];
    else attributes[group] = label;
    onChange({ ...value, attributes });
  };
  const toggleColour = (name: string, on: boolean) =>
    onChange({ ...value, colours: on ? [...value.colours, name] : value.colours.filter((colour) => colour !== name) });
  const extraColours = value.colours.filter((name) => !annotation.colours.some((colour) => colour.name === name));
  return (
    <div className="predictions">
      <Choice
        legend="Category"
        options={annotation.category}
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
          selected={value.attributes[group]}
          allowNone
          onSelect={(label) => setAttribute(group, label)}
          testId={`choice-${group}`}
        />
      ))}
      <fieldset className="choice" data-testid="choice-colours">
        <legend>Colours</legend>
        {annotation.colours.map((colour) => (
          <label key={colour.name} className="option">
            <input type="checkbox" checked={value.colours.includes(colour.name)} onChange={(event) => toggleColour(colour.name, event.target.checked)} />
            <span className="swatch" style={{ background: colour.hex }} title={colour.hex} aria-hidden="true" />
            <span className="option-name">{colour.name}</span>
            <ScoreBar score={colour.share} />
            <span className="option-score">{percent(colour.share)}</span>
          </label>
        ))}
        {extraColours.map((name) => (
          <label key={name} className="option">
            <input type="checkbox" checked onChange={() => toggleColour(name, false)} />
            <span className="option-name">{name}</span>
            <span className="muted">added</span>
          </label>
        ))}
        <form
          className="add-colour"
          onSubmit={(event) => {
            event.preventDefault();
            const name = newColour.trim();
            if (name && !value.colours.includes(name)) onChange({ ...value, colours: [...value.colours, name] });
            setNewColour("");
          }}
        >
          <input value={newColour} onChange={(event) => setNewColour(event.target.value)} placeholder="Add a colour" aria-label="Add a colour by name" />
          <button type="submit">Add</button>
        </form>
      </fieldset>
    </div>
  );
}
