// The inspection report of a module or version, and the upload control (drop zone + file picker)
// shared by the modules page (a new module) and the versions page (a new version).
import { api } from './api.js';
import { bytes, errorBox, field, h, replace, signature, uid, when, whileBusy } from './dom.js';

/** What Wess found in a module: exports with signatures, memory, size, sha256. */
export function inspection(module) {
  const memory = module.memory ? `${module.memory.min_pages} to ${module.memory.max_pages} pages of 64 KiB` : 'none';
  const rows = [
    ['Id', module.id],
    ['Tenant', module.tenant],
    ['Version', module.version],
    ['Kind', module.kind === 'wasi' ? 'WASI program' : 'functions'],
    ['Size', `${bytes(module.size)} (${module.size} bytes)`],
    ['sha256', h('code', { class: 'hash' }, module.sha256)],
    ['Memory', memory],
    ['Files', module.files ? `${module.files.count} files, ${bytes(module.files.bytes)}` : null],
    ['Updated', module.updated_at ? when(module.updated_at) : when(module.created_at)],
  ].filter(([, value]) => value !== undefined && value !== null);
  const exportsList = module.exports.length
    ? h('ul', { class: 'exports' }, module.exports.map((fn) => h('li', {}, h('code', {}, signature(fn)))))
    : h('p', {}, 'No exported functions.');
  return h('section', { class: 'card report', 'aria-label': 'Inspection report' },
    h('h2', {}, 'Inspection report'),
    h('dl', { class: 'facts' }, rows.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)])),
    h('h3', {}, `Exports (${module.exports.length})`),
    exportsList);
}

/** Content type of an upload: wasm binaries as application/wasm, text as text/wat (the server compiles it). */
function contentType(file) {
  return /\.wat$/i.test(file.name) ? 'text/wat' : 'application/wasm';
}

/**
 * An upload form: a drop zone that is also a file picker (.wasm or .wat), a name, and what
 * `send(file, name, contentType)` answers shown as an inspection report, or its error.
 */
export function uploadForm({ title, button, defaultName, send, extra = [] }) {
  const fileInput = h('input', { type: 'file', accept: '.wasm,.wat', class: 'file-input' });
  const nameInput = h('input', { type: 'text', name: 'name', maxlength: '256', value: defaultName ?? '' });
  const chosen = h('p', { class: 'chosen', 'aria-live': 'polite' }, 'No file chosen.');
  const result = h('div', { class: 'upload-result' });
  let file = null;
  const choose = (picked) => {
    if (!picked) return;
    file = picked;
    replace(chosen, `Chosen: ${picked.name} (${bytes(picked.size)})`);
    if (!nameInput.value) nameInput.value = picked.name.replace(/\.(wasm|wat)$/i, '');
  };
  const zoneId = uid('drop');
  const zone = h('div', { class: 'dropzone', id: zoneId },
    h('p', {}, 'Drop a .wasm or .wat file here, or'),
    h('label', { class: 'button', for: fileInput.id || (fileInput.id = uid('file')) }, 'Choose a file…'),
    fileInput);
  fileInput.addEventListener('change', () => choose(fileInput.files[0]));
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    choose(event.dataTransfer.files[0]);
  });
  const submit = h('button', { type: 'submit' }, button);
  const form = h('form', { class: 'card upload' },
    h('h2', {}, title),
    zone, chosen,
    field('Module name', nameInput),
    extra,
    submit, result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(result);
    if (!file) return replace(result, errorBox({ message: 'Choose a .wasm or .wat file first.' }));
    if (!nameInput.value.trim()) return replace(result, errorBox({ message: 'Give the module a name.' }));
    await whileBusy(submit, result, async () => {
      const module = await send(file, nameInput.value.trim(), contentType(file));
      return [h('p', { class: 'ok', role: 'status' }, `Uploaded ${module.name}, version ${module.version}.`),
        h('p', {}, h('a', { href: `#/modules/${module.id}` }, `Open ${module.name}`)), inspection(module)];
    });
    return undefined;
  });
  return form;
}

/** POST /modules with a raw body (?name=, ?tenant= for admins). */
export function createModule(file, name, type, tenant) {
  const query = new URLSearchParams({ name });
  if (tenant) query.set('tenant', tenant);
  return api(`/modules?${query}`, { method: 'POST', body: file, headers: { 'content-type': type } });
}
