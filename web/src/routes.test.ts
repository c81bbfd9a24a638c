import { describe, expect, it } from "vitest";
import { formatRoute, parseRoute, type Route } from "./routes";

describe("routes", () => {
  it("give every view its own URL and read it back", () => {
    const routes: Route[] = [
      { view: "catalog", sort: "name", prefix: "", page: 1 },
      { view: "catalog", sort: "price", prefix: "Lorem ip", page: 3 },
      { view: "product", id: "a31aaee0-fba5" },
      { view: "cart" },
      { view: "order", id: "0f3a" },
      { view: "page", slug: "shipping" },
      {
        view: "search",
        q: "red shoe",
        category: "a/b & c",
        priceMin: 0,
        priceMax: 2500,
        sort: "price",
        page: 2,
      },
      {
        view: "search",
        q: "",
        category: undefined,
        priceMin: undefined,
        priceMax: undefined,
        sort: "relevance",
        page: 1,
      },
    ];
    for (const route of routes) {
      const url = new URL(formatRoute(route), "http://shop.test");
      expect(parseRoute(url.pathname, url.search)).toEqual(route);
    }
  });

  it("keep the default catalog URL short", () => {
    expect(formatRoute({ view: "catalog", sort: "name", prefix: "", page: 1 })).toBe("/");
    expect(formatRoute({ view: "catalog", sort: "id", prefix: "a&b", page: 2 })).toBe(
      "/?sort=id&prefix=a%26b&page=2",
    );
  });

  it("read a hand-edited query forgivingly", () => {
    expect(parseRoute("/", "?sort=colour&page=-2")).toEqual({
      view: "catalog",
      sort: "name",
      prefix: "",
      page: 1,
    });
    expect(parseRoute("/", "?page=abc")).toMatchObject({ page: 1 });
    expect(parseRoute("/", `?prefix=${"x".repeat(150)}`)).toMatchObject({ prefix: "x".repeat(100) });
  });

  it("read a hand-edited search forgivingly", () => {
    expect(parseRoute("/search", "?q=x&sort=best&price_min=-5&page=0")).toEqual({
      view: "search",
      q: "x",
      category: undefined,
      priceMin: undefined,
      priceMax: undefined,
      sort: "relevance",
      page: 1,
    });
    expect(
      formatRoute({
        view: "search",
        q: "a b",
        category: undefined,
        priceMin: undefined,
        priceMax: undefined,
        sort: "relevance",
        page: 1,
      }),
    ).toBe("/search?q=a+b");
  });

  it("say which paths are not views", () => {
    expect(parseRoute("/nope/deeper", "")).toEqual({ view: "missing", path: "/nope/deeper" });
    expect(parseRoute("/products/a%2Fb", "")).toEqual({ view: "product", id: "a/b" });
  });
});
