// What the app knows, shared by its views: the logged-in user, conversations, message lists,
// users and presence (one `state`), the ChatClient, and small helpers that read them.

import { api } from './api.js';
import { ChatClient, DiscoveryError } from './client.js';
import { $ } from './dom.js';
import { idCompare, idMax } from './ids.js';
import { MessageList } from './store.js';
import { loadPresence } from './conversation-list.js';

export const body = document.body;
export const ME = Number(body.dataset.userId);
const HEARTBEAT_MS = Number(body.dataset.heartbeatMs) || 10000;
export const PAGE = 50;
export const GROUP_GAP_MS = 5 * 60 * 1000; // messages of one sender closer than this share a group
export const TYPING_SHOW_MS = 6000;
export const TYPING_SEND_MS = 3000;

export const state = {
  me: null,
  conversations: new Map(), // id → conversation payload (+ readBy, lastKnownId)
  lists: new Map(), // id → MessageList
  users: new Map(), // id → {id, username, display_name, avatar_url}
  presence: new Map(), // user id → status
  lastSeen: new Map(), // user id → last_active_at (ISO)
  current: null, // open conversation id
  view: 'empty',
  typing: new Map(), // conversation id → Map(user id → expiry)
  lastTypingSent: 0,
  highlight: null,
  loadingOlder: false,
  readSent: new Map(), // conversation id → message id last marked read
  editing: null, // {id, text} of the message being edited
  unreadFrom: null, // {conversationId, afterId}: the "New messages" divider
};


// ---------------------------------------------------------------- the client

export const client = new ChatClient({
  userId: ME,
  WebSocket: window.WebSocket,
  storage: window.localStorage,
  heartbeatMs: HEARTBEAT_MS,
  discover: async () => {
    try {
      const answer = await api.get('chat/server');
      return { url: answer.chat_server.url, ticket: answer.ticket, heartbeatInterval: answer.heartbeat_interval };
    } catch (error) {
      throw new DiscoveryError(error.status, error.code, error.message);
    }
  },
});
window.chatClient = client; // for the browser tests and the curious

// ---------------------------------------------------------------- helpers

export function list(conversationId) {
  let messages = state.lists.get(conversationId);
  if (!messages) {
    messages = new MessageList();
    state.lists.set(conversationId, messages);
  }
  return messages;
}

export function userName(userId) {
  if (String(userId) === String(ME) && state.me) return state.me.display_name || state.me.username;
  const user = state.users.get(Number(userId));
  return user ? user.display_name || user.username : `User ${userId}`;
}

export function rememberUser(user) {
  if (!user || user.id === undefined) return;
  const known = state.users.get(user.id) || {};
  state.users.set(user.id, { ...known, ...user });
}

export function otherMember(conversation) {
  return conversation.members.find((m) => m.user_id !== ME) || conversation.members[0];
}

export function conversationTitle(conversation) {
  if (conversation.type === 'group') return conversation.title || 'Untitled group';
  const other = otherMember(conversation);
  return other ? other.display_name || other.username : 'Conversation';
}

export function usernamesOf(conversation) {
  const names = new Map();
  for (const m of conversation?.members || []) names.set(m.username.toLowerCase(), m.user_id);
  return names;
}

export function lastMessageId(conversation) {
  return conversation.last_message ? conversation.last_message.id : '0';
}

export function activityTime(conversation) {
  return Date.parse(conversation.last_message?.created_at || conversation.last_activity_at || conversation.created_at) || 0;
}

export function adoptConversation(payload) {
  const known = state.conversations.get(payload.id);
  const conversation = {
    ...payload,
    readBy: known?.readBy || new Map(),
    lastKnownId: idMax(known?.lastKnownId || '0', lastMessageId(payload)),
  };
  for (const m of payload.members || []) {
    rememberUser({ id: m.user_id, username: m.username, display_name: m.display_name });
    if (m.last_read_message_id) conversation.readBy.set(m.user_id, idMax(conversation.readBy.get(m.user_id) || '0', m.last_read_message_id));
  }
  if (known && known.last_message && payload.last_message && idCompare(known.last_message.id, payload.last_message.id) > 0) {
    conversation.last_message = known.last_message;
  }
  state.conversations.set(payload.id, conversation);
  return conversation;
}

export async function fetchConversation(conversationId) {
  try {
    const conversation = adoptConversation(await api.get(`conversations/${conversationId}`));
    if (conversation.type === 'direct') loadPresence(); // a new face in the list: their dot
    return conversation;
  } catch {
    return null;
  }
}
