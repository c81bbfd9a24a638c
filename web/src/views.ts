// The views: functions from data to DOM. Controls carry data-key so focus survives a re-render.
import { h, type PictureBox, picture } from "./dom";
import { formatRoute, type Route, SEARCH_SORTS, type SearchQuery, SORTS } from "./routes";
import { highlightParts, priceRangeLabel } from "./search";
import {
  canAddOne,
  DETAIL_FIELDS,
  type DetailField,
  formatDate,
  formatPrice,
  orderStatusLabel,
  pageNumbers,
  quantityOf,
  shortOrderNumber,
  stockLabel,
  stockLevel,
  stockNote,
} from "./state";
import type {
  Cart,
  CartItem,
  ContentEntry,
  Order,
  Page,
  Product,
  ProductSummary,
  SearchPage,
  SearchSort,
  ShopperDetails,
  Sort,
} from "./types";

export interface CatalogActions {
  addOne(product: ProductSummary): void;
  /** Whether a change of this product (or "order") is on its way to the shop. */
  pending(key: string): boolean;
  /** Units available of a product, once known. */
  available(productId: string): number | undefined;
}

export interface CartActions {
  /** One more (+1), one less (-1), or remove (the quantity becomes 0). */
  change(item: CartItem, change: 1 | -1 | "remove"): void;
  placeOrder(): void;
  pending(key: string): boolean;
  /** The checkout details as typed so far, and what the shop refused in them. */
  details: ShopperDetails;
  errors: Partial<Record<DetailField, string>>;
  /** A field was edited: kept (across reloads too) and its error cleared. */
  edit(name: DetailField, value: string): void;
}

const CATALOG: Route = { view: "catalog", sort: "name", prefix: "", page: 1 };
// Pictures' boxes, and how wide style.css shows them: a card in a grid column (two on a phone), half
// of the product's box, a cart line's first column.
const CARD_PICTURE: PictureBox = [200, 100, "(max-width: 40rem) calc(50vw - 3rem), 14.5rem"];
const PRODUCT_PICTURE: PictureBox = [400, 200, "(max-width: 40rem) calc(100vw - 4.5rem), 31rem"];
const CART_PICTURE: PictureBox = [100, 50, "(max-width: 40rem) 4.5rem, 6rem"];

const SORT_LABELS: Record<Sort, string> = {
  name: "Name",
  price: "Price: low to high",
  price_desc: "Price: high to low",
  id: "Id",
};

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

/** A page that does not exist: no retry (it would not help), a way back into the shop instead. */
export function notFound(title: string, text: string): HTMLElement[] {
  return [
    heading(title),
    h("p", { class: "not-found" }, text),
    h("p", {}, link(CATALOG, "Browse the catalog"), " or ", link({ view: "cart" }, "open your cart"), "."),
  ];
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
  route: Extract<Route, { view: "catalog" }>,
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
  const items = page.items.map((product, i) => productCard(product, cart, actions, i < EAGER_PICTURES));
  return [
    h(
      "p",
      { class: "summary", id: "catalog-summary" },
      `${page.total} ${page.total === 1 ? "product" : "products"}`,
    ),
    h("ul", { class: "product-grid", "aria-describedby": "catalog-summary" }, items),
    pager(page, (n) => ({ ...route, page: n })),
  ];
}

const SEARCH_SORT_LABELS: Record<SearchSort, string> = {
  relevance: "Best match",
  price: "Price",
  name: "Name",
};

/** Text with the words a search matched in <mark>. */
function highlighted(text: string, ranges: readonly (readonly number[])[]): (Node | string)[] {
  return highlightParts(text, ranges).map((part) => (part.marked ? h("mark", {}, part.text) : part.text));
}

/** A search's results page: its facets to narrow it, the order, the cards with their matched words
 * marked, and a pager; or why nothing was found, with a near spelling to try. */
