// What the change feed does to the app's model (docs/protocol.md, "The change feed"). Every feed
// entry, whether it came live or inside a `sync.batch`, goes through `applyEntry`; an entry sets
// a state and never counts, so applying one twice changes nothing. The model is plain data (no
// DOM), so this runs under node's test runner (tests/js/):
//   model = { myId, conversations: Map(id → conversation), lists: Map(id → MessageList),
//             users: Map(id → user), presence: Map(id → status), lastSeen: Map(id → ISO time) }
// A conversation is the REST payload plus what the feed keeps of it: readBy and deliveredTo (each
// other member's positions), lastKnownId (the newest message ID whose unread state is accounted
// for), counted (IDs this device added to the server's unread_count) and blocked.

import { idCompare, idMax, isId } from './ids.js';
import { countsAsUnread } from './store.js';

export const ENTRY_TYPES = new Set([
  'message.new',
  'message.updated',
  'read',
  'delivered',
  'conversation.created',
  'conversation.joined',
  'conversation.updated',
  'conversation.left',
  'member.added',
  'member.removed',
]);

export function emptyModel(myId) {
  return { myId, conversations: new Map(), lists: new Map(), users: new Map(), presence: new Map(), lastSeen: new Map() };
}

function same(a, b) {
  return String(a) === String(b);
}

function positionMax(map, userId, messageId) {
  if (!isId(messageId)) return;
  map.set(userId, idMax(map.get(userId) || '0', messageId));
}

/** A user's presence as REST payloads carry it (`{status, last_active_at}` or null). */
export function presenceAdopt(model, userId, presence) {
  if (!presence || typeof presence.status !== 'string') return;
  model.presence.set(userId, presence.status);
  if (presence.last_active_at) model.lastSeen.set(userId, presence.last_active_at);
}

export function rememberUserIn(model, user) {
  if (!user || user.id === undefined) return;
  model.users.set(user.id, { ...(model.users.get(user.id) || {}), ...user });
}

/**
 * A conversation as `GET conversations[/{id}]` gives it: the truth at the time of the read. The
 * positions only move forward (an entry applied meanwhile may be newer than the answer).
 */
export function conversationAdopt(model, payload) {
  const known = model.conversations.get(payload.id);
  const conversation = {
    ...payload,
    blocked: payload.blocked ?? known?.blocked ?? false,
    archived: payload.archived ?? known?.archived ?? false,
    readBy: known?.readBy || new Map(),
    deliveredTo: known?.deliveredTo || new Map(),
    lastKnownId: idMax(known?.lastKnownId || '0', payload.last_message ? payload.last_message.id : '0'),
    counted: new Set(),
  };
  // the answer's unread_count includes its messages; those this device counted past its last
  // message (arrived while the request was under way) are added again
  const payloadLast = payload.last_message ? payload.last_message.id : '0';
  for (const id of known?.counted || []) if (idCompare(id, payloadLast) > 0) conversation.counted.add(id);
  conversation.unread_count = (payload.unread_count || 0) + conversation.counted.size;
  for (const m of payload.members || []) {
    rememberUserIn(model, { id: m.user_id, username: m.username, display_name: m.display_name });
    presenceAdopt(model, m.user_id, m.presence);
    if (same(m.user_id, model.myId)) continue;
    positionMax(conversation.readBy, m.user_id, m.last_read_message_id);
    positionMax(conversation.deliveredTo, m.user_id, m.last_delivered_message_id);
  }
  if (known?.last_message && payload.last_message && idCompare(known.last_message.id, payload.last_message.id) > 0) {
    conversation.last_message = known.last_message;
  }
  model.conversations.set(payload.id, conversation);
  recountUnread(model, conversation);
  return conversation;
}

/**
 * When the loaded messages cover everything after my read marker, the unread count is computed
 * from them (a state, not a tally); otherwise the server's count plus what this device counted.
 */
