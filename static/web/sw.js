// The service worker of the chat app: shows Web Push notifications and opens the conversation on
// click. A push carries no message bodies, only {type: "messages", count, conversation_ids,
// newest_message_id} (notifications/); the title and sender come from the API with this browser's
// session. One notification per conversation (its tag), replaced by the next push.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

async function conversationInfo(conversationId) {
  try {
    const response = await fetch(`/api/v1/conversations/${conversationId}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (!response.ok) return null;
    return await response.json();
  } catch {
    return null;
  }
}

async function myId() {
  try {
    const response = await fetch('/api/v1/me', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    return response.ok ? (await response.json()).id : null;
  } catch {
    return null;
  }
}

function titleOf(conversation, me) {
  if (!conversation) return 'New messages';
  if (conversation.type === 'group') return conversation.title || 'Group';
  const other = conversation.members.find((m) => m.user_id !== me) || conversation.members[0];
  return other ? other.display_name || other.username : 'New message';
}

async function show(data) {
  const ids = Array.isArray(data.conversation_ids) ? data.conversation_ids : [];
  const count = Number(data.count) || 1;
  const visible = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  if (visible.some((c) => c.visibilityState === 'visible' && c.focused)) return; // the app shows it
  const first = ids[0];
  const [conversation, me] = first ? await Promise.all([conversationInfo(first), myId()]) : [null, null];
  let title = titleOf(conversation, me);
  if (conversation && conversation.type === 'group' && conversation.last_message) {
    const sender = conversation.members.find((m) => m.user_id === conversation.last_message.sender_id);
    if (sender) title = `${sender.display_name || sender.username} in ${title}`;
  }
  const others = ids.length > 1 ? ` in ${ids.length} conversations` : '';
  const body = count > 1 ? `${count} new messages${others}` : 'New message';
  await self.registration.showNotification(title, {
    body,
    tag: first ? `conversation-${first}` : 'messages',
    renotify: true,
    icon: '/static/web/img/icon.svg',
    data: { url: first ? `/c/${first}` : '/' },
  });
}

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  event.waitUntil(show(data));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/';
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).origin === self.location.origin) {
          await client.focus();
          client.postMessage({ type: 'open', url });
          return;
        }
      }
      await self.clients.openWindow(url);
    })(),
  );
});
