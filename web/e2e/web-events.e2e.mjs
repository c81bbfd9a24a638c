// End-to-end: the storefront's browser events in Debian's chromium, against a running shop (BASE_URL).
// A shopper views a product and adds it to the cart, then leaves the page; the beacon sent on the way
// out is counted in the product's popularity. Started by tests/test_web_events.py (E2E_PRODUCT).
import { chromium } from "playwright-core";

const BASE = process.env.BASE_URL;
const PRODUCT = process.env.E2E_PRODUCT;
const WAIT_MS = 15_000;

async function popularity() {
  const response = await fetch(`${BASE}/api/v1/products/${encodeURIComponent(PRODUCT)}`);
  if (!response.ok) throw new Error(`GET the product answered ${response.status}`);
  return (await response.json()).popularity;
}

async function eventually(probe, what) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  for (;;) {
    last = await probe();
    if (last === true) return;
    if (Date.now() > deadline) throw new Error(`${what} (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main() {
  const before = await popularity();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
    timeout: 60_000,
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT_MS);
    await page.goto(`${BASE}/products/${encodeURIComponent(PRODUCT)}`);
    await page.locator("h1", { hasText: /\S/ }).waitFor();
    await page.getByRole("button", { name: /^Add to cart/ }).click();
    // The toast, not the card's count: the cart's live stream may draw "1 in cart" before this
    // tab's own answer arrives, and the add-to-cart is tracked only once that answer is in.
    await page.locator("#messages", { hasText: ": 1 in the cart." }).waitFor();
    await page.goto(BASE); // leaving the page sends what waits (pagehide)
    await page.locator(".card").first().waitFor();
    console.log("ok - viewed the product, added it, left the page");
    await eventually(async () => {
      const now = await popularity();
      return (now.views === before.views + 1 && now.add_to_carts === before.add_to_carts + 1) || now;
    }, "the product's view and add-to-cart are counted");
    console.log(`ok - counted: ${JSON.stringify(await popularity())} (before ${JSON.stringify(before)})`);
  } finally {
    await browser.close();
  }
}

main().then(
  () => console.log("web events e2e: all passed"),
  (error) => {
    console.error(`not ok - ${error.stack ?? error}`);
    process.exit(1);
  },
);
