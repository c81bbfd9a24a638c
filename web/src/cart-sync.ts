// Keeps every open tab's cart current: the server's WebSocket stream pushes each change of the cart
// (whichever tab or device made it), and a BroadcastChannel tells this browser's other tabs at once.
import { backoffDelay } from "./state";
import type { Cart } from "./types";

const CHANNEL = "event-thingy-store-cart";
const CLOSE_ORDERED = 4001;
const PING_EVERY_MS = 25_000;
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 15_000;

export type SyncMessage = { kind: "cart"; cart: Cart } | { kind: "ordered" };

export interface SyncHandlers {
  /** A cart seen elsewhere; the app keeps it if it is newer than its own. */
  onCart(cart: Cart): void;
  /** The cart was ordered elsewhere: the cookie names a new cart, fetch it. */
  onOrdered(): void;
  /** The live stream is up (true) or down and reconnecting (false). */
  onLive(live: boolean): void;
}

export class CartSync {
  private readonly channel: BroadcastChannel | undefined;
  private socket: WebSocket | undefined;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly handlers: SyncHandlers,
  ) {
    this.channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : undefined;
    this.channel?.addEventListener("message", (event: MessageEvent<SyncMessage>) => this.receive(event.data));
  }

  /** Tells the other tabs of this browser. */
  publish(message: SyncMessage): void {
    this.channel?.postMessage(message);
  }

  connect(): void {
    if (this.stopped) return;
    clearTimeout(this.reconnectTimer);
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.handlers.onLive(true);
      this.pingTimer = setInterval(() => socket.send("ping"), PING_EVERY_MS);
    });
    socket.addEventListener("message", (event: MessageEvent<string>) => {
      if (event.data === "pong") return;
      this.attempt = 0; // a stream that delivers is healthy (an open that closes at once is not)
      this.handlers.onCart(JSON.parse(event.data) as Cart);
    });
    socket.addEventListener("close", (event) => this.closed(socket, event.code));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    this.socket?.close(1000);
    this.channel?.close();
  }

  private closed(socket: WebSocket, code: number): void {
    clearInterval(this.pingTimer);
    if (socket !== this.socket || this.stopped) return;
    this.handlers.onLive(false);
    // Ordered: the cookie now names the next cart; fetch it, then follow that one.
    if (code === CLOSE_ORDERED) this.handlers.onOrdered();
    const delay = backoffDelay(this.attempt++, RECONNECT_BASE_MS, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private receive(message: SyncMessage): void {
    if (message.kind === "cart") this.handlers.onCart(message.cart);
    else this.handlers.onOrdered();
  }
}
