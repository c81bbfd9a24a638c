// The app's state logic, free of the DOM and the network so it can be tested on its own.
import { MAX_QUANTITY } from "./generated/api";
import type { Cart, CartItem, Problem, ShopperDetails } from "./types";

const euros = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });

/** Prices are integer cents on the wire. */
export function formatPrice(cents: number): string {
  return euros.format(cents / 100);
}

export function unitsInCart(cart: Cart | undefined): number {
  return cart ? cart.items.reduce((sum, item) => sum + item.quantity, 0) : 0;
}

export function outOfStockPositions(cart: Cart | undefined): CartItem[] {
  return cart ? cart.items.filter((item) => !item.in_stock) : [];
}

/** The badge counts units (what the shopper added), not positions, and says what is out of stock. */
export function badgeLabel(cart: Cart | undefined): string {
  const units = unitsInCart(cart);
  const missing = outOfStockPositions(cart).length;
  const items = `${units} ${units === 1 ? "item" : "items"}`;
  return missing ? `Cart, ${items}, ${missing} out of stock` : `Cart, ${items}`;
}

export function quantityOf(cart: Cart | undefined, productId: string): number {
  return cart?.items.find((item) => item.product_id === productId)?.quantity ?? 0;
}

/** + is offered only while the stock covers one more unit. */
export function canAddOne(item: CartItem): boolean {
  return item.more_in_stock && item.quantity < MAX_QUANTITY;
}

export function stockNote(item: CartItem): string | undefined {
  if (!item.in_stock) return "Out of stock";
  if (!item.more_in_stock) return "All available stock is in your cart";
  return undefined;
}

/**
 * Whether a cart seen elsewhere (another tab, the server's stream) replaces the one shown. Versions only
 * grow within a cart; a cart ordered elsewhere is replaced by fetching the new one, not through this.
 */
export function isNewer(current: Cart | undefined, incoming: Cart): boolean {
  return current === undefined || incoming.version > current.version;
}

/** A shopper-facing sentence for a refused order or change. */
export function refusalMessage(status: number, problem: Problem | undefined, cart: Cart | undefined): string {
  switch (status) {
    case 409: {
      const ids = (problem?.invalid_params ?? []).map((param) => param.name ?? "");
      if (ids.length === 0) return "This cart was ordered already: it cannot be changed any more.";
      const names = ids.map((id) => cart?.items.find((item) => item.product_id === id)?.name ?? id);
      return `Not enough stock for ${names.join(", ")}. Lower the quantity or remove it, then order again. Nothing was ordered.`;
    }
    case 412:
      return "Your cart changed in another tab or device. Check it, then order again.";
    case 422:
      return (problem?.invalid_params ?? []).length > 0
        ? "Please check the highlighted details. Nothing was ordered."
        : "Your cart is empty: add something first.";
    case 404:
      return "This product is no longer for sale.";
    default:
      return shopperMessage(status);
  }
}

/**
 * What went wrong, in the shopper's words: never a status code or the name of a part of the shop
 * (a problem's detail is written for developers and stays out of the page).
 */
export function shopperMessage(status: number): string {
  if (status === 0) return "We could not reach the shop. Check your connection, then try again.";
  if (status === 404) return "We could not find what you were looking for.";
  if (status === 429 || status >= 502)
    return "The shop is very busy right now. Please try again in a moment.";
  if (status >= 500) return "Something went wrong on our side. Please try again.";
  return "That did not work. Please reload the page and try again.";
}

/** Units left from which a product says "only N left". */
export const FEW_LEFT = 3;

export type StockLevel = "in" | "few" | "out";

export function stockLevel(available: number): StockLevel {
  if (available <= 0) return "out";
  return available <= FEW_LEFT ? "few" : "in";
}

export function stockLabel(available: number): string {
  switch (stockLevel(available)) {
    case "out":
      return "Out of stock";
    case "few":
      return `Only ${available} left`;
    case "in":
      return "In stock";
  }
}

const STATUS_LABELS: Record<string, string> = {
  accepted: "Received: we are packing it",
  shipped: "Shipped: on its way to you",
  backordered: "Waiting for stock: it ships as soon as it arrives",
};

/** An order's status as the shopper reads it. */
export function orderStatusLabel(status: string): string {
  return STATUS_LABELS[status] ?? "Being processed";
}

/** Whether an order's status may still change (its page keeps asking). */
export function orderSettled(status: string): boolean {
  return status === "shipped";
}

/** The order number a shopper reads out: the id's first 8 characters, in two groups of 4. */
export function shortOrderNumber(id: string): string {
  const head = id.slice(0, 8).toUpperCase();
  return `${head.slice(0, 4)}-${head.slice(4)}`;
}

