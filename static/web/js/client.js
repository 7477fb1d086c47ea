// The chat client of the browser UI: one WebSocket to the chat server that discovery picks, kept
// alive and caught up (DESIGN.md §3.2, docs/protocol.md "What a client keeps").
//
// States: idle → connecting → open; a lost socket goes to `offline` and reconnects after a backoff
// with full jitter (a draining server is left at once); `logged_out` and `stopped` are final.
// What it keeps across reconnects and page loads, in `storage` (localStorage in the browser):
//   - cur_max_message_id: the newest message ID this device has seen; every (re)connect starts with
//     `sync` from it, and the messages are de-duplicated by ID (a sync looks back a few seconds);
//   - the outbox: every message sent and not yet acknowledged, resent with the same client_msg_id
//     after a reconnect, after a page reload, and when its ack is late (the server stores it once).
// Everything environment-specific (WebSocket, timers, storage, discovery, randomness, the clock)
// is injected, so the state machine runs under node's test runner (tests/js/).

import { idCompare, idMax, isId, uuid4 } from './ids.js';

export const CLOSE_BAD_TICKET = 4401;
export const CLOSE_DRAINING = 4503;
const CLOSE_CLIENT_STALE = 4000; // we gave up on a silent socket
const OPEN = 1;

// error codes that make a send hopeless: it leaves the outbox and is shown as failed
const FATAL_SEND_ERRORS = new Set(['bad_request', 'too_large', 'forbidden', 'invalid', 'unknown_type']);
const SEEN_LIMIT = 20000;

export class DiscoveryError extends Error {
  constructor(status, code, message) {
    super(message || code || `discovery failed (${status})`);
    this.status = status;
    this.code = code;
  }
}

