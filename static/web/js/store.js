// What the app holds of each conversation's messages: a window of the history in ID order, with
// no message twice, plus the messages of this device still waiting for their ack (by client_msg_id).
// A message that arrives out of order (a sync after live messages, a late store) takes its place
// by ID; an edit or delete replaces the message it names.

import { idCompare } from './ids.js';

export class MessageList {
  constructor() {
    this.items = []; // stored messages, ascending ID
    this.byId = new Map();
    this.pending = new Map(); // client_msg_id → outbox entry not yet acknowledged
    this.loaded = false; // a history page has been read
    this.hasMoreBefore = true; // older messages exist on the server
    this.hasMoreAfter = false; // this window ends before the newest message (a jump into the past)
  }

  /** Index where a message with this ID is or would be. */
  _indexOf(id) {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (idCompare(this.items[mid].id, id) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Add a stored message. Returns 'inserted', 'replaced' (same ID, e.g. an edit) or 'ignored'
   * (a duplicate, or outside the window: newer than a window that does not reach the present, or
   * older than one whose earlier history is not loaded — it would sit above a gap).
   */
  upsert(message, { replace = false, fromPage = false } = {}) {
    if (message.client_msg_id) this.pending.delete(message.client_msg_id);
    const existing = this.byId.get(message.id);
    if (existing) {
      if (!replace) return 'ignored';
      const index = this._indexOf(message.id);
      this.items[index] = message;
      this.byId.set(message.id, message);
      return 'replaced';
    }
    const last = this.items[this.items.length - 1];
    if (this.hasMoreAfter && last && idCompare(message.id, last.id) > 0) return 'ignored';
    if (!fromPage && this.loaded && this.hasMoreBefore && this.items.length && idCompare(message.id, this.items[0].id) < 0) return 'ignored';
    const index = this._indexOf(message.id);
    this.items.splice(index, 0, message);
    this.byId.set(message.id, message);
    return 'inserted';
  }

  /** A page of history (any order): merged in, duplicates dropped. */
  addPage(messages, { hasMoreBefore, hasMoreAfter } = {}) {
    for (const message of messages) this.upsert(message, { replace: true, fromPage: true });
    if (hasMoreBefore !== undefined) this.hasMoreBefore = hasMoreBefore;
    if (hasMoreAfter !== undefined) this.hasMoreAfter = hasMoreAfter;
    this.loaded = true;
  }

  /** Start over from a window around one message (a jump to a mention). */
  resetWindow(messages, { hasMoreBefore, hasMoreAfter }) {
    this.items = [];
    this.byId = new Map();
    this.hasMoreAfter = false;
    this.addPage(messages, { hasMoreBefore, hasMoreAfter });
  }

  addPending(entry) {
    this.pending.set(entry.client_msg_id, entry);
  }

  removePending(clientMsgId) {
    this.pending.delete(clientMsgId);
  }

  oldestId() {
    return this.items.length ? this.items[0].id : null;
  }

  newestId() {
    return this.items.length ? this.items[this.items.length - 1].id : null;
  }

  /** The stored messages then the pending ones (oldest first), as the chat view shows them. */
  timeline() {
    const pending = [...this.pending.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
    return { stored: this.items, pending };
  }
}

/** Unread bookkeeping of one conversation: counted once per message, never for one's own. */
export function countsAsUnread({ message, myId, lastReadId, lastKnownId }) {
  if (String(message.sender_id) === String(myId) || message.deleted) return false;
  if (lastReadId && idCompare(message.id, lastReadId) <= 0) return false;
  // the conversation list's unread_count already includes everything up to its last message
  if (lastKnownId && idCompare(message.id, lastKnownId) <= 0) return false;
  return true;
}
