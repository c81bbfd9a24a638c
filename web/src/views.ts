// The views: functions from data to DOM. Controls carry data-key so focus survives a re-render.
import { h, picture } from "./dom";
import { formatRoute, type Route, SORTS } from "./routes";
import { canAddOne, formatPrice, quantityOf, stockNote } from "./state";
import type { Cart, CartItem, ContentEntry, Order, Page, Product, ProductSummary, Sort } from "./types";

export interface CatalogActions {
  addOne(product: ProductSummary): void;
}

export interface CartActions {
  /** One more (+1), one less (-1), or remove (the quantity becomes 0). */
  change(item: CartItem, change: 1 | -1 | "remove"): void;
  placeOrder(): void;
}

const SORT_LABELS: Record<Sort, string> = { name: "Name", price: "Price", id: "Id" };

export function link(route: Route, ...children: (Node | string)[]): HTMLAnchorElement {
  return h("a", { href: formatRoute(route), "data-nav": true }, ...children);
}

export function heading(text: string): HTMLHeadingElement {
  return h("h1", { tabindex: -1 }, text);
}

export function loading(what: string): HTMLElement {
  return h(
    "p",
    { class: "loading", role: "status" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    `Loading ${what}…`,
  );
}

export function failure(text: string, retry: () => void): HTMLElement {
  return h(
    "div",
    { class: "failure", role: "alert" },
    h("p", {}, text),
    h("button", { type: "button", "data-key": "retry", onclick: retry }, "Try again"),
  );
}

/** The catalog's controls: built once per visit, so typing in the filter never loses focus. */
export function catalogControls(
  sort: Sort,
  prefix: string,
  onSort: (sort: Sort) => void,
  onPrefix: (text: string) => void,
) {
  const select = h(
    "select",
    { id: "sort", name: "sort", onchange: () => onSort(select.value as Sort) },
    SORTS.map((s) => h("option", { value: s, selected: s === sort }, SORT_LABELS[s])),
  );
  const filter = h("input", {
    id: "prefix",
    name: "prefix",
    type: "search",
    maxlength: 100,
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "e.g. Lorem",
    value: prefix,
    oninput: () => onPrefix(filter.value),
  });
  const form = h(
    "form",
    { class: "controls", role: "search", onsubmit: (event: Event) => event.preventDefault() },
    h("div", { class: "field" }, h("label", { for: "prefix" }, "Name starts with"), filter),
    h("div", { class: "field" }, h("label", { for: "sort" }, "Sort by"), select),
  );
  return { form, select, filter };
}

export function catalogResults(
  page: Page,
  cart: Cart | undefined,
  actions: CatalogActions,
  go: (page: number) => void,
) {
  if (page.items.length === 0) {
    return [
      h(
        "p",
        { class: "empty" },
        page.prefix ? `No product name starts with “${page.prefix}”.` : "The catalog is empty.",
      ),
    ];
  }
  const items = page.items.map((product) => productCard(product, cart, actions));
  return [
    h(
      "p",
      { class: "summary", id: "catalog-summary" },
      `${page.total} ${page.total === 1 ? "product" : "products"}`,
    ),
    h("ul", { class: "product-grid", "aria-describedby": "catalog-summary" }, items),
    pager(page, go),
  ];
}

function productCard(product: ProductSummary, cart: Cart | undefined, actions: CatalogActions): HTMLElement {
  const inCart = quantityOf(cart, product.id);
  return h(
    "li",
    { class: "card", "data-product-id": product.id },
    picture(product.small_image_url, product.name, 200, 100),
    h("h2", { class: "card-title" }, link({ view: "product", id: product.id }, product.name)),
    h("p", { class: "price" }, formatPrice(product.price)),
    addButton(product, cart, actions, `add-${product.id}`),
    inCart > 0 && h("p", { class: "in-cart" }, `${inCart} in cart`),
  );
}

function addButton(
  product: ProductSummary,
  cart: Cart | undefined,
  actions: CatalogActions,
  key: string,
): HTMLElement {
  const item = cart?.items.find((i) => i.product_id === product.id);
  const full = item !== undefined && !canAddOne(item);
  return h(
    "button",
    {
      type: "button",
      class: "primary",
      "data-key": key,
      disabled: full,
      "aria-label": `Add ${product.name} to the cart`,
      onclick: () => actions.addOne(product),
    },
    full ? "No more in stock" : "Add to cart",
  );
}

function pager(page: Page, go: (page: number) => void): HTMLElement {
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h(
      "button",
      { type: "button", "data-key": "prev", disabled: page.page <= 1, onclick: () => go(page.page - 1) },
      "‹ Previous",
    ),
    h("span", { class: "page-of", "aria-live": "polite" }, `Page ${page.page} of ${Math.max(page.pages, 1)}`),
    h(
      "button",
      {
        type: "button",
        "data-key": "next",
        disabled: page.page >= page.pages,
        onclick: () => go(page.page + 1),
      },
      "Next ›",
    ),
  );
}

