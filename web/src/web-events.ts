// What the shopper does, sent to POST /api/v1/events in batches with navigator.sendBeacon: it never
// delays the page, and a batch still goes out when the tab is hidden or closed. The shop counts
// views and add-to-carts per product (its popularity); it refuses personal data, so none is sent.

export type WebEventKind = "page_view" | "search" | "add_to_cart" | "order";
export interface WebEvent {
  kind: WebEventKind;
  product_id?: string;
  query?: string;
}

export const EVENTS_URL = "/api/v1/events";
export const MAX_BATCH = 32; // the shop's limit per batch
const FLUSH_AFTER_MS = 2_000;
// A search that looks like an email address or a phone number is not sent (the shop would refuse it).
const PERSONAL = /@|\d[\d ()./-]{5,}\d/;

export class WebEvents {
  private batch: WebEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly send: (url: string, body: Blob) => boolean = (url, body) =>
      navigator.sendBeacon(url, body),
  ) {}

  /** Sends what is waiting once the page is hidden (a tab switched or closed). */
  listen(target: Window): void {
    target.addEventListener("pagehide", () => this.flush());
    target.document.addEventListener("visibilitychange", () => {
      if (target.document.visibilityState === "hidden") this.flush();
    });
  }

  track(event: WebEvent): void {
    if (event.query !== undefined && (event.query === "" || PERSONAL.test(event.query))) return;
    this.batch.push(event);
    if (this.batch.length >= MAX_BATCH) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.batch.length === 0) return;
    const body = new Blob([JSON.stringify({ events: this.batch })], { type: "application/json" });
    this.batch = [];
    this.send(EVENTS_URL, body); // false: the browser refused to queue it; lost, as a beacon may be
  }
}
