// The People page (friends, requests in and out, search, blocks) and the Settings page (profile,
// avatar, notifications, do-not-disturb, presence visibility, browser push, logged-in devices).

import { clear, formatFull, h, paintAvatar } from './dom.js';
import { pushDisable, pushEnable, pushState } from './push.js';

function person(user, ...actions) {
  const name = user.display_name || user.username;
  return h(
    'li',
    { class: 'person', dataset: { userId: String(user.id) } },
    paintAvatar(h('span', { class: 'avatar', 'aria-hidden': 'true' }), { name, url: user.avatar_url, seed: user.id }),
    h('span', { class: 'person-text' }, h('span', { class: 'person-name' }, name), h('span', { class: 'muted' }, `@${user.username}${user.status_text ? ` · ${user.status_text}` : ''}`)),
    h('span', { class: 'person-actions' }, ...actions),
  );
}

function button(label, onclick, { kind = 'secondary', name } = {}) {
  return h('button', { type: 'button', class: `${kind} small`, onclick, 'aria-label': name || null }, label);
}

function section(title, ...children) {
  return h('section', { class: 'card' }, h('h3', {}, title), ...children);
}

export async function peopleView(root, ctx) {
  const { api, toast } = ctx;
  const act = async (fn, done) => {
    try {
      await fn();
      if (done) toast(done);
    } catch (error) {
      toast(error.message, { kind: 'error' });
    }
    await peopleView(root, ctx);
    ctx.updateRequestsBadge();
  };
  const [friends, incoming, outgoing, blocks] = await Promise.all([
    api.get('friends?page_size=100'),
    api.get('friends/requests/incoming?page_size=100'),
    api.get('friends/requests/outgoing?page_size=100'),
    api.get('blocks?page_size=100'),
  ]).catch((error) => {
    toast(error.message, { kind: 'error' });
    return [{ results: [] }, { results: [] }, { results: [] }, { results: [] }];
  });
  const friendIds = new Set(friends.results.map((f) => f.user.id));
  const pendingIds = new Set(outgoing.results.map((r) => r.to_user.id));

  const results = h('ul', { class: 'people-list', id: 'people-search-results' });
  const search = h('input', { type: 'search', id: 'people-search', placeholder: 'Name or username', autocomplete: 'off' });
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      clear(results);
      const text = search.value.trim();
      if (!text) return;
      try {
        const page = await api.get(`users?search=${encodeURIComponent(text)}`);
        for (const user of page.results) {
          ctx.rememberUser(user);
          if (user.id === ctx.state.me.id) continue;
          const actions = [button('Message', () => ctx.startDirect(user.id), { name: `Message ${user.username}` })];
          if (!friendIds.has(user.id) && !pendingIds.has(user.id)) {
            actions.push(button('Add friend', () => act(() => api.post('friends/requests', { user_id: user.id }), 'Friend request sent.'), { name: `Add ${user.username} as a friend` }));
          }
          actions.push(button('Block', () => act(() => api.post(`blocks/${user.id}`), 'Blocked.'), { kind: 'danger-outline', name: `Block ${user.username}` }));
          results.appendChild(person(user, ...actions));
        }
        if (!page.results.length) results.appendChild(h('li', { class: 'muted' }, 'Nobody found.'));
      } catch (error) {
        toast(error.message, { kind: 'error' });
      }
    }, 250);
  });

  const list = (items, render, empty) => {
    const ul = h('ul', { class: 'people-list' });
    for (const item of items) ul.appendChild(render(item));
    if (!items.length) ul.appendChild(h('li', { class: 'muted' }, empty));
    return ul;
  };

  clear(root).append(
    section('Find people', h('label', { for: 'people-search', class: 'sr-only' }, 'Find people'), search, results),
    section(
      `Friend requests (${incoming.results.length})`,
      list(
        incoming.results,
        (r) => person(r.from_user, button('Accept', () => act(() => api.post(`friends/requests/${r.id}/accept`), 'You are now friends.'), { kind: 'primary', name: `Accept ${r.from_user.username}` }), button('Decline', () => act(() => api.post(`friends/requests/${r.id}/decline`)), { name: `Decline ${r.from_user.username}` })),
        'No requests waiting for you.',
      ),
    ),
    section(
      `Friends (${friends.results.length})`,
      list(
        friends.results,
        (f) => {
          ctx.rememberUser(f.user);
          const status = ctx.state.presence.get(f.user.id); // from f.user.presence or a presence frame
          const item = person(f.user, button('Message', () => ctx.startDirect(f.user.id), { name: `Message ${f.user.username}` }), button('Unfriend', () => act(() => api.del(`friends/${f.user.id}`)), { name: `Unfriend ${f.user.username}` }));
          if (status) item.querySelector('.avatar').after(h('span', { class: `presence-dot presence-${status}`, title: status, role: 'img', 'aria-label': status, dataset: { presence: status } }));
          return item;
        },
        'No friends yet: find people above.',
      ),
    ),
    section('Requests you sent', list(outgoing.results, (r) => person(r.to_user, button('Cancel', () => act(() => api.post(`friends/requests/${r.id}/cancel`)), { name: `Cancel request to ${r.to_user.username}` })), 'None pending.')),
    section('Blocked', list(blocks.results, (b) => person(b.user, button('Unblock', () => act(() => api.del(`blocks/${b.user.id}`), 'Unblocked.'), { name: `Unblock ${b.user.username}` })), 'You have not blocked anyone.')),
  );
}

