// The merchandiser's page: catalogs with their stats, a catalog editor that shows the API's own messages, bulk
// imports with a live progress bar, a product with its nearest neighbours, and the tenant's API keys.
'use strict';

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const megabytes = (bytes) => `${(bytes / (1 << 20)).toFixed(1)} MB`;
let catalogs = [];

async function loadCatalogs() {
  const status = $('catalogs-status');
  try {
    ({ catalogs } = await json('/v1/catalogs'));
    say(status, catalogs.length ? '' : 'No catalogs yet: create one below.');
  } catch (e) {
    catalogs = [];
    say(status, `Catalogs could not be listed — ${e.message}`, true);
  }
  $('catalogs').tBodies[0].replaceChildren(...catalogs.map(row));
  // A re-embedding shows its progress until it ends.
  clearTimeout(loadCatalogs.again);
  if (catalogs.some((c) => c.reembedding?.phase === 'copying')) loadCatalogs.again = setTimeout(loadCatalogs, 1000);
  for (const select of [$('import-catalog'), $('product-catalog')]) {
    const previous = select.value || sessionStorage.getItem('catalogs-catalog');
    select.replaceChildren(...catalogs.map((c) => new Option(c.name, c.name)));
    if (catalogs.some((c) => c.name === previous)) select.value = previous;
  }
}

function row(c) {
  const index = c.config.index ?? {};
  const memory = c.shards.reduce((sum, s) => sum + (s.indexBytes ?? 0), 0);
  const synced = c.shards.filter((s) => s.sync);
  const sync = synced.length === 0 ? 'not bound'
    : `backlog ${synced.reduce((n, s) => n + s.sync.backlog, 0)}, lag ` +
      `${Math.max(...synced.map((s) => s.sync.lagSeconds)).toFixed(1)} s` +
      (synced.some((s) => s.sync.lastError) ? ' (failing)' : '');
  const edit = el('button', { type: 'button', textContent: 'Edit' });
  edit.setAttribute('aria-label', `Edit ${c.name}`);
  edit.addEventListener('click', () => editCatalog(c));
  const importInto = el('button', { type: 'button', textContent: 'Import' });
  importInto.setAttribute('aria-label', `Import into ${c.name}`);
  importInto.addEventListener('click', () => {
    $('import-catalog').value = c.name;
    $('import').elements.file.focus();
  });
  const actions = [edit, ' ', importInto];
  const versionAction = (label, method, path, done) => {
    const button = el('button', { type: 'button', textContent: label });
    button.setAttribute('aria-label', `${label} ${c.name}`);
    button.addEventListener('click', async () => {
      try {
        await api(`${catalogPath(c.name)}${path}`, { method });
        say($('catalogs-status'), `${c.name}: ${done}.`);
      } catch (err) {
        say($('catalogs-status'), `${c.name}: ${err.message}`, true);
      }
      await loadCatalogs();
    });
    actions.push(' ', button);
  };
  const r = c.reembedding;
  if (r?.phase === 'copying') versionAction('Cancel re-embedding', 'POST', '/reembedding:cancel', 'cancelled');
  if (c.previous) versionAction('Roll back', 'POST', '/rollback', `serving version ${c.previous.version}'s settings`);
  const progress = r?.total ? ` ${Math.floor((100 * r.processed) / r.total)} %` : '';
  const version = `v${c.version}` + (!r ? '' : r.phase === 'copying' ? `, re-embedding into v${r.targetVersion}` +
    progress : r.phase === 'failed' ? `, re-embedding failed: ${r.error}` : r.phase === 'cancelled'
      ? ', re-embedding cancelled' : '') + (c.previous ? ` (v${c.previous.version} kept for a rollback)` : '');
  return el('tr', {},
    el('th', { scope: 'row', textContent: c.name }),
    el('td', { textContent: String(c.products) }),
    el('td', { textContent: `${c.shards.length}` + (c.underReplicated ? ` (${c.underReplicated} under-replicated)`
      : '') }),
    el('td', { textContent: `${index.kind ?? ''} ${index.quantization === 'int8' ? 'int8' : ''}`.trim() }),
    el('td', { textContent: megabytes(memory) }),
    el('td', { textContent: sync }),
    el('td', { textContent: version }),
    el('td', {}, ...actions));
}

