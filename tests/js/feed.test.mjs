// Unit tests of the change feed in the browser client (static/web/js/feed.js, client.js): one
// apply path for live entries and catch-up, entries applied twice change nothing, what each entry
// type does to the model, the cursor, and sync.reset_required.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { applyEntry, conversationAdopt, emptyModel } from '../../static/web/js/feed.js';
import { MemoryStorage, conversationPayload, loadedModel, makeClient, message, snapshot, wire } from './fakes.mjs';

// user 7 is me; conversation 1 is direct with 8 (history loaded), 2 a group with 8 and 9 (not)
function twoConversations() {
  const model = loadedModel();
  model.users.set(8, { id: 8, username: 'u8', display_name: 'U8' });
  conversationAdopt(model, conversationPayload(2, { type: 'group', title: 'Team', members: [7, 8, 9] }));
  return model;
}

const at = (id, extra = {}) => ({ ...message(id), ...extra });

// every entry type, in feed order (feed_ids ascending)
function story() {
  return [
    { type: 'message.new', feed_id: '101', message: at('101') },
    { type: 'message.new', feed_id: '102', message: at('102', { conversation_id: 2, sender_id: 9 }) },
    { type: 'message.new', feed_id: '103', message: at('103', { sender_id: 7 }) },
    { type: 'message.new', feed_id: '104', message: at('104', { conversation_id: 2, sender_id: 7 }) },
    { type: 'message.updated', feed_id: '105', message: at('101', { body: 'edited', edited_at: '2026-01-01T00:01:00Z' }) },
    { type: 'message.updated', feed_id: '106', message: at('102', { conversation_id: 2, sender_id: 9, body: '', deleted: true }) },
    { type: 'read', feed_id: '107', conversation_id: 1, user_id: 8, message_id: '103' },
    { type: 'delivered', feed_id: '108', conversation_id: 2, user_id: 8, message_id: '104' },
    { type: 'read', feed_id: '109', conversation_id: 2, user_id: 9, message_id: '104' },
    { type: 'conversation.created', feed_id: '110', conversation: { id: 3, type: 'group', title: 'New', member_ids: [7, 8] } },
    { type: 'conversation.joined', feed_id: '111', conversation: { id: 4, type: 'group', title: 'Joined', member_ids: [7, 8] } },
    { type: 'conversation.updated', feed_id: '112', conversation_id: 2, title: 'Team 2', blocked: false },
    { type: 'conversation.updated', feed_id: '113', conversation_id: 1, title: '', blocked: true },
    { type: 'member.added', feed_id: '114', conversation_id: 2, user_id: 10 },
    { type: 'member.removed', feed_id: '115', conversation_id: 2, user_id: 9 },
    { type: 'conversation.left', feed_id: '116', conversation_id: 4 },
    { type: 'message.new', feed_id: '117', message: at('117') },
    { type: 'read', feed_id: '118', conversation_id: 1, user_id: 7, message_id: '101' },
  ];
}

async function connected(options = {}) {
  const made = makeClient(options);
  const model = wire(made.client, twoConversations());
  made.client.start();
  await made.timers.advance(0);
  made.server.last().open();
  return { ...made, model };
}

// ---------------------------------------------------------------- one path

test('the same entries live or in sync batches leave the same model', async () => {
  const live = await connected();
  for (const entry of story()) live.server.last().deliver(entry);

  const caughtUp = await connected();
  const entries = story();
  const batch = (part, hasMore) => ({ type: 'sync.batch', entries: part, messages: part.filter((e) => e.type === 'message.new').map((e) => e.message), has_more: hasMore });
  caughtUp.server.last().deliver(batch(entries.slice(0, 9), true));
  caughtUp.server.last().deliver({ type: 'sync.done', cur_max_message_id: '109' });
  caughtUp.server.last().deliver(batch(entries.slice(9), false));
  caughtUp.server.last().deliver({ type: 'sync.done', cur_max_message_id: '118' });

  assert.deepEqual(snapshot(caughtUp.model), snapshot(live.model));
  assert.equal(live.model.conversations.get(2).title, 'Team 2'); // the story did happen
});

test('applying every entry twice (a replay, a sync after live frames) changes nothing', () => {
  const once = twoConversations();
  for (const entry of story()) applyEntry(once, entry);
  const twice = twoConversations();
  for (const entry of story()) {
    applyEntry(twice, entry);
    applyEntry(twice, entry);
  }
  assert.deepEqual(snapshot(twice), snapshot(once));
  const before = snapshot(once);
  for (const entry of story()) applyEntry(once, entry); // the whole story replayed afterwards
  assert.deepEqual(snapshot(once), before);
});

