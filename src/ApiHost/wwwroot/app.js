// The shopper's search page: pick a catalog, search by a dropped or chosen photo, an image URL, or a result
// ("more like this"). Plain modules of the browser, nothing fetched from elsewhere; every call goes to this API.
'use strict';

const $ = (id) => document.getElementById(id);
const keyInput = $('key');
keyInput.value = sessionStorage.getItem('catalogs-key') ?? '';

function headers(extra = {}) {
  const key = keyInput.value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: headers(init.headers) });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not problem+json */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function status(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

async function loadCatalogs() {
  const select = $('catalog');
  try {
    const { catalogs } = await (await api('/v1/catalogs')).json();
    const previous = select.value || sessionStorage.getItem('catalogs-catalog');
    select.replaceChildren(...catalogs.map((c) => new Option(`${c.name} (${c.products})`, c.name)));
    if (catalogs.some((c) => c.name === previous)) select.value = previous;
    status(catalogs.length ? '' : 'No catalogs yet.');
  } catch (e) {
    select.replaceChildren();
    status(`Catalogs could not be listed — ${e.message}`, true);
  }
}

const catalog = () => $('catalog').value;
const k = () => Number($('k').value);

async function search(body, label) {
  if (!catalog()) { status('Choose a catalog first.', true); return; }
  status(`Searching ${catalog()} for ${label}…`);
  const started = performance.now();
  try {
    const init = body instanceof FormData
      ? { method: 'POST', body }
      : { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } };
    const { neighbors } = await (await api(`/v1/catalogs/${encodeURIComponent(catalog())}/search`, init)).json();
    render(neighbors);
    status(`${neighbors.length} similar products for ${label} in ${Math.round(performance.now() - started)} ms.`);
  } catch (e) {
    status(`Search failed — ${e.message}`, true);
  }
}

function showProbe(src, caption) {
  const probe = $('probe');
  probe.hidden = false;
  probe.querySelector('img').src = src;
  probe.querySelector('figcaption').textContent = caption;
}

function searchFile(file) {
  if (!file) return;
  showProbe(URL.createObjectURL(file), file.name);
  const form = new FormData();
  form.append('image', file);
  form.append('query', JSON.stringify({ neighborCount: k() }));
  search(form, file.name);
}

function searchProduct(id) {
  loadThumbnail(id, $('probe').querySelector('img'));
  $('probe').hidden = false;
  $('probe').querySelector('figcaption').textContent = id;
  search({ productId: id, neighborCount: k() }, id);
}

// Thumbnails go through fetch so that they carry the key; a product without an image keeps the grey tile.
async function loadThumbnail(id, img) {
  try {
    const path = `/v1/catalogs/${encodeURIComponent(catalog())}/products/${encodeURIComponent(id)}/image?size=256`;
    img.src = URL.createObjectURL(await (await api(path)).blob());
  } catch { img.removeAttribute('src'); }
}

function render(neighbors) {
  const list = $('results');
  const template = $('card');
  list.replaceChildren(...neighbors.map((n) => {
    const card = template.content.firstElementChild.cloneNode(true);
    const id = n.id;
    card.querySelector('.id').textContent = id;
    card.querySelector('.score').textContent = // cosine's float error can dip below zero
      `distance ${(Math.abs(n.distance) < 0.0005 ? 0 : n.distance).toFixed(3)}`;
    const attributes = n.datapoint?.attributes ?? {};
    card.querySelector('.attributes').textContent =
      Object.entries(attributes).map(([key, value]) =>
        `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`).join(' · ');
    const img = card.querySelector('img');
    img.alt = id;
    loadThumbnail(id, img);
    card.querySelector('button').addEventListener('click', () => searchProduct(id));
    card.dataset.id = id;
    return card;
  }));
}

const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  searchFile(e.dataTransfer.files[0]);
});
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('file').click(); }
});
$('file').addEventListener('change', (e) => searchFile(e.target.files[0]));
$('by-url').addEventListener('submit', (e) => {
  e.preventDefault();
  const url = $('url').value.trim();
  if (!url) return;
  showProbe(url, url);
  search({ imageUrl: url, neighborCount: k() }, url);
});
$('catalog').addEventListener('change', () => sessionStorage.setItem('catalogs-catalog', catalog()));
keyInput.addEventListener('change', () => {
  sessionStorage.setItem('catalogs-key', keyInput.value.trim());
  loadCatalogs();
});
loadCatalogs();
