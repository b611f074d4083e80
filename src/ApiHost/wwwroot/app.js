// The shopper's search page: pick a catalog, search by a dropped or chosen photo, an image URL, or a result
// ("more like this"), narrowed by facets (the catalog's restrict tokens and numeric ranges) and a per-crowding-tag
// limit. Every call goes to this API (common.js).
'use strict';

const status = (text, isError = false) => say($('status'), text, isError);
const catalog = () => $('catalog').value;
const k = () => Number($('k').value);
let lastQuery = null; // re-run when a facet or a limit changes

async function loadCatalogs() {
  try {
    const catalogs = await fillCatalogs($('catalog'));
    status(catalogs.length ? '' : 'No catalogs yet.');
    await loadFacets();
  } catch (e) {
    $('catalog').replaceChildren();
    $('facets').replaceChildren();
    status(`Catalogs could not be listed — ${e.message}`, true);
  }
}

async function loadFacets() {
  const form = $('facets');
  form.replaceChildren();
  if (!catalog()) return;
  try {
    const { restricts, numeric } = await json(`${catalogPath(catalog())}/facets?tokens=12`);
    for (const r of restricts) {
      const set = fieldset(r.namespace);
      for (const t of r.tokens) {
        const label = document.createElement('label');
        const box = Object.assign(document.createElement('input'), { type: 'checkbox', value: t.token });
        box.dataset.namespace = r.namespace;
        label.append(box, ` ${t.token} `, Object.assign(document.createElement('span'),
          { className: 'count', textContent: `(${t.products})` }));
        set.append(label);
      }
      form.append(set);
    }
    for (const n of numeric) {
      const set = fieldset(n.namespace);
      for (const [op, word, value] of [['GREATER_EQUAL', 'from', n.min], ['LESS_EQUAL', 'to', n.max]]) {
        const label = Object.assign(document.createElement('label'), { textContent: `${word} ` });
        const input = Object.assign(document.createElement('input'),
          { type: 'number', step: 'any', placeholder: String(value), min: n.min, max: n.max });
        Object.assign(input.dataset, { namespace: n.namespace, op });
        input.setAttribute('aria-label', `${n.namespace} ${word}`);
        label.append(input);
        set.append(label);
      }
      form.append(set);
    }
  } catch (e) {
    status(`Filters could not be loaded — ${e.message}`, true);
  }
}

function fieldset(legend) {
  const set = document.createElement('fieldset');
  set.append(Object.assign(document.createElement('legend'), { textContent: legend }));
  return set;
}

/** neighborCount, the crowding limit and the facets chosen, as the search API takes them. */
function options() {
  const restricts = new Map();
  for (const box of $('facets').querySelectorAll('input[type=checkbox]:checked')) {
    restricts.set(box.dataset.namespace, [...(restricts.get(box.dataset.namespace) ?? []), box.value]);
  }
  const numericRestricts = [...$('facets').querySelectorAll('input[type=number]')]
    .filter((i) => i.value !== '' && Number.isFinite(Number(i.value)))
    .map((i) => ({ namespace: i.dataset.namespace, valueDouble: Number(i.value), op: i.dataset.op }));
  const query = { neighborCount: k() };
  if (restricts.size) {
    query.restricts = [...restricts].map(([namespace, allowList]) => ({ namespace, allowList }));
  }
  if (numericRestricts.length) query.numericRestricts = numericRestricts;
  if ($('crowding').value) query.perCrowdingAttributeNeighborCount = Number($('crowding').value);
  return query;
}

async function search(query, label) {
  lastQuery = { ...query, label };
  if (!catalog()) { status('Choose a catalog first.', true); return; }
  status(`Searching ${catalog()} for ${label}…`);
  const started = performance.now();
  try {
    let init;
    if (query.file) {
      init = { method: 'POST', body: new FormData() };
      init.body.append('image', query.file);
      init.body.append('query', JSON.stringify(options()));
    } else {
      init = sendJson('POST', { ...query.body, ...options() });
    }
    const { neighbors } = await json(`${catalogPath(catalog())}/search`, init);
    render(neighbors);
    status(`${neighbors.length} similar products for ${label} in ${Math.round(performance.now() - started)} ms.`);
  } catch (e) {
    status(`Search failed — ${e.message}`, true);
  }
}

function showProbe(src, caption) {
  const probe = $('probe');
  probe.hidden = false;
  if (src) probe.querySelector('img').src = src;
  probe.querySelector('figcaption').textContent = caption;
}

function searchFile(file) {
  if (!file) return;
  showProbe(URL.createObjectURL(file), file.name);
  search({ file }, file.name);
}

function searchProduct(id) {
  loadThumbnail(catalog(), id, $('probe').querySelector('img'));
  showProbe(null, id);
  search({ body: { productId: id } }, id);
}

function render(neighbors) {
  const template = $('card');
  $('results').replaceChildren(...neighbors.map((n) => {
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
    loadThumbnail(catalog(), id, img);
    card.querySelector('button').addEventListener('click', () => searchProduct(id));
    card.querySelector('.details').href =
      `admin.html#product=${encodeURIComponent(catalog())}/${encodeURIComponent(id)}`;
    card.querySelector('.details').setAttribute('aria-label', `Details of ${id}`);
    card.dataset.id = id;
    return card;
  }));
}

function again() {
  if (lastQuery) search(lastQuery, lastQuery.label);
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
  search({ body: { imageUrl: url } }, url);
});
$('catalog').addEventListener('change', () => { lastQuery = null; loadFacets(); });
$('facets').addEventListener('change', again);
$('facets').addEventListener('submit', (e) => { e.preventDefault(); again(); });
$('crowding').addEventListener('change', again);
$('k').addEventListener('change', again);
document.addEventListener('keychange', loadCatalogs);
loadCatalogs();