test('the cursor moves with the feed_ids of a sync, not past a live entry (the re-sync repairs drops)', async () => {
  const storage = new MemoryStorage();
  const { server } = await connected({ storage });
  server.last().deliver({ type: 'read', feed_id: '900', conversation_id: 1, user_id: 8, message_id: '1' });
  assert.equal(storage.getItem('chat:cur_max:7'), null);
  server.last().deliver({ type: 'sync.batch', entries: story().slice(0, 8), messages: [], has_more: false });
  assert.equal(JSON.parse(storage.getItem('chat:cur_max:7')), '108'); // a delivered entry's feed_id
  server.last().deliver({ type: 'sync.done', cur_max_message_id: '950' });
  assert.equal(JSON.parse(storage.getItem('chat:cur_max:7')), '950');
});

test('sync.reset_required: the cursor is set to the given position, the app reloads, the sync goes on', async () => {
  const storage = new MemoryStorage();
  storage.setItem('chat:cur_max:7', JSON.stringify('5'));
  const { client, server } = await connected({ storage });
  const resets = [];
  client.on('reset', (position) => resets.push(position));
  server.last().deliver({ type: 'sync.reset_required', cur_max_message_id: '1190403012575232000' });
  assert.deepEqual(resets, ['1190403012575232000']);
  assert.equal(JSON.parse(storage.getItem('chat:cur_max:7')), '1190403012575232000');
  assert.deepEqual(server.last().frames('sync').map((f) => f.since), ['5', '1190403012575232000']);
  assert.equal(client.syncing, true);
});

// ---------------------------------------------------------------- each entry type

test('message.new: in the open history by ID, counted unread once, the list preview moves', () => {
  const model = twoConversations();
  model.lists.get(1).hasMoreBefore = true; // the unread count cannot be read off the history
  model.lists.get(1).loaded = false;
  const effect = applyEntry(model, { type: 'message.new', feed_id: '50', message: at('50') });
  assert.deepEqual(effect, { conversationId: 1, fetch: false, left: false, unread: true });
  applyEntry(model, { type: 'message.new', feed_id: '50', message: at('50') });
  applyEntry(model, { type: 'message.new', feed_id: '51', message: at('51', { sender_id: 7 }) });
  const conversation = model.conversations.get(1);
  assert.equal(conversation.unread_count, 1);
  assert.equal(conversation.last_message.id, '51');
  const unknown = applyEntry(model, { type: 'message.new', feed_id: '52', message: at('52', { conversation_id: 99 }) });
  assert.equal(unknown.fetch, true); // its conversation is read with GET conversations/99
});

test('a catch-up after a reload does not count what the list read already counted', () => {
  const model = emptyModel(7);
  // the list says 2 unread up to message 30; the sync replays 20 and 30, then brings 40
  conversationAdopt(model, conversationPayload(1, { unread: 2, lastRead: '10', lastMessage: at('30') }));
  for (const id of ['20', '30', '40']) applyEntry(model, { type: 'message.new', feed_id: id, message: at(id) });
  assert.equal(model.conversations.get(1).unread_count, 3);
});

test('message.updated: an edit replaces the text, a delete leaves a tombstone and uncounts it', () => {
  const model = twoConversations();
  model.lists.get(1).hasMoreBefore = true;
  model.lists.get(1).loaded = false;
  applyEntry(model, { type: 'message.new', feed_id: '60', message: at('60') });
  applyEntry(model, { type: 'message.updated', feed_id: '61', message: at('60', { body: 'fixed', edited_at: '2026-01-01T00:02:00Z' }) });
  assert.equal(model.conversations.get(1).last_message.body, 'fixed');
  applyEntry(model, { type: 'message.updated', feed_id: '62', message: at('60', { body: '', deleted: true }) });
  applyEntry(model, { type: 'message.updated', feed_id: '62', message: at('60', { body: '', deleted: true }) });
  assert.equal(model.conversations.get(1).unread_count, 0);
  // an older edit replayed after the delete does not bring the text back
  applyEntry(model, { type: 'message.updated', feed_id: '61', message: at('60', { body: 'fixed', edited_at: '2026-01-01T00:02:00Z' }) });
  assert.equal(model.conversations.get(1).last_message.deleted, true);
});

test('message.updated on a loaded history: the row is replaced in place', () => {
  const model = twoConversations();
  model.lists.get(1).addPage([at('70'), at('71')]);
  applyEntry(model, { type: 'message.updated', feed_id: '72', message: at('70', { body: 'new text', edited_at: '2026-01-01T00:03:00Z' }) });
  assert.deepEqual(model.lists.get(1).items.map((m) => m.body), ['new text', 'm71']);
  assert.equal(model.conversations.get(1).unread_count, 2); // computed from the loaded history
});

test('read: another member moves the read and delivered positions; mine moves my marker and the unread count', () => {
  const model = twoConversations();
  model.lists.get(1).addPage([at('80'), at('81'), at('82')]);
  applyEntry(model, { type: 'read', feed_id: '90', conversation_id: 1, user_id: 8, message_id: '81' });
  applyEntry(model, { type: 'read', feed_id: '85', conversation_id: 1, user_id: 8, message_id: '80' }); // older: no move back
  const conversation = model.conversations.get(1);
  assert.equal(conversation.readBy.get(8), '81');
  assert.equal(conversation.deliveredTo.get(8), '81');
  applyEntry(model, { type: 'read', feed_id: '91', conversation_id: 1, user_id: 7, message_id: '81' });
  assert.equal(conversation.last_read_message_id, '81');
  assert.equal(conversation.unread_count, 1); // read off the loaded history: 82 is left
});

