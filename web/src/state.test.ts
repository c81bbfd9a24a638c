import { describe, expect, it } from "vitest";
import {
  backoffDelay,
  badgeLabel,
  canAddOne,
  DETAILS_KEY,
  FEW_LEFT,
  fieldErrors,
  formatDate,
  formatPrice,
  isNewer,
  Latest,
  loadDetails,
  orderSettled,
  orderStatusLabel,
  pageNumbers,
  refusalMessage,
  shopperMessage,
  shortOrderNumber,
  shortPositions,
  stockLabel,
  stockNote,
  unitsInCart,
} from "./state";
import type { Cart, CartItem } from "./types";

function item(id: string, quantity: number, stock: Partial<CartItem> = {}): CartItem {
  return {
    product_id: id,
    name: `Product ${id}`,
    price: 250,
    small_image_url: "",
    quantity,
    in_stock: true,
    more_in_stock: true,
    ...stock,
  };
}

function cart(version: number, ...items: CartItem[]): Cart {
  return { version, items, total_price: items.reduce((sum, i) => sum + i.price * i.quantity, 0) };
}

describe("prices", () => {
  it("formats integer cents as euros", () => {
    expect(formatPrice(3252)).toBe("€32.52");
    expect(formatPrice(0)).toBe("€0.00");
    expect(formatPrice(123456789)).toBe("€1,234,567.89");
  });
});

describe("the cart badge", () => {
  it("counts units, not positions", () => {
    expect(unitsInCart(cart(3, item("a", 2), item("b", 1)))).toBe(3);
    expect(unitsInCart(undefined)).toBe(0);
  });

  it("says how many positions are out of stock", () => {
    expect(badgeLabel(cart(1, item("a", 1)))).toBe("Cart, 1 item");
    expect(badgeLabel(cart(1, item("a", 2), item("b", 1, { in_stock: false })))).toBe(
      "Cart, 3 items, 1 out of stock",
    );
  });
});

describe("stock", () => {
  it("offers + only while the stock covers one more unit", () => {
    expect(canAddOne(item("a", 1))).toBe(true);
    expect(canAddOne(item("a", 3, { more_in_stock: false }))).toBe(false);
    expect(canAddOne(item("a", 999))).toBe(false);
  });

  it("notes out-of-stock and all-in-cart positions", () => {
    expect(stockNote(item("a", 1))).toBeUndefined();
    expect(stockNote(item("a", 1, { in_stock: false, more_in_stock: false }))).toBe("Out of stock");
    expect(stockNote(item("a", 1, { more_in_stock: false }))).toBe("All available stock is in your cart");
  });
});

describe("carts from elsewhere", () => {
  it("replace the shown cart only when newer", () => {
    expect(isNewer(undefined, cart(0))).toBe(true);
    expect(isNewer(cart(4), cart(5))).toBe(true);
    expect(isNewer(cart(5), cart(5))).toBe(false);
    expect(isNewer(cart(5), cart(3))).toBe(false); // a stale message never rolls the cart back
  });
});

describe("refusals", () => {
  const shown = cart(2, item("a", 2), item("b", 9));

  it("name the positions short of stock (409)", () => {
    const problem = {
      type: "about:blank",
      title: "Conflict",
      status: 409,
      detail: "the stock does not cover these positions; nothing was ordered",
      invalid_params: [{ name: "b", reason: "stock" }],
    };
    expect(refusalMessage(409, problem, shown)).toMatch(/^Not enough stock for Product b\./);
    expect([...shortPositions(problem)]).toEqual(["b"]);
  });

  it("explain a stale version (412) and an empty cart (422)", () => {
    expect(refusalMessage(412, undefined, shown)).toMatch(/changed in another tab/);
    expect(refusalMessage(422, undefined, shown)).toMatch(/cart is empty/);
  });

  it("never show the server's words or a status code", () => {
    const problem = {
      type: "about:blank",
      title: "Error",
      status: 503,
      detail: "no Kafka broker is reachable",
    };
    const message = refusalMessage(503, problem, shown);
    expect(message).toBe("The shop is very busy right now. Please try again in a moment.");
    for (const status of [0, 400, 404, 413, 500, 502, 503])
      expect(shopperMessage(status)).not.toMatch(/[0-9]|Kafka|checkout|broker/i);
  });
});

