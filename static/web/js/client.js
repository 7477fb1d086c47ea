// The chat client of the browser UI: one WebSocket to the chat server that discovery picks, kept
// alive (connection.js) and caught up (docs/protocol.md "The change feed", "What a client keeps").
//
// Every feed entry (a frame with a `feed_id`), live or inside a `sync.batch`, leaves as one
// `entry` event (entry, source): the app applies both the same way (feed.js). Messages from others
// are acknowledged with batched `delivered` frames (receipts.js); heartbeats say whether the user
// is idle. What it keeps across reconnects and page loads, in `storage` (localStorage):
//   - cur_max_message_id: the newest feed_id a sync brought; every (re)connect starts with `sync`
//     from it. Live entries do not move it: one may follow another that live delivery dropped,
//     and the periodic re-sync from the cursor repairs that (entries applied twice change nothing);
//   - the outbox (outbox.js): every message sent and not yet acknowledged.
// Everything environment-specific (WebSocket, timers, storage, discovery, randomness, the clock)
// is injected, so the state machine runs under node's test runner (tests/js/).

import { CLOSE_DRAINING, Connection } from './connection.js';
import { ENTRY_TYPES } from './feed.js';
import { idCompare, idMax, isId, uuid4 } from './ids.js';
import { Outbox } from './outbox.js';
import { DeliveredBatcher } from './receipts.js';

export { CLOSE_BAD_TICKET, CLOSE_DRAINING, DiscoveryError } from './connection.js';

const IDLE_HEARTBEAT_GAP_MS = 2000; // an idle change waits this long after the last heartbeat

