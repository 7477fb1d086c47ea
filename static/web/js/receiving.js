// What the chat client's events do to the page: every feed entry (live or from a sync) goes
// through feed.js's applyEntry and then re-renders what it touched; a reset reloads; typing,
// presence, failed sends and the connection banner; and whether the user is at this device
// (activity.js), told to the server in heartbeats.

import { toast } from './dom.js';
import { ActivityMonitor } from './activity.js';
import { applyEntry } from './feed.js';
import { client, fetchConversation, list, ME, state, TYPING_SHOW_MS } from './model.js';
import { loadConversations, renderConversationList } from './conversation-list.js';
import { renderChatHead, renderMessages } from './chat-view.js';
import { renderDetailsIfOpen } from './details.js';
import { clearTyping, markRead, navigate, notifyInPage, pageVisible, render, renderBanner, renderTyping } from './app.js';

// ---------------------------------------------------------------- the change feed

function receive(entry, source) {
  const effect = applyEntry(state, entry);
  const conversationId = effect.conversationId;
  if (conversationId === null) return;
  if (effect.left) {
    if (state.current === conversationId) {
      toast('You are no longer a member of that conversation.');
      navigate('/', { replace: true });
    }
    renderConversationList();
    return;
  }
  if (effect.fetch) {
    // the entry lacks what the list shows (names, my unread count): that one conversation again
    fetchConversation(conversationId).then(() => scheduleRender(conversationId, { head: true }));
  }
  if (entry.type === 'message.new') {
    clearTyping(conversationId, entry.message.sender_id);
    const conversation = state.conversations.get(conversationId);
    if (effect.unread && source === 'live' && conversation && !pageVisible()) notifyInPage(conversation, entry.message);
  }
  const head = entry.type.startsWith('conversation.') || entry.type.startsWith('member.');
  scheduleRender(conversationId, { head });
}

let renderQueued = false;
const dirty = new Set();
let headDirty = false;
function scheduleRender(conversationId, { head = false } = {}) {
  dirty.add(conversationId);
  headDirty = headDirty || head;
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    const current = state.current && state.conversations.get(state.current);
    if (current && dirty.has(state.current)) {
      if (headDirty) {
        renderChatHead(current);
        renderDetailsIfOpen();
      }
      renderMessages({ stick: false });
      markRead();
    }
    renderConversationList();
    dirty.clear();
    headDirty = false;
  });
}

client.on('entry', (entry, source) => receive(entry, source));
client.on('ack', (entry) => {
  list(entry.conversation_id).removePending(entry.client_msg_id);
});
client.on('failed', (entry, frame) => {
  const pending = list(entry.conversation_id).pending.get(entry.client_msg_id);
  if (pending) {
    pending.failed = true;
    pending.failReason = frame.message || 'Not sent.';
  }
  toast(`Message not sent: ${frame.message || frame.code}`, { kind: 'error' });
  scheduleRender(entry.conversation_id);
});

// further behind than the feed keeps: what is shown is read again (the client syncs on from the
// position the server gave); the open conversation's history with it
client.on('reset', async () => {
  state.lists.clear();
  try {
    await loadConversations();
  } catch {
    toast('Could not reload your conversations.', { kind: 'error' });
  }
  render();
});

client.on('synced', () => {
  if (state.current) markRead();
});

// ---------------------------------------------------------------- typing, presence, errors

client.on('typing', (frame) => {
  if (frame.user_id === ME) return;
  if (!state.typing.has(frame.conversation_id)) state.typing.set(frame.conversation_id, new Map());
  state.typing.get(frame.conversation_id).set(frame.user_id, Date.now() + TYPING_SHOW_MS);
  renderTyping();
  setTimeout(renderTyping, TYPING_SHOW_MS + 50);
});
client.on('presence', (frame) => {
  state.presence.set(frame.user_id, frame.status);
  if (frame.last_active_at) state.lastSeen.set(frame.user_id, frame.last_active_at);
  renderConversationList();
  if (state.current) {
    renderChatHead(state.conversations.get(state.current));
    renderDetailsIfOpen();
  }
});
client.on('error', (frame) => {
  if (frame.code === 'rate_limited') toast('You are sending too fast; your messages will go out in a moment.', { kind: 'warning' });
  if (frame.code === 'overloaded') toast('The service is busy; your messages will go out in a moment.', { kind: 'warning' });
});
client.on('state', (status, detail) => {
  if (status === 'logged_out') {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
    return;
  }
  renderBanner(status, detail);
});

// ---------------------------------------------------------------- idle or active

const hidden = () => document.visibilityState === 'hidden';
export const activity = new ActivityMonitor({ onChange: (idle) => client.setIdle(idle), hidden: hidden() });
client.setIdle(activity.idle);
for (const type of ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart']) {
  document.addEventListener(type, () => activity.input(), { capture: true, passive: true });
}
document.addEventListener('visibilitychange', () => activity.setHidden(hidden()));
window.chatActivity = activity; // for the browser tests
