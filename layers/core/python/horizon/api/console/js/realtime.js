// WebSocket connections to the API. A browser cannot set headers on a WebSocket, so the
// credential travels as `?token=` at $connect (which the API accepts as it does the header).
import { getChosenWs, getKey } from "./session.js";

// API Gateway drops a connection idle for 10 minutes; an application ping keeps it open.
const PING_MS = 240_000;
const RECONNECT_MS = 1_000;

let configuredWs = null;

export function configure(config) {
  configuredWs = config.ws_url || null;
}

/** Where the WebSocket API is: the URL confirmed at sign-in, the stack's config, a `?ws=`
 * without a key (there is nothing to leak), else this host's `/ws` (the local stack). */
export function websocketBase() {
  const chosen = getChosenWs() || configuredWs;
  if (chosen) return chosen;
  const fromQuery = new URLSearchParams(location.search).get("ws");
  if (fromQuery && !getKey()) return fromQuery;
  const url = new URL("../ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

export function websocketUrl() {
  const url = new URL(websocketBase());
  const key = getKey();
  if (key) url.searchParams.set("token", key);
  return url.href;
}

/**
 * One JSON WebSocket. `onMessage(obj)` for each message, `onOpen(socket)` at every (re)connect,
 * `onClose()` when it closed and `reconnect()` said not to reconnect.
 */
export class Channel {
  constructor({ onMessage, onOpen = () => {}, onClose = () => {}, reconnect = () => false }) {
    Object.assign(this, { onMessage, onOpen, onClose, reconnect });
    this.socket = null;
    this.closed = false;
    this.pinger = null;
  }

  open() {
    this.closed = false;
    const socket = new WebSocket(websocketUrl());
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.pinger = setInterval(() => this.send({ action: "ping" }), PING_MS);
      this.onOpen(this);
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message && typeof message === "object") this.onMessage(message);
    });
    socket.addEventListener("close", () => {
      clearInterval(this.pinger);
      if (this.socket !== socket) return;
      this.socket = null;
      if (!this.closed && this.reconnect()) setTimeout(() => this.closed || this.open(), RECONNECT_MS);
      else this.onClose();
    });
    return this;
  }

  get ready() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (this.ready) this.socket.send(JSON.stringify(message));
    return this.ready;
  }

  close() {
    this.closed = true;
    clearInterval(this.pinger);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }
}

/** Live job progress: `watch(jobId)` subscribes; `onProgress(message)` gets each update,
 * newest seq only. Subscriptions are sent again after a reconnect (they start with the
 * current state, so nothing is missed). */
export class JobFeed {
  constructor(onProgress) {
    this.onProgress = onProgress;
    this.watched = new Map(); // job_id → last seq
    this.channel = null;
  }

  watch(jobId) {
    if (this.watched.has(jobId)) return;
    this.watched.set(jobId, -1);
    if (!this.channel) {
      this.channel = new Channel({
        onMessage: (message) => this.#take(message),
        onOpen: (channel) => this.watched.forEach((_, id) => channel.send({ action: "subscribe", job_id: id })),
        onClose: () => { this.channel = null; },
        reconnect: () => this.watched.size > 0,
      }).open();
    } else {
      this.channel.send({ action: "subscribe", job_id: jobId });
    }
  }

  stop() {
    this.watched.clear();
    this.channel?.close();
    this.channel = null;
  }

  #take(message) {
    if (message.type !== "progress" || !this.watched.has(message.job_id)) return;
    const seq = Number(message.seq ?? 0);
    if (seq < this.watched.get(message.job_id)) return; // an older update, late
    this.watched.set(message.job_id, seq);
    this.onProgress(message);
    if (message.status === "completed" || message.status === "failed") this.watched.delete(message.job_id);
    if (this.watched.size === 0) this.stop();
  }
}
