// Fakes of the browser client's environment for the JS unit tests: timers and a clock that a test
// moves, storage in memory, and a chat server on the other end of a fake WebSocket.

import { ChatClient } from '../../static/web/js/client.js';
import { applyEntry, conversationAdopt, emptyModel } from '../../static/web/js/feed.js';
import { MessageList } from '../../static/web/js/store.js';

export class FakeTimers {
  constructor() {
    this.now = 0;
    this.nextId = 1;
    this.tasks = new Map();
  }
  setTimeout(fn, ms) {
    const id = this.nextId++;
    this.tasks.set(id, { at: this.now + Math.max(0, ms), fn, every: null });
    return id;
  }
  setInterval(fn, ms) {
    const id = this.nextId++;
    this.tasks.set(id, { at: this.now + ms, fn, every: ms });
    return id;
  }
  clearTimeout(id) {
    this.tasks.delete(id);
  }
  clearInterval(id) {
    this.tasks.delete(id);
  }
  /** Move the clock, running what falls due (microtasks settle between tasks). */
  async advance(ms) {
    const end = this.now + ms;
    for (;;) {
      await settle();
      let nextId = null;
      let next = null;
      for (const [id, task] of this.tasks) if (task.at <= end && (!next || task.at < next.at)) [nextId, next] = [id, task];
      if (!next) break;
      this.now = next.at;
      if (next.every) next.at += next.every;
      else this.tasks.delete(nextId);
      next.fn();
    }
    this.now = end;
    await settle();
  }
}

export async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

export class MemoryStorage {
  constructor() {
    this.data = new Map();
  }
  getItem(key) {
    return this.data.has(key) ? this.data.get(key) : null;
  }
  setItem(key, value) {
    this.data.set(key, String(value));
  }
  removeItem(key) {
    this.data.delete(key);
  }
}

/** A chat server on the other end of FakeSocket: records frames, answers what the test says. */
export function makeServer() {
  const server = { sockets: [], urls: [] };
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      server.sockets.push(this);
      server.urls.push(url);
    }
    send(text) {
      this.sent.push(JSON.parse(text));
    }
    close(code = 1000) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onclose?.({ code });
    }
    // test side
    open() {
      this.readyState = 1;
      this.onopen?.();
    }
    deliver(frame) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
    drop(code = 1006) {
      this.readyState = 3;
      this.onclose?.({ code });
    }
    frames(type) {
      return this.sent.filter((f) => f.type === type);
    }
  }
  server.Socket = FakeSocket;
  server.last = () => server.sockets[server.sockets.length - 1];
  return server;
}

export function makeClient({ storage = new MemoryStorage(), timers = new FakeTimers(), server = makeServer(), discover, ...rest } = {}) {
  let n = 0;
  const client = new ChatClient({
    userId: 7,
    discover: discover || (async () => ({ url: 'ws://lb/ws/chat-1/chat', ticket: `t${++n}` })),
    WebSocket: server.Socket,
    storage,
    timers,
    random: () => 0.5,
    now: () => timers.now,
    heartbeatMs: 1000,
    resyncMs: 5000,
    ackTimeoutMs: 3000,
    ...rest,
  });
  return { client, timers, server, storage };
}

export function message(id, extra = {}) {
  return { id, conversation_id: 1, sender_id: 8, body: `m${id}`, created_at: '2026-01-01T00:00:00Z', client_msg_id: `c${id}`, ...extra };
}


/** A conversation payload as `GET conversations/{id}` gives it. */
export function conversationPayload(id, { type = 'direct', members = [7, 8], title = '', unread = 0, lastRead = '0', lastMessage = null } = {}) {
  return {
    id,
    type,
    title,
    members: members.map((userId) => ({ user_id: userId, username: `u${userId}`, display_name: `U${userId}`, role: 'member', last_read_message_id: '0', last_delivered_message_id: '0' })),
    last_message: lastMessage,
    unread_count: unread,
    last_read_message_id: lastRead,
    muted: false,
  };
}

/** A model (feed.js) for user 7 holding conversation 1 with a loaded, empty history. */
export function loadedModel(myId = 7) {
  const model = emptyModel(myId);
  conversationAdopt(model, conversationPayload(1));
  const list = new MessageList();
  list.addPage([], { hasMoreBefore: false });
  model.lists.set(1, list);
  return model;
}

/** The client's entries applied to `model`, as the app does (receiving.js). */
export function wire(client, model) {
  client.on('entry', (entry) => applyEntry(model, entry));
  return model;
}

/** Maps and Sets as plain values, to compare two models. */
export function snapshot(model) {
  return JSON.parse(JSON.stringify(model, (key, value) => (value instanceof Map ? [...value] : value instanceof Set ? [...value].sort() : value)));
}
