// What both pages share: the API key (kept for this tab only), calls to this API with problem+json messages, and
// product thumbnails fetched with the key. Nothing is fetched from anywhere else.
'use strict';

const $ = (id) => document.getElementById(id);
const keyInput = $('key');
keyInput.value = sessionStorage.getItem('catalogs-key') ?? '';
keyInput.addEventListener('change', () => {
  sessionStorage.setItem('catalogs-key', keyInput.value.trim());
  document.dispatchEvent(new Event('keychange'));
});

function headers(extra = {}) {
  const key = keyInput.value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

/** A call to the API; a refusal throws an Error whose message is the status and the API's own detail. */
async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: headers(init.headers) });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not problem+json */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

const json = async (path, init) => (await api(path, init)).json();
const sendJson = (method, body) => ({ method, body: JSON.stringify(body),
  headers: { 'Content-Type': 'application/json' } });
const catalogPath = (name) => `/v1/catalogs/${encodeURIComponent(name)}`;

function say(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle('error', isError);
}

// Thumbnails go through fetch so that they carry the key; a product without an image keeps the grey tile.
async function loadThumbnail(catalogName, id, img, size = 256) {
  try {
    const path = `${catalogPath(catalogName)}/products/${encodeURIComponent(id)}/image?size=${size}`;
    img.src = URL.createObjectURL(await (await api(path)).blob());
  } catch { img.removeAttribute('src'); }
}

/** The catalog select filled from the API, keeping the tab's last choice. */
async function fillCatalogs(select, onError) {
  const { catalogs } = await json('/v1/catalogs');
  const previous = select.value || sessionStorage.getItem('catalogs-catalog');
  select.replaceChildren(...catalogs.map((c) => new Option(`${c.name} (${c.products})`, c.name)));
  if (catalogs.some((c) => c.name === previous)) select.value = previous;
  select.addEventListener('change', () => sessionStorage.setItem('catalogs-catalog', select.value));
  return catalogs;
}
