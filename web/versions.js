// A module's history: its versions, the exports' differences between two of them, runs pinned
// to one (links to the run form with ?version=N), one-click rollback with a confirmation, and an
// upload of a new version (PUT, with If-Match so a concurrent change is refused, not overwritten).
import { api } from './api.js';
import { announce, bytes, confirmDialog, errorBox, field, h, replace, signature, when } from './dom.js';
import { uploadForm } from './inspect.js';
import { mayWrite } from './modules.js';

/** What changed in the exports from version `a` to `b`: added, removed, and signature changes. */
export function exportDiff(a, b) {
  const before = new Map(a.exports.map((fn) => [fn.name, signature(fn)]));
  const after = new Map(b.exports.map((fn) => [fn.name, signature(fn)]));
  const changes = [];
  for (const [name, sig] of after) {
    if (!before.has(name)) changes.push(['added', sig]);
    else if (before.get(name) !== sig) changes.push(['changed', `${before.get(name)} → ${sig}`]);
  }
  for (const [name, sig] of before) if (!after.has(name)) changes.push(['removed', sig]);
  return changes;
}

function diffView(a, b) {
  const changes = exportDiff(a, b);
  const memory = (m) => (m.memory ? `${m.memory.min_pages}–${m.memory.max_pages} pages` : 'none');
  return h('div', { class: 'diff' },
    h('h3', {}, `Version ${a.version} → version ${b.version}`),
    changes.length
      ? h('ul', {}, changes.map(([kind, text]) => h('li', { class: `diff-${kind}` }, h('strong', {}, `${kind}: `), h('code', {}, text))))
      : h('p', {}, 'The exports are the same.'),
    h('p', {}, `Size: ${bytes(a.size)} → ${bytes(b.size)}. Memory: ${memory(a)} → ${memory(b)}. ${a.sha256 === b.sha256 ? 'Same content (sha256).' : 'Different content (sha256).'}`));
}

async function allVersions(id) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(`/modules/${id}/versions?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < 1000);
  return items;
}

/** The versions page of module `id`. */
export async function versionsPage(main, who, id) {
  const module = await api(`/modules/${id}`);
  const versions = await allVersions(id);
  const writable = mayWrite(who) || (who.role !== 'runner' && who.modules?.includes(id));
  const message = h('div', { 'aria-live': 'polite' });

  const rollback = async (version) => {
    const ok = await confirmDialog(`Roll back ${module.name}?`, `Version ${version.version} becomes current again, as a new version ${module.version + 1}. Version ${module.version} stays in the history.`, `Roll back to version ${version.version}`);
    if (!ok) return;
    try {
      const updated = await api(`/modules/${id}/rollback`, { method: 'POST', body: { version: version.version }, headers: { 'if-match': `"${module.version}"` } });
      announce(`Rolled back: version ${updated.version} has version ${version.version}'s content.`);
      await versionsPage(main, who, id);
      main.querySelector('[aria-live]').append(h('p', { class: 'ok', role: 'status' }, `Rolled back: version ${updated.version} is version ${version.version}'s content.`));
    } catch (err) {
      replace(message, errorBox(err));
    }
  };

  const rows = versions.map((v) => h('tr', {},
    h('th', { scope: 'row' }, v.version === module.version ? `${v.version} (current)` : String(v.version)),
    h('td', {}, v.name),
    h('td', {}, when(v.created_at)),
    h('td', {}, bytes(v.size)),
    h('td', {}, h('code', { class: 'hash', title: v.sha256 }, v.sha256.slice(0, 12))),
    h('td', { class: 'row-actions' },
      h('a', { href: `#/modules/${id}?version=${v.version}` }, `Run version ${v.version}`),
      writable && v.version !== module.version
        ? h('button', { type: 'button', onclick: () => rollback(v), 'aria-label': `Roll back to version ${v.version}` }, 'Roll back')
        : null)));

  const numbers = versions.map((v) => v.version);
  const from = h('select', { name: 'from' }, numbers.map((n) => h('option', { value: n }, `Version ${n}`)));
  const to = h('select', { name: 'to' }, numbers.map((n) => h('option', { value: n }, `Version ${n}`)));
  from.value = String(numbers[1] ?? numbers[0]);
  to.value = String(numbers[0]);
  const diffBox = h('div', { 'aria-live': 'polite' });
  const compare = async (event) => {
    event.preventDefault();
    try {
      const [a, b] = await Promise.all([api(`/modules/${id}/versions/${from.value}`), api(`/modules/${id}/versions/${to.value}`)]);
      replace(diffBox, diffView(a, b));
    } catch (err) {
      replace(diffBox, errorBox(err));
    }
  };

  const update = writable
    ? uploadForm({
      title: 'Upload a new version',
      button: 'Upload new version',
      defaultName: module.name,
      send: async (file, name, type) => {
        const updated = await api(`/modules/${id}?name=${encodeURIComponent(name)}`, { method: 'PUT', body: file, headers: { 'content-type': type, 'if-match': `"${module.version}"` } });
        await versionsPage(main, who, id);
        main.querySelector('[aria-live]').append(h('p', { class: 'ok', role: 'status' }, `Uploaded version ${updated.version}.`));
        return updated;
      },
    })
    : null;

  replace(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/modules' }, 'Modules'), ' / ', h('a', { href: `#/modules/${id}` }, module.name), ' / versions'),
    h('h1', {}, `Versions of ${module.name}`),
    message,
    h('section', { class: 'card', 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title' }, 'History'),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('caption', { class: 'visually-hidden' }, 'Versions, newest first'),
        h('thead', {}, h('tr', {}, ['Version', 'Name', 'Written', 'Size', 'sha256', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows)))),
    h('div', { class: 'columns' },
      h('form', { class: 'card', 'aria-labelledby': 'diff-title', onsubmit: compare },
        h('h2', { id: 'diff-title' }, 'Compare exports'),
        h('div', { class: 'inline' }, field('From', from), field('To', to)),
        h('button', { type: 'submit' }, 'Compare'),
        diffBox),
      update));
}
