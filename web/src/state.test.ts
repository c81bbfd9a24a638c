import { describe, expect, it } from "vitest";
import {
  backoffDelay,
  badgeLabel,
  canAddOne,
  formatPrice,
  isNewer,
  Latest,
  refusalMessage,
  shortPositions,
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

  it("fall back to the server's detail", () => {
    const problem = { type: "about:blank", title: "Error", status: 503, detail: "checkout is loading" };
    expect(refusalMessage(503, problem, shown)).toBe("checkout is loading");
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