function field(id, label, input, hint) {
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { class: 'hint' }, hint) : null);
}

function timeZones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['UTC'];
  }
}

export async function settingsView(root, ctx) {
  const { api, toast } = ctx;
  await ctx.refreshMe();
  const me = ctx.state.me;
  const s = me.settings || {};

  const displayName = h('input', { value: me.display_name || '', maxlength: '64', autocomplete: 'name' });
  const statusText = h('input', { value: me.status_text || '', maxlength: '140', placeholder: 'What are you up to?' });
  const bio = h('textarea', { rows: '3', maxlength: '500' });
  bio.value = me.bio || '';
  const zone = h('select', {});
  const zones = timeZones();
  const currentZone = me.time_zone || 'UTC';
  if (!zones.includes(currentZone)) zone.appendChild(h('option', { value: currentZone }, currentZone));
  for (const z of zones) zone.appendChild(h('option', { value: z }, z));
  zone.value = currentZone;

  const profileForm = h(
    'form',
    {
      class: 'settings-form',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api.patch('me', { display_name: displayName.value.trim(), status_text: statusText.value.trim(), bio: bio.value, time_zone: zone.value });
          await ctx.refreshMe();
          toast('Profile saved.');
        } catch (error) {
          toast(error.message, { kind: 'error' });
        }
      },
    },
    field('settings-display-name', 'Display name', displayName),
    field('settings-status', 'Status', statusText),
    field('settings-bio', 'About you', bio),
    field('settings-time-zone', 'Time zone', zone, 'Message times are shown in this zone.'),
    h('button', { type: 'submit', class: 'primary' }, 'Save profile'),
  );

  const avatarPreview = paintAvatar(h('span', { class: 'avatar large', 'aria-hidden': 'true' }), { name: me.display_name || me.username, url: me.avatar_url, seed: me.id });
  const avatarInput = h('input', { type: 'file', accept: 'image/png,image/jpeg,image/gif,image/webp' });
  avatarInput.addEventListener('change', async () => {
    const file = avatarInput.files[0];
    if (!file) return;
    const data = new FormData();
    data.append('avatar', file);
    try {
      await api.upload('me/avatar', data);
      toast('Picture updated.');
    } catch (error) {
      toast(error.message, { kind: 'error' });
    }
    settingsView(root, ctx);
  });
  const avatarBox = h(
    'div',
    { class: 'avatar-row' },
    avatarPreview,
    field('settings-avatar', 'Profile picture', avatarInput),
    me.avatar_url ? button('Remove picture', async () => {
      await api.del('me/avatar').catch((error) => toast(error.message, { kind: 'error' }));
      settingsView(root, ctx);
    }) : null,
  );

  const notifications = h('input', { type: 'checkbox', checked: s.notifications_enabled });
  const dndStart = h('input', { type: 'time', value: s.dnd_start || '' });
  const dndEnd = h('input', { type: 'time', value: s.dnd_end || '' });
  const visibility = h('select', {}, h('option', { value: 'friends', selected: s.presence_visibility === 'friends' }, 'My friends'), h('option', { value: 'nobody', selected: s.presence_visibility === 'nobody' }, 'Nobody'));
  const receipts = h('input', { type: 'checkbox', checked: s.read_receipts_enabled });
  const pushPreviews = h('input', { type: 'checkbox', id: 'settings-push-previews', checked: s.push_previews_enabled });
  const settingsForm = h(
    'form',
    {
      class: 'settings-form',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api.patch('me', {
            settings: {
              notifications_enabled: notifications.checked,
              dnd_start: dndStart.value || null,
              dnd_end: dndEnd.value || null,
              presence_visibility: visibility.value,
              read_receipts_enabled: receipts.checked,
              push_previews_enabled: pushPreviews.checked,
            },
          });
          await ctx.refreshMe();
          toast('Settings saved.');
        } catch (error) {
          toast(error.message, { kind: 'error' });
        }
      },
    },
    h('p', { class: 'check-row' }, Object.assign(notifications, { id: 'settings-notifications' }), h('label', { for: 'settings-notifications' }, 'Notify me of new messages')),
    h('div', { class: 'field-row' }, field('settings-dnd-start', 'Do not disturb from', dndStart), field('settings-dnd-end', 'until', dndEnd)),
    field('settings-visibility', 'Who sees when I am online', visibility),
    h('p', { class: 'check-row' }, Object.assign(receipts, { id: 'settings-receipts' }), h('label', { for: 'settings-receipts' }, 'Send read receipts')),
    h('p', { class: 'check-row' }, pushPreviews, h('label', { for: 'settings-push-previews' }, 'Show message text in push notifications')),
    h('button', { type: 'submit', class: 'primary' }, 'Save settings'),
  );

  const previews = h('input', { type: 'checkbox', id: 'settings-previews', checked: localStorage.getItem('chat:notification-previews') === 'on' });
  previews.addEventListener('change', () => localStorage.setItem('chat:notification-previews', previews.checked ? 'on' : 'off'));
  const previewRow = h('p', { class: 'check-row' }, previews, h('label', { for: 'settings-previews' }, 'Show message text in notifications on this browser while the app is open'));
  const pushBox = h('div', { class: 'push-box' });
  const renderPush = async () => {
    const current = await pushState();
    clear(pushBox);
    if (current === 'unsupported') {
      pushBox.appendChild(h('p', { class: 'muted' }, 'This browser cannot receive push notifications here (they need HTTPS or localhost, and a service worker).'));
      return;
    }
    if (current === 'denied') {
      pushBox.appendChild(h('p', { class: 'muted' }, 'Notifications are blocked for this site in the browser settings.'));
      return;
    }
    const on = current === 'subscribed';
    pushBox.appendChild(h('p', {}, on ? 'This browser receives notifications when the app is closed.' : 'Get notified in this browser even when the app is closed.'));
    pushBox.appendChild(
      button(on ? 'Turn off browser notifications' : 'Enable browser notifications', async () => {
        try {
          if (on) await pushDisable(api);
          else await pushEnable(api);
          toast(on ? 'Browser notifications off.' : 'Browser notifications on.');
        } catch (error) {
          toast(error.message || 'Could not change notifications.', { kind: 'error' });
        }
        renderPush();
      }, { kind: on ? 'secondary' : 'primary' }),
    );
  };
  renderPush();

  const devices = h('ul', { class: 'device-list', id: 'device-list' });
  const renderDevices = async () => {
    clear(devices);
    devices.appendChild(h('li', { class: 'device' }, h('span', { class: 'device-text' }, h('strong', {}, 'This browser'), h('span', { class: 'muted' }, navigator.userAgent.split(') ')[0].replace('(', '· ').slice(0, 80))), button('Log out', () => ctx.logout(), { name: 'Log out this browser' })));
    try {
      const page = await api.get('auth/tokens?page_size=100');
      for (const token of page.results) {
        devices.appendChild(
          h(
            'li',
            { class: 'device' },
            h('span', { class: 'device-text' }, h('strong', {}, token.device_name || 'Unnamed device'), h('span', { class: 'muted' }, `signed in ${formatFull(token.created)}${token.last_used_at ? ` · last used ${formatFull(token.last_used_at)}` : ''}`)),
            button('Log out this device', async () => {
              try {
                await api.del(`auth/tokens/${token.id}`);
                toast('Device logged out.');
              } catch (error) {
                toast(error.message, { kind: 'error' });
              }
              renderDevices();
            }, { kind: 'danger-outline', name: `Log out ${token.device_name || 'device'}` }),
          ),
        );
      }
    } catch (error) {
      toast(error.message, { kind: 'error' });
    }
  };
  renderDevices();

  const oldPassword = h('input', { type: 'password', autocomplete: 'current-password' });
  const newPassword = h('input', { type: 'password', autocomplete: 'new-password' });
  const passwordForm = h(
    'form',
    {
      class: 'settings-form',
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await api.post('auth/password', { old_password: oldPassword.value, new_password: newPassword.value });
          oldPassword.value = newPassword.value = '';
          toast('Password changed; your other devices were logged out.');
          renderDevices();
        } catch (error) {
          const detail = Object.values(error.fields || {}).flat().join(' ');
          toast(detail || error.message, { kind: 'error' });
        }
      },
    },
    field('settings-old-password', 'Current password', oldPassword),
    field('settings-new-password', 'New password', newPassword),
    h('button', { type: 'submit', class: 'secondary' }, 'Change password'),
  );

  clear(root).append(
    section('Profile', avatarBox, profileForm),
    section('Notifications and privacy', settingsForm),
    section('Browser notifications', pushBox, previewRow),
    section('Logged-in devices', devices),
    section('Password', passwordForm),
  );
}