export class ChatClient {
  /**
   * @param {object} options
   * @param {string|number} options.userId  the logged-in user (keys of the stored state)
   * @param {() => Promise<{url: string, ticket: string|null, heartbeatInterval?: number}>} options.discover
   *        GET chat/server (heartbeatInterval: the server's heartbeat period in seconds);
   *        throws DiscoveryError (status 401/403: the login has ended)
   * @param {typeof WebSocket} options.WebSocket
   * @param {Storage} options.storage  getItem/setItem/removeItem
   */
  constructor({
    userId,
    discover,
    WebSocket,
    storage,
    timers = globalThis,
    random = Math.random,
    now = () => Date.now(),
    newId = () => uuid4(),
    heartbeatMs = 10000,
    resyncMs = 30000,
    ackTimeoutMs = 10000,
    backoffBaseMs = 500,
    backoffMaxMs = 10000,
  }) {
    this.userId = String(userId);
    this.discover = discover;
    this.WebSocketImpl = WebSocket;
    this.storage = storage;
    this.timers = timers;
    this.random = random;
    this.now = now;
    this.newId = newId;
    this.heartbeatMs = heartbeatMs;
    this.resyncMs = resyncMs;
    this.ackTimeoutMs = ackTimeoutMs;
    this.backoffBaseMs = backoffBaseMs;
    this.backoffMaxMs = backoffMaxMs;

    this.state = 'idle';
    this.attempt = 0;
    this.socket = null;
    this.listeners = new Map();
    this.reconnectTimer = null;
    this.heartbeatTimer = null;
    this.lastFrameAt = 0;
    this.lastSyncAt = 0;
    this.syncing = false;
    this.retryAt = null;
    this.seen = new Set();
    this.seenOrder = [];
    this.curMax = this._load('cur_max', '0');
    if (!isId(this.curMax)) this.curMax = '0';
    this.outbox = new Map();
    for (const entry of this._load('outbox', [])) {
      if (entry && typeof entry.client_msg_id === 'string') {
        this.outbox.set(entry.client_msg_id, { ...entry, sentAt: 0, notBefore: 0 });
      }
    }
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

  // ------------------------------------------------------------------ storage

  _key(name) {
    return `chat:${name}:${this.userId}`;
  }

  _load(name, fallback) {
    try {
      const raw = this.storage.getItem(this._key(name));
      return raw === null || raw === undefined ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  }

  _save(name, value) {
    try {
      this.storage.setItem(this._key(name), JSON.stringify(value));
    } catch {
      // storage full or denied: the state lives on in memory
    }
  }

  _saveOutbox() {
    const entries = [...this.outbox.values()].map(({ sentAt, notBefore, ...rest }) => rest);
    this._save('outbox', entries);
    this.emit('outbox', this.pending());
  }

  /** Forget this user's stored state (log out). */
  clearStorage() {
    for (const name of ['cur_max', 'outbox']) {
      try {
        this.storage.removeItem(this._key(name));
      } catch {
        /* nothing stored */
      }
    }
  }

  // ------------------------------------------------------------------ lifecycle

  start() {
    if (this.state !== 'idle' && this.state !== 'stopped') return;
    this.emit('outbox', this.pending());
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
    this.syncing = false;
    this._sync();
    this._flushOutbox(true);
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

  // every heartbeat interval: heartbeat, dead-socket check, late acks, periodic re-sync
  _tick() {
    if (this.state !== 'open' || !this.socket) return;
    const now = this.now();
    if (now - this.lastFrameAt > this.heartbeatMs * 2.5) {
      // nothing heard for two and a half heartbeats (every heartbeat is answered): the socket is dead
      const socket = this.socket;
      this._onClose(socket, { code: CLOSE_CLIENT_STALE, reason: 'no answer' });
      return;
    }
    this._send({ type: 'heartbeat' });
    this._flushOutbox(false);
    if (now - this.lastSyncAt >= this.resyncMs) this._sync();
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

  // ------------------------------------------------------------------ catch-up

  _sync() {
    if (this.syncing) return;
    this.syncing = true;
    this.lastSyncAt = this.now();
    this._send({ type: 'sync', since: this.curMax });
  }

  _advance(messageId) {
    const next = idMax(this.curMax, messageId);
    if (next !== this.curMax) {
      this.curMax = next;
      this._save('cur_max', this.curMax);
    }
  }

  /** True the first time this message ID is seen (live, sync, or our own ack). */
  _firstSight(messageId) {
    if (this.seen.has(messageId)) return false;
    this.seen.add(messageId);
    this.seenOrder.push(messageId);
    if (this.seenOrder.length > SEEN_LIMIT) this.seen.delete(this.seenOrder.shift());
    return true;
  }

  /**
   * A device with no cursor yet (first start) begins at the newest message the app already shows
   * (the conversation list's last messages): history is read page by page when wanted, not
   * replayed whole through `sync`.
   */
  seedCursor(messageId) {
    if (this.curMax === '0' && isId(messageId)) {
      this.curMax = messageId;
      this._save('cur_max', this.curMax);
    }
  }

  /** Messages the app already holds (history pages) are marked seen, so a sync does not repeat them. */
  markSeen(messageIds) {
    for (const id of messageIds) this._firstSight(id);
  }

  _deliver(message, source) {
    if (!message || !isId(message.id)) return;
    // a message of ours acknowledged by another path (sync, another device) leaves the outbox
    if (String(message.sender_id) === this.userId && this.outbox.has(message.client_msg_id)) {
      this.outbox.delete(message.client_msg_id);
      this._saveOutbox();
    }
    if (this._firstSight(message.id)) this.emit('message', message, source);
  }

  // ------------------------------------------------------------------ frames

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
    switch (frame.type) {
      case 'message.new':
        this._deliver(frame.message, 'live');
        // not moved past a gap: cur_max only moves with sync.done, whose look-back covers the rest
        break;
      case 'message.updated':
        if (frame.message && isId(frame.message.id)) this.emit('updated', frame.message);
        break;
      case 'message.ack':
        this._onAck(frame);
        break;
      case 'sync.batch':
        for (const message of frame.messages || []) this._deliver(message, 'sync');
        this.syncHasMore = Boolean(frame.has_more);
        break;
      case 'sync.done':
        this.syncing = false;
        if (isId(frame.cur_max_message_id)) this._advance(frame.cur_max_message_id);
        if (this.syncHasMore) {
          this.syncHasMore = false;
          this._sync();
        } else {
          this.emit('synced', this.curMax);
        }
        break;
      case 'sync.reset_required':
        this.syncing = false;
        this.emit('reset');
        break;
      case 'typing':
        this.emit('typing', frame);
        break;
      case 'read':
        this.emit('read', frame);
        break;
      case 'delivered':
        this.emit('delivered', frame);
        break;
      case 'presence':
        this.emit('presence', frame);
        break;
      case 'server.draining':
        // leave before the server closes us: discovery hands out another server
        this._onClose(socket, { code: CLOSE_DRAINING, reason: 'draining' });
        break;
      case 'error':
        this._onError(frame);
        break;
      default:
        break; // heartbeat.ack and frames of newer servers
    }
  }

  _onAck(frame) {
    const entry = this.outbox.get(frame.client_msg_id);
    if (!entry || !isId(frame.message_id)) return;
    this.outbox.delete(frame.client_msg_id);
    this._saveOutbox();
    const message = {
      id: frame.message_id,
      conversation_id: entry.conversation_id,
      sender_id: Number(this.userId) || this.userId,
      body: entry.body,
      created_at: entry.created_at,
      client_msg_id: entry.client_msg_id,
      mentions: [],
      edited_at: null,
      deleted: false,
    };
    this.emit('ack', entry, frame.message_id);
    if (this._firstSight(message.id)) this.emit('message', message, 'ack');
  }

  _onError(frame) {
    const entry = frame.ref ? this.outbox.get(frame.ref) : undefined;
    if (!entry) {
      this.emit('error', frame);
      return;
    }
    if (frame.code === 'rate_limited' || frame.code === 'overloaded') {
      // too fast for my budget, or the service is shedding load: back off as told, then resend
      entry.notBefore = this.now() + (Number(frame.retry_after_ms) || 1000);
      entry.sentAt = 0;
      this.emit('error', frame);
      this.timers.setTimeout(() => this._flushOutbox(false), entry.notBefore - this.now() + 10);
      return;
    }
    if (FATAL_SEND_ERRORS.has(frame.code)) {
      this.outbox.delete(entry.client_msg_id);
      this._saveOutbox();
      this.emit('failed', entry, frame);
      return;
    }
    // unavailable, internal: the server could not queue it; send again a little later
    entry.notBefore = this.now() + 1000;
    entry.sentAt = 0;
    this.timers.setTimeout(() => this._flushOutbox(false), 1010);
  }

  // ------------------------------------------------------------------ sending

  /** Queue a message; it is sent now if connected, else after the next connect. */
  send(conversationId, body) {
    const entry = {
      client_msg_id: this.newId(),
      conversation_id: conversationId,
      body,
      created_at: new Date(this.now()).toISOString(),
      sentAt: 0,
      notBefore: 0,
    };
    this.outbox.set(entry.client_msg_id, entry);
    this._saveOutbox();
    this._transmit(entry);
    return entry;
  }

  /** Give up a message that has not been acknowledged (the user discarded it). */
  discard(clientMsgId) {
    if (this.outbox.delete(clientMsgId)) this._saveOutbox();
  }

  pending() {
    return [...this.outbox.values()].map(({ sentAt, notBefore, ...rest }) => rest);
  }

  _transmit(entry) {
    if (this.now() < entry.notBefore) return;
    const sent = this._send({
      type: 'message.send',
      conversation_id: entry.conversation_id,
      client_msg_id: entry.client_msg_id,
      body: entry.body,
    });
    if (sent) entry.sentAt = this.now();
  }

  // all unacknowledged entries after a (re)connect; otherwise only those whose ack is late
  _flushOutbox(all) {
    const now = this.now();
    const entries = [...this.outbox.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
    for (const entry of entries) {
      if (all || entry.sentAt === 0 || now - entry.sentAt >= this.ackTimeoutMs) this._transmit(entry);
    }
  }

  typing(conversationId) {
    return this._send({ type: 'typing', conversation_id: conversationId });
  }

  read(conversationId, messageId) {
    return this._send({ type: 'read', conversation_id: conversationId, message_id: messageId });
  }
}

export { idCompare };
