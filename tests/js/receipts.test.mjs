// Unit tests of receipts and presence in the browser client: the ticks of my messages
// (receipts.js: direct, group "n of m", hidden read receipts), the batched `delivered` frames, and
// the idle flag of heartbeats (activity.js, client.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ActivityMonitor } from '../../static/web/js/activity.js';
import { DeliveredBatcher, tickState } from '../../static/web/js/receipts.js';
import { FakeTimers, makeClient, message } from './fakes.mjs';

function conversation(type, others, { read = {}, delivered = {} } = {}) {
  return {
    type,
    members: [7, ...others].map((userId) => ({ user_id: userId })),
    readBy: new Map(Object.entries(read).map(([k, v]) => [Number(k), v])),
    deliveredTo: new Map(Object.entries(delivered).map(([k, v]) => [Number(k), v])),
  };
}

// ---------------------------------------------------------------- ticks

test('direct conversation: sent, then delivered, then read from the other member positions', () => {
  assert.deepEqual(tickState(conversation('direct', [8]), '100', 7), { state: 'sent', read: 0, delivered: 0, of: 1, label: 'Sent' });
  assert.equal(tickState(conversation('direct', [8], { delivered: { 8: '100' } }), '100', 7).state, 'delivered');
  assert.equal(tickState(conversation('direct', [8], { delivered: { 8: '99' } }), '100', 7).state, 'sent');
  const read = tickState(conversation('direct', [8], { read: { 8: '120' } }), '100', 7);
  assert.equal(read.state, 'read'); // read implies delivered
  assert.equal(read.label, 'Read');
});

test('group: n of m in the label; delivered when all got it, read when all read it', () => {
  const some = tickState(conversation('group', [8, 9, 10], { delivered: { 8: '100', 9: '100' }, read: { 8: '100' } }), '100', 7);
  assert.equal(some.state, 'sent');
  assert.equal(some.label, 'Sent: delivered to 2 of 3, read by 1 of 3');
  const all = tickState(conversation('group', [8, 9, 10], { delivered: { 8: '100', 9: '100', 10: '200' }, read: { 9: '100' } }), '100', 7);
  assert.equal(all.state, 'delivered');
  assert.equal(all.label, 'Delivered: delivered to 3 of 3, read by 1 of 3');
  const read = tickState(conversation('group', [8, 9], { read: { 8: '100', 9: '101' } }), '100', 7);
  assert.deepEqual([read.state, read.label], ['read', 'Read by 2 of 2']);
});

test('a member whose read receipts are hidden shows at most as delivered', () => {
  // null read position in the REST payload: no readBy entry, and no read entries come
  const tick = tickState(conversation('direct', [8], { delivered: { 8: '500' } }), '100', 7);
  assert.deepEqual([tick.state, tick.label], ['delivered', 'Delivered']);
});

// ---------------------------------------------------------------- delivered frames

test('delivered IDs go out together after the interval, at most 100 per frame, each once', async () => {
  const timers = new FakeTimers();
  const frames = [];
  const batcher = new DeliveredBatcher({ send: (frame) => frames.push(frame) > 0, timers, intervalMs: 500 });
  for (let i = 1; i <= 250; i++) batcher.add(String(1000 + i));
  batcher.add('1001');
  await timers.advance(499);
  assert.equal(frames.length, 0);
  await timers.advance(1);
  assert.deepEqual(frames.map((f) => f.message_ids.length), [100, 100, 50]);
  assert.ok(frames.every((f) => f.type === 'delivered'));
  batcher.add('1001'); // already acknowledged
  await timers.advance(1000);
  assert.equal(frames.length, 3);
});

test('delivered IDs wait while there is no socket and go out after the connect', async () => {
  const { client, server, timers } = makeClient();
  client.start();
  await timers.advance(0);
  server.last().open();
  server.last().drop();
  client._entry({ type: 'message.new', feed_id: '30', message: message('30') }, 'live'); // as if it had come before the drop
  await timers.advance(600);
  await timers.advance(500);
  server.last().open();
  assert.deepEqual(server.last().frames('delivered'), [{ type: 'delivered', message_ids: ['30'] }]);
});

test('the client acknowledges messages of others, live and from a sync, not its own', async () => {
  const { client, server, timers } = makeClient();
  client.start();
  await timers.advance(0);
  server.last().open();
  server.last().deliver({ type: 'message.new', feed_id: '40', message: message('40') });
  server.last().deliver({ type: 'message.new', feed_id: '41', message: message('41', { sender_id: 7 }) });
  const entries = ['40', '42'].map((id) => ({ type: 'message.new', feed_id: id, message: message(id) }));
  server.last().deliver({ type: 'sync.batch', entries, messages: [], has_more: false });
  server.last().deliver({ type: 'read', feed_id: '43', conversation_id: 1, user_id: 8, message_id: '41' });
  await timers.advance(500);
  assert.deepEqual(server.last().frames('delivered'), [{ type: 'delivered', message_ids: ['40', '42'] }]);
});

// ---------------------------------------------------------------- idle

test('idle after two minutes without input or when hidden; active again at the next input', async () => {
  const timers = new FakeTimers();
  const changes = [];
  const monitor = new ActivityMonitor({ onChange: (idle) => changes.push(idle), timers, now: () => timers.now });
  await timers.advance(60_000);
  monitor.input();
  await timers.advance(119_000);
  assert.deepEqual(changes, []); // the input at one minute counts from there
  await timers.advance(1_000);
  assert.deepEqual(changes, [true]);
  monitor.input();
  monitor.input();
  assert.deepEqual(changes, [true, false]);
  monitor.setHidden(true);
  monitor.setHidden(false);
  assert.deepEqual(changes, [true, false, true, false]);
  await timers.advance(120_000);
  assert.deepEqual(changes, [true, false, true, false, true]);
});

test('heartbeats carry the idle flag; a change is said at once, spaced from the last heartbeat', async () => {
  const { client, server, timers } = makeClient({ heartbeatMs: 10_000 });
  client.start();
  await timers.advance(0);
  server.last().open();
  await timers.advance(10_000);
  server.last().deliver({ type: 'heartbeat.ack' });
  assert.deepEqual(server.last().frames('heartbeat'), [{ type: 'heartbeat', idle: false }]);
  await timers.advance(5_000);
  client.setIdle(true);
  assert.deepEqual(server.last().frames('heartbeat').map((f) => f.idle), [false, true]);
  client.setIdle(false); // right after: waits out the gap, then says the latest state once
  client.setIdle(true);
  client.setIdle(false);
  assert.equal(server.last().frames('heartbeat').length, 2);
  await timers.advance(2_000);
  assert.deepEqual(server.last().frames('heartbeat').map((f) => f.idle), [false, true, false]);
  client.setIdle(true);
  await timers.advance(2_000);
  server.last().deliver({ type: 'heartbeat.ack' });
  await timers.advance(10_000);
  const idles = server.last().frames('heartbeat').map((f) => f.idle);
  assert.deepEqual(idles.slice(3), [true, true]); // the next regular heartbeat says idle too
});
