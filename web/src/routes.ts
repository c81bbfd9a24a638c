// Every view has its own URL: the catalog (the home page) with its sort, filter and page in the query
// string, a product, the cart, an order confirmation and a content page. Parsing is forgiving (a bad page becomes 1), formatting canonical.
import type { SearchSort, Sort } from "./types";

export const SORTS: readonly Sort[] = ["name", "price", "price_desc", "id"];
export const DEFAULT_SORT: Sort = "name";

export const SEARCH_SORTS: readonly SearchSort[] = ["relevance", "price", "name"];

/** A search's query and filters: everything its results page shows, in its URL. */
export interface SearchQuery {
  q: string;
  category: string | undefined;
  priceMin: number | undefined;
  priceMax: number | undefined;
  sort: SearchSort;
  page: number;
}

export type Route =
  | { view: "catalog"; sort: Sort; prefix: string; page: number }
  | ({ view: "search" } & SearchQuery)
  | { view: "product"; id: string }
  | { view: "cart" }
  | { view: "order"; id: string }
  | { view: "page"; slug: string }
  | { view: "missing"; path: string };

export function parseRoute(pathname: string, search: string): Route {
  if (pathname === "/" || pathname === "") {
    const query = new URLSearchParams(search);
    const sort = query.get("sort");
    return {
      view: "catalog",
      sort: SORTS.includes(sort as Sort) ? (sort as Sort) : DEFAULT_SORT,
      prefix: (query.get("prefix") ?? "").slice(0, 100),
      page: wholeNumber(query.get("page")) ?? 1,
    };
  }
  if (pathname === "/search") return { view: "search", ...parseSearch(new URLSearchParams(search)) };
  if (pathname === "/cart") return { view: "cart" };
  const product = /^\/products\/([^/]+)$/.exec(pathname);
  if (product?.[1]) return { view: "product", id: decodeURIComponent(product[1]) };
  const order = /^\/orders\/([^/]+)$/.exec(pathname);
  if (order?.[1]) return { view: "order", id: decodeURIComponent(order[1]) };
  const page = /^\/pages\/([^/]+)$/.exec(pathname);
  if (page?.[1]) return { view: "page", slug: decodeURIComponent(page[1]) };
  return { view: "missing", path: pathname };
}

export function formatRoute(route: Route): string {
  switch (route.view) {
    case "catalog": {
      const query = new URLSearchParams();
      if (route.sort !== DEFAULT_SORT) query.set("sort", route.sort);
      if (route.prefix) query.set("prefix", route.prefix);
      if (route.page > 1) query.set("page", String(route.page));
      const text = query.toString();
      return text ? `/?${text}` : "/";
    }
    case "search":
      return `/search?${searchParams(route)}`;
    case "product":
      return `/products/${encodeURIComponent(route.id)}`;
    case "cart":
      return "/cart";
    case "order":
      return `/orders/${encodeURIComponent(route.id)}`;
    case "page":
      return `/pages/${encodeURIComponent(route.slug)}`;
    case "missing":
      return route.path;
  }
}

function parseSearch(query: URLSearchParams): SearchQuery {
  const sort = query.get("sort");
  return {
    q: (query.get("q") ?? "").slice(0, 200),
    category: query.get("category") ?? undefined,
    priceMin: cents(query.get("price_min")),
    priceMax: cents(query.get("price_max")),
    sort: SEARCH_SORTS.includes(sort as SearchSort) ? (sort as SearchSort) : "relevance",
    page: wholeNumber(query.get("page")) ?? 1,
  };
}

/** A search's query string, as its URL and the API both take it (defaults left out). */
export function searchParams(query: SearchQuery): URLSearchParams {
  const params = new URLSearchParams({ q: query.q });
  if (query.category !== undefined) params.set("category", query.category);
  if (query.priceMin !== undefined) params.set("price_min", String(query.priceMin));
  if (query.priceMax !== undefined) params.set("price_max", String(query.priceMax));
  if (query.sort !== "relevance") params.set("sort", query.sort);
  if (query.page > 1) params.set("page", String(query.page));
  return params;
}

function wholeNumber(text: string | null): number | undefined {
  if (text === null || !/^[1-9][0-9]{0,8}$/.test(text)) return undefined;
  return Number(text);
}

function cents(text: string | null): number | undefined {
  return text === "0" ? 0 : wholeNumber(text);
}
