import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { highlightParts, moveSelection, priceRangeLabel, Suggester } from "./search";

describe("Suggester", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("asks once typing pauses, for the current text only", async () => {
    const asked: string[] = [];
    const shown: [string, string[]][] = [];
    const suggester = new Suggester(
      async (q) => {
        asked.push(q);
        return [`${q}1`];
      },
      (q, s) => shown.push([q, s]),
      100,
    );
    suggester.input("s");
    suggester.input("sh");
    await vi.advanceTimersByTimeAsync(99);
    expect(asked).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toEqual(["sh"]);
    expect(shown).toEqual([["sh", ["sh1"]]]);
  });

  it("never shows a stale answer over a newer one", async () => {
    const answers = new Map<string, (s: string[]) => void>();
    const shown: string[] = [];
    const suggester = new Suggester(
      (q) => new Promise((resolve) => answers.set(q, resolve)),
      (q, s) => shown.push(`${q}:${s.join(",")}`),
      10,
    );
    suggester.input("sh");
    await vi.advanceTimersByTimeAsync(10);
    suggester.input("sho");
    await vi.advanceTimersByTimeAsync(10);
    answers.get("sho")?.(["shoe"]);
    await vi.advanceTimersByTimeAsync(0);
    answers.get("sh")?.(["shirt"]); // the slow answer to the older text arrives last
    await vi.advanceTimersByTimeAsync(0);
    expect(shown).toEqual(["sho:shoe"]);
  });

  it("clears at once for an empty box, and shows nothing after a failure but an empty list", async () => {
    const shown: string[][] = [];
    const suggester = new Suggester(
      async () => {
        throw new Error("503");
      },
      (_q, s) => shown.push(s),
      10,
    );
    suggester.input("   ");
    expect(shown).toEqual([[]]);
    suggester.input("x");
    await vi.advanceTimersByTimeAsync(10);
    expect(shown).toEqual([[], []]);
  });
});

describe("moveSelection", () => {
  it("goes round through the suggestions and back to the box", () => {
    expect(moveSelection(-1, 3, "ArrowDown")).toBe(0);
    expect(moveSelection(2, 3, "ArrowDown")).toBe(-1);
    expect(moveSelection(-1, 3, "ArrowUp")).toBe(2);
    expect(moveSelection(0, 3, "ArrowUp")).toBe(-1);
    expect(moveSelection(1, 3, "Escape")).toBe(-1);
    expect(moveSelection(1, 0, "ArrowDown")).toBe(-1);
    expect(moveSelection(1, 3, "a")).toBe(1);
  });
});

describe("highlightParts", () => {
  it("marks the ranges and keeps the rest", () => {
    expect(highlightParts("Red shoe", [[4, 8]])).toEqual([
      { text: "Red ", marked: false },
      { text: "shoe", marked: true },
    ]);
    expect(highlightParts("a b", [])).toEqual([{ text: "a b", marked: false }]);
  });

  it("counts UTF-16 units, as the shop does, and skips ranges it cannot place", () => {
    expect(highlightParts("😀 shoe", [[3, 7]])).toEqual([
      { text: "😀 ", marked: false },
      { text: "shoe", marked: true },
    ]);
    expect(
      highlightParts("abc", [
        [2, 9],
        [1, 0],
      ]),
    ).toEqual([{ text: "abc", marked: false }]);
  });
});

it("labels price ranges", () => {
  const euros = (cents: number) => `€${cents / 100}`;
  expect(priceRangeLabel(1000, 2499, euros)).toBe("€10 – €24.99");
  expect(priceRangeLabel(10000, null, euros)).toBe("€100 and more");
});
