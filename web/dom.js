// Every element the console shows is built here, and every string a user or the API supplied goes
// in as a text node or an attribute value: nothing is ever parsed as HTML (no innerHTML anywhere).

/**
 * An element: `h('button', { type: 'button', onclick: fn }, 'Run')`. `on*` function props become
 * listeners, `class` the class list, `hidden`/`disabled`/... booleans; children are nodes or text.
 */
export function h(tag, props = {}, ...children) {
  const el = tag === 'svg' || props.svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === 'svg' || value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

/** An SVG element (charts). */
export function s(tag, props = {}, ...children) {
  return h(tag, { ...props, svg: true }, ...children);
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
/** A fresh element id, for label/input and aria-describedby pairs. */
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form field: the label, then the control (given its id), and an optional hint. */
export function field(label, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const parts = [h('label', { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('p', { class: 'hint', id: hintId }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

/** An error message box (role=alert, so screen readers hear it at once). */
export function errorBox(err) {
  const code = err && err.code ? `${err.code}: ` : '';
  return h('p', { class: 'error', role: 'alert' }, `${code}${err && err.message ? err.message : String(err)}`);
}

/** Runs `action` with `button` disabled, then shows what it returns in `result`, or its error. */
export async function whileBusy(button, result, action) {
  button.disabled = true;
  try {
    replace(result, await action());
  } catch (err) {
    replace(result, errorBox(err));
  } finally {
    button.disabled = false;
  }
}

/** Says `text` in the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announce');
  if (region) region.textContent = text;
}

/** Bytes as B / KiB / MiB. */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** An ISO timestamp as local date and time. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '—';
}

/** `name(i32, i64) -> i32` for an export. */
export function signature(fn) {
  const results = fn.results.length ? ` -> ${fn.results.join(', ')}` : '';
  return `${fn.name}(${fn.params.join(', ')})${results}`;
}

/** A modal confirmation (a native <dialog>: focus is trapped and Escape cancels); resolves true on confirm. */
export function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const dialog = h('dialog', { 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title),
      h('p', {}, text),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', onclick: () => dialog.close('yes') }, confirmLabel),
        h('button', { type: 'button', onclick: () => dialog.close('no') }, 'Cancel')));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
