// MedSAM-Swift — browser front end of `medsam serve` (API: docs/SERVE.md).
// Plain ES2020, no dependencies, works offline.
'use strict';

// ---------------------------------------------------------------------------
// Constants and state
// ---------------------------------------------------------------------------

const PALETTE = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
  [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
];
const MASK_ALPHA = 0.45;
const PRESET_WINDOWS = ['auto', 'soft-tissue', 'lung', 'bone', 'brain', 'percentile', 'none'];
const SLICE_DEBOUNCE_MS = 150;

const state = {
  info: null,          // GET /api/info
  image: null,         // ImageInfo of the open image
  window: 'auto',      // selected window (W)
  slice: 0,            // selected slice (slider)
  view: null,          // what the canvas shows: {slice, window, img}
  masks: [],           // mask entries in list order (see makeEntry)
  selected: null,      // selected entry (for point refinement)
  maskCounter: 0,      // numbers masks 1, 2, … (and picks their colour)
  pending: 0,          // mask requests in flight
  pendingBoxes: [],    // boxes waiting for their mask: {slice, box}
  uploading: false,
  embedding: false,
  readyText: '',
  errorShown: false,   // an error stays on the status line until the next user action
  loadSeq: 0,          // invalidates stale slice loads
  progressTimer: null,
  lastLatencyMs: null,
  drag: null,          // rubber band: {start:[x,y], end:[x,y]} in image pixels
};

const $ = (id) => document.getElementById(id);
const el = {
  model: $('model'), file: $('file'), window: $('window'), customWindow: $('custom-window'),
  level: $('level'), width: $('width'), sliceControl: $('slice-control'), slice: $('slice'),
  sliceLabel: $('slice-label'), stage: $('stage'), canvas: $('canvas'), placeholder: $('placeholder'),
  status: $('status'), latency: $('latency'), imageInfo: $('image-info'), stored: $('segment-stored'),
  masks: $('masks'), downloadPng: $('download-png'), downloadNii: $('download-nii'),
};
const ctx = el.canvas.getContext('2d');

// Live view for tests.
window.medsam = {
  get image() { return state.image; },
  get masks() { return state.masks.map(publicMask); },
  get lastLatencyMs() { return state.lastLatencyMs; },
};

// ---------------------------------------------------------------------------
// Status line and page state
// ---------------------------------------------------------------------------

function setState(name, text) {
  document.body.dataset.state = name;
  if (text !== undefined) el.status.textContent = text;
}

// Picks the status after some work finished; the upload and the embedding own the line while they run.
function settle() {
  if (state.uploading || state.embedding || state.errorShown) return;
  if (state.pending > 0) {
    setState('segmenting', `Segmenting… (${state.pending} request${state.pending > 1 ? 's' : ''})`);
  } else if (state.view) {
    setState('ready', state.readyText);
  }
}

function showError(prefix, err) {
  const msg = err && err.message ? err.message : String(err);
  console.error(prefix, err);
  fail(`${prefix}: ${msg}`);
}

function fail(text) {
  state.errorShown = true;
  setState('error', text);
}

// A new user action replaces an old error message.
function clearError() {
  state.errorShown = false;
}

function startProgress(label) {
  stopProgress();
  const t0 = performance.now();
  const tick = () => { el.status.textContent = `${label} ${((performance.now() - t0) / 1000).toFixed(1)} s`; };
  tick();
  state.progressTimer = setInterval(tick, 100);
}

