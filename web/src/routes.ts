// Every view has its own URL: the catalog (the home page) with its sort, filter and page in the query
// string, a product, the cart, an order confirmation and a content page. Parsing is forgiving (a bad page becomes 1), formatting canonical.
import type { Sort } from "./types";

export const SORTS: readonly Sort[] = ["name", "price", "price_desc", "id"];
export const DEFAULT_SORT: Sort = "name";

export type Route =
  | { view: "catalog"; sort: Sort; prefix: string; page: number }
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

function wholeNumber(text: string | null): number | undefined {
  if (text === null || !/^[1-9][0-9]{0,8}$/.test(text)) return undefined;
  return Number(text);
}