export function recountUnread(model, conversation) {
  const list = model.lists.get(conversation.id);
  const marker = conversation.last_read_message_id || '0';
  if (!list || !list.loaded || list.hasMoreAfter) return false;
  if (list.hasMoreBefore && !(list.items.length && idCompare(list.items[0].id, marker) <= 0)) return false;
  let unread = 0;
  for (const m of list.items) if (idCompare(m.id, marker) > 0 && !same(m.sender_id, model.myId) && !m.deleted) unread += 1;
  conversation.unread_count = unread;
  conversation.counted = new Set();
  return true;
}

function placeholder(model, info) {
  return {
    id: info.id,
    type: info.type,
    title: info.title || '',
    members: (info.member_ids || []).map((userId) => memberOf(model, userId)),
    last_message: null,
    unread_count: 0,
    last_read_message_id: '0',
    muted: false,
    blocked: false,
    archived: false,
    readBy: new Map(),
    deliveredTo: new Map(),
    lastKnownId: '0',
    counted: new Set(),
  };
}

function memberOf(model, userId) {
  const user = model.users.get(userId) || {};
  return { user_id: userId, username: user.username || `user${userId}`, display_name: user.display_name || '', role: 'member', unknown: !user.username };
}

/**
 * Apply one feed entry to the model. Returns what the app does next:
 *   conversationId — the conversation it concerns (to re-render);
 *   fetch — the entry lacks what the list shows (a new conversation, an unknown member): read
 *           `GET conversations/{id}` again;
 *   left — I am no longer a member (the conversation left the model);
 *   unread — a new message that counts as unread (for a notification).
 */
export function applyEntry(model, entry) {
  const effect = { conversationId: null, fetch: false, left: false, unread: false };
  if (!entry || typeof entry.type !== 'string') return effect;
  const handler = HANDLERS[entry.type];
  if (handler) handler(model, entry, effect);
  return effect;
}

