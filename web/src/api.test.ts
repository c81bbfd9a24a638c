import { describe, expect, it } from "vitest";
import { Api, ApiError, GET_ATTEMPTS, type Transport } from "./api";

/** A scripted network: answers in order, and records the requests and the waits between them. */
function network(...answers: (Response | Error)[]) {
  const requests: { url: string; method: string | undefined }[] = [];
  const waits: number[] = [];
  const transport: Transport = {
    fetch: async (input, init) => {
      requests.push({ url: String(input), method: init?.method });
      const next = answers.shift();
      if (next === undefined) throw new Error("no more answers scripted");
      if (next instanceof Error) throw next;
      return next;
    },
    sleep: async (ms) => {
      waits.push(ms);
    },
  };
  return { api: new Api("http://shop.test", transport), requests, waits };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

const cart = { version: 1, items: [], total_price: 0 };

describe("GET requests", () => {
  it("retry network failures and 503 with growing waits, then succeed", async () => {
    const { api, requests, waits } = network(new TypeError("offline"), json(503, {}), json(200, cart));
    await expect(api.cart()).resolves.toEqual(cart);
    expect(requests).toHaveLength(3);
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeLessThanOrEqual(300);
  });

  it("follow Retry-After", async () => {
    const { api, waits } = network(json(503, {}, { "retry-after": "1" }), json(200, cart));
    await api.cart();
    expect(waits).toEqual([1000]);
  });

  it("give up after the last attempt with the status", async () => {
    const { api, requests } = network(...Array.from({ length: GET_ATTEMPTS }, () => json(503, {})));
    await expect(api.cart()).rejects.toMatchObject({ status: 503 });
    expect(requests).toHaveLength(GET_ATTEMPTS);
  });

  it("never retry a 4xx, and carry its problem", async () => {
    const problem = {
      type: "about:blank",
      title: "Not Found",
      status: 404,
      detail: "no product with id 'x'",
    };
    const { api, requests } = network(json(404, problem));
    const error = await api.product("x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).problem).toEqual(problem);
    expect(requests).toHaveLength(1);
  });

  it("encode the catalog query", async () => {
    const { api, requests } = network(json(200, {}));
    await api.products("price", "a&b", 2, 24);
    expect(requests[0]?.url).toBe(
      "http://shop.test/api/v1/products?sort=price&prefix=a%26b&page=2&per_page=24",
    );
  });
});

describe("writes", () => {
  it("are sent once, with the cart version as If-Match", async () => {
    const problem = { type: "about:blank", title: "Precondition Failed", status: 412, detail: "changed" };
    const { api, requests } = network(json(412, problem));
    await expect(
      api.placeOrder(7, {
        email: "a@example.com",
        name: "A",
        street: "S 1",
        postcode: "1",
        city: "C",
        country: "DE",
      }),
    ).rejects.toMatchObject({ status: 412 });
    expect(requests).toEqual([{ url: "http://shop.test/api/v1/cart/order", method: "POST" }]);
  });

  it("report an unreachable shop as status 0", async () => {
    const { api } = network(new TypeError("offline"));
    await expect(api.setQuantity("a", 2)).rejects.toMatchObject({ status: 0 });
  });
});