describe("words for the shopper", () => {
  it("say how much stock is left", () => {
    expect(stockLabel(0)).toBe("Out of stock");
    expect(stockLabel(1)).toBe("Only 1 left");
    expect(stockLabel(FEW_LEFT)).toBe(`Only ${FEW_LEFT} left`);
    expect(stockLabel(FEW_LEFT + 1)).toBe("In stock");
  });

  it("name an order's status and a short order number", () => {
    expect(orderStatusLabel("accepted")).toMatch(/^Received/);
    expect(orderStatusLabel("shipped")).toMatch(/^Shipped/);
    expect(orderStatusLabel("something new")).toBe("Being processed");
    expect(orderSettled("shipped")).toBe(true);
    expect(orderSettled("backordered")).toBe(false);
    expect(shortOrderNumber("3f2a91bc00112233445566778899aabb")).toBe("3F2A-91BC");
  });

  it("write dates in the shopper's locale", () => {
    const moment = Date.UTC(2026, 11, 2, 10, 30);
    expect(formatDate(moment, "de-DE")).toMatch(/2\. Dezember 2026/);
    expect(formatDate(moment, "en-US")).toMatch(/December 2, 2026/);
  });
});

describe("the pager", () => {
  it("numbers the pages near the current one, the first and the last", () => {
    expect(pageNumbers(1, 1)).toEqual([1]);
    expect(pageNumbers(1, 4)).toEqual([1, 2, 3, 4]);
    expect(pageNumbers(6, 417)).toEqual([1, null, 4, 5, 6, 7, 8, null, 417]);
    expect(pageNumbers(417, 417)).toEqual([1, null, 415, 416, 417]);
    expect(pageNumbers(3, 6)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe("backoff", () => {
  it("doubles up to the ceiling, with jitter in the upper half", () => {
    expect(backoffDelay(0, 500, 15000, () => 0)).toBe(250);
    expect(backoffDelay(0, 500, 15000, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, 15000, () => 1)).toBe(4000);
    expect(backoffDelay(10, 500, 15000, () => 1)).toBe(15000);
    expect(backoffDelay(10, 500, 15000, () => 0)).toBe(7500);
  });
});

describe("Latest", () => {
  it("lets only the newest request's answer through and aborts the older ones", async () => {
    const latest = new Latest();
    const older = latest.next();
    const newer = latest.next();
    expect(older.signal.aborted).toBe(true);
    expect(newer.signal.aborted).toBe(false);
    expect(latest.isCurrent(older.ticket)).toBe(false);
    expect(latest.isCurrent(newer.ticket)).toBe(true);
  });

  it("keeps the fresh results when a stale answer arrives last", async () => {
    const latest = new Latest();
    const shown: string[] = [];
    const answer = (text: string, ms: number) => new Promise<string>((r) => setTimeout(() => r(text), ms));
    const load = async (text: string, ms: number) => {
      const { ticket } = latest.next();
      const result = await answer(text, ms);
      if (latest.isCurrent(ticket)) shown.push(result);
    };
    await Promise.all([load("Lo", 30), load("Lor", 1)]); // the older, slower answer comes back last
    expect(shown).toEqual(["Lor"]);
  });
});

describe("checkout details", () => {
  const problem = (params: { name: string; reason: string }[]) => ({
    type: "about:blank",
    title: "Unprocessable Content",
    status: 422,
    detail: "bad",
    invalid_params: params,
  });

  it("put each refusal beside its field, in the shopper's words", () => {
    const errors = fieldErrors(
      problem([
        { name: "email", reason: "is not an email address (name@example.com)" },
        { name: "city", reason: "is missing: a non-empty string is needed" },
        { name: "name", reason: "is longer than 100 characters" },
        { name: "phone", reason: "unknown field" },
      ]),
    );
    expect(errors).toEqual({
      email: "Please enter an email address like name@example.com.",
      city: "Please fill this in.",
      name: "This is too long: at most 100 characters.",
    });
  });

  it("come back from the session's storage, and only their own fields", () => {
    const stored = JSON.stringify({ email: "a@example.com", city: 7, extra: "x" });
    const storage = { getItem: (key: string) => (key === DETAILS_KEY ? stored : null) };
    expect(loadDetails(storage)).toEqual({
      email: "a@example.com",
      name: "",
      street: "",
      postcode: "",
      city: "",
      country: "",
    });
    expect(loadDetails({ getItem: () => "{not json" }).email).toBe("");
    expect(loadDetails(undefined).name).toBe("");
  });

  it("make a 422 with named fields a request to check them, not an empty cart", () => {
    expect(refusalMessage(422, problem([{ name: "email", reason: "x" }]), undefined)).toContain("check");
    expect(refusalMessage(422, undefined, undefined)).toContain("empty");
  });
});
