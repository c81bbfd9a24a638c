// The storefront's controller: routes URLs to views, owns the cart, and keeps tabs in sync.
import "./style.css";
import { Api, ApiError } from "./api";
import { CartSync } from "./cart-sync";
import { h, replaceContent } from "./dom";
import { formatRoute, parseRoute, type Route, type SearchQuery } from "./routes";
import { moveSelection, Suggester } from "./search";
import {
  badgeLabel,
  canAddOne,
  DETAILS_KEY,
  type DetailField,
  fieldErrors,
  isNewer,
  Latest,
  loadDetails,
  orderSettled,
  outOfStockPositions,
  refusalMessage,
  shortPositions,
  unitsInCart,
} from "./state";
import type { Cart, CartItem, ContentEntry, Order, ProductSummary, ShopperDetails, Sort } from "./types";
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
  notFound,
  orderView,
  pageLinks,
  productDetail,
  searchResults,
} from "./views";
import { WebEvents } from "./web-events";

const PER_PAGE = 24;
const FILTER_DEBOUNCE_MS = 250;
const LOADING_DELAY_MS = 150; // fast answers never flash a spinner
const TOAST_MS = 4000; // a confirmation stays this long; an error until the next one
const ORDER_POLL_MS = 2000; // an order page asks for its status while it may still change
const CART_POLL_MS = 5000; // the cart page asks for its stock flags (other shoppers' orders)

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
// The checkout form's details (kept in sessionStorage across reloads) and the shop's refusals of them.
const details: ShopperDetails = loadDetails(storage());
let detailErrors: Partial<Record<DetailField, string>> = {};

/** The tab's sessionStorage, unless the browser refuses it (then nothing survives a reload). */
function storage(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined;
  }
}
let rerender: () => void = () => {};
let stopPolling: () => void = () => {};
const pending = new Map<string, number>(); // changes on their way, by product id (or "order")
const stock = new Map<string, number>(); // units available by product id, as last asked
// Back and forward restore the scroll position once the view's data is shown (not at once: the
// page is still empty then), so the browser's own restoration is off.
history.scrollRestoration = "manual";
let restoreScroll: number | undefined;

const sync = new CartSync(api.cartEventsUrl(), {
  onCart: (incoming) => {
    if (isNewer(cart, incoming)) showCart(incoming);
  },
  onOrdered: () => void refreshCart(),
  onLive: (live) => {
    const state = document.querySelector("#live-state");
    if (state)
      state.textContent = live
        ? "Your cart updates live in every tab."
        : "Connection lost: your cart will update once it is back.";
  },
});

// --- navigation -------------------------------------------------------------------------------

function navigate(next: Route, replace = false): void {
  const url = formatRoute(next);
  if (replace) history.replaceState({ scroll: 0 }, "", url);
  else {
    history.replaceState({ scroll: window.scrollY }, "", location.href); // for the way back
    history.pushState({ scroll: 0 }, "", url);
    window.scrollTo(0, 0);
  }
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

window.addEventListener("popstate", (event: PopStateEvent) => {
  route = parseRoute(location.pathname, location.search);
  restoreScroll = (event.state as { scroll?: number } | null)?.scroll ?? 0;
  render(true);
});

/** Called once a view's data is shown: back and forward return to where the shopper was. */
function shown(): void {
  if (restoreScroll === undefined) return;
  window.scrollTo(0, restoreScroll);
  restoreScroll = undefined;
}

function render(viewChanged: boolean, first = false): void {
  say("");
  stopPolling();
  stopPolling = () => {};
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
    case "search":
      showSearch(route);
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
      showNotFound("Page not found", "This page does not exist. The link may be mistyped or out of date.");
      shown();
  }
  // On the first load the focus stays at the top, so the first Tab reaches the skip link.
  if (viewChanged && !first) view.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
}

function showNotFound(title: string, text: string): void {
  replaceContent(view, notFound(title, text));
  document.title = `${title} · Event Thingy Store`;
}

