// The storefront's controller: routes URLs to views, owns the cart, and keeps tabs in sync.
import "./style.css";
import { Api, ApiError } from "./api";
import { CartSync } from "./cart-sync";
import { h, replaceContent } from "./dom";
import { formatRoute, parseRoute, type Route } from "./routes";
import {
  badgeLabel,
  canAddOne,
  isNewer,
  Latest,
  outOfStockPositions,
  refusalMessage,
  shortPositions,
  unitsInCart,
} from "./state";
import type { Cart, CartItem, ContentEntry, Order, ProductSummary, Sort } from "./types";
import {
  cartView,
  catalogControls,
  catalogResults,
  contentPage,
  failure,
  heading,
  homeContent,
  link,
  loading,
  orderView,
  pageLinks,
  productDetail,
} from "./views";
import { WebEvents } from "./web-events";

const PER_PAGE = 24;
const FILTER_DEBOUNCE_MS = 250;
const LOADING_DELAY_MS = 150; // fast answers never flash a spinner

const api = new Api();
const webEvents = new WebEvents(); // what the shopper does, for the products' popularity
webEvents.listen(window);
const view = document.querySelector<HTMLElement>("#view") as HTMLElement;
const messages = document.querySelector<HTMLElement>("#messages") as HTMLElement;

let route: Route = parseRoute(location.pathname, location.search);
let cart: Cart | undefined;
let cartBusy = false;
let flagged = new Set<string>(); // positions the last refused order named short of stock
const latest = new Latest(); // one ticket for whatever the current view loads
const latestHome = new Latest(); // the home page's hero and teasers load beside the catalog
const placedOrders = new Map<string, Order>();
let rerender: () => void = () => {};

const sync = new CartSync(api.cartEventsUrl(), {
  onCart: (incoming) => {
    if (isNewer(cart, incoming)) showCart(incoming);
  },
  onOrdered: () => void refreshCart(),
  onLive: (live) => {
    const state = document.querySelector("#live-state");
    if (state) state.textContent = live ? "Cart in sync" : "Reconnecting…";
  },
});

// --- navigation -------------------------------------------------------------------------------

function navigate(next: Route, replace = false): void {
  const url = formatRoute(next);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  const viewChanged = next.view !== route.view || ("id" in next && "id" in route && next.id !== route.id);
  route = next;
  render(viewChanged);
}

document.addEventListener("click", (event) => {
  const anchor = (event.target as Element).closest<HTMLAnchorElement>("a[data-nav]");
  if (
    !anchor ||
    event.defaultPrevented ||
    event.button !== 0 ||
    event.metaKey ||
    event.ctrlKey ||
    event.shiftKey
  )
    return;
  event.preventDefault();
  navigate(parseRoute(anchor.pathname, anchor.search));
});

window.addEventListener("popstate", () => {
  route = parseRoute(location.pathname, location.search);
  render(true);
});

function render(viewChanged: boolean): void {
  say("");
  document.querySelector("#nav-cart")?.toggleAttribute("aria-current", route.view === "cart");
  if (route.view === "catalog" && !viewChanged && catalogShown) {
    catalogShown.load(route); // same view, new query: keep the controls (and the typing focus)
    if (route.prefix) webEvents.track({ kind: "search", query: route.prefix });
    return;
  }
  // A product's view is counted once the product is shown (the shop refuses unknown products).
  if (viewChanged && route.view !== "product") webEvents.track({ kind: "page_view" });
  catalogShown = undefined;
  rerender = () => {};
  latest.next(); // the view's loads in flight are aborted: none may render into the new view
  switch (route.view) {
    case "catalog":
      catalogShown = showCatalog(route);
      break;
    case "product":
      showProduct(route.id);
      break;
    case "cart":
      showCartView();
      break;
    case "order":
      showOrder(route.id);
      break;
    case "page":
      showContentPage(route.slug);
      break;
    case "missing":
      replaceContent(
        view,
        heading("Page not found"),
        h("p", {}, "There is nothing at ", h("code", {}, route.path), ". "),
        link({ view: "catalog", sort: "name", prefix: "", page: 1 }, "Go to the catalog"),
      );
      document.title = "Not found · Event Thingy Store";
  }
  if (viewChanged) view.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
}

