// The correction a person builds from an annotation: starts from the model's best guesses, and is what gets saved
// as a review. Reviews speak taxonomy labels; annotations show colour names, mapped to labels through the taxonomy.
import type { Annotation, ReviewIn, ReviewShopTerms, Taxonomy } from "./api/types";

export function colourLabel(taxonomy: Taxonomy, name: string): string | undefined {
  return taxonomy.colours.find((colour) => colour.name === name || colour.label === name)?.label;
}

/** The model's top answers, or the saved review when the annotation already has one. */
export function initialCorrection(annotation: Annotation, taxonomy: Taxonomy): ReviewIn {
  if (annotation.review) {
    const { category, attributes, colours } = annotation.review;
    return { category, attributes: { ...attributes }, colours: [...colours] };
  }
  const attributes: Record<string, string> = {};
  for (const [group, options] of Object.entries(annotation.attributes)) {
    if (options.length) attributes[group] = options[0].label;
  }
  const colours = annotation.colours.map((colour) => colourLabel(taxonomy, colour.name)).filter((label): label is string => !!label);
  return { category: annotation.category[0]?.label ?? "", attributes, colours: Array.from(new Set(colours)) };
}

/** The shop's own terms to start from: the saved review's, else its model's best category and its tags. */
export function initialShopTerms(annotation: Annotation): ReviewShopTerms {
  if (annotation.review?.shop) return { category: annotation.review.shop.category, tags: [...annotation.review.shop.tags] };
  return { category: annotation.shop?.categories[0]?.name ?? null, tags: (annotation.shop?.tags ?? []).map((tag) => tag.name) };
}

/** A problem that would make the API refuse the review, in words for the user; null when it can be saved. */
export function correctionProblem(correction: ReviewIn): string | null {
  if (!correction.category) return "Choose a category before saving.";
  if (correction.colours.length > 8) return "Keep at most 8 colours.";
  return null;
}

export function percent(score: number): string {
  return `${Math.round(score * 100)}%`;
}

export function humanise(label: string): string {
  return label.replace(/[_-]+/g, " ").replace(/^\w/, (letter) => letter.toUpperCase());
}
