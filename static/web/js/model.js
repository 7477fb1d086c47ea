// What the app knows, shared by its views: the logged-in user, conversations, message lists,
// users and presence (one `state`, which is also the model the change feed applies to: feed.js),
// the ChatClient, and small helpers that read them.

import { api } from './api.js';
import { ChatClient, DiscoveryError } from './client.js';
import { h } from './dom.js';
import { conversationAdopt, presenceAdopt, rememberUserIn } from './feed.js';
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
  myId: ME,
  conversations: new Map(), // id → conversation payload (+ readBy, deliveredTo, lastKnownId, counted)
  lists: new Map(), // id → MessageList
  users: new Map(), // id → {id, username, display_name, avatar_url}
  presence: new Map(), // user id → online, away or offline
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
  rememberUserIn(state, user);
  if (user) presenceAdopt(state, user.id, user.presence); // friends' payloads carry it
}

/** The presence dot of a user whose presence is known (null otherwise), its state as text too. */
export function presenceDot(userId) {
  const status = state.presence.get(userId);
  if (!status) return null;
  return h('span', { class: `presence-dot presence-${status}`, title: status, role: 'img', 'aria-label': status, dataset: { presence: status } });
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
  return conversationAdopt(state, payload);
}

const fetching = new Map(); // conversation id → the GET under way

/** GET conversations/{id} into the state (one request at a time per conversation); null if refused. */
/** Resolves once no GET of the conversation is under way (one begun earlier lands first). */
export function fetchSettled(conversationId) {
  return fetching.get(conversationId) || Promise.resolve(null);
}

export function fetchConversation(conversationId) {
  if (!fetching.has(conversationId)) {
    const request = api.get(`conversations/${conversationId}`).then(
      (payload) => {
        const conversation = adoptConversation(payload);
        if (conversation.type === 'direct' && !state.presence.has(otherMember(conversation)?.user_id)) loadPresence();
        return conversation;
      },
      () => null,
    );
    fetching.set(conversationId, request);
    request.finally(() => fetching.delete(conversationId));
  }
  return fetching.get(conversationId);
}
