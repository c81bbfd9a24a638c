// The shop's HTTP API. GETs retry with exponential backoff on network failures and 502/503/504 (the shop
// answers 503 while it loads); writes are sent once and their refusals reported to the shopper.

import { type SearchQuery, searchParams } from "./routes";
import { backoffDelay, shopperMessage } from "./state";
import type {
  Cart,
  ContentEntry,
  ContentKind,
  ContentList,
  Order,
  Page,
  Problem,
  Product,
  SearchPage,
  ShopperDetails,
  Sort,
  StockLevels,
  Suggestions,
} from "./types";

/** Same origin unless the build sets VITE_API_BASE (e.g. https://api.example.com). */
export const API_BASE: string = (import.meta.env.VITE_API_BASE ?? "").replace(/\/$/, "");

const RETRY_STATUSES = new Set([502, 503, 504]);
export const GET_ATTEMPTS = 5;
const RETRY_BASE_MS = 300;
const RETRY_MAX_MS = 4000;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(shopperMessage(status)); // the problem's detail is for developers: it stays out of the page
  }
}

export interface Transport {
  fetch: typeof fetch;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const browser: Transport = {
  fetch: (input, init) => fetch(input, init),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    }),
};

export class Api {
  constructor(
    private readonly base: string = API_BASE,
    private readonly transport: Transport = browser,
  ) {}

  products(sort: Sort, prefix: string, page: number, perPage: number, signal?: AbortSignal): Promise<Page> {
    const query = new URLSearchParams({ sort, prefix, page: String(page), per_page: String(perPage) });
    return this.get(`/api/v1/products?${query}`, signal);
  }

  search(query: SearchQuery, perPage: number, signal?: AbortSignal): Promise<SearchPage> {
    const params = searchParams(query);
    params.set("per_page", String(perPage));
    return this.get(`/api/v1/search?${params}`, signal);
  }

  async suggest(q: string, signal?: AbortSignal): Promise<string[]> {
    const answer: Suggestions = await this.get(
      `/api/v1/search/suggest?${new URLSearchParams({ q })}`,
      signal,
    );
    return answer.suggestions;
  }

  product(id: string, signal?: AbortSignal): Promise<Product> {
    return this.get(`/api/v1/products/${encodeURIComponent(id)}`, signal);
  }

  content(slug: string, signal?: AbortSignal): Promise<ContentEntry> {
    return this.get(`/api/v1/content/${encodeURIComponent(slug)}`, signal);
  }

  contentList(kind?: ContentKind, signal?: AbortSignal): Promise<ContentList> {
    return this.get(kind ? `/api/v1/content?kind=${kind}` : "/api/v1/content", signal);
  }

  cart(signal?: AbortSignal): Promise<Cart> {
    return this.get("/api/v1/cart", signal);
  }

  order(id: string, signal?: AbortSignal): Promise<Order> {
    return this.get(`/api/v1/orders/${encodeURIComponent(id)}`, signal);
  }

  /** Units for sale of these products: a read (retried like a GET), though sent as a POST. */
  stock(productIds: string[], signal?: AbortSignal): Promise<StockLevels> {
    return this.get("/api/v1/stock", signal, {
      method: "POST",
      body: JSON.stringify({ product_ids: productIds }),
      headers: { "content-type": "application/json" },
    });
  }

  setQuantity(productId: string, quantity: number): Promise<Cart> {
    return this.send("PUT", `/api/v1/cart/items/${encodeURIComponent(productId)}`, {
      body: JSON.stringify({ quantity }),
      headers: { "content-type": "application/json" },
    });
  }

  placeOrder(version: number, details: ShopperDetails): Promise<Order> {
    return this.send("POST", "/api/v1/cart/order", {
      body: JSON.stringify(details),
      headers: { "if-match": `"${version}"`, "content-type": "application/json" },
    });
  }

  /** The WebSocket URL of the cart stream, on the API's host. */
  cartEventsUrl(): string {
    const base = new URL(this.base || window.location.origin, window.location.href);
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    base.pathname = `${base.pathname.replace(/\/$/, "")}/api/v1/cart/events`;
    return base.toString();
  }

  async get<T>(path: string, signal?: AbortSignal, read: RequestInit = { method: "GET" }): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let response: Response | undefined;
      try {
        response = await this.transport.fetch(
          this.base + path,
          this.init(read.method ?? "GET", read, signal),
        );
      } catch (error) {
        if (signal?.aborted) throw error;
      }
      if (response?.ok) return (await response.json()) as T;
      const retryable = response === undefined || RETRY_STATUSES.has(response.status);
      if (!retryable || attempt + 1 >= GET_ATTEMPTS) throw await apiError(response);
      await this.transport.sleep(retryDelay(response, attempt), signal);
    }
  }

  private async send<T>(method: string, path: string, init: RequestInit): Promise<T> {
    let response: Response;
    try {
      // keepalive: a change clicked just before the page is left or reloaded still reaches the shop.
      response = await this.transport.fetch(
        this.base + path,
        this.init(method, { ...init, keepalive: true }),
      );
    } catch {
      throw new ApiError(0, undefined);
    }
    if (response.ok) return (await response.json()) as T;
    throw await apiError(response);
  }

  private init(method: string, init: RequestInit, signal?: AbortSignal): RequestInit {
    // The cart cookie rides along; "include" also covers an API on another origin (VITE_API_BASE).
    return { ...init, method, credentials: "include", ...(signal ? { signal } : {}) };
  }
}

function retryDelay(response: Response | undefined, attempt: number): number {
  const retryAfter = Number(response?.headers.get("retry-after"));
  const backoff = backoffDelay(attempt, RETRY_BASE_MS, RETRY_MAX_MS);
  return Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, RETRY_MAX_MS) : backoff;
}

async function apiError(response: Response | undefined): Promise<ApiError> {
  if (response === undefined) return new ApiError(0, undefined);
  let problem: Problem | undefined;
  try {
    problem = (await response.json()) as Problem;
  } catch {
    problem = undefined;
  }
  return new ApiError(response.status, problem);
}