// --- messages -------------------------------------------------------------------------------------

let toastTimer: ReturnType<typeof setTimeout> | undefined;

/** A message in the toast at the bottom of the window, visible wherever the page is scrolled. */
function say(text: string, tone: "info" | "error" = "info"): void {
  clearTimeout(toastTimer);
  messages.className = `messages ${tone}`;
  messages.setAttribute("role", tone === "error" ? "alert" : "status");
  messages.textContent = text;
  if (text && tone === "info") toastTimer = setTimeout(() => say(""), TOAST_MS);
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
  // The home page's hero and teasers sit above the list: the view appears once they arrived (or
  // failed), so nothing shown moves down when they do (Lighthouse counted a layout shift of 0.2).
  replaceContent(view, loading("the catalog"));
  const attached = loadHome(home).then(() => {
    if (catalogShown === shownCatalog) replaceContent(view, home, heading("Catalog"), controls.form, results);
  });
  const load = (next: Route) => {
    if (next.view !== "catalog") return;
    home.hidden = next.prefix !== "" || next.page > 1; // the home page's content: only above page 1
    current = next;
    lastCatalog = next;
    controls.select.value = next.sort;
    if (document.activeElement !== controls.filter) controls.filter.value = next.prefix;
    document.title = next.prefix ? `“${next.prefix}” · Event Thingy Store` : "Catalog · Event Thingy Store";
    void loadCatalogPage(next, results, attached);
  };
  const shownCatalog = { load };
  load(initial);
  return shownCatalog;
}

/** Loads a page of the catalog into `results`, shown once `attached` (the view is on screen). */
function loadCatalogPage(
  page: Extract<Route, { view: "catalog" }>,
  results: HTMLElement,
  attached: Promise<void>,
): Promise<void> {
  return loadListing(results, {
    what: "products",
    ask: async (signal) => {
      const answer = await api.products(page.sort, page.prefix, page.page, PER_PAGE, signal);
      await attached;
      return answer;
    },
    clamped: (shown) => navigate({ ...page, page: shown }, true),
    page: page.page,
    view: (answer) => catalogResults(answer, cart, catalogActions, page),
  });
}

/** A listing of products (a catalog page, search results) loaded into `results`: only the answer to
 * the latest request is shown; a page past the end becomes the last page; stock follows. */
async function loadListing<A extends { page: number; items: ProductSummary[] }>(
  results: HTMLElement,
  listing: {
    what: string;
    ask: (signal: AbortSignal) => Promise<A>;
    clamped: (page: number) => void;
    page: number;
    view: (answer: A) => HTMLElement[];
  },
): Promise<void> {
  const { ticket, signal } = latest.next();
  loadingIn(results, listing.what, ticket);
  try {
    const answer = await listing.ask(signal);
    if (!latest.isCurrent(ticket)) return; // an older query: a newer one owns the results
    if (answer.page !== listing.page) listing.clamped(answer.page);
    loaded(results, ticket);
    rerender = () => replaceContent(results, listing.view(answer));
    rerender();
    shown();
    void loadStock(answer.items.map((p) => p.id));
  } catch (error) {
    if (aborted(error) || !latest.isCurrent(ticket)) return;
    loaded(results, ticket);
    replaceContent(
      results,
      failure(describe(error), () => void loadListing(results, listing)),
    );
  }
}

// --- search ------------------------------------------------------------------------------------------

const searchForm = document.querySelector<HTMLFormElement>("#site-search") as HTMLFormElement;
const searchBox = document.querySelector<HTMLInputElement>("#q") as HTMLInputElement;
const suggestionList = document.querySelector<HTMLElement>("#suggestions") as HTMLElement;
let suggestions: string[] = [];
let selected = -1; // the suggestion chosen with the arrow keys; -1: the text box itself
const suggester = new Suggester(
  (q, signal) => api.suggest(q, signal),
  (_q, found) => showSuggestions(found),
);