function editCatalog(c) {
  const f = $('editor').elements;
  const config = c.config;
  f.name.value = c.name;
  f.model.value = config.encoder?.model ?? '';
  f.output.value = config.encoder?.output ?? '';
  f.dimensions.value = config.encoder ? '' : config.dimensions;
  f.metric.value = config.metric;
  f.shards.value = config.shards;
  f.kind.value = config.index?.kind ?? 'hnsw';
  f.quantization.value = config.index?.quantization ?? 'none';
  f.replicas.value = config.replicas ?? '';
  f.meIndex.value = config.matchingEngine?.index ?? '';
  f.meEndpoint.value = config.matchingEngine?.indexEndpoint ?? '';
  f.meDeployed.value = config.matchingEngine?.deployedIndexId ?? '';
  f.meRouting.value = config.matchingEngine?.queryRouting ?? 'local';
  say($('editor-status'), `Editing ${c.name}.`);
  f.name.focus();
}

/** The form as a PUT body: empty fields are left out, so the API's defaults (and its checks) apply. */
function draft() {
  const f = $('editor').elements;
  const number = (input) => (input.value === '' ? undefined : Number(input.value));
  const body = { metric: f.metric.value, shards: number(f.shards), replicas: number(f.replicas),
    index: { kind: f.kind.value, quantization: f.quantization.value } };
  if (f.model.value.trim()) body.encoder = { model: f.model.value.trim(), output: f.output.value.trim() || undefined };
  if (f.dimensions.value !== '') body.dimensions = number(f.dimensions);
  if (f.meIndex.value.trim()) {
    body.matchingEngine = { index: f.meIndex.value.trim(), indexEndpoint: f.meEndpoint.value.trim() || undefined,
      deployedIndexId: f.meDeployed.value.trim() || undefined, queryRouting: f.meRouting.value };
  }
  return body;
}

$('editor').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = $('editor').elements.name.value.trim();
  try {
    const response = await api(catalogPath(name), sendJson('PUT', draft()));
    say($('editor-status'), `Catalog ${name} ${response.status === 201 ? 'created' : 'saved'}.`);
    await loadCatalogs();
  } catch (err) {
    say($('editor-status'), `Not saved — ${err.message}`, true);
  }
});

// Imports: upload, then follow the job until it ends.
const importTypes = { zip: 'application/zip', csv: 'text/csv', jsonl: 'application/x-ndjson',
  ndjson: 'application/x-ndjson' };
let following = null;

$('import').addEventListener('submit', async (e) => {
  e.preventDefault();
  const file = $('import').elements.file.files[0];
  const target = $('import-catalog').value;
  if (!file || !target) return;
  const type = importTypes[file.name.split('.').pop().toLowerCase()];
  if (!type) { say($('import-status'), 'Choose a .zip, .csv or .jsonl file.', true); return; }
  try {
    say($('import-status'), `Uploading ${file.name}…`);
    const response = await api(`${catalogPath(target)}/imports?name=${encodeURIComponent(file.name)}`,
      { method: 'POST', body: file, headers: { 'Content-Type': type } });
    follow(response.headers.get('Location'), await response.json());
  } catch (err) {
    say($('import-status'), `Import refused — ${err.message}`, true);
  }
});

function follow(location, view) {
  following = location;
  $('import-progress').hidden = false;
  $('import-errors').hidden = true;
  show(view);
  const tick = async () => {
    if (following !== location) return;
    try {
      const next = await json(location);
      show(next);
      if (next.state === 'queued' || next.state === 'running') setTimeout(tick, 400);
      else finished(location, next);
    } catch (err) {
      say($('import-status'), `Progress unavailable — ${err.message}`, true);
    }
  };
  setTimeout(tick, 300);
}

function show(v) {
  const bar = $('import-bar');
  bar.max = Math.max(1, v.total);
  bar.value = v.done;
  const rate = v.ratePerSecond ? ` · ${v.ratePerSecond}/s` : '';
  const eta = v.etaSeconds != null ? ` · about ${Math.ceil(v.etaSeconds)} s left` : '';
  say($('import-counts'), `${v.state}: ${v.done} of ${v.total} · ${v.written} written · ${v.unchanged} unchanged · ` +
    `${v.failed} failed${rate}${eta}`);
  $('import-cancel').disabled = !(v.state === 'queued' || v.state === 'running');
}

async function finished(location, v) {
  say($('import-status'), `Import ${v.state}${v.error ? ` — ${v.error}` : ''}.`, v.state !== 'completed');
  if (v.failed > 0) {
    const link = $('import-errors');
    link.href = URL.createObjectURL(await (await api(`${location}/errors`)).blob());
    link.hidden = false;
  }
  loadCatalogs();
}

$('import-cancel').addEventListener('click', async () => {
  if (!following) return;
  try { await api(`${following}:cancel`, { method: 'POST' }); } catch (err) {
    say($('import-status'), `Not cancelled — ${err.message}`, true);
  }
});