export class ChatClient extends Connection {
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
    deliveredMs = 500,
  }) {
    super({ discover, WebSocket, timers, random, now, heartbeatMs, backoffBaseMs, backoffMaxMs });
    this.userId = String(userId);
    this.storage = storage;
    this.resyncMs = resyncMs;
    this.lastSyncAt = 0;
    this.syncing = false;
    this.syncAgain = false; // a live.gap came while a sync was in flight: one more after it
    this.idle = false;
    this.lastHeartbeatAt = 0;
    this.idleTimer = null;
    this.curMax = this._load('cur_max', '0');
    if (!isId(this.curMax)) this.curMax = '0';
    this.outbox = new Outbox({
      stored: this._load('outbox', []),
      save: (entries) => this._save('outbox', entries),
      sendFrame: (frame) => this._send(frame),
      emit: (...args) => this.emit(...args),
      timers,
      now,
      newId,
      ackTimeoutMs,
    });
    this.delivered = new DeliveredBatcher({ send: (frame) => this._send(frame), timers, intervalMs: deliveredMs });
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
    if (this.state === 'idle' || this.state === 'stopped') this.emit('outbox', this.pending());
    super.start();
  }

  // ------------------------------------------------------------------ connection hooks

  _opened() {
    this.syncing = false;
    this.syncAgain = false;
    this._sync();
    this.outbox.flush(true);
    this.delivered.flush();
  }

  // every heartbeat interval: heartbeat, late acks, periodic re-sync
  _beat(now) {
    this._heartbeat();
    this.outbox.flush(false);
    if (now - this.lastSyncAt >= this.resyncMs) this._sync();
  }

  _clearTimers() {
    super._clearTimers();
    this.delivered.stop();
    if (this.idleTimer !== null) this.timers.clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  _heartbeat() {
    if (this._send({ type: 'heartbeat', idle: this.idle })) this.lastHeartbeatAt = this.now();
  }

  /**
   * The user left this device (page hidden, no input for a while) or came back: said at once in a
   * heartbeat (at most one per IDLE_HEARTBEAT_GAP_MS beside the regular ones), then in every one.
   */
  setIdle(idle) {
    idle = Boolean(idle);
    if (idle === this.idle) return;
    this.idle = idle;
    if (this.idleTimer !== null) return; // a heartbeat is already due: it carries the latest
    const wait = this.lastHeartbeatAt + IDLE_HEARTBEAT_GAP_MS - this.now();
    if (wait <= 0) {
      this._heartbeat();
      return;
    }
    this.idleTimer = this.timers.setTimeout(() => {
      this.idleTimer = null;
      this._heartbeat();
    }, wait);
  }

  // ------------------------------------------------------------------ catch-up

  _sync() {
    if (this.syncing) return;
    this.syncing = true;
    this.lastSyncAt = this.now();
    this._send({ type: 'sync', since: this.curMax });
  }

  _advance(feedId) {
    const next = idMax(this.curMax, feedId);
    if (next !== this.curMax) {
      this.curMax = next;
      this._save('cur_max', this.curMax);
    }
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

  /**
   * One feed entry, live or from a sync: the one path of both. A message of mine acknowledged by
   * another path (sync, another device) leaves the outbox; a message from someone else is
   * acknowledged as delivered; a sync's entries move the cursor.
   */
  _entry(entry, source) {
    if (entry.type === 'message.new') {
      const message = entry.message;
      if (!message || !isId(message.id)) return;
      if (String(message.sender_id) === this.userId) {
        if (this.outbox.has(message.client_msg_id)) this.outbox.remove(message.client_msg_id);
      } else {
        this.delivered.add(message.id);
      }
    }
    this.emit('entry', entry, source);
    if (source === 'sync' && isId(entry.feed_id)) this._advance(entry.feed_id);
  }

  // ------------------------------------------------------------------ frames

  _received(frame) {
    if (isId(frame.feed_id) || ENTRY_TYPES.has(frame.type)) {
      this._entry(frame, 'live');
      return;
    }
    switch (frame.type) {
      case 'message.ack':
        this._onAck(frame);
        break;
      case 'sync.batch':
        // `entries` is the feed; `messages` alone is what a server before the feed sent
        for (const entry of frame.entries || (frame.messages || []).map((message) => ({ type: 'message.new', feed_id: message.id, message }))) {
          if (entry && typeof entry.type === 'string') this._entry(entry, 'sync');
        }
        this.syncHasMore = Boolean(frame.has_more);
        break;
      case 'sync.done':
        this.syncing = false;
        if (isId(frame.cur_max_message_id)) this._advance(frame.cur_max_message_id);
        if (this.syncHasMore || this.syncAgain) {
          this.syncHasMore = false;
          this.syncAgain = false;
          this._sync();
        } else {
          this.emit('synced', this.curMax);
        }
        break;
      case 'sync.reset_required':
        // further behind than the feed keeps: the app reloads what it shows; we go on from here
        this.syncing = false;
        this.syncHasMore = false;
        if (isId(frame.cur_max_message_id)) {
          this.curMax = frame.cur_max_message_id;
          this._save('cur_max', this.curMax);
        }
        this.emit('reset', this.curMax);
        this._sync();
        break;
      case 'typing':
        this.emit('typing', frame);
        break;
      case 'presence':
        this.emit('presence', frame);
        break;
      case 'live.gap':
        // the server may have dropped live frames to us: a sync brings them (after the one in
        // flight, if any: it may have been answered before the dropped ones were stored)
        if (this.syncing) this.syncAgain = true;
        else this._sync();
        break;
      case 'server.draining':
        // leave before the server closes us: discovery hands out another server
        this._onClose(this.socket, { code: CLOSE_DRAINING, reason: 'draining' });
        break;
      case 'error':
        if (!this.outbox.onError(frame)) this.emit('error', frame);
        break;
      default:
        break; // heartbeat.ack and frames of newer servers
    }
  }

  // my message is stored: it leaves the outbox and enters the model like any new message (no
  // feed_id: the ack is not a feed entry, so the cursor stays)
  _onAck(frame) {
    const entry = this.outbox.get(frame.client_msg_id);
    if (!entry || !isId(frame.message_id)) return;
    this.outbox.remove(frame.client_msg_id);
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
    this.emit('entry', { type: 'message.new', message }, 'ack');
  }

  // ------------------------------------------------------------------ sending

  /** Queue a message; it is sent now if connected, else after the next connect. */
  send(conversationId, body) {
    return this.outbox.add(conversationId, body);
  }

  /** Give up a message that has not been acknowledged (the user discarded it). */
  discard(clientMsgId) {
    this.outbox.remove(clientMsgId);
  }

  pending() {
    return this.outbox.pending();
  }

  typing(conversationId) {
    return this._send({ type: 'typing', conversation_id: conversationId });
  }

  read(conversationId, messageId) {
    return this._send({ type: 'read', conversation_id: conversationId, message_id: messageId });
  }
}

export { idCompare };
