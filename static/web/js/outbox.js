// The outbox of the chat client (docs/protocol.md, "What a client keeps"): every message sent and
// not yet acknowledged, kept in storage across page loads, sent again with the same client_msg_id
// after a reconnect, after a reload and when its ack is late (the server stores it once), held back
// as told by rate_limited / overloaded, and given up on a refusal.

// error codes that make a send hopeless: it leaves the outbox and is shown as failed
const FATAL_SEND_ERRORS = new Set(['bad_request', 'too_large', 'forbidden', 'invalid', 'unknown_type']);

export class Outbox {
  /**
   * @param {object} options
   * @param {Array} options.stored  the entries kept by the last page (from storage)
   * @param {(entries: Array) => void} options.save  keeps the entries (storage)
   * @param {(frame: object) => boolean} options.sendFrame  false when there is no open socket
   * @param {(type: string, ...args) => void} options.emit  the client's events
   */
  constructor({ stored = [], save, sendFrame, emit, timers, now, newId, ackTimeoutMs }) {
    this.save = save;
    this.sendFrame = sendFrame;
    this.emit = emit;
    this.timers = timers;
    this.now = now;
    this.newId = newId;
    this.ackTimeoutMs = ackTimeoutMs;
    this.entries = new Map();
    for (const entry of stored) {
      if (entry && typeof entry.client_msg_id === 'string') {
        this.entries.set(entry.client_msg_id, { ...entry, sentAt: 0, notBefore: 0 });
      }
    }
  }

  has(clientMsgId) {
    return this.entries.has(clientMsgId);
  }

  get(clientMsgId) {
    return this.entries.get(clientMsgId);
  }

  pending() {
    return [...this.entries.values()].map(({ sentAt, notBefore, ...rest }) => rest);
  }

  _changed() {
    this.save(this.pending());
    this.emit('outbox', this.pending());
  }

  add(conversationId, body) {
    const entry = {
      client_msg_id: this.newId(),
      conversation_id: conversationId,
      body,
      created_at: new Date(this.now()).toISOString(),
      sentAt: 0,
      notBefore: 0,
    };
    this.entries.set(entry.client_msg_id, entry);
    this._changed();
    this._transmit(entry);
    return entry;
  }

  /** Take an entry out (acknowledged, discarded, refused); returns it if it was there. */
  remove(clientMsgId) {
    const entry = this.entries.get(clientMsgId);
    if (entry && this.entries.delete(clientMsgId)) this._changed();
    return entry;
  }

  _transmit(entry) {
    if (this.now() < entry.notBefore) return;
    const sent = this.sendFrame({
      type: 'message.send',
      conversation_id: entry.conversation_id,
      client_msg_id: entry.client_msg_id,
      body: entry.body,
    });
    if (sent) entry.sentAt = this.now();
  }

  /** All unacknowledged entries after a (re)connect; otherwise only those whose ack is late. */
  flush(all) {
    const now = this.now();
    const entries = [...this.entries.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
    for (const entry of entries) {
      if (all || entry.sentAt === 0 || now - entry.sentAt >= this.ackTimeoutMs) this._transmit(entry);
    }
  }

  /** An error frame about one of my sends (`ref` is its client_msg_id); false if it is not one. */
  onError(frame) {
    const entry = frame.ref ? this.entries.get(frame.ref) : undefined;
    if (!entry) return false;
    if (frame.code === 'rate_limited' || frame.code === 'overloaded') {
      // too fast for my budget, or the service is shedding load: back off as told, then resend
      entry.notBefore = this.now() + (Number(frame.retry_after_ms) || 1000);
      entry.sentAt = 0;
      this.emit('error', frame);
      this.timers.setTimeout(() => this.flush(false), entry.notBefore - this.now() + 10);
      return true;
    }
    if (FATAL_SEND_ERRORS.has(frame.code)) {
      this.remove(entry.client_msg_id);
      this.emit('failed', entry, frame);
      return true;
    }
    // unavailable, internal: the server could not queue it; send again a little later
    entry.notBefore = this.now() + 1000;
    entry.sentAt = 0;
    this.timers.setTimeout(() => this.flush(false), 1010);
    return true;
  }
}