/** A moment in the shopper's own locale and time zone. */
export function formatDate(millis: number, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: "long", timeStyle: "short" }).format(millis);
}

/** Positions a 409 named as short of stock, to flag them in the cart. */
export function shortPositions(problem: Problem | undefined): Set<string> {
  return new Set((problem?.invalid_params ?? []).map((param) => param.name ?? ""));
}

/**
 * Exponential backoff with full jitter: attempt 0 waits up to `base`, each next one twice as long, never
 * more than `max`. `random` is injectable for tests.
 */
export function backoffDelay(attempt: number, base: number, max: number, random: () => number = Math.random) {
  const ceiling = Math.min(max, base * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Hands out tickets so only the newest request's answer is applied: a slow answer to an older query
 * (filter, sort or page) can never overwrite the results of a newer one.
 */
export class Latest {
  private ticket = 0;
  private controller: AbortController | undefined;

  /** A new ticket; the request holding the previous one is aborted. */
  next(): { ticket: number; signal: AbortSignal } {
    this.controller?.abort();
    this.controller = new AbortController();
    this.ticket += 1;
    return { ticket: this.ticket, signal: this.controller.signal };
  }

  isCurrent(ticket: number): boolean {
    return ticket === this.ticket;
  }
}

/** Pages to number around the current one (besides the first and the last). */
const PAGE_WINDOW = 2;

/** The page numbers a pager shows, with null for a gap: 1 … 4 5 [6] 7 8 … 417. */
export function pageNumbers(current: number, pages: number): (number | null)[] {
  const from = Math.max(1, current - PAGE_WINDOW);
  const to = Math.min(pages, current + PAGE_WINDOW);
  const shown: (number | null)[] = [];
  if (from > 1) shown.push(1);
  if (from > 2) shown.push(null);
  for (let n = from; n <= to; n++) shown.push(n);
  if (to < pages - 1) shown.push(null);
  if (to < pages) shown.push(pages);
  return shown;
}

// --- checkout details ---------------------------------------------------------------------------------------

export type DetailField = keyof ShopperDetails;

/** The checkout form's fields, in order: label, input type and autofill hint (phones fill them in). */
export const DETAIL_FIELDS: { name: DetailField; label: string; type: string; autocomplete: string }[] = [
  { name: "email", label: "Email", type: "email", autocomplete: "email" },
  { name: "name", label: "Full name", type: "text", autocomplete: "name" },
  { name: "street", label: "Street and number", type: "text", autocomplete: "street-address" },
  { name: "postcode", label: "Postcode", type: "text", autocomplete: "postal-code" },
  { name: "city", label: "City", type: "text", autocomplete: "address-level2" },
  { name: "country", label: "Country (two letters, e.g. DE)", type: "text", autocomplete: "country" },
];

export const DETAILS_KEY = "checkout-details";

export function emptyDetails(): ShopperDetails {
  return { email: "", name: "", street: "", postcode: "", city: "", country: "" };
}

/** The details typed before a reload (kept for the tab's session only), or empty ones. */
export function loadDetails(storage: Pick<Storage, "getItem"> | undefined): ShopperDetails {
  const details = emptyDetails();
  try {
    const saved: unknown = JSON.parse(storage?.getItem(DETAILS_KEY) ?? "{}");
    if (saved && typeof saved === "object") {
      for (const field of DETAIL_FIELDS) {
        const value = (saved as Record<string, unknown>)[field.name];
        if (typeof value === "string") details[field.name] = value;
      }
    }
  } catch {
    // unreadable: start empty
  }
  return details;
}

/** What the shopper should fix in each field the shop refused (422), in their words. */
export function fieldErrors(problem: Problem | undefined): Partial<Record<DetailField, string>> {
  const errors: Partial<Record<DetailField, string>> = {};
  for (const param of problem?.invalid_params ?? []) {
    const field = DETAIL_FIELDS.find((f) => f.name === param.name);
    if (field) errors[field.name] = detailMessage(field.name, param.reason ?? "");
  }
  return errors;
}

function detailMessage(name: DetailField, reason: string): string {
  if (reason.startsWith("is missing")) return "Please fill this in.";
  if (reason.startsWith("is longer"))
    return `This is too long: ${reason.replace("is longer than ", "at most ")}.`;
  if (name === "email") return "Please enter an email address like name@example.com.";
  if (name === "country") return "Please enter a two-letter country code, like DE, FR or US.";
  if (name === "postcode") return "Please use letters, digits, spaces and dashes only.";
  return "Please check this field.";
}
