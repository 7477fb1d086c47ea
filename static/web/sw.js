// The service worker of the chat app: shows Web Push notifications and opens the conversation on
// click. The push worker (notifications/payload.py) sends {type: "messages", count,
// conversation_ids (newest first), newest_message_id, sender_name, conversation_title, title, body}
// with the title and body ready to show: the newest sender and conversation, and the message text
// only if the user allows previews (setting push_previews_enabled). Nothing is asked of the API, so
// a notification shows even where the session cannot be used. One notification per conversation
// (its tag), replaced by the next push.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

async function show(data) {
  const ids = Array.isArray(data.conversation_ids) ? data.conversation_ids : [];
  const visible = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  if (visible.some((c) => c.visibilityState === 'visible' && c.focused)) return; // the app shows it
  const first = ids[0];
  const title = typeof data.title === 'string' && data.title ? data.title : 'New messages';
  const body = typeof data.body === 'string' && data.body ? data.body : 'New message';
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
