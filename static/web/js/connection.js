// The WebSocket connection under the chat client (client.js): discovery, the socket, its states
// and reconnects (DESIGN.md §3.2, docs/protocol.md "Close codes").
//
// States: idle → connecting → open; a lost socket goes to `offline` and reconnects after a backoff
// with full jitter (a draining server is left at once); `logged_out` and `stopped` are final. A
// socket that answers nothing for two and a half heartbeat intervals is given up. What the chat
// client does on top comes through four hooks: _opened(), _beat(now), _received(frame) and
// _clearTimers(). Environment (WebSocket, timers, randomness, the clock) is injected (tests/js/).

export const CLOSE_BAD_TICKET = 4401;
export const CLOSE_DRAINING = 4503;
const CLOSE_CLIENT_STALE = 4000; // we gave up on a silent socket
const OPEN = 1;

export class DiscoveryError extends Error {
  constructor(status, code, message) {
    super(message || code || `discovery failed (${status})`);
    this.status = status;
    this.code = code;
  }
}

export class Connection {
  constructor({ discover, WebSocket, timers = globalThis, random = Math.random, now = () => Date.now(), heartbeatMs = 10000, backoffBaseMs = 500, backoffMaxMs = 10000 }) {
    this.discover = discover;
    this.WebSocketImpl = WebSocket;
    this.timers = timers;
    this.random = random;
    this.now = now;
    this.heartbeatMs = heartbeatMs;
    this.backoffBaseMs = backoffBaseMs;
    this.backoffMaxMs = backoffMaxMs;
    this.state = 'idle';
    this.attempt = 0;
    this.socket = null;
    this.listeners = new Map();
    this.reconnectTimer = null;
    this.heartbeatTimer = null;
    this.lastFrameAt = 0;
    this.retryAt = null;
  }

  // ------------------------------------------------------------------ events

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }

  emit(type, ...args) {
    for (const fn of this.listeners.get(type) || []) {
      try {
        fn(...args);
      } catch (err) {
        // a listener's bug must not stop the client
        if (globalThis.console) console.error(err);
      }
    }
  }

  _setState(state, detail = {}) {
    this.state = state;
    this.emit('state', state, detail);
  }

  // ------------------------------------------------------------------ lifecycle

  start() {
    if (this.state !== 'idle' && this.state !== 'stopped') return;
    this._connect();
  }

  stop() {
    this._clearTimers();
    this._dropSocket(1000);
    this._setState('stopped');
  }

  /** Reconnect now instead of waiting for the backoff (the browser came back online, a click). */
  retryNow() {
    if (this.state === 'offline') {
      this.attempt = 0;
      this._clearReconnect();
      this._connect();
    }
  }

  /** Drop the socket as if the network had: tests and the "network changed" case. */
  dropConnection() {
    if (this.socket) this._onClose(this.socket, { code: 1006, reason: 'dropped' });
  }

  async _connect() {
    this._clearReconnect();
    this._setState('connecting', { attempt: this.attempt });
    let target;
    try {
      target = await this.discover();
    } catch (err) {
      if (this.state !== 'connecting') return;
      if (err && (err.status === 401 || err.status === 403)) {
        this._loggedOut();
        return;
      }
      this._scheduleReconnect();
      return;
    }
    if (this.state !== 'connecting') return;
    // the server announces the heartbeat period (seconds) with each assignment
    if (Number(target.heartbeatInterval) > 0) this.heartbeatMs = Number(target.heartbeatInterval) * 1000;
    const url = target.ticket ? `${target.url}?ticket=${encodeURIComponent(target.ticket)}` : target.url;
    let socket;
    try {
      socket = new this.WebSocketImpl(url);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => this._onOpen(socket);
    socket.onmessage = (event) => this._onFrame(socket, event.data);
    socket.onclose = (event) => this._onClose(socket, event);
    socket.onerror = () => {
      /* a close event follows */
    };
  }

  _onOpen(socket) {
    if (socket !== this.socket) return;
    this.lastFrameAt = this.now();
    this._setState('open');
    this._opened();
    this.heartbeatTimer = this.timers.setInterval(() => this._tick(), this.heartbeatMs);
  }

  _onClose(socket, event) {
    if (socket !== this.socket) return;
    this.socket = null;
    this._clearHeartbeat();
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    if (socket.readyState === OPEN || socket.readyState === 0) {
      try {
        socket.close();
      } catch {
        /* already closing */
      }
    }
    if (this.state === 'stopped' || this.state === 'logged_out') return;
    const code = event && event.code;
    const wasOpen = this.state === 'open';
    if (wasOpen) this.attempt = 0;
    if (code === CLOSE_DRAINING) {
      // the server is going away on purpose: ask discovery for another one at once
      this._scheduleReconnect(this.random() * 250);
      return;
    }
    this._scheduleReconnect();
  }

  _loggedOut() {
    this._clearTimers();
    this._dropSocket(1000);
    this._setState('logged_out');
  }

  _scheduleReconnect(delayMs) {
    const ceiling = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** this.attempt);
    // full jitter: clients cut off together do not come back together
    const delay = delayMs !== undefined ? delayMs : Math.max(100, Math.round(this.random() * ceiling));
    this.attempt += 1;
    this.retryAt = this.now() + delay;
    this._setState('offline', { attempt: this.attempt, retryInMs: delay });
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      this._connect();
    }, delay);
  }

  _dropSocket(code) {
    const socket = this.socket;
    this.socket = null;
    this._clearHeartbeat();
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close(code);
      } catch {
        /* already closed */
      }
    }
  }

  _clearReconnect() {
    if (this.reconnectTimer !== null) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  _clearHeartbeat() {
    if (this.heartbeatTimer !== null) this.timers.clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  _clearTimers() {
    this._clearReconnect();
    this._clearHeartbeat();
  }

  // every heartbeat interval: the dead-socket check, then what the client does then (_beat)
  _tick() {
    if (this.state !== 'open' || !this.socket) return;
    const now = this.now();
    if (now - this.lastFrameAt > this.heartbeatMs * 2.5) {
      // nothing heard for two and a half heartbeats (every heartbeat is answered): the socket is dead
      const socket = this.socket;
      this._onClose(socket, { code: CLOSE_CLIENT_STALE, reason: 'no answer' });
      return;
    }
    this._beat(now);
  }

  _send(frame) {
    if (!this.socket || this.state !== 'open') return false;
    try {
      this.socket.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  _onFrame(socket, data) {
    if (socket !== this.socket) return;
    this.lastFrameAt = this.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== 'string') return;
    this._received(frame);
  }

  // hooks of the chat client
  _opened() {}

  _beat() {}

  _received() {}
}