// --- messages -------------------------------------------------------------------------------------

function say(text: string, tone: "info" | "error" = "info"): void {
  messages.className = `messages ${tone}`;
  messages.setAttribute("role", tone === "error" ? "alert" : "status");
  messages.textContent = text;
}

/** Shows `what` as loading after a short delay, unless `region` was filled by then. */
function loadingIn(region: HTMLElement, what: string, ticket: number, tracker: Latest = latest): void {
  setTimeout(() => {
    if (tracker.isCurrent(ticket) && region.dataset.loaded !== String(ticket)) {
      region.setAttribute("aria-busy", "true");
      replaceContent(region, loading(what));
    }
  }, LOADING_DELAY_MS);
}

function loaded(region: HTMLElement, ticket: number): void {
  region.dataset.loaded = String(ticket);
  region.setAttribute("aria-busy", "false");
}

function describe(error: unknown): string {
  return error instanceof ApiError ? error.message : "Something went wrong; please try again.";
}

const aborted = (error: unknown) => error instanceof DOMException && error.name === "AbortError";

// --- catalog --------------------------------------------------------------------------------------

let catalogShown: { load: (route: Route) => void } | undefined;
// The catalog page last shown: the product page's way back keeps its sort, filter and page.
let lastCatalog: Route = parseRoute("/", "");

function showCatalog(initial: Extract<Route, { view: "catalog" }>) {
  let current = initial;
  let debounce: ReturnType<typeof setTimeout> | undefined;
  const controls = catalogControls(
    current.sort,
    current.prefix,
    (sort: Sort) => navigate({ ...current, sort, page: 1 }),
    (text: string) => {
      clearTimeout(debounce);
      // Typing replaces the history entry: back goes to the previous view, not letter by letter.
      debounce = setTimeout(() => navigate({ ...current, prefix: text, page: 1 }, true), FILTER_DEBOUNCE_MS);
    },
  );
  const results = h("div", { class: "results" }); // the count (role=status) is announced, not the list
  const home = h("div", { class: "home" });
  replaceContent(view, home, heading("Catalog"), controls.form, results);
  void loadHome(home);
  const load = (next: Route) => {
    if (next.view !== "catalog") return;
    home.hidden = next.prefix !== "" || next.page > 1; // the home page's content: only above page 1
    current = next;
    lastCatalog = next;
    controls.select.value = next.sort;
    if (document.activeElement !== controls.filter) controls.filter.value = next.prefix;
    document.title = next.prefix ? `“${next.prefix}” · Event Thingy Store` : "Catalog · Event Thingy Store";
    void loadCatalogPage(next, results);
  };
  load(initial);
  return { load };
}

async function loadCatalogPage(
  page: Extract<Route, { view: "catalog" }>,
  results: HTMLElement,
): Promise<void> {
  const { ticket, signal } = latest.next();
  loadingIn(results, "products", ticket);
  try {
    const answer = await api.products(page.sort, page.prefix, page.page, PER_PAGE, signal);
    if (!latest.isCurrent(ticket)) return; // an older query: a newer one owns the results
    if (answer.page !== page.page) navigate({ ...page, page: answer.page }, true); // clamped
    loaded(results, ticket);
    rerender = () => replaceContent(results, catalogResults(answer, cart, { addOne }, goToPage));
    rerender();
  } catch (error) {
    if (aborted(error) || !latest.isCurrent(ticket)) return;
    loaded(results, ticket);
    replaceContent(
      results,
      failure(describe(error), () => void loadCatalogPage(page, results)),
    );
  }
}

// --- content -------------------------------------------------------------------------------------------

let renderHome: () => void = () => {};

