// The correction a person builds from an annotation: starts from the model's best guesses, and is what gets saved
// as a review (taxonomy labels, one per attribute group, the colours that are really there).
import type { Annotation, ReviewIn } from "./api/types";

/** The model's top answers, or the saved review when the annotation already has one. */
export function initialCorrection(annotation: Annotation): ReviewIn {
  if (annotation.review) {
    const { category, attributes, colours } = annotation.review;
    return { category, attributes: { ...attributes }, colours: [...colours] };
  }
  const attributes: Record<string, string> = {};
  for (const [group, options] of Object.entries(annotation.attributes)) {
    if (options.length) attributes[group] = options[0].label;
  }
  return {
    category: annotation.category[0]?.label ?? "",
    attributes,
    colours: annotation.colours.map((colour) => colour.name),
  };
}

/** A problem that would make the API refuse the review, in words for the user; null when it can be saved. */
export function correctionProblem(correction: ReviewIn): string | null {
  if (!correction.category.trim()) return "Choose or type a category before saving.";
  const blank = Object.entries(correction.attributes).find(([, value]) => !value.trim());
  if (blank) return `Type a value for "${blank[0]}" or choose "Not set".`;
  if (correction.colours.length > 8) return "Keep at most 8 colours.";
  return null;
}

export function percent(score: number): string {
  return `${Math.round(score * 100)}%`;
}

export function humanise(label: string): string {
  return label.replace(/[_-]+/g, " ").replace(/^\w/, (letter) => letter.toUpperCase());
}