export function searchResults(
  answer: SearchPage,
  query: SearchQuery,
  cart: Cart | undefined,
  actions: CatalogActions,
): HTMLElement[] {
  const at = (change: Partial<SearchQuery>): Route => ({ view: "search", ...query, page: 1, ...change });
  const summary = h(
    "p",
    { class: "summary", id: "search-summary", role: "status" },
    `${answer.total} ${answer.total === 1 ? "result" : "results"}`,
  );
  if (answer.total === 0) {
    const spelled = answer.did_you_mean;
    return [
      summary,
      h(
        "p",
        { class: "empty" },
        query.q ? `No product matches “${query.q}”.` : "No product matches these filters.",
      ),
      spelled
        ? h("p", { class: "did-you-mean" }, "Did you mean ", link(at({ q: spelled }), spelled), "?")
        : undefined,
      query.category !== undefined || query.priceMin !== undefined || query.priceMax !== undefined
        ? h(
            "p",
            {},
            link(at({ category: undefined, priceMin: undefined, priceMax: undefined }), "Clear the filters"),
          )
        : undefined,
    ].filter((e): e is HTMLParagraphElement => e !== undefined);
  }
  const cards = answer.items.map((product, i) =>
    productCard(product, cart, actions, i < EAGER_PICTURES, answer.highlights[i]?.name ?? []),
  );
  return [
    h(
      "div",
      { class: "search-layout" },
      facets(answer, query, at),
      h(
        "div",
        { class: "search-main" },
        h(
          "nav",
          { class: "search-sorts", "aria-label": "Order" },
          "Order: ",
          SEARCH_SORTS.map((sort) =>
            sort === query.sort
              ? h("span", { class: "sort current", "aria-current": "true" }, SEARCH_SORT_LABELS[sort])
              : link(at({ sort }), SEARCH_SORT_LABELS[sort]),
          ),
        ),
        summary,
        h("ul", { class: "product-grid", "aria-describedby": "search-summary" }, cards),
        pager(answer, (n) => ({ view: "search", ...query, page: n })),
      ),
    ),
  ];
}

function facets(
  answer: SearchPage,
  query: SearchQuery,
  at: (change: Partial<SearchQuery>) => Route,
): HTMLElement {
  const option = (current: boolean, route: Route, label: string, count: number) =>
    h(
      "li",
      {},
      current
        ? h("span", { class: "facet current", "aria-current": "true" }, `${label} (${count})`)
        : link(route, `${label} (${count})`),
    );
  const categories = answer.facets.category.map((f) =>
    option(f.value === query.category, at({ category: f.value }), f.value || "No category", f.count),
  );
  const prices = answer.facets.price
    .filter((f) => f.count > 0)
    .map((f) =>
      option(
        query.priceMin === f.min && query.priceMax === (f.max ?? undefined),
        at({ priceMin: f.min, priceMax: f.max ?? undefined }),
        priceRangeLabel(f.min, f.max, formatPrice),
        f.count,
      ),
    );
  const any = (what: string, route: Route) => h("li", {}, link(route, `Any ${what}`));
  // The answer lists the categories with the most results; the words of a search narrow the rest.
  const unlisted = answer.facet_categories_total - answer.facets.category.length;
  return h(
    "aside",
    { class: "facets", "aria-label": "Narrow the results" },
    h("h2", {}, "Category"),
    h(
      "ul",
      {},
      query.category !== undefined ? any("category", at({ category: undefined })) : undefined,
      categories,
      unlisted > 0 ? h("li", { class: "facet-more" }, `and ${unlisted} more`) : undefined,
    ),
    h("h2", {}, "Price"),
    h(
      "ul",
      {},
      query.priceMin !== undefined || query.priceMax !== undefined
        ? any("price", at({ priceMin: undefined, priceMax: undefined }))
        : undefined,
      prices,
    ),
  );
}

/** Cards whose pictures load at once: the first row or two, in sight on arrival. */
const EAGER_PICTURES = 6;