/** The hero and the teasers above the catalog, their featured products with the catalog's prices. */
async function loadHome(home: HTMLElement): Promise<void> {
  const { ticket, signal } = latestHome.next();
  loadingIn(home, "featured content", ticket, latestHome);
  try {
    const entries = (await api.contentList(undefined, signal)).items;
    if (!latestHome.isCurrent(ticket)) return;
    loaded(home, ticket);
    const of = (kind: ContentEntry["kind"]) => entries.filter((entry) => entry.kind === kind);
    renderHome = () => replaceContent(home, homeContent(of("hero"), of("teaser"), cart, { addOne }));
    renderHome();
  } catch (error) {
    if (aborted(error) || !latestHome.isCurrent(ticket)) return;
    loaded(home, ticket);
    replaceContent(
      home,
      failure(`The featured content could not be loaded: ${describe(error)}`, () => void loadHome(home)),
    );
  }
}

async function showContentPage(slug: string): Promise<void> {
  const { ticket, signal } = latest.next();
  replaceContent(view, heading("Page"));
  loadingIn(view, "the page", ticket);
  try {
    const entry = await api.content(slug, signal);
    if (!latest.isCurrent(ticket)) return;
    loaded(view, ticket);
    document.title = `${entry.title} · Event Thingy Store`;
    replaceContent(view, contentPage(entry));
    view.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
  } catch (error) {
    if (aborted(error) || !latest.isCurrent(ticket)) return;
    loaded(view, ticket);
    const missing = error instanceof ApiError && (error.status === 404 || error.status === 400);
    document.title = `${missing ? "Not found" : "Page"} · Event Thingy Store`;
    replaceContent(
      view,
      heading(missing ? "Page not found" : "Page"),
      missing
        ? h("p", { class: "empty" }, "There is no such page. ", link(lastCatalog, "Go to the catalog"))
        : failure(describe(error), () => void showContentPage(slug)),
    );
  }
}

/** The footer's links to the pages (a failure leaves the footer without them). */
async function loadPageLinks(): Promise<void> {
  const footer = document.querySelector<HTMLElement>("#page-links");
  if (!footer) return;
  try {
    replaceContent(footer, pageLinks((await api.contentList("page")).items));
  } catch {
    replaceContent(footer);
  }
}

function goToPage(page: number): void {
  if (route.view !== "catalog") return;
  navigate({ ...route, page });
  view.querySelector<HTMLElement>("h1")?.scrollIntoView({ block: "start" });
}

// --- product ----------------------------------------------------------------------------------------

async function showProduct(id: string): Promise<void> {
  const { ticket, signal } = latest.next();
  replaceContent(view, heading("Product"));
  loadingIn(view, "the product", ticket);
  try {
    const product = await api.product(id, signal);
    if (!latest.isCurrent(ticket)) return;
    loaded(view, ticket);
    document.title = `${product.name} · Event Thingy Store`;
    webEvents.track({ kind: "page_view", product_id: product.id });
    rerender = () => replaceContent(view, productDetail(product, cart, { addOne }, lastCatalog));
    rerender();
    view.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
  } catch (error) {
    if (aborted(error) || !latest.isCurrent(ticket)) return;
    loaded(view, ticket);
    const text =
      error instanceof ApiError && error.status === 404
        ? "This product is not for sale (any more)."
        : describe(error);
    replaceContent(
      view,
      heading("Product"),
      failure(text, () => void showProduct(id)),
    );
  }
}

// --- cart -------------------------------------------------------------------------------------------------

function showCartView(): void {
  document.title = "Cart · Event Thingy Store";
  rerender = () => {
    if (cart) replaceContent(view, cartView(cart, cartBusy, flagged, { change, placeOrder }));
    else replaceContent(view, heading("Your cart"), loading("your cart"));
  };
  rerender();
  void refreshCart();
}

/** Shows a cart (from an answer, another tab or the server's stream) everywhere it appears. */
function showCart(next: Cart): void {
  cart = next;
  const units = unitsInCart(next);
  const badge = document.querySelector("#cart-badge");
  if (badge) {
    badge.textContent = String(units);
    badge.classList.toggle("warn", outOfStockPositions(next).length > 0);
  }
  const label = document.querySelector("#cart-label");
  if (label) label.textContent = badgeLabel(next);
  rerender();
  if (route.view === "catalog") renderHome();
}

