import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EVENTS_URL, MAX_BATCH, WebEvents } from "./web-events";

describe("WebEvents", () => {
  let sent: { url: string; events: unknown[] }[];
  let events: WebEvents;

  beforeEach(() => {
    vi.useFakeTimers();
    sent = [];
    events = new WebEvents((url, body) => {
      void body.text().then((text) => sent.push({ url, events: JSON.parse(text).events }));
      return true;
    });
  });
  afterEach(() => vi.useRealTimers());

  it("sends a batch after a pause, in order", async () => {
    events.track({ kind: "page_view", product_id: "P1" });
    events.track({ kind: "add_to_cart", product_id: "P1" });
    await vi.advanceTimersByTimeAsync(2_000);
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toEqual({
      url: EVENTS_URL,
      events: [
        { kind: "page_view", product_id: "P1" },
        { kind: "add_to_cart", product_id: "P1" },
      ],
    });
  });

  it("sends a full batch at once and never more than the shop takes", async () => {
    for (let i = 0; i < MAX_BATCH + 1; i++) events.track({ kind: "page_view" });
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]?.events).toHaveLength(MAX_BATCH);
  });

  it("drops searches that look like personal data", async () => {
    events.track({ kind: "search", query: "ada@example.com" });
    events.track({ kind: "search", query: "+44 20 7946 0958" });
    events.track({ kind: "search", query: "lamp" });
    events.flush();
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]?.events).toEqual([{ kind: "search", query: "lamp" }]);
  });
});