function productCard(
  product: ProductSummary,
  cart: Cart | undefined,
  actions: CatalogActions,
  eager: boolean,
  matched: readonly (readonly number[])[] = [],
): HTMLElement {
  const inCart = quantityOf(cart, product.id);
  return h(
    "li",
    { class: "card", "data-product-id": product.id },
    picture(product.small_image_url, product.name, CARD_PICTURE, eager),
    h(
      "h2",
      { class: "card-title" },
      link({ view: "product", id: product.id }, ...highlighted(product.name, matched)),
    ),
    h("p", { class: "price" }, formatPrice(product.price)),
    stockLine(actions.available(product.id)),
    addButton(product, cart, actions, `add-${product.id}`),
    h("p", { class: "in-cart" }, inCart > 0 ? `${inCart} in cart` : ""), // always there: nothing shifts
  );
}

/** In stock, only N left or out of stock; an empty line of the same height until the stock is known. */
function stockLine(available: number | undefined): HTMLElement {
  if (available === undefined) return h("p", { class: "stock" });
  return h("p", { class: `stock stock-${stockLevel(available)}` }, stockLabel(available));
}

function addButton(
  product: ProductSummary,
  cart: Cart | undefined,
  actions: CatalogActions,
  key: string,
): HTMLElement {
  const item = cart?.items.find((i) => i.product_id === product.id);
  const available = actions.available(product.id);
  const out = available !== undefined && available <= 0 && item === undefined;
  const full = item !== undefined && !canAddOne(item);
  // Pending: still enabled (the clicks queue, and a disabled button would lose the keyboard focus).
  const pending = actions.pending(product.id);
  const text = out ? "Out of stock" : full ? "No more in stock" : pending ? "Adding…" : "Add to cart";
  return h(
    "button",
    {
      type: "button",
      class: `primary${pending ? " pending" : ""}`,
      "data-key": key,
      disabled: out || full,
      "aria-busy": pending ? "true" : undefined,
      "aria-label": `${text}: ${product.name}`, // starts with what it shows (voice control says that)
      onclick: () => actions.addOne(product),
    },
    text,
  );
}

/** Links to the pages of a listing: `at(n)` is page n's route. */
function pager(page: { page: number; pages: number }, at: (n: number) => Route): HTMLElement {
  const last = Math.max(page.pages, 1);
  // Links, not buttons: each page has its URL (open in a new tab, share it).
  const to = (n: number, text: string, label: string, key: string) =>
    n === page.page || n < 1 || n > last
      ? h("span", { class: "page-link off", "aria-hidden": "true" }, text)
      : h(
          "a",
          {
            href: formatRoute(at(n)),
            "data-nav": true,
            "data-key": key,
            "aria-label": label,
          },
          text,
        );
  const numbers = pageNumbers(page.page, last).map((n) =>
    n === null
      ? h("span", { class: "gap", "aria-hidden": "true" }, "…")
      : n === page.page
        ? h("span", { class: "page-link current", "aria-current": "page" }, String(n))
        : to(n, String(n), `Page ${n}`, `page-${n}`),
  );
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    to(1, "«", "First page", "first"),
    to(page.page - 1, "‹ Previous", "Previous page", "prev"),
    h("span", { class: "numbers" }, numbers),
    to(page.page + 1, "Next ›", "Next page", "next"),
    to(last, "»", "Last page", "last"),
    h("span", { class: "page-of visually-hidden" }, `Page ${page.page} of ${last}`),
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
      picture(product.large_image_url, product.name, PRODUCT_PICTURE, true),
      h(
        "div",
        { class: "product-text" },
        heading(product.name),
        h("p", { class: "price large" }, formatPrice(product.price)),
        stockLine(actions.available(product.id)),
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
    ),
    checkoutForm(actions),
  ];
}

