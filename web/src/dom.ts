// A few DOM helpers in place of a UI framework.

type Attributes = Record<string, string | number | boolean | undefined | EventListener>;
export type Child = Node | string | undefined | false;

/** An element: attributes (false/undefined omitted, on* become listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else if (value !== false && value !== undefined) element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== false) element.append(child);
  }
  return element;
}

/**
 * Replaces a region's content and keeps the keyboard focus on the control with the same data-key, so
 * re-rendering after a click on "+" leaves the focus on that "+" (or its row's next control).
 */
export function replaceContent(region: HTMLElement, ...children: (Child | Child[])[]): void {
  const active = document.activeElement;
  const key = active instanceof HTMLElement && region.contains(active) ? active.dataset.key : undefined;
  region.replaceChildren(
    ...children.flat().filter((c): c is Node | string => c !== undefined && c !== false),
  );
  if (key === undefined) return;
  const fallback = active instanceof HTMLElement ? active.dataset.focusFallback : undefined;
  for (const candidate of [key, fallback]) {
    const again = candidate && region.querySelector<HTMLElement>(`[data-key="${CSS.escape(candidate)}"]`);
    if (again && !again.hasAttribute("disabled")) {
      again.focus();
      return;
    }
  }
  region.querySelector<HTMLElement>("h1, button:not([disabled]), a, input")?.focus();
}

/** A picture's box: its width and height (the ratio), and how wide the layout shows it (`sizes`). */
export type PictureBox = [width: number, height: number, sizes: string];

/** The shop's own sample pictures (shop/api/images.py): their drawing, also rendered in these widths. */
const SAMPLE_PICTURE = /^(\/images\/sample\/[0-9a-f]{16}-[0-9a-f]{12})\.svg$/;
export const PICTURE_WIDTHS = [120, 240, 480, 960]; // images.WIDTHS (a test keeps them alike)

/** A srcset of the widths the shop renders a picture of its own in; undefined for any other URL. */
export function pictureSrcset(src: string): string | undefined {
  const base = SAMPLE_PICTURE.exec(src)?.[1];
  return base && PICTURE_WIDTHS.map((width) => `${base}-${width}w.webp ${width}w`).join(", ");
}

/**
 * A product picture over a tile with the name's initial: until the image arrives, and for good when its
 * host cannot be reached, the tile shows. width and height reserve its box: nothing shifts when it loads.
 * `sizes` says how wide it is shown, so that the browser picks the width it needs from the srcset.
 */
export function picture(
  src: string,
  alt: string,
  [width, height, sizes]: PictureBox,
  eager = false,
): HTMLElement {
  const initial = h("span", { class: "picture-fallback", "aria-hidden": "true" }, alt.slice(0, 1));
  const srcset = pictureSrcset(src);
  // Lazy below the fold; the first pictures (likely in sight) load at once.
  const image = h("img", {
    src,
    srcset,
    sizes: srcset && sizes,
    alt,
    width,
    height,
    loading: eager ? "eager" : "lazy",
    fetchpriority: eager ? "high" : undefined,
    decoding: "async",
  });
  image.addEventListener("error", () => image.remove(), { once: true });
  const frame = h("span", { class: "picture" }, initial, image);
  frame.style.aspectRatio = `${width} / ${height}`; // through CSSOM: the CSP allows no inline styles
  return frame;
}
