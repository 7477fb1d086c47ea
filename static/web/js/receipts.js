// Receipts (docs/protocol.md, "Receipts"): the ticks of my own messages from the other members'
// delivered and read positions, and the `delivered` frames by which this device acknowledges what
// it received from others. No DOM here: tested under node (tests/js/).

import { idCompare } from './ids.js';

export const TICK_GLYPHS = { pending: '◷', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

function reached(position, messageId) {
  return Boolean(position) && idCompare(position, messageId) >= 0;
}

/**
 * The tick of my stored (acknowledged) message: `state` is sent, delivered or read (every other
 * member reached it), `read` / `delivered` how many of the `of` other members did, and `label`
 * the same as words for title and aria-label. A member whose read position is hidden (receipts
 * off: null in the REST payload, no read entries) counts at most as delivered.
 */
export function tickState(conversation, messageId, me) {
  const others = (conversation?.members || []).filter((m) => String(m.user_id) !== String(me));
  const of = others.length;
  let read = 0;
  let delivered = 0;
  for (const m of others) {
    const hasRead = reached(conversation.readBy?.get(m.user_id), messageId);
    if (hasRead) read += 1;
    if (hasRead || reached(conversation.deliveredTo?.get(m.user_id), messageId)) delivered += 1;
  }
  const state = of && read === of ? 'read' : of && delivered === of ? 'delivered' : 'sent';
  let label;
  if (conversation?.type !== 'group' || of <= 1) {
    label = { read: 'Read', delivered: 'Delivered', sent: 'Sent' }[state];
  } else if (state === 'read') {
    label = `Read by ${read} of ${of}`;
  } else {
    label = `${state === 'delivered' ? 'Delivered' : 'Sent'}: delivered to ${delivered} of ${of}, read by ${read} of ${of}`;
  }
  return { state, read, delivered, of, label };
}

/**
 * Collects the IDs of messages received from others and sends them as
 * `{"type":"delivered","message_ids":[…]}`: at most one round per `intervalMs`, at most `maxIds`
 * per frame. `send(frame)` answers false when there is no open socket: what was not sent waits
 * for the next `flush()` (the client flushes after each connect). An ID is sent once.
 */
export class DeliveredBatcher {
  constructor({ send, timers = globalThis, intervalMs = 500, maxIds = 100, rememberLimit = 5000 }) {
    this.sendFrame = send;
    this.timers = timers;
    this.intervalMs = intervalMs;
    this.maxIds = maxIds;
    this.rememberLimit = rememberLimit;
    this.pending = new Set();
    this.sent = new Set();
    this.timer = null;
  }

  add(messageId) {
    if (this.pending.has(messageId) || this.sent.has(messageId)) return;
    this.pending.add(messageId);
    if (this.timer === null) this.timer = this.timers.setTimeout(() => this.flush(), this.intervalMs);
  }

  flush() {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    while (this.pending.size) {
      const ids = [...this.pending].slice(0, this.maxIds);
      if (!this.sendFrame({ type: 'delivered', message_ids: ids })) return;
      for (const id of ids) {
        this.pending.delete(id);
        this.sent.add(id);
      }
    }
    while (this.sent.size > this.rememberLimit) this.sent.delete(this.sent.values().next().value);
  }

  stop() {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }
}
