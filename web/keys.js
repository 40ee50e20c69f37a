// Keys and usage, as the API allows the signed-in key: admins create keys (the secret shown once,
// with a copy button), admins and developers list and revoke them; every key sees its own usage
// against its tier's limits, and developers and admins every listed key's.
import { api } from './api.js';
import { announce, bytes, confirmDialog, errorBox, field, h, replace, when } from './dom.js';

/** Counters beside the limits that bound them. */
function usageView(usage) {
  const { usage: used, limits, storage } = usage;
  const limit = (value, unit = '') => (value === null || value === undefined ? 'no limit' : `${value}${unit}`);
  const rows = [
    ['Runs today', used.runs_today, limit(limits.runs_per_day)],
    ['Runs (all time)', used.runs, '—'],
    ['Errors', used.errors, '—'],
    ['Guest CPU', `${used.cpu_ms.toFixed(1)} ms`, limit(limits.cpu_ms_per_minute, ' ms per minute')],
    ['Bytes in / out', `${bytes(used.bytes_in)} / ${bytes(used.bytes_out)}`, '—'],
    ['Storage of tenant', bytes(storage.stored_bytes), storage.max_storage === null ? 'no limit' : bytes(storage.max_storage)],
    ['Requests per minute', '—', limit(limits.requests_per_minute)],
    ['Modules', '—', limit(limits.max_modules)],
    ['Module size', '—', bytes(limits.max_module_size)],
    ['Timeout', '—', `${limits.max_timeout_ms} ms`],
    ['Memory', '—', bytes(limits.max_memory_bytes)],
    ['Concurrent calls', '—', limit(limits.max_concurrency)],
    ['Event streams', '—', limit(limits.max_event_streams)],
  ];
  return h('table', { class: 'usage' },
    h('caption', {}, `Usage of ${usage.key_id} (tier ${usage.tier ?? 'none'}; day ${used.day})`),
    h('thead', {}, h('tr', {}, ['Counter or limit', 'Used', 'Limit'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.map(([name, value, max]) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, value), h('td', {}, max)))));
}

async function showUsage(box, id) {
  try {
    replace(box, usageView(await api(`/keys/${id}/usage`)));
  } catch (err) {
    replace(box, errorBox(err));
  }
}

/** The form that creates a key (admins), and the one-time panel showing its secret. */
function createForm(who, reload) {
  const name = h('input', { type: 'text', name: 'key-name', required: true, maxlength: '256' });
  const role = h('select', { name: 'role' }, ['runner', 'developer', 'admin'].map((r) => h('option', { value: r }, r)));
  const tenant = h('input', { type: 'text', name: 'key-tenant', placeholder: who.tenant });
  const tier = h('input', { type: 'text', name: 'key-tier' });
  const result = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'create-title' },
    h('h2', { id: 'create-title' }, 'Create a key'),
    field('Key name', name), field('Role', role),
    field('Tenant', tenant, `Blank: ${who.tenant}`), field('Tier', tier, 'Blank: the default tier (admin keys: none)'),
    h('button', { type: 'submit' }, 'Create key'), result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), role: role.value };
    if (tenant.value.trim()) body.tenant = tenant.value.trim();
    if (tier.value.trim()) body.tier = tier.value.trim();
    try {
      const made = await api('/keys', { method: 'POST', body });
      const secret = h('input', { type: 'text', readonly: true, value: made.key, class: 'secret', name: 'new-key' });
      const copied = h('span', { 'aria-live': 'polite' });
      const copy = async () => {
        secret.select();
        try {
          await navigator.clipboard.writeText(made.key);
          replace(copied, 'Copied.');
        } catch {
          replace(copied, 'Select the key and copy it (Ctrl+C).');
        }
      };
      replace(result, h('div', { class: 'secret-panel', role: 'status' },
        h('p', {}, h('strong', {}, `Key ${made.id} created. `), 'Copy it now: it is shown this once, Wess keeps only its hash.'),
        field('New API key', secret),
        h('button', { type: 'button', onclick: copy }, 'Copy key'), copied));
      name.value = '';
      await reload();
    } catch (err) {
      replace(result, errorBox(err));
    }
  });
  return form;
}

/** Keys and usage (a key that may not list keys: its own usage only). */
export async function keysPage(main, who) {
  const usageBox = h('div', { class: 'usage-box', 'aria-live': 'polite' });
  if (!who.managesKeys) {
    replace(main, h('h1', {}, 'Usage'), h('section', { class: 'card' }, usageBox));
    return showUsage(usageBox, who.id);
  }
  const listBox = h('div', { class: 'table-wrap' });
  const message = h('div', { 'aria-live': 'polite' });
  const revoke = async (key) => {
    if (!(await confirmDialog(`Revoke ${key.name}?`, `Key ${key.id} is refused from its next request. This cannot be undone.`, 'Revoke key'))) return;
    try {
      await api(`/keys/${key.id}`, { method: 'DELETE' });
      announce(`Key ${key.id} revoked.`);
      replace(message, h('p', { class: 'ok', role: 'status' }, `Key ${key.name} (${key.id}) revoked.`));
      await reload();
    } catch (err) {
      replace(message, errorBox(err));
    }
  };
  async function reload() {
    const items = [];
    let cursor = null;
    do {
      const page = await api(`/keys?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < 1000);
    replace(listBox, h('table', {},
      h('caption', { class: 'visually-hidden' }, 'API keys'),
      h('thead', {}, h('tr', {}, ['Name', 'Id', 'Role', 'Tenant', 'Tier', 'Created', 'State', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((key) => h('tr', {},
        h('th', { scope: 'row' }, key.name),
        h('td', {}, h('code', {}, key.id)),
        h('td', {}, key.role),
        h('td', {}, key.tenant),
        h('td', {}, key.tier ?? '—'),
        h('td', {}, when(key.created_at)),
        h('td', {}, key.revoked_at ? `revoked ${when(key.revoked_at)}` : 'active'),
        h('td', { class: 'row-actions' },
          h('button', { type: 'button', onclick: () => showUsage(usageBox, key.id), 'aria-label': `Usage of ${key.name}` }, 'Usage'),
          !key.revoked_at && key.id !== who.id && (who.role === 'admin' || key.role !== 'admin')
            ? h('button', { type: 'button', class: 'danger', onclick: () => revoke(key), 'aria-label': `Revoke ${key.name}` }, 'Revoke')
            : null))))));
  }
  replace(main,
    h('h1', {}, 'Keys and usage'),
    message,
    h('section', { class: 'card', 'aria-labelledby': 'keys-title' }, h('h2', { id: 'keys-title' }, who.role === 'admin' ? 'Every key' : `Keys of tenant ${who.tenant}`), listBox),
    h('div', { class: 'columns' },
      who.role === 'admin' ? createForm(who, reload) : null,
      h('section', { class: 'card', 'aria-labelledby': 'usage-title' }, h('h2', { id: 'usage-title' }, 'Usage'), usageBox)));
  await reload();
  return showUsage(usageBox, who.id);
}