// A product: its image, its datapoint and its nearest neighbours (each a link to its own page).
async function showProduct(catalogName, id) {
  const status = $('product-status');
  $('product-catalog').value = catalogName;
  $('product-form').elements.id.value = id;
  try {
    const product = await json(`${catalogPath(catalogName)}/products/${encodeURIComponent(id)}`);
    const { featureVector, ...rest } = product;
    $('product-datapoint').textContent =
      JSON.stringify({ ...rest, featureVector: `[${featureVector?.length ?? 0} numbers]` }, null, 2);
    $('product-image').alt = id;
    loadThumbnail(catalogName, id, $('product-image'), 512);
    const { neighbors } = await json(`${catalogPath(catalogName)}/search`,
      sendJson('POST', { productId: id, neighborCount: 8 }));
    $('neighbours').replaceChildren(...neighbors.map((n) => {
      const img = el('img', { alt: n.id });
      loadThumbnail(catalogName, n.id, img, 128);
      const link = el('a', { href: `#product=${encodeURIComponent(catalogName)}/${encodeURIComponent(n.id)}` },
        img, el('span', { textContent: `${n.id} · ${n.distance.toFixed(3)}` }));
      return el('li', {}, link);
    }));
    $('product').hidden = false;
    say(status, '');
  } catch (err) {
    $('product').hidden = true;
    say(status, `Not shown — ${err.message}`, true);
  }
}

$('product-form').addEventListener('submit', (e) => {
  e.preventDefault();
  location.hash = `product=${encodeURIComponent($('product-catalog').value)}/` +
    encodeURIComponent($('product-form').elements.id.value.trim());
});

function route() {
  const match = /^#product=([^/]+)\/(.+)$/.exec(location.hash);
  if (match) showProduct(decodeURIComponent(match[1]), decodeURIComponent(match[2]));
}
window.addEventListener('hashchange', route);

// The tenant's keys: listed without secrets; a new or rotated key's secret is shown once.
async function loadKeys() {
  const status = $('keys-status');
  if (!keyInput.value.trim()) {
    // Without a key (Development) there is no tenant of keys to manage.
    $('keys').tBodies[0].replaceChildren();
    say(status, 'Enter a key with the admin scope above to list and manage this tenant\'s keys.');
    return;
  }
  try {
    const keys = await json('/v1/keys');
    $('keys').tBodies[0].replaceChildren(...(Array.isArray(keys) ? keys : keys.keys).map(keyRow));
    say(status, '');
  } catch (err) {
    $('keys').tBodies[0].replaceChildren();
    say(status, `Keys could not be listed — ${err.message}`, true);
  }
}

function keyRow(k) {
  const state = k.revokedAt ? 'revoked' : k.expiresAt ? `valid until ${new Date(k.expiresAt).toLocaleString()}`
    : 'active';
  const actions = el('td');
  if (!k.revokedAt) {
    const rotate = el('button', { type: 'button', textContent: 'Rotate' });
    rotate.setAttribute('aria-label', `Rotate key ${k.name}`);
    rotate.addEventListener('click', () => keyAction(`/v1/keys/${encodeURIComponent(k.id)}:rotate`, 'POST'));
    const revoke = el('button', { type: 'button', textContent: 'Revoke' });
    revoke.setAttribute('aria-label', `Revoke key ${k.name}`);
    revoke.addEventListener('click', () => keyAction(`/v1/keys/${encodeURIComponent(k.id)}`, 'DELETE'));
    actions.append(rotate, ' ', revoke);
  }
  return el('tr', {}, el('td', { textContent: k.id }), el('td', { textContent: k.name }),
    el('td', { textContent: k.scopes.join(', ') }),
    el('td', { textContent: new Date(k.createdAt).toLocaleString() }), el('td', { textContent: state }), actions);
}

async function keyAction(path, method, body) {
  try {
    const response = await api(path, body ? sendJson(method, body) : { method });
    const created = response.status === 204 ? null : await response.json();
    $('new-secret').hidden = !created?.key;
    if (created?.key) $('new-secret').querySelector('code').textContent = created.key;
    await loadKeys();
  } catch (err) {
    say($('keys-status'), `Not done — ${err.message}`, true);
  }
}

$('new-key').addEventListener('submit', (e) => {
  e.preventDefault();
  const form = $('new-key');
  const scopes = [...form.querySelectorAll('input[name=scope]:checked')].map((b) => b.value);
  keyAction('/v1/keys', 'POST', { name: form.elements.name.value.trim(), scopes });
});

async function loadAll() {
  await loadCatalogs();
  loadKeys();
  route();
}
document.addEventListener('keychange', loadAll);
loadAll();
