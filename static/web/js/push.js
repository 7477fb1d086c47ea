// Web Push for this browser: the service worker (/sw.js) is subscribed with the server's VAPID
// public key (GET devices/vapid-public-key) and the subscription registered with POST devices.

const STORE_KEY = 'chat:push-device-id';

function supported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window && window.isSecureContext;
}

function keyBytes(base64url) {
  const padded = (base64url + '='.repeat((4 - (base64url.length % 4)) % 4)).replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(padded);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

async function registration() {
  return navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(() => navigator.serviceWorker.ready);
}

/** 'unsupported' | 'denied' | 'subscribed' | 'off' */
export async function pushState() {
  if (!supported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  try {
    const reg = await registration();
    const sub = await reg.pushManager.getSubscription();
    return sub && localStorage.getItem(STORE_KEY) ? 'subscribed' : 'off';
  } catch {
    return 'unsupported';
  }
}

export async function pushEnable(api) {
  if (!supported()) throw new Error('This browser does not support push notifications here.');
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw new Error('Notifications were not allowed.');
  const { public_key: publicKey } = await api.get('devices/vapid-public-key');
  const reg = await registration();
  let sub = await reg.pushManager.getSubscription();
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
  const json = sub.toJSON();
  const device = await api.post('devices', { kind: 'webpush', subscription: { endpoint: json.endpoint, keys: json.keys } });
  localStorage.setItem(STORE_KEY, String(device.id));
}

export async function pushDisable(api) {
  const id = localStorage.getItem(STORE_KEY);
  if (id) await api.del(`devices/${id}`).catch(() => {});
  localStorage.removeItem(STORE_KEY);
  if (supported()) {
    const reg = await registration();
    const sub = await reg.pushManager.getSubscription();
    if (sub) await sub.unsubscribe();
  }
}