function stopProgress() {
  if (state.progressTimer !== null) clearInterval(state.progressTimer);
  state.progressTimer = null;
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

// Fetches JSON; throws an Error with the server's `error` message on a non-2xx answer.
async function api(method, path, body) {
  const opts = { method };
  if (body instanceof Blob) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers = { 'Content-Type': 'application/json' };
  }
  const res = await fetch(path, opts);
  if (!res.ok) throw await httpError(res);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

async function httpError(res) {
  let msg = `HTTP ${res.status} ${res.statusText}`.trim();
  try {
    const j = await res.json();
    if (j && j.error) msg = j.error;
  } catch (_) { /* not JSON */ }
  const err = new Error(msg);
  err.status = res.status;
  return err;
}

// Loads a PNG through fetch (so errors keep their JSON message) and decodes it.
async function loadImage(url) {
  const res = await fetch(url);
  if (!res.ok) throw await httpError(res);
  const objectURL = URL.createObjectURL(await res.blob());
  try {
    const img = new Image();
    img.src = objectURL;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(objectURL);
  }
}

const imageBase = () => `/api/images/${state.image.id}`;
// The comma of "L,W" stays literal (legal in a query; the spec writes window=L,W).
const sliceURL = (slice, win, what) =>
  `${imageBase()}/slices/${slice}/${what}?window=${encodeURIComponent(win).replace(/%2C/gi, ',')}`;

// ---------------------------------------------------------------------------
// Upload
// ---------------------------------------------------------------------------

async function openFile(file) {
  if (!file || state.uploading) return;
  const max = state.info && state.info.maxUploadBytes;
  if (max && file.size > max) {
    fail(`${file.name} is ${formatMB(file.size)}; the server accepts at most ${formatMB(max)}.`);
    return;
  }
  clearError();
  state.uploading = true;
  stopProgress();
  setState('uploading', `Uploading ${file.name} (${formatMB(file.size)})…`);
  let info;
  try {
    info = await api('POST', '/api/images?name=' + encodeURIComponent(file.name), file);
  } catch (err) {
    state.uploading = false;
    showError('Upload failed', err);
    return;
  } finally {
    el.file.value = '';  // allow re-opening the same file
  }
  state.uploading = false;
  const old = state.image;
  if (old) api('DELETE', `/api/images/${old.id}`).catch(() => {});  // free the server's copy
  setImage(info);
}

function setImage(info) {
  Object.assign(state, {
    image: info, masks: [], selected: null, maskCounter: 0, pendingBoxes: [], view: null, drag: null,
    slice: info.initialSlice || 0, lastLatencyMs: null,
  });
  el.masks.replaceChildren();
  el.latency.textContent = '';

  // Window: preset, custom "L,W", or whatever the server named.
  const win = info.defaultWindow || 'auto';
  setWindowControl(win);
  state.window = win;
  el.window.disabled = false;

  // Slice slider.
  el.sliceControl.hidden = !(info.slices > 1);
  el.slice.max = String(Math.max(0, info.slices - 1));
  el.slice.value = String(state.slice);
  updateSliceLabel();

  el.stored.hidden = !(info.boxes && info.boxes.length);
  el.stored.title = `${info.boxes ? info.boxes.length : 0} box(es) stored in the file`;
  el.downloadNii.hidden = !(info.downloads || []).includes('nii.gz');
  showImageInfo(info);

  el.placeholder.hidden = true;
  el.canvas.hidden = false;
  layout();
  updateDownloads();
  loadView(state.slice, state.window);
}

function showImageInfo(info) {
  const rows = [
    ['File', info.name], ['Format', info.format],
    ['Size', `${info.width} × ${info.height}` + (info.slices > 1 ? ` × ${info.slices}` : '')],
  ];
  if (info.windowDescription) rows.push(['Window', info.windowDescription]);
  el.imageInfo.replaceChildren(...rows.flatMap(([k, v]) => [node('dt', k), node('dd', v)]));
  el.imageInfo.hidden = false;
}

// ---------------------------------------------------------------------------
// Slice image + embedding
// ---------------------------------------------------------------------------

async function loadView(slice, win) {
  if (!state.image) return;
  const seq = ++state.loadSeq;
  const stale = () => seq !== state.loadSeq;
  state.embedding = true;
  clearError();
  stopProgress();
  setState('embedding', `Loading slice ${slice}…`);
  try {
    const img = await loadImage(sliceURL(slice, win, 'image.png'));
    if (stale()) return;
    state.view = { slice, window: win, img };
    render();
    updateDownloads();

    setState('embedding');
    startProgress('Computing image embedding…');
    const t0 = performance.now();
    const res = await api('POST', sliceURL(slice, win, 'embedding'));
    if (stale()) return;
    stopProgress();
    state.embedding = false;
    const secs = res && typeof res.seconds === 'number' ? res.seconds : (performance.now() - t0) / 1000;
    const how = res && res.cached ? 'embedding cached' : `embedding ${secs.toFixed(1)} s`;
    state.readyText = `Ready — draw a box around the structure (${how})`;
    // The window the model now sees (the server resolves "auto" per image).
    if (res && res.windowDescription && state.image) {
      showImageInfo({ ...state.image, windowDescription: res.windowDescription });
    }
    settle();
  } catch (err) {
    if (stale()) return;
    stopProgress();
    state.embedding = false;
    showError(`Slice ${slice}, window ${win}`, err);
  }
}

// ---------------------------------------------------------------------------
// Masks: requests, entries, RLE overlays
// ---------------------------------------------------------------------------

// A list entry survives refinement (its id changes, colour and position stay).
function makeEntry(mask, imageId) {
  const n = ++state.maskCounter;
  const entry = {
    n, imageId, color: PALETTE[(n - 1) % PALETTE.length], visible: true,
    mask: null, overlay: null, pendingPoints: [], queue: Promise.resolve(), li: null,
  };
  setEntryMask(entry, mask);
  entry.li = makeItem(entry);
  updateItem(entry);
  return entry;
}

function setEntryMask(entry, mask) {
  entry.mask = mask;
  entry.overlay = rleCanvas(mask.rle, mask.width, mask.height, entry.color);
}

function publicMask(e) {
  return { ...e.mask, label: e.n, color: e.color, visible: e.visible, selected: e === state.selected };
}

// Decodes the RLE (background/foreground runs, starting with background) into a canvas at image resolution.
function rleCanvas(rle, width, height, [r, g, b]) {
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  const data = new ImageData(width, height);
  const px = new Uint32Array(data.data.buffer);
  const colour = new Uint32Array(new Uint8ClampedArray([r, g, b, Math.round(MASK_ALPHA * 255)]).buffer)[0];
  let pos = 0;
  for (let i = 0; i < rle.length && pos < px.length; i++) {
    const end = Math.min(px.length, pos + rle[i]);
    if (i % 2 === 1) px.fill(colour, pos, end);
    pos = end;
  }
  c.getContext('2d').putImageData(data, 0, 0);
  return c;
}

// New mask from a box on the shown slice. t0 = performance.now() of the user action.
async function segmentBox(box, t0 = performance.now()) {
  if (!state.view) return;
  const { slice, window: win } = state.view;
  const imageId = state.image.id;
  const pendingBox = { slice, box };
  clearError();
  state.pendingBoxes.push(pendingBox);
  state.pending++;
  settle();
  render();
  try {
    const mask = await api('POST', sliceURL(slice, win, 'masks'), { box });
    if (!state.image || state.image.id !== imageId) return;  // another image was opened meanwhile
    const entry = makeEntry(mask, imageId);
    state.masks.push(entry);
    el.masks.append(entry.li);
    maskDrawn(entry, t0);
  } catch (err) {
    if (state.image && state.image.id === imageId) showError('Segmentation failed', err);
  } finally {
    state.pending--;
    state.pendingBoxes = state.pendingBoxes.filter((p) => p !== pendingBox);
    render();
    settle();
  }
}

// Adds a point to the selected entry and re-segments it (queued per entry so ids stay consistent).
function refine(entry, point, t0) {
  entry.pendingPoints.push(point);
  clearError();
  state.pending++;
  settle();
  render();
  entry.queue = entry.queue.then(async () => {
    try {
      if (entry.deleted) return;
      const m = entry.mask;
      const body = { points: [...(m.points || []), point], replaces: m.id };
      if (m.box) body.box = m.box;
      const mask = await api('POST', sliceURL(m.slice, m.window, 'masks'), body);
      if (entry.deleted || !state.image || state.image.id !== entry.imageId) return;
      setEntryMask(entry, mask);
      updateItem(entry);
      maskDrawn(entry, t0);
    } catch (err) {
      showError('Refinement failed', err);
    } finally {
      entry.pendingPoints = entry.pendingPoints.filter((p) => p !== point);
      state.pending--;
      render();
      settle();
    }
  });
}

// Draws the new overlay and records the latency since the user action.
function maskDrawn(entry, t0) {
  render();
  updateDownloads();
  const ms = Math.round(performance.now() - t0);
  state.lastLatencyMs = ms;
  el.latency.textContent = `last mask: ${ms} ms`;
  const m = entry.mask;
  state.readyText = `Ready — Mask ${entry.n}: ${fmtInt(m.area)} px, IoU ${fmtIoU(m.iou)}`;
}

function deleteEntry(entry) {
  entry.queue = entry.queue.then(async () => {
    if (entry.deleted) return;
    try {
      await api('DELETE', `/api/images/${entry.imageId}/masks/${entry.mask.id}`);
    } catch (err) {
      if (err.status !== 404) { showError('Delete failed', err); return; }  // 404: already gone
    }
    entry.deleted = true;
    state.masks = state.masks.filter((e) => e !== entry);
    entry.li.remove();
    if (state.selected === entry) state.selected = null;
    render();
    updateDownloads();
  });
}

function select(entry) {
  state.selected = entry;
  for (const e of state.masks) e.li.classList.toggle('selected', e === entry);
  // Refinement clicks go on the mask's own slice: show it.
  if (entry && state.view && entry.mask.slice !== state.view.slice) {
    el.slice.value = String(entry.mask.slice);
    state.slice = entry.mask.slice;
    updateSliceLabel();
    updateDownloads();
    loadView(state.slice, state.window);
  }
  render();
}

async function segmentStoredBoxes() {
  const boxes = (state.image && state.image.boxes) || [];
  el.stored.disabled = true;
  try {
    for (const box of boxes) await segmentBox(box.map(Math.round));  // in order: list order = box order
  } finally {
    el.stored.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Mask list
// ---------------------------------------------------------------------------

function makeItem(entry) {
  const li = node('li', null, 'mask-item');
  const swatch = node('span', null, 'swatch');
  swatch.style.background = `rgb(${entry.color.join(',')})`;
  const toggle = node('input', null, 'toggle');
  toggle.type = 'checkbox';
  toggle.checked = true;
  toggle.title = 'Show / include in download';
  toggle.addEventListener('change', () => {
    entry.visible = toggle.checked;
    render();
    updateDownloads();
  });
  const del = node('button', '×', 'delete');
  del.type = 'button';
  del.title = 'Delete mask';
  del.addEventListener('click', (ev) => { ev.stopPropagation(); deleteEntry(entry); });
  toggle.addEventListener('click', (ev) => ev.stopPropagation());
  li.append(swatch, node('span', '', 'mask-label'), toggle, del);
  li.addEventListener('click', () => select(entry));
  return li;
}

function updateItem(entry) {
  const m = entry.mask, li = entry.li;
  li.dataset.id = m.id;
  li.dataset.box = (m.box || []).join(',');
  li.dataset.slice = String(m.slice);
  li.title = `window ${m.window}` + (m.points && m.points.length ? ` · ${m.points.length} point(s)` : '');
  li.querySelector('.mask-label').textContent =
    `Mask ${entry.n} · slice ${m.slice} · ${fmtInt(m.area)} px · IoU ${fmtIoU(m.iou)}`;
}

// Download links: PNG = visible masks of the shown slice; NIfTI = all visible masks.
function updateDownloads() {
  const stem = fileStem(state.image ? state.image.name : 'image');
  const visible = state.masks.filter((e) => e.visible);
  const slice = state.view ? state.view.slice : state.slice;
  setLink(el.downloadPng, visible.filter((e) => e.mask.slice === slice), 'labels.png', `${stem}-labels.png`);
  setLink(el.downloadNii, visible, 'labels.nii.gz', `${stem}-labels.nii.gz`);
}

function setLink(a, entries, file, downloadName) {
  if (!state.image || entries.length === 0) {
    a.classList.add('disabled');
    a.setAttribute('aria-disabled', 'true');
    a.removeAttribute('href');
    a.removeAttribute('download');
    return;
  }
  a.classList.remove('disabled');
  a.removeAttribute('aria-disabled');
  a.href = `${imageBase()}/${file}?masks=${entries.map((e) => e.mask.id).join(',')}`;
  a.download = downloadName;
}

// ---------------------------------------------------------------------------
// Canvas: layout, drawing, coordinates
// ---------------------------------------------------------------------------

// Fits the canvas into the stage, keeping the aspect ratio.
function layout() {
  if (!state.image) return;
  const { width: iw, height: ih } = state.image;
  const cs = getComputedStyle(el.stage);
  const availW = el.stage.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const availH = el.stage.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
  const scale = Math.max(0.01, Math.min(availW / iw, availH / ih));
  const w = Math.max(1, Math.floor(iw * scale)), h = Math.max(1, Math.floor(ih * scale));
  const dpr = window.devicePixelRatio || 1;
  el.canvas.style.width = `${w}px`;
  el.canvas.style.height = `${h}px`;
  el.canvas.width = Math.round(w * dpr);
  el.canvas.height = Math.round(h * dpr);
  render();
}

function render() {
  const c = el.canvas;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, c.width, c.height);
  if (!state.image || !state.view) return;
  const s = c.width / state.image.width;  // image pixel → canvas pixel
  const dpr = window.devicePixelRatio || 1;
  ctx.setTransform(s, 0, 0, s, 0, 0);
  ctx.imageSmoothingEnabled = s < 1;  // crisp pixels when enlarged
  ctx.drawImage(state.view.img, 0, 0, state.image.width, state.image.height);

  const slice = state.view.slice;
  const shown = state.masks.filter((e) => e.visible && e.mask.slice === slice);
  for (const e of shown) ctx.drawImage(e.overlay, 0, 0);

  // Vector parts in canvas pixels so line widths do not scale.
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  const P = (v) => v * s;
  for (const e of shown) {
    const sel = e === state.selected;
    if (e.mask.box) strokeBox(e.mask.box, `rgb(${e.color.join(',')})`, (sel ? 3 : 1.5) * dpr, P);
  }
  if (state.selected && state.selected.mask.slice === slice) {
    const e = state.selected;
    for (const p of [...(e.mask.points || []), ...e.pendingPoints]) drawPoint(p, P, dpr);
  }
  for (const pb of state.pendingBoxes) {
    if (pb.slice === slice) strokeBox(pb.box, 'rgba(255,255,255,0.8)', 1.5 * dpr, P, [4 * dpr, 4 * dpr]);
  }
  if (state.drag) {
    const b = dragBox(state.drag);
    strokeBox(b, '#fff', 1.5 * dpr, P, [6 * dpr, 4 * dpr]);
  }
}

function strokeBox([x0, y0, x1, y1], colour, lineWidth, P, dash) {
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineWidth = lineWidth;
  ctx.setLineDash(dash || []);
  ctx.strokeRect(P(x0), P(y0), P(x1) - P(x0), P(y1) - P(y0));
  ctx.restore();
}

function drawPoint([x, y, label], P, dpr) {
  ctx.beginPath();
  ctx.arc(P(x), P(y), 5 * dpr, 0, 2 * Math.PI);
  ctx.fillStyle = label === 1 ? 'rgb(40,200,70)' : 'rgb(230,40,40)';
  ctx.fill();
  ctx.lineWidth = 1.5 * dpr;
  ctx.strokeStyle = '#fff';
  ctx.stroke();
}

// Client coordinates → integer image pixel coordinates, clamped to [0, width] × [0, height].
function toImage(ev) {
  const rect = el.canvas.getBoundingClientRect();
  const { width, height } = state.image;
  const x = (ev.clientX - rect.left) * width / rect.width;
  const y = (ev.clientY - rect.top) * height / rect.height;
  return [Math.round(clamp(x, 0, width)), Math.round(clamp(y, 0, height))];
}

function dragBox({ start, end }) {
  return [Math.min(start[0], end[0]), Math.min(start[1], end[1]), Math.max(start[0], end[0]), Math.max(start[1], end[1])];
}

// ---------------------------------------------------------------------------
// Mouse and keyboard
// ---------------------------------------------------------------------------

function onMouseDown(ev) {
  if (!state.image || !state.view) return;
  const pointMode = ev.button === 2 || (ev.button === 0 && (ev.shiftKey || ev.altKey || ev.ctrlKey));
  if (pointMode) {
    ev.preventDefault();
    const label = ev.button === 0 && ev.shiftKey && !ev.altKey && !ev.ctrlKey ? 1 : 0;
    addPoint(label, toImage(ev));
    return;
  }
  if (ev.button !== 0) return;
  ev.preventDefault();
  const p = toImage(ev);
  state.drag = { start: p, end: p };
  window.addEventListener('mousemove', onMouseMove);
  window.addEventListener('mouseup', onMouseUp);
}

function onMouseMove(ev) {
  if (!state.drag) return;
  state.drag.end = toImage(ev);
  render();
}

function onMouseUp(ev) {
  if (ev.button !== 0 || !state.drag) return;
  const t0 = performance.now();
  window.removeEventListener('mousemove', onMouseMove);
  window.removeEventListener('mouseup', onMouseUp);
  state.drag.end = toImage(ev);
  const box = dragBox(state.drag);
  state.drag = null;
  render();
  if (box[2] - box[0] < 2 || box[3] - box[1] < 2) return;  // a click, not a box
  segmentBox(box, t0);
}

function addPoint(label, [x, y]) {
  const e = state.selected;
  if (!e) {
    el.status.textContent = 'Select a mask in the list first, then shift-click / alt-click to refine it.';
    return;
  }
  if (e.mask.slice !== state.view.slice) {
    el.status.textContent = `Mask ${e.n} is on slice ${e.mask.slice}; go to that slice to refine it.`;
    return;
  }
  refine(e, [x, y, label], performance.now());
}

function onKeyDown(ev) {
  const t = ev.target;
  const typing = t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement ||
    (t instanceof HTMLInputElement && !['checkbox', 'range', 'file', 'button'].includes(t.type));
  if (typing) return;
  if ((ev.key === 'Delete' || ev.key === 'Backspace') && state.selected) {
    ev.preventDefault();
    deleteEntry(state.selected);
  } else if (ev.key === 'Escape') {
    if (state.drag) {
      state.drag = null;
      window.removeEventListener('mousemove', onMouseMove);
      window.removeEventListener('mouseup', onMouseUp);
    }
    select(null);
  }
}

// ---------------------------------------------------------------------------
// Window and slice controls
// ---------------------------------------------------------------------------

function setWindowControl(win) {
  if (PRESET_WINDOWS.includes(win)) {
    el.window.value = win;
  } else if (/^\s*-?[\d.]+\s*,\s*[\d.]+\s*$/.test(win)) {
    const [l, w] = win.split(',').map(Number);
    el.level.value = String(l);
    el.width.value = String(w);
    el.window.value = 'custom';
  } else {  // a name this page does not know: add it
    const opt = node('option', win);
    opt.value = win;
    el.window.add(opt, el.window.querySelector('option[value="custom"]'));
    el.window.value = win;
  }
  el.customWindow.hidden = el.window.value !== 'custom';
}

function windowFromControls() {
  if (el.window.value !== 'custom') return el.window.value;
  const l = parseFloat(el.level.value), w = parseFloat(el.width.value);
  if (!Number.isFinite(l) || !Number.isFinite(w) || w <= 0) return null;
  return `${l},${w}`;
}

function onWindowChange() {
  el.customWindow.hidden = el.window.value !== 'custom';
  const win = windowFromControls();
  if (win === null) {
    fail('Custom window: enter a level and a positive width.');
    return;
  }
  if (!state.image || win === state.window) return;
  state.window = win;
  loadView(state.slice, win);
}

function updateSliceLabel() {
  const n = state.image ? state.image.slices : 1;
  el.sliceLabel.textContent = `slice ${state.slice} / ${n}`;
}

let sliceTimer = null;
function onSliceInput() {
  state.slice = parseInt(el.slice.value, 10) || 0;
  updateSliceLabel();
  clearTimeout(sliceTimer);
  sliceTimer = setTimeout(() => {
    if (!state.view || state.view.slice !== state.slice || state.view.window !== state.window) {
      loadView(state.slice, state.window);
    }
  }, SLICE_DEBOUNCE_MS);
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

function node(tag, text, className) {
  const n = document.createElement(tag);
  if (text !== null && text !== undefined) n.textContent = text;
  if (className) n.className = className;
  return n;
}
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const fmtInt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '?');
const fmtIoU = (v) => (typeof v === 'number' ? v.toFixed(2) : '–');
const formatMB = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;
function fileStem(name) {
  const base = name.split(/[\\/]/).pop();
  if (/\.nii\.gz$/i.test(base)) return base.slice(0, -7);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

// ---------------------------------------------------------------------------
// Start-up
// ---------------------------------------------------------------------------

function init() {
  el.file.addEventListener('change', () => openFile(el.file.files[0]));
  el.window.addEventListener('change', onWindowChange);
  el.level.addEventListener('change', onWindowChange);
  el.width.addEventListener('change', onWindowChange);
  el.slice.addEventListener('input', onSliceInput);
  el.stored.addEventListener('click', segmentStoredBoxes);
  el.canvas.addEventListener('mousedown', onMouseDown);
  el.canvas.addEventListener('contextmenu', (ev) => ev.preventDefault());
  document.addEventListener('keydown', onKeyDown);

  // Drag and drop onto the image area; elsewhere a dropped file must not navigate away.
  for (const type of ['dragenter', 'dragover']) {
    el.stage.addEventListener(type, (ev) => {
      ev.preventDefault();
      el.stage.classList.add('dragover');
    });
  }
  el.stage.addEventListener('dragleave', () => el.stage.classList.remove('dragover'));
  el.stage.addEventListener('drop', (ev) => {
    ev.preventDefault();
    el.stage.classList.remove('dragover');
    const file = ev.dataTransfer && ev.dataTransfer.files[0];
    if (file) openFile(file);
  });
  window.addEventListener('dragover', (ev) => ev.preventDefault());
  window.addEventListener('drop', (ev) => ev.preventDefault());

  new ResizeObserver(() => layout()).observe(el.stage);
  window.addEventListener('resize', layout);  // also catches devicePixelRatio changes (zoom)

  // Opened with the printed ?token=…: the server has set its HttpOnly cookie with this answer, so the token
  // leaves the address bar (and the history) at once.
  if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname);

  setState('idle', 'Open an image (PNG, JPEG, DICOM, NIfTI, NPZ, NPY) or drop it on the image area.');
  updateDownloads();
  api('GET', '/api/info').then((info) => {
    state.info = info;
    el.model.textContent = info.model || '';
    el.model.title = `${info.model} · input ${info.inputSize} px · v${info.version}`;
  }).catch((err) => {
    el.model.textContent = 'offline';
    showError('Server not reachable', err);
  });
}

init();
