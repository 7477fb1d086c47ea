// Unit tests of the browser client's state machine (static/web/js/client.js) and message store:
// reconnect with backoff, outbox resend (also after a reload), de-duplication, out-of-order
// delivery, draining and rate limits. Run with `node --test tests/js/` (no packages needed).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DiscoveryError } from '../../static/web/js/client.js';
import { idCompare, idMax, uuid4 } from '../../static/web/js/ids.js';
import { MessageList, countsAsUnread } from '../../static/web/js/store.js';
import { MemoryStorage, loadedModel, makeClient, message, wire } from './fakes.mjs';

// ---------------------------------------------------------------- IDs

test('IDs compare as 64-bit decimals without losing precision', () => {
  assert.equal(idCompare('9007199254740993', '9007199254740992'), 1); // beyond Number's integers
  assert.equal(idCompare('99', '100'), -1);
  assert.equal(idCompare('1190403012575232000', '1190403012575232000'), 0);
  assert.equal(idMax('0', '1190403012575232001'), '1190403012575232001');
  assert.match(uuid4(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

// ---------------------------------------------------------------- connecting, catch-up

test('connects through discovery with the ticket and syncs from the stored cur_max_message_id', async () => {
  const storage = new MemoryStorage();
  storage.setItem('chat:cur_max:7', JSON.stringify('1190403012575232000'));
  const { client, server, timers } = makeClient({ storage });
  const states = [];
  client.on('state', (s) => states.push(s));
  client.start();
  await timers.advance(0);
  assert.equal(server.last().url, 'ws://lb/ws/chat-1/chat?ticket=t1');
  server.last().open();
  assert.deepEqual(server.last().frames('sync'), [{ type: 'sync', since: '1190403012575232000' }]);
  assert.deepEqual(states, ['connecting', 'open']);
  server.last().deliver({ type: 'sync.batch', messages: [message('1190403012575232005')], has_more: false });
  server.last().deliver({ type: 'sync.done', cur_max_message_id: '1190403012575232005' });
  assert.equal(JSON.parse(storage.getItem('chat:cur_max:7')), '1190403012575232005');
});

test('heartbeats follow the interval the server announces with the assignment', async () => {
  const discover = async () => ({ url: 'ws://lb/ws/chat-1/chat', ticket: 't', heartbeatInterval: 4 });
  const { client, server, timers } = makeClient({ discover });
  client.start();
  await timers.advance(0);
  server.last().open();
  for (let i = 0; i < 3; i++) {
    await timers.advance(4000);
    server.last().deliver({ type: 'heartbeat.ack' });
  }
  assert.equal(server.last().frames('heartbeat').length, 3);
  assert.equal(client.state, 'open');
});

test('a sync with has_more asks again from sync.done', async () => {
  const { client, server, timers } = makeClient();
  client.start();
  await timers.advance(0);
  server.last().open();
  server.last().deliver({ type: 'sync.batch', messages: [message('10')], has_more: true });
  server.last().deliver({ type: 'sync.done', cur_max_message_id: '10' });
  assert.deepEqual(server.last().frames('sync').map((f) => f.since), ['0', '10']);
});

test('live.gap syncs at once from the cursor; during a sync in flight, once more after it', async () => {
  const { client, server, timers } = makeClient();
  client.start();
  await timers.advance(0);
  server.last().open();
  server.last().deliver({ type: 'sync.batch', messages: [message('10')], has_more: false });
  server.last().deliver({ type: 'sync.done', cur_max_message_id: '10' });
  server.last().deliver({ type: 'message.new', feed_id: '30', message: message('30') }); // live: no cursor move
  server.last().deliver({ type: 'live.gap' });
  assert.deepEqual(server.last().frames('sync').map((f) => f.since), ['0', '10']);
  server.last().deliver({ type: 'live.gap' }); // while that sync is in flight
  assert.equal(server.last().frames('sync').length, 2);
  server.last().deliver({ type: 'sync.batch', messages: [message('20'), message('30')], has_more: false });
  server.last().deliver({ type: 'sync.done', cur_max_message_id: '30' });
  assert.deepEqual(server.last().frames('sync').map((f) => f.since), ['0', '10', '30']);
  server.last().deliver({ type: 'sync.done', cur_max_message_id: '30' });
  assert.equal(server.last().frames('sync').length, 3);
});

test('messages are applied once: live, then the same again from a sync, are de-duplicated by ID', async () => {
  const { client, server, timers } = makeClient();
  const model = wire(client, loadedModel());
  client.start();
  await timers.advance(0);
  server.last().open();
  server.last().deliver({ type: 'message.new', feed_id: '20', message: message('20') });
  server.last().deliver({ type: 'message.new', feed_id: '20', message: message('20') });
  const entries = ['19', '20', '21'].map((id) => ({ type: 'message.new', feed_id: id, message: message(id) }));
  server.last().deliver({ type: 'sync.batch', entries, messages: entries.map((e) => e.message), has_more: false });
  assert.deepEqual(model.lists.get(1).items.map((m) => m.id), ['19', '20', '21']);
  assert.equal(model.conversations.get(1).unread_count, 3);
});

// ---------------------------------------------------------------- reconnect

test('a lost socket reconnects with growing, jittered backoff through discovery, then resets', async () => {
  const { client, server, timers } = makeClient({ backoffBaseMs: 1000, backoffMaxMs: 8000 });
  const delays = [];
  client.on('state', (s, d) => s === 'offline' && delays.push(d.retryInMs));
  client.start();
  await timers.advance(0);
  server.last().open();
  for (let i = 0; i < 5; i++) {
    server.last().drop();
    await timers.advance(delays[delays.length - 1]);
  }
  // random() = 0.5: half of 1 s, 2 s, 4 s, 8 s, 8 s (capped); the first after an open starts again
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 4000]);
  assert.equal(server.sockets.length, 6);
  assert.deepEqual(server.urls.map((u) => u.split('ticket=')[1]), ['t1', 't2', 't3', 't4', 't5', 't6']);
  server.last().open();
  server.last().drop();
  assert.equal(delays[delays.length - 1], 500);
});

test('a silent socket is given up and replaced', async () => {
  const { client, server, timers } = makeClient();
  client.start();
  await timers.advance(0);
  server.last().open();
  assert.equal(client.state, 'open');
  await timers.advance(3000); // heartbeats sent, none answered
  assert.ok(server.sockets[0].frames('heartbeat').length >= 2);
  assert.equal(server.sockets[0].readyState, 3);
  await timers.advance(1000);
  assert.equal(server.sockets.length, 2);
});

test('server.draining reconnects at once through discovery', async () => {
  const { client, server, timers } = makeClient();
  client.start();
  await timers.advance(0);
  server.last().open();
  server.last().deliver({ type: 'server.draining' });
  assert.equal(client.state, 'offline');
  await timers.advance(250);
  assert.equal(server.sockets.length, 2);
});

test('discovery answering 401 ends the client: logged out, no more attempts', async () => {
  const discover = async () => {
    throw new DiscoveryError(401, 'not_authenticated');
  };
  const { client, server, timers } = makeClient({ discover });
  const states = [];
  client.on('state', (s) => states.push(s));
  client.start();
  await timers.advance(60000);
  assert.deepEqual(states, ['connecting', 'logged_out']);
  assert.equal(server.sockets.length, 0);
});

test('discovery failing for another reason (network, no chat server) is retried', async () => {
  let calls = 0;
  const discover = async () => {
    calls += 1;
    if (calls < 3) throw new DiscoveryError(503, 'no_chat_server');
    return { url: 'ws://lb/ws/chat-2/chat', ticket: 'x' };
  };
  const { client, server, timers } = makeClient({ discover });
  client.start();
  await timers.advance(10000);
  assert.equal(calls, 3);
  assert.equal(server.sockets.length, 1);
});

// ---------------------------------------------------------------- outbox

test('a message sent while offline waits in the outbox and goes out after the reconnect', async () => {
  const { client, server, timers } = makeClient();
  const acked = [];
  client.on('ack', (entry, id) => acked.push([entry.body, id]));
  client.start();
  await timers.advance(0);
  server.last().open();
  server.last().drop();
  const entry = client.send(1, 'while offline');
  assert.equal(client.pending().length, 1);
  await timers.advance(1000);
  server.last().open();
  const sends = server.last().frames('message.send');
  assert.deepEqual(sends, [{ type: 'message.send', conversation_id: 1, client_msg_id: entry.client_msg_id, body: 'while offline' }]);
  server.last().deliver({ type: 'message.ack', client_msg_id: entry.client_msg_id, message_id: '55', conversation_id: 1 });
  assert.deepEqual(acked, [['while offline', '55']]);
  assert.equal(client.pending().length, 0);
});

test('an unacknowledged message is resent with the same client_msg_id after a reconnect, and shown once', async () => {
  const { client, server, timers } = makeClient();
  const model = wire(client, loadedModel());
  client.start();
  await timers.advance(0);
  server.last().open();
  const entry = client.send(1, 'hello');
  assert.equal(server.last().frames('message.send').length, 1);
  server.last().drop(); // the ack was lost with the socket
  await timers.advance(1000);
  server.last().open();
  const resent = server.last().frames('message.send');
  assert.equal(resent.length, 1);
  assert.equal(resent[0].client_msg_id, entry.client_msg_id);
  server.last().deliver({ type: 'message.ack', client_msg_id: entry.client_msg_id, message_id: '77', conversation_id: 1 });
  server.last().deliver({ type: 'message.ack', client_msg_id: entry.client_msg_id, message_id: '77', conversation_id: 1 });
  server.last().deliver({ type: 'sync.batch', messages: [message('77', { sender_id: 7, client_msg_id: entry.client_msg_id })], has_more: false });
  assert.deepEqual(model.lists.get(1).items.map((m) => m.id), ['77']);
  assert.equal(model.conversations.get(1).unread_count, 0);
});

test('the outbox survives a page reload: a new client resends what the old one never saw acknowledged', async () => {
  const storage = new MemoryStorage();
  const first = makeClient({ storage });
  first.client.start();
  await first.timers.advance(0);
  first.server.last().drop();
  const entry = first.client.send(3, 'typed before the reload');
  first.client.stop();

  const second = makeClient({ storage });
  assert.equal(second.client.pending().length, 1);
  second.client.start();
  await second.timers.advance(0);
  second.server.last().open();
  const sends = second.server.last().frames('message.send');
  assert.equal(sends.length, 1);
  assert.equal(sends[0].client_msg_id, entry.client_msg_id);
  assert.equal(sends[0].conversation_id, 3);
});

test('a late ack makes the message go out again (same client_msg_id) while connected', async () => {
  const { client, server, timers } = makeClient();
  client.start();
  await timers.advance(0);
  server.last().open();
  const entry = client.send(1, 'slow');
  for (let i = 0; i < 4; i++) {
    await timers.advance(1000);
    server.last().deliver({ type: 'heartbeat.ack' }); // the socket lives, the ack is just late
  }
  assert.equal(server.sockets.length, 1);
  const sends = server.last().frames('message.send');
  assert.ok(sends.length >= 2);
  assert.ok(sends.every((f) => f.client_msg_id === entry.client_msg_id));
});

test('a message acknowledged through sync (ack lost) leaves the outbox', async () => {
  const { client, server, timers } = makeClient();
  client.start();
  await timers.advance(0);
  server.last().open();
  const entry = client.send(1, 'x');
  server.last().deliver({ type: 'sync.batch', messages: [message('90', { sender_id: 7, client_msg_id: entry.client_msg_id })], has_more: false });
  assert.equal(client.pending().length, 0);
});

for (const code of ['rate_limited', 'overloaded']) {
  test(`${code} holds the message back for retry_after_ms, then sends it again with its client_msg_id`, async () => {
    const { client, server, timers } = makeClient();
    client.start();
    await timers.advance(0);
    server.last().open();
    const entry = client.send(1, 'flood');
    server.last().deliver({ type: 'error', code, ref: entry.client_msg_id, retry_after_ms: 2500 });
    await timers.advance(1000);
    assert.equal(server.last().frames('message.send').length, 1);
    await timers.advance(2000);
    const sends = server.last().frames('message.send');
    assert.equal(sends.length, 2);
    assert.equal(sends[1].client_msg_id, entry.client_msg_id);
    assert.equal(client.pending().length, 1);
  });
}

test('a refused message (forbidden, too large) leaves the outbox and is reported failed', async () => {
  const { client, server, timers } = makeClient();
  const failed = [];
  client.on('failed', (entry, frame) => failed.push([entry.body, frame.code]));
  client.start();
  await timers.advance(0);
  server.last().open();
  const entry = client.send(1, 'nope');
  server.last().deliver({ type: 'error', code: 'forbidden', ref: entry.client_msg_id, message: 'blocked' });
  assert.deepEqual(failed, [['nope', 'forbidden']]);
  assert.equal(client.pending().length, 0);
});

// ---------------------------------------------------------------- the message list

test('out-of-order messages take their place by ID; duplicates are ignored; edits replace', () => {
  const list = new MessageList();
  for (const id of ['1190403012575232010', '1190403012575232002', '1190403012575232007']) list.upsert(message(id));
  assert.equal(list.upsert(message('1190403012575232002')), 'ignored');
  assert.deepEqual(list.items.map((m) => m.id), ['1190403012575232002', '1190403012575232007', '1190403012575232010']);
  assert.equal(list.upsert(message('1190403012575232007', { body: 'edited' }), { replace: true }), 'replaced');
  assert.equal(list.byId.get('1190403012575232007').body, 'edited');
});

test('a pending message is replaced by its stored copy (matched by client_msg_id)', () => {
  const list = new MessageList();
  list.addPending({ client_msg_id: 'abc', body: 'hi', created_at: '2026-01-01T00:00:00Z' });
  assert.equal(list.timeline().pending.length, 1);
  list.upsert(message('5', { client_msg_id: 'abc' }));
  assert.equal(list.timeline().pending.length, 0);
  assert.equal(list.items.length, 1);
});

test('a window in the past does not take live messages past its end', () => {
  const list = new MessageList();
  list.resetWindow([message('10'), message('11')], { hasMoreBefore: true, hasMoreAfter: true });
  assert.equal(list.upsert(message('99')), 'ignored');
  assert.equal(list.upsert(message('10')), 'ignored');
});

test('a live or synced message older than a window with unread history above it is left to the history pages', () => {
  const list = new MessageList();
  list.addPage([message('50'), message('51')], { hasMoreBefore: true });
  assert.equal(list.upsert(message('10')), 'ignored');
  list.addPage([message('10')], { hasMoreBefore: true }); // a page of older history is taken
  assert.deepEqual(list.items.map((m) => m.id), ['10', '50', '51']);
});

test('a first start syncs from the newest message the app shows, not from the beginning', async () => {
  const { client, server, timers } = makeClient();
  client.seedCursor('1190403012575232000');
  client.seedCursor('5'); // only a device without a cursor is seeded
  client.start();
  await timers.advance(0);
  server.last().open();
  assert.deepEqual(server.last().frames('sync'), [{ type: 'sync', since: '1190403012575232000' }]);
});

test('unread counting: not my own, not already read, not already in the list count', () => {
  const base = { myId: 7, lastReadId: '10', lastKnownId: '20' };
  assert.equal(countsAsUnread({ ...base, message: message('21') }), true);
  assert.equal(countsAsUnread({ ...base, message: message('15') }), false);
  assert.equal(countsAsUnread({ ...base, message: message('21', { sender_id: 7 }) }), false);
});
