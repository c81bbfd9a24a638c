// Search as one types: suggestions asked for after a pause, of which only the answer to the current
// input is ever shown; the keyboard's way through them; and matched words split out for highlighting.

/** Asks for the completions of a text; aborted when a newer text is typed. */
export type AskSuggestions = (q: string, signal: AbortSignal) => Promise<string[]>;

export const SUGGEST_DEBOUNCE_MS = 150;

/**
 * Suggestions for a text box. `input` is called on every keystroke; after `debounceMs` without one,
 * the current text is asked for, and `show` receives the answer only if the text is still the same
 * and no newer request was made: a slow answer to "sh" never replaces the one to "sho".
 */
export class Suggester {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private controller: AbortController | undefined;
  private ticket = 0;
  private text = "";

  constructor(
    private readonly ask: AskSuggestions,
    private readonly show: (q: string, suggestions: string[]) => void,
    private readonly debounceMs = SUGGEST_DEBOUNCE_MS,
  ) {}

  input(text: string): void {
    this.text = text;
    clearTimeout(this.timer);
    this.controller?.abort();
    this.ticket += 1;
    if (text.trim() === "") {
      this.show(text, []);
      return;
    }
    const ticket = this.ticket;
    this.timer = setTimeout(() => void this.request(text, ticket), this.debounceMs);
  }

  /** Forgets what is pending: nothing asked so far is shown. */
  cancel(): void {
    clearTimeout(this.timer);
    this.controller?.abort();
    this.ticket += 1;
  }

  private async request(text: string, ticket: number): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    try {
      const suggestions = await this.ask(text, controller.signal);
      if (ticket === this.ticket && text === this.text) this.show(text, suggestions);
    } catch {
      // Aborted, or the shop did not answer: the box keeps working without suggestions.
      if (ticket === this.ticket && text === this.text) this.show(text, []);
    }
  }
}

/** The suggestion selected after a key: down and up go round (-1 is the text box itself). */
export function moveSelection(selected: number, count: number, key: string): number {
  if (count === 0) return -1;
  if (key === "ArrowDown") return selected + 1 >= count ? -1 : selected + 1;
  if (key === "ArrowUp") return selected <= -1 ? count - 1 : selected - 1;
  if (key === "Escape") return -1;
  return selected;
}

export interface Part {
  text: string;
  marked: boolean;
}

/** `text` in parts, marked where the ranges [start, end) (UTF-16 positions, as the shop sends) are. */
export function highlightParts(text: string, ranges: readonly (readonly number[])[]): Part[] {
  const parts: Part[] = [];
  let at = 0;
  for (const [start = 0, end = 0] of [...ranges].sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0))) {
    if (start < at || end <= start || end > text.length) continue; // overlapping or out of range
    if (start > at) parts.push({ text: text.slice(at, start), marked: false });
    parts.push({ text: text.slice(start, end), marked: true });
    at = end;
  }
  if (at < text.length || parts.length === 0) parts.push({ text: text.slice(at), marked: false });
  return parts;
}

/** A price range of the facet as the shopper reads it, in euros: "€10 – €24.99", "€100 and more". */
export function priceRangeLabel(min: number, max: number | null, format: (cents: number) => string): string {
  return max === null ? `${format(min)} and more` : `${format(min)} – ${format(max)}`;
}