function showSuggestions(found: string[]): void {
  suggestions = found;
  selected = -1;
  suggestionList.replaceChildren(
    ...found.map((text, i) =>
      h(
        "li",
        {
          id: `suggestion-${i}`,
          role: "option",
          "aria-selected": "false",
          // Before the box loses the focus: the click then lands on the option, not on nothing.
          onpointerdown: (event: Event) => event.preventDefault(),
          onclick: () => search(text),
        },
        text,
      ),
    ),
  );
  suggestionList.hidden = found.length === 0;
  searchBox.setAttribute("aria-expanded", String(found.length > 0));
  searchBox.removeAttribute("aria-activedescendant");
}

function showSelection(): void {
  suggestionList.querySelectorAll("li").forEach((item, i) => {
    item.setAttribute("aria-selected", String(i === selected));
  });
  if (selected >= 0) searchBox.setAttribute("aria-activedescendant", `suggestion-${selected}`);
  else searchBox.removeAttribute("aria-activedescendant");
}

/** Shows the results of `q` (no filters), from the header's box. */
function search(q: string): void {
  suggester.cancel();
  showSuggestions([]);
  searchBox.value = q;
  const query: SearchQuery = {
    q,
    category: undefined,
    priceMin: undefined,
    priceMax: undefined,
    sort: "relevance",
    page: 1,
  };
  navigate({ view: "search", ...query });
}

searchBox.addEventListener("input", () => suggester.input(searchBox.value));
searchBox.addEventListener("keydown", (event) => {
  if (!["ArrowDown", "ArrowUp", "Escape"].includes(event.key) || suggestions.length === 0) return;
  event.preventDefault();
  if (event.key === "Escape") {
    suggester.cancel();
    showSuggestions([]);
    return;
  }
  selected = moveSelection(selected, suggestions.length, event.key);
  showSelection();
});
searchBox.addEventListener("blur", () => {
  suggester.cancel();
  showSuggestions([]);
});
searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  search(selected >= 0 ? (suggestions[selected] ?? searchBox.value) : searchBox.value);
});

function showSearch(query: SearchQuery): void {
  if (document.activeElement !== searchBox) searchBox.value = query.q;
  document.title = query.q ? `Search: ${query.q} · Event Thingy Store` : "Search · Event Thingy Store";
  const results = h("div", { class: "results" });
  replaceContent(view, heading(query.q ? `Results for “${query.q}”` : "All products"), results);
  void loadSearch(query, results);
}

function loadSearch(query: SearchQuery, results: HTMLElement): Promise<void> {
  return loadListing(results, {
    what: "results",
    ask: (signal) => api.search(query, PER_PAGE, signal),
    clamped: (shown) => navigate({ view: "search", ...query, page: shown }, true),
    page: query.page,
    view: (answer) => searchResults(answer, query, cart, catalogActions),
  });
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
    renderHome = () => replaceContent(home, homeContent(of("hero"), of("teaser"), cart, catalogActions));
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

/** Asks for the stock of the products shown; their cards and page say it once it is known. */
async function loadStock(ids: string[]): Promise<void> {
  try {
    const answer = await api.stock(ids);
    for (const level of answer.items) stock.set(level.product_id, level.available);
    rerender();
  } catch {
    // Without stock levels the cards simply do not say them; the cart still checks.
  }
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
    rerender = () => replaceContent(view, productDetail(product, cart, catalogActions, lastCatalog));
    rerender();
    shown();
    view.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
    void loadStock([product.id]);
  } catch (error) {
    if (aborted(error) || !latest.isCurrent(ticket)) return;
    loaded(view, ticket);
    if (error instanceof ApiError && error.status === 404) {
      showNotFound("Product not found", "This product is not for sale, or no longer.");
      return;
    }
    replaceContent(
      view,
      heading("Product"),
      failure(describe(error), () => void showProduct(id)),
    );
  }
}

// --- cart -------------------------------------------------------------------------------------------------

