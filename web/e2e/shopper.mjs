// Another shopper, through the API with a cookie of its own: used by the browser tests and Lighthouse.

/** The other shopper's details: an order needs someone to ship to. */
const SHOPPER = {
  email: "bob@example.org",
  name: "Bob Builder",
  street: "Yard 7",
  postcode: "10115",
  city: "Berlin",
  country: "DE",
};

/** Orders one unit of a product as a new shopper; its cart cookie and the order's id. */
export async function orderAsAnotherShopper(base, productId) {
  const first = await fetch(`${base}/api/v1/cart`);
  const cookie = first.headers.get("set-cookie").split(";")[0];
  const put = await fetch(`${base}/api/v1/cart/items/${productId}`, {
    method: "PUT",
    headers: { cookie, "content-type": "application/json" },
    body: JSON.stringify({ quantity: 1 }),
  });
  if (!put.ok) throw new Error(`the other shopper's PUT answered ${put.status}`);
  const { version } = await put.json();
  const order = await fetch(`${base}/api/v1/cart/order`, {
    method: "POST",
    headers: { cookie, "if-match": `"${version}"`, "content-type": "application/json" },
    body: JSON.stringify(SHOPPER),
  });
  if (order.status !== 201) throw new Error(`the other shopper's order answered ${order.status}`);
  return { cookie, id: (await order.json()).id };
}