test('delivered: the member position moves forward only', () => {
  const model = twoConversations();
  applyEntry(model, { type: 'delivered', feed_id: '92', conversation_id: 2, user_id: 9, message_id: '300' });
  applyEntry(model, { type: 'delivered', feed_id: '93', conversation_id: 2, user_id: 9, message_id: '200' });
  assert.equal(model.conversations.get(2).deliveredTo.get(9), '300');
});

test('conversation.created and joined: the conversation appears, then is read for its details', () => {
  const model = twoConversations();
  const effect = applyEntry(model, { type: 'conversation.joined', feed_id: '94', conversation: { id: 5, type: 'group', title: 'Book club', member_ids: [7, 8, 11] } });
  assert.equal(effect.fetch, true);
  const conversation = model.conversations.get(5);
  assert.equal(conversation.title, 'Book club');
  assert.deepEqual(conversation.members.map((m) => m.user_id), [7, 8, 11]);
  assert.equal(conversation.members[1].display_name, 'U8'); // a known user's name at once
  const again = applyEntry(model, { type: 'conversation.created', feed_id: '94', conversation: { id: 5, type: 'group', title: 'Book club', member_ids: [7, 8, 11] } });
  assert.equal(again.fetch, false);
});

test('conversation.updated: a rename, a block, an archive', () => {
  const model = twoConversations();
  applyEntry(model, { type: 'conversation.updated', feed_id: '95', conversation_id: 2, title: 'Renamed', blocked: false });
  applyEntry(model, { type: 'conversation.updated', feed_id: '96', conversation_id: 1, title: '', blocked: true });
  assert.equal(model.conversations.get(2).title, 'Renamed');
  assert.equal(model.conversations.get(1).blocked, true);
  assert.equal(model.conversations.get(1).title, ''); // a direct conversation has no title
  applyEntry(model, { type: 'conversation.updated', feed_id: '98', conversation_id: 2, title: 'Renamed', blocked: false, archived: true });
  assert.equal(model.conversations.get(2).archived, true);
  assert.equal(model.conversations.get(2).blocked, false);
});

test('conversation.left: the conversation and its history leave the model', () => {
  const model = twoConversations();
  const effect = applyEntry(model, { type: 'conversation.left', feed_id: '97', conversation_id: 1 });
  assert.equal(effect.left, true);
  assert.equal(model.conversations.has(1), false);
  assert.equal(model.lists.has(1), false);
  assert.equal(applyEntry(model, { type: 'conversation.left', feed_id: '97', conversation_id: 1 }).left, false);
});

test('member.added and member.removed change the member list (an unknown name is read again)', () => {
  const model = twoConversations();
  applyEntry(model, { type: 'read', feed_id: '98', conversation_id: 2, user_id: 9, message_id: '5' });
  assert.equal(applyEntry(model, { type: 'member.added', feed_id: '99', conversation_id: 2, user_id: 12 }).fetch, true);
  assert.equal(applyEntry(model, { type: 'member.added', feed_id: '99', conversation_id: 2, user_id: 12 }).fetch, false);
  applyEntry(model, { type: 'member.removed', feed_id: '100', conversation_id: 2, user_id: 9 });
  const conversation = model.conversations.get(2);
  assert.deepEqual(conversation.members.map((m) => m.user_id), [7, 8, 12]);
  assert.equal(conversation.readBy.has(9), false);
});

test('REST payloads bring positions (null read: hidden) and presence; positions never move back', () => {
  const model = emptyModel(7);
  const payload = conversationPayload(1);
  payload.members[1] = { ...payload.members[1], last_read_message_id: null, last_delivered_message_id: '40', presence: { status: 'away', last_active_at: '2026-01-01T00:00:00Z' } };
  applyEntry(model, { type: 'delivered', feed_id: '1', conversation_id: 1, user_id: 8, message_id: '50' }); // no conversation yet
  const conversation = conversationAdopt(model, payload);
  assert.equal(conversation.readBy.has(8), false);
  assert.equal(conversation.deliveredTo.get(8), '40');
  assert.equal(model.presence.get(8), 'away');
  applyEntry(model, { type: 'delivered', feed_id: '2', conversation_id: 1, user_id: 8, message_id: '50' });
  conversationAdopt(model, payload); // an older answer read again
  assert.equal(model.conversations.get(1).deliveredTo.get(8), '50');
});

test('a sync from a server before the feed (messages only) still applies the messages', async () => {
  const { server, model } = await connected();
  server.last().deliver({ type: 'sync.batch', messages: [at('120'), at('121')], has_more: false });
  assert.deepEqual(model.lists.get(1).items.map((m) => m.id), ['120', '121']);
});