/** The cart of the current cookie: after an order here or elsewhere, that is a new, empty one. */
async function refreshCart(): Promise<void> {
  try {
    showCart(await api.cart());
  } catch (error) {
    say(`The cart could not be loaded: ${describe(error)}`, "error");
  }
}

/**
 * Cart changes run one after another, each computed from the cart the one before left: two quick
 * clicks on + add two units, and an order waits for the changes clicked before it.
 */
function queue(task: () => Promise<void>): void {
  pendingChanges += 1;
  cartBusy = true;
  cartQueue = cartQueue.then(task).finally(() => {
    pendingChanges -= 1;
    cartBusy = pendingChanges > 0;
    rerender();
  });
}

let cartQueue: Promise<void> = Promise.resolve();
let pendingChanges = 0;

function changeQuantity(productId: string, name: string, target: (current: number) => number): void {
  queue(async () => {
    const item = cart?.items.find((i) => i.product_id === productId);
    const current = item?.quantity ?? 0;
    const quantity = target(current);
    if (quantity > current && item && !canAddOne(item)) {
      say(`No more ${name} in stock: all available units are in your cart.`, "error");
      return;
    }
    try {
      const next = await api.setQuantity(productId, quantity);
      if (quantity > current) webEvents.track({ kind: "add_to_cart", product_id: productId });
      flagged.delete(productId);
      showCartEverywhere(next);
      say(quantity === 0 ? `Removed ${name}.` : `${name}: ${quantity} in the cart.`);
    } catch (error) {
      say(
        error instanceof ApiError ? refusalMessage(error.status, error.problem, cart) : describe(error),
        "error",
      );
      if (error instanceof ApiError && error.status === 409) await refreshCart();
    }
  });
}

function showCartEverywhere(next: Cart): void {
  showCart(next);
  sync.publish({ kind: "cart", cart: next });
}

function addOne(product: ProductSummary): void {
  changeQuantity(product.id, product.name, (current) => current + 1);
}

function change(item: CartItem, step: 1 | -1 | "remove"): void {
  changeQuantity(item.product_id, item.name, (current) =>
    step === "remove" ? 0 : Math.max(0, current + step),
  );
}

function placeOrder(): void {
  queue(async () => {
    if (!cart) return;
    try {
      const order = await api.placeOrder(cart.version);
      placedOrders.set(order.id, order);
      webEvents.track({ kind: "order" });
      flagged = new Set();
      sync.publish({ kind: "ordered" });
      navigate({ view: "order", id: order.id });
      await refreshCart(); // the answer set a fresh cart cookie
    } catch (error) {
      if (error instanceof ApiError) {
        flagged = error.status === 409 ? shortPositions(error.problem) : new Set();
        say(refusalMessage(error.status, error.problem, cart), "error");
        await refreshCart();
      } else {
        say(describe(error), "error");
      }
    }
  });
}

// --- order ------------------------------------------------------------------------------------------------

async function showOrder(id: string): Promise<void> {
  document.title = "Order · Event Thingy Store";
  const known = placedOrders.get(id);
  if (known) {
    replaceContent(view, orderView(known));
    return;
  }
  const { ticket, signal } = latest.next();
  replaceContent(view, heading("Your order"));
  loadingIn(view, "the order", ticket);
  try {
    const order = await api.order(id, signal);
    if (!latest.isCurrent(ticket)) return;
    loaded(view, ticket);
    replaceContent(view, orderView(order));
    view.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
  } catch (error) {
    if (aborted(error) || !latest.isCurrent(ticket)) return;
    loaded(view, ticket);
    const text =
      error instanceof ApiError && error.status === 404
        ? "No such order was placed from this browser."
        : describe(error);
    replaceContent(
      view,
      heading("Your order"),
      failure(text, () => void showOrder(id)),
    );
  }
}

// --- start ------------------------------------------------------------------------------------------------

async function start(): Promise<void> {
  render(true);
  void loadPageLinks();
  await refreshCart(); // also obtains the cart cookie the stream is authorised by
  sync.connect();
}

void start();