export function productDetail(
  product: Product,
  cart: Cart | undefined,
  actions: CatalogActions,
  catalog: Route,
): HTMLElement[] {
  const inCart = quantityOf(cart, product.id);
  return [
    h("p", { class: "crumbs" }, link(catalog, "‹ Catalog")),
    h(
      "article",
      { class: "product", "data-product-id": product.id },
      picture(product.large_image_url, product.name, 400, 200),
      h(
        "div",
        { class: "product-text" },
        heading(product.name),
        h("p", { class: "price large" }, formatPrice(product.price)),
        product.category && h("p", { class: "category" }, product.category),
        h("p", {}, product.description),
        product.longtext && h("p", { class: "longtext" }, product.longtext),
        h("p", { class: "id" }, `Product id ${product.id}`),
        addButton(product, cart, actions, "add"),
        h("p", { class: "in-cart" }, inCart > 0 ? `${inCart} in cart` : ""),
      ),
    ),
  ];
}

/** The buttons stay enabled while changes are on their way (they queue): a disabled button would lose
 * the keyboard focus. The list says it is busy instead. */
export function cartView(
  cart: Cart,
  busy: boolean,
  flagged: Set<string>,
  actions: CartActions,
): HTMLElement[] {
  if (cart.items.length === 0) {
    return [
      heading("Your cart"),
      h(
        "p",
        { class: "empty" },
        "Your cart is empty. ",
        link({ view: "catalog", sort: "name", prefix: "", page: 1 }, "Browse the catalog"),
      ),
    ];
  }
  const rows = cart.items.map((item) => cartRow(item, flagged.has(item.product_id), actions));
  return [
    heading("Your cart"),
    h("ul", { class: "cart-lines", "aria-busy": busy ? "true" : "false" }, rows),
    h(
      "div",
      { class: "cart-total" },
      h("p", {}, "Total ", h("strong", { id: "cart-total" }, formatPrice(cart.total_price))),
      h(
        "button",
        {
          type: "button",
          class: "primary",
          "data-key": "order",
          onclick: actions.placeOrder,
        },
        "Place order",
      ),
    ),
  ];
}