const HANDLERS = {
  'message.new': (model, entry, effect) => {
    const message = entry.message;
    if (!message || !isId(message.id)) return;
    const conversation = model.conversations.get(message.conversation_id);
    effect.conversationId = message.conversation_id;
    if (!conversation) {
      effect.fetch = true; // its conversation.created was missed: the answer counts the message
      return;
    }
    const list = model.lists.get(message.conversation_id);
    if (list && (list.loaded || list.pending.size)) list.upsert(message);
    const lastReadId = conversation.last_read_message_id;
    if (countsAsUnread({ message, myId: model.myId, lastReadId, lastKnownId: conversation.lastKnownId })) {
      conversation.unread_count = (conversation.unread_count || 0) + 1;
      conversation.counted.add(message.id);
      effect.unread = true;
    }
    conversation.lastKnownId = idMax(conversation.lastKnownId, message.id);
    if (!conversation.last_message || idCompare(message.id, conversation.last_message.id) > 0) {
      conversation.last_message = message;
      conversation.last_activity_at = message.created_at;
    }
    recountUnread(model, conversation);
  },

  'message.updated': (model, entry, effect) => {
    const message = entry.message;
    if (!message || !isId(message.id)) return;
    const conversation = model.conversations.get(message.conversation_id);
    effect.conversationId = message.conversation_id;
    if (!conversation) return;
    const list = model.lists.get(message.conversation_id);
    const held = list?.byId.get(message.id) || (conversation.last_message?.id === message.id ? conversation.last_message : null);
    if (held && stale(held, message)) return;
    if (list && (list.loaded || list.byId.has(message.id))) list.upsert(message, { replace: true });
    if (conversation.last_message?.id === message.id) conversation.last_message = message;
    if (message.deleted && conversation.counted.delete(message.id)) {
      conversation.unread_count = Math.max(0, (conversation.unread_count || 0) - 1);
    }
    recountUnread(model, conversation);
  },

  read: (model, entry, effect) => {
    const conversation = model.conversations.get(entry.conversation_id);
    effect.conversationId = entry.conversation_id;
    if (!conversation || !isId(entry.message_id)) return;
    if (!same(entry.user_id, model.myId)) {
      positionMax(conversation.readBy, entry.user_id, entry.message_id);
      positionMax(conversation.deliveredTo, entry.user_id, entry.message_id); // read implies delivered
      return;
    }
    // read on one of my devices (this one included)
    conversation.last_read_message_id = idMax(conversation.last_read_message_id || '0', entry.message_id);
    if (recountUnread(model, conversation)) return;
    const marker = conversation.last_read_message_id;
    if (idCompare(marker, conversation.lastKnownId || '0') >= 0) {
      conversation.unread_count = 0;
      conversation.counted = new Set();
      return;
    }
    for (const id of [...conversation.counted]) {
      if (idCompare(id, marker) <= 0 && conversation.counted.delete(id)) conversation.unread_count = Math.max(0, conversation.unread_count - 1);
    }
  },

  delivered: (model, entry, effect) => {
    const conversation = model.conversations.get(entry.conversation_id);
    effect.conversationId = entry.conversation_id;
    if (conversation && !same(entry.user_id, model.myId)) positionMax(conversation.deliveredTo, entry.user_id, entry.message_id);
  },

  'conversation.created': (model, entry, effect) => conversationArrives(model, entry, effect),
  'conversation.joined': (model, entry, effect) => conversationArrives(model, entry, effect),

  'conversation.updated': (model, entry, effect) => {
    const conversation = model.conversations.get(entry.conversation_id);
    effect.conversationId = entry.conversation_id;
    if (!conversation) return;
    if (conversation.type === 'group' && typeof entry.title === 'string' && entry.title) conversation.title = entry.title;
    if (typeof entry.blocked === 'boolean') conversation.blocked = entry.blocked;
    if (typeof entry.archived === 'boolean') conversation.archived = entry.archived;
  },

  'conversation.left': (model, entry, effect) => leave(model, entry.conversation_id, effect),

  'member.added': (model, entry, effect) => {
    const conversation = model.conversations.get(entry.conversation_id);
    effect.conversationId = entry.conversation_id;
    if (!conversation) {
      effect.fetch = true;
      return;
    }
    if (conversation.members.some((m) => same(m.user_id, entry.user_id))) return;
    const member = memberOf(model, entry.user_id);
    conversation.members = [...conversation.members, member];
    if (member.unknown) effect.fetch = true; // their name is in the conversation's payload
  },

  'member.removed': (model, entry, effect) => {
    if (same(entry.user_id, model.myId)) return leave(model, entry.conversation_id, effect);
    const conversation = model.conversations.get(entry.conversation_id);
    effect.conversationId = entry.conversation_id;
    if (!conversation) return;
    conversation.members = conversation.members.filter((m) => !same(m.user_id, entry.user_id));
    conversation.readBy.delete(entry.user_id);
    conversation.deliveredTo.delete(entry.user_id);
  },
};

// an edit older than the one held, or anything but a delete for a deleted message, is old news
function stale(held, message) {
  if (held.deleted) return !message.deleted;
  if (message.deleted) return false;
  return Boolean(held.edited_at && (!message.edited_at || message.edited_at < held.edited_at));
}

function conversationArrives(model, entry, effect) {
  const info = entry.conversation;
  if (!info || info.id === undefined) return;
  effect.conversationId = info.id;
  const known = model.conversations.get(info.id);
  if (known) {
    if (known.type === 'group' && info.title) known.title = info.title;
    return;
  }
  model.conversations.set(info.id, placeholder(model, info));
  effect.fetch = true; // its members' names, my unread count and read marker
}

function leave(model, conversationId, effect) {
  effect.conversationId = conversationId;
  if (model.conversations.delete(conversationId)) effect.left = true;
  model.lists.delete(conversationId);
}
