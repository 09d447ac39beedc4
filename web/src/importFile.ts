// Reads a product list for import: JSON (an array of products, or {"products": [...]}) or CSV with the columns
// title, sku, url, image_urls (several image URLs separated by spaces or "|") and, optionally, the shop's own
// categories and tags (several separated by "|": a name may hold a comma or a space). Problems name the row to fix.
import type { ProductIn } from "./api/types";

function parseCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') (cell += '"'), i++;
      else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") cells.push(cell), (cell = "");
    else cell += char;
  }
  cells.push(cell);
  return cells.map((value) => value.trim());
}

function fromCsv(text: string): ProductIn[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim());
  if (lines.length < 2) throw new Error("The CSV needs a header row and at least one product row.");
  const header = parseCsvLine(lines[0]).map((name) => name.toLowerCase());
  const column = (name: string) => header.indexOf(name);
  if (column("title") < 0 || column("image_urls") < 0) throw new Error(`The CSV header must name "title" and "image_urls" (found: ${header.join(", ")}).`);
  return lines.slice(1).map((line, row) => {
    const cells = parseCsvLine(line);
    const get = (name: string) => (column(name) >= 0 ? cells[column(name)] ?? "" : "");
    const images = get("image_urls").split(/[\s|]+/).filter(Boolean);
    if (!get("title") || !images.length) throw new Error(`CSV row ${row + 2} needs a title and at least one image URL.`);
    const terms = (name: string) => get(name).split("|").map((term) => term.trim()).filter(Boolean);
    const product: ProductIn = { title: get("title"), sku: get("sku") || null, url: get("url") || null, image_urls: images };
    if (terms("categories").length) product.categories = terms("categories");
    if (terms("tags").length) product.tags = terms("tags");
    return product;
  });
}

export function parseProducts(text: string): ProductIn[] {
  const trimmed = text.trim();
  if (!trimmed) throw new Error("Paste or choose a product list first.");
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new Error(`The JSON does not parse: ${(error as Error).message}`);
    }
    const list = Array.isArray(parsed) ? parsed : (parsed as { products?: unknown }).products;
    if (!Array.isArray(list) || !list.length) throw new Error('The JSON must be a list of products or {"products": [...]}.');
    return list as ProductIn[];
  }
  return fromCsv(trimmed);
}