function showCartView(): void {
  document.title = "Cart · Event Thingy Store";
  rerender = () => {
    if (cart)
      replaceContent(
        view,
        cartView(cart, cartBusy, flagged, {
          change,
          placeOrder,
          pending: isPending,
          details,
          errors: detailErrors,
          edit: editDetail,
        }),
      );
    else replaceContent(view, heading("Your cart"), loading("your cart"));
  };
  rerender();
  void refreshCart().then(shown);
  // The stream pushes changes of the cart; the stock under it changes with other shoppers' orders.
  stopPolling = poll(CART_POLL_MS, async () => {
    if (!cartBusy) await refreshCart();
    return true;
  });
}

/** Runs `task` every `ms` while the page is visible, until it answers false or is stopped. */
function poll(ms: number, task: () => Promise<boolean>): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const tick = async () => {
    const again = document.visibilityState === "hidden" || (await task());
    if (again && !stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
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
function queue(key: string, task: () => Promise<void>): void {
  pendingChanges += 1;
  pending.set(key, (pending.get(key) ?? 0) + 1);
  cartBusy = true;
  rerender(); // the pending state shows at once
  cartQueue = cartQueue.then(task).finally(() => {
    pendingChanges -= 1;
    const left = (pending.get(key) ?? 1) - 1;
    if (left > 0) pending.set(key, left);
    else pending.delete(key);
    cartBusy = pendingChanges > 0;
    rerender();
  });
}

const isPending = (key: string) => pending.has(key);
const catalogActions = { addOne, pending: isPending, available: (id: string) => stock.get(id) };

let cartQueue: Promise<void> = Promise.resolve();
let pendingChanges = 0;

function changeQuantity(productId: string, name: string, target: (current: number) => number): void {
  queue(productId, async () => {
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

function editDetail(name: DetailField, value: string): void {
  details[name] = value;
  delete detailErrors[name];
  try {
    sessionStorage.setItem(DETAILS_KEY, JSON.stringify(details));
  } catch {
    // storage full or refused: the details are kept until the page is left
  }
}

function placeOrder(): void {
  queue("order", async () => {
    if (!cart) return;
    try {
      const order = await api.placeOrder(cart.version, details);
      detailErrors = {};
      placedOrders.set(order.id, order);
      webEvents.track({ kind: "order" });
      flagged = new Set();
      sync.publish({ kind: "ordered" });
      navigate({ view: "order", id: order.id });
      await refreshCart(); // the answer set a fresh cart cookie
    } catch (error) {
      if (error instanceof ApiError) {
        flagged = error.status === 409 ? shortPositions(error.problem) : new Set();
        detailErrors = error.status === 422 ? fieldErrors(error.problem) : {};
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
    followOrder(known);
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
    shown();
    view.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
    followOrder(order);
  } catch (error) {
    if (aborted(error) || !latest.isCurrent(ticket)) return;
    loaded(view, ticket);
    if (error instanceof ApiError && error.status === 404) {
      showNotFound("Order not found", "No order with this number was placed from this browser.");
      return;
    }
    replaceContent(
      view,
      heading("Your order"),
      failure(describe(error), () => void showOrder(id)),
    );
  }
}

/** Asks for the order's status until it is settled; each change is shown (and announced). */
function followOrder(order: Order): void {
  let status = order.status;
  if (orderSettled(status)) return;
  const { ticket, signal } = latest.next();
  stopPolling = poll(ORDER_POLL_MS, async () => {
    try {
      const next = await api.order(order.id, signal);
      if (!latest.isCurrent(ticket)) return false;
      if (next.status !== status) {
        status = next.status;
        placedOrders.set(next.id, next);
        replaceContent(view, orderView(next));
      }
      return !orderSettled(status);
    } catch {
      return latest.isCurrent(ticket); // a failed poll is tried again; a left page stops
    }
  });
}

// --- start ------------------------------------------------------------------------------------------------

async function start(): Promise<void> {
  render(true, true);
  void loadPageLinks();
  await refreshCart(); // also obtains the cart cookie the stream is authorised by
  sync.connect();
}

void start();
