// A shop's own terms typed in one field: comma-separated names ("Herren > Hemden, Sale"), blanks dropped.
export const termNames = (text: string) => text.split(",").map((name) => name.trim()).filter(Boolean);