/** Who the order ships to: labelled fields the browser can fill in, each refusal shown beside its field. */
function checkoutForm(actions: CartActions): HTMLElement {
  const onsubmit = (event: Event) => {
    event.preventDefault();
    actions.placeOrder();
  };
  const pending = actions.pending("order");
  return h(
    "form",
    { class: "checkout", id: "checkout", novalidate: true, onsubmit },
    h("h2", {}, "Shipping details"),
    DETAIL_FIELDS.map((field) => detailField(field, actions)),
    h(
      "button",
      {
        type: "submit",
        "data-key": "order",
        "aria-busy": pending ? "true" : undefined,
        class: `primary${pending ? " pending" : ""}`,
      },
      pending ? "Placing your order…" : "Place order",
    ),
  );
}

function detailField(field: (typeof DETAIL_FIELDS)[number], actions: CartActions): HTMLElement {
  const id = `detail-${field.name}`;
  const error = actions.errors[field.name];
  const input = h("input", {
    id,
    name: field.name,
    type: field.type,
    autocomplete: field.autocomplete,
    required: true,
    "data-key": id,
    value: actions.details[field.name],
    "aria-invalid": error ? "true" : undefined,
    "aria-describedby": error ? `${id}-error` : undefined,
    autocapitalize: field.name === "country" ? "characters" : undefined,
    maxlength: field.name === "country" ? 2 : undefined,
    oninput: (event: Event) => {
      actions.edit(field.name, input.value);
      // The error goes once the field is edited; no re-render, so the caret stays where it is.
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      input.parentElement?.classList.remove("invalid");
      input.parentElement?.querySelector(".field-error")?.remove();
      void event;
    },
  });
  return h(
    "p",
    { class: `field${error ? " invalid" : ""}` },
    h("label", { for: id }, field.label),
    input,
    error ? h("span", { id: `${id}-error`, class: "field-error" }, error) : undefined,
  );
}

function cartRow(item: CartItem, flagged: boolean, actions: CartActions): HTMLElement {
  const note = stockNote(item);
  return h(
    "li",
    {
      class: `cart-line${!item.in_stock || flagged ? " short" : ""}${actions.pending(item.product_id) ? " pending" : ""}`,
      "data-product-id": item.product_id,
      "aria-busy": actions.pending(item.product_id) ? "true" : undefined,
    },
    picture(item.small_image_url, item.name, CART_PICTURE),
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
  return [
    heading("Thank you for your order"),
    h(
      "p",
      { class: "order-id" },
      "Order number ",
      h("strong", { id: "order-id", "data-order-id": order.id }, shortOrderNumber(order.id)),
    ),
    h(
      "p",
      {},
      "Placed ",
      h("time", { datetime: new Date(order.created_at).toISOString() }, formatDate(order.created_at)),
    ),
    // role=status: a change of the status (polled) is announced
    h(
      "p",
      { class: "order-status", role: "status" },
      "Status: ",
      h("strong", { id: "order-status", "data-status": order.status }, orderStatusLabel(order.status)),
    ),
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
    order.shopper ? shippingAddress(order.shopper) : undefined,
    h("p", {}, link(CATALOG, "Continue shopping")),
  ].filter((part): part is HTMLElement => part !== undefined);
}

function shippingAddress(shopper: ShopperDetails): HTMLElement {
  return h(
    "div",
    { class: "order-address" },
    h("h2", {}, "Shipping to"),
    h(
      "address",
      { id: "order-address" },
      [shopper.name, shopper.street, `${shopper.postcode} ${shopper.city}`, shopper.country].flatMap(
        (line, i) => (i === 0 ? [line] : [h("br"), line]),
      ),
    ),
    h("p", {}, `Confirmation to ${shopper.email}`),
  );
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
    // The first teaser is in view when the page opens: its pictures load at once, like the first
    // cards of a catalog page.
    ...teasers.map((entry, t) =>
      h(
        "section",
        { class: "teaser", "data-slug": entry.slug, "aria-label": entry.title },
        h("h2", {}, entry.title),
        contentHtml(entry),
        entry.products.length > 0 &&
          h(
            "ul",
            { class: "product-grid" },
            entry.products.map((product, i) =>
              productCard(product, cart, actions, t === 0 && i < EAGER_PICTURES),
            ),
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