function cartRow(item: CartItem, flagged: boolean, actions: CartActions): HTMLElement {
  const note = stockNote(item);
  return h(
    "li",
    { class: `cart-line${!item.in_stock || flagged ? " short" : ""}`, "data-product-id": item.product_id },
    picture(item.small_image_url, item.name, 100, 50),
    h(
      "div",
      { class: "line-text" },
      link({ view: "product", id: item.product_id }, item.name),
      h("span", { class: "unit-price" }, `${formatPrice(item.price)} each`),
      note && h("span", { class: "stock-note" }, note),
      flagged && item.in_stock && h("span", { class: "stock-note" }, "Not enough stock for this quantity"),
    ),
    h(
      "div",
      { class: "stepper", role: "group", "aria-label": `Quantity of ${item.name}` },
      h(
        "button",
        {
          type: "button",
          "data-key": `minus-${item.product_id}`,
          "aria-label": `One less ${item.name}`,
          onclick: () => actions.change(item, -1),
        },
        "−",
      ),
      h("output", { class: "quantity" }, String(item.quantity)), // the message region announces changes
      h(
        "button",
        {
          type: "button",
          "data-key": `plus-${item.product_id}`,
          "data-focus-fallback": `minus-${item.product_id}`, // once + is disabled at the stock
          disabled: !canAddOne(item),
          "aria-label": `One more ${item.name}`,
          onclick: () => actions.change(item, 1),
        },
        "+",
      ),
    ),
    h("span", { class: "line-total" }, formatPrice(item.price * item.quantity)),
    h(
      "button",
      {
        type: "button",
        class: "link-button",
        "data-key": `remove-${item.product_id}`,
        "aria-label": `Remove ${item.name}`,
        onclick: () => actions.change(item, "remove"),
      },
      "Remove",
    ),
  );
}

export function orderView(order: Order): HTMLElement[] {
  const placed = new Date(order.created_at).toLocaleString("en-GB");
  return [
    heading("Thank you for your order"),
    h("p", { class: "order-id" }, "Order ", h("strong", { id: "order-id" }, order.id)),
    h("p", {}, `Status: ${order.status}, placed ${placed}`),
    h(
      "ul",
      { class: "order-lines" },
      order.items.map((item) =>
        h(
          "li",
          { "data-product-id": item.product_id },
          `${item.quantity} × ${item.name}`,
          h("span", {}, formatPrice(item.price * item.quantity)),
        ),
      ),
    ),
    h("p", {}, "Total ", h("strong", { id: "order-total" }, formatPrice(order.total_price))),
    h("p", {}, link({ view: "catalog", sort: "name", prefix: "", page: 1 }, "Continue shopping")),
  ];
}

/** An entry's HTML, rendered and sanitized by the shop; its links within the shop navigate in place. */
export function contentHtml(entry: ContentEntry): HTMLElement {
  const body = h("div", { class: "content-html" });
  body.innerHTML = entry.html;
  for (const anchor of body.querySelectorAll<HTMLAnchorElement>("a[href^='/']")) {
    anchor.setAttribute("data-nav", "");
  }
  return body;
}

/** The home page's hero and teasers; a teaser shows the products it features that are for sale. */
export function homeContent(
  hero: ContentEntry[],
  teasers: ContentEntry[],
  cart: Cart | undefined,
  actions: CatalogActions,
): HTMLElement[] {
  return [
    ...hero.map((entry) =>
      h(
        "section",
        { class: "hero", "data-slug": entry.slug, "aria-label": entry.title },
        h("p", { class: "hero-title" }, entry.title),
        contentHtml(entry),
      ),
    ),
    ...teasers.map((entry) =>
      h(
        "section",
        { class: "teaser", "data-slug": entry.slug, "aria-label": entry.title },
        h("h2", {}, entry.title),
        contentHtml(entry),
        entry.products.length > 0 &&
          h(
            "ul",
            { class: "product-grid" },
            entry.products.map((product) => productCard(product, cart, actions)),
          ),
      ),
    ),
  ];
}

/** A content page: its title, its HTML, and the way back home. */
export function contentPage(entry: ContentEntry): HTMLElement[] {
  return [
    h("p", { class: "crumbs" }, link({ view: "catalog", sort: "name", prefix: "", page: 1 }, "‹ Home")),
    h(
      "article",
      { class: "content-page", "data-slug": entry.slug },
      heading(entry.title),
      contentHtml(entry),
    ),
  ];
}

/** The footer's links to the content pages. */
export function pageLinks(pages: ContentEntry[]): HTMLElement {
  return h(
    "ul",
    { class: "page-links" },
    pages.map((entry) => h("li", {}, link({ view: "page", slug: entry.slug }, entry.title))),
  );
}
