// The review page: a grid of captures from GET /captures, relabelled with
// the keyboard through PUT /captures/{id}/label. Detection captures show
// their boxes; the box editor (key E) moves, resizes, adds, deletes and
// retags them and saves them with PUT /captures/{id}/regions. Plain
// JavaScript, no framework, nothing loaded from anywhere but this server.
// Text from the server is only ever inserted with textContent.
//
// When the server needs a key (it answers 401), the page asks for it once,
// keeps it in sessionStorage (gone when the tab closes) and sends it as the
// Prediction-Key header; images are then fetched with the header and shown
// from blob: URLs, since an <img> cannot send headers.
"use strict";

(function () {
  const PAGE = 60;
  const state = {
    tags: [],          // ordered tag names; tags[i] is key i+1
    counts: new Map(), // tag -> counts from /captures/stats
    captures: [],      // loaded captures, in grid order
    next: null,        // cursor for the next page
    total: 0,
    selected: -1,
    loading: false,
    generation: 0,     // bumps when the filters change; stale pages are dropped
    statsAsked: 0,     // /captures/stats requests sent, and the number of the
    statsShown: 0,     // one shown: an older answer arriving late is dropped
    key: sessionStorage.getItem("edgevision-key"), // the Prediction-Key, or null
  };
  const KEY_HEADER = "Prediction-Key";
  const blobUrls = new Set(); // object URLs of images fetched with the key

  class AuthError extends Error {}

  const $ = (id) => document.getElementById(id);
  const grid = $("grid");

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setStatus(text, isError) {
    const s = $("status");
    s.textContent = text || "";
    s.classList.toggle("error", !!isError);
  }

  function headers() {
    const h = {};
    if (state.key) h[KEY_HEADER] = state.key;
    return h;
  }

  async function api(method, url, body) {
    const sentKey = state.key;
    const init = { method, headers: headers() };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    if (res.status === 401) {
      // A refusal of a key the person has since replaced is stale: asking
      // again would bring the form back over the pages the new key loads.
      if (sentKey === state.key) askForKey(state.key ? "That key was not accepted." : "");
      throw new AuthError("a key is required");
    }
    const text = await res.text();
    let doc = null;
    try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
    if (!res.ok) {
      const msg = doc && doc.message ? doc.message : res.status + " " + res.statusText;
      throw new Error(msg);
    }
    return doc;
  }

  // ---- the key ----

  function askForKey(message) {
    const form = $("login");
    $("login-error").textContent = message || "";
    if (form.hidden) {
      form.hidden = false;
      $("login-key").focus();
    }
    setStatus("");
  }

  function onLogin(e) {
    e.preventDefault();
    const key = $("login-key").value.trim();
    if (!key) return;
    state.key = key;
    sessionStorage.setItem("edgevision-key", key);
    $("login").hidden = true;
    $("login-key").value = "";
    loadAll();
  }

  // Shows `url` in `img`: directly, or fetched with the key into a blob: URL.
  // The zoom and the editor reuse one <img>: an image asked for earlier
  // that arrives later is dropped, and so is one for a card already gone.
  async function showImage(img, url) {
    img.dataset.want = url;
    if (!state.key) {
      img.src = url;
      return;
    }
    try {
      const res = await fetch(url, { headers: headers() });
      if (!res.ok) return;
      const blob = await res.blob();
      if (img.dataset.want !== url || !img.isConnected) return;
      const blobUrl = URL.createObjectURL(blob);
      blobUrls.add(blobUrl);
      if (img.dataset.blob) {
        URL.revokeObjectURL(img.dataset.blob);
        blobUrls.delete(img.dataset.blob);
      }
      img.dataset.blob = blobUrl;
      img.src = blobUrl;
    } catch (e) { /* the card keeps its empty image */ }
  }

  function releaseImage(img) {
    if (img && img.dataset.blob) {
      URL.revokeObjectURL(img.dataset.blob);
      blobUrls.delete(img.dataset.blob);
      delete img.dataset.blob;
    }
  }

  function percent(p) {
    if (p > 0 && p < 0.001) return "<0.1%";
    return (p * 100).toFixed(p >= 0.9995 || p === 0 ? 0 : 1) + "%";
  }

  function threshold() {
    const t = parseFloat($("f-threshold").value);
    return isFinite(t) && t > 0 && t <= 1 ? t : 0.8;
  }

  // ---- counts and the tag legend ----

  async function loadStats() {
    const asked = ++state.statsAsked;
    const s = await api("GET", "/captures/stats");
    // Answers may arrive out of order (one per change, on several
    // connections): counts older than the ones shown would undo a change.
    if (asked < state.statsShown) return;
    state.statsShown = asked;
    state.counts = new Map(s.tags.map((t) => [t.tag, t]));
    // Keep the known order stable; append new tags (e.g. one a person typed).
    for (const t of s.tags) if (!state.tags.includes(t.tag)) state.tags.push(t.tag);
    $("summary").textContent =
      s.captures + " captures · " + s.unreviewed + " to review · " + s.reviewed + " reviewed" +
      (s.policy ? " · capturing: " + s.policy : "");
    renderTags();
    renderTagFilter();
  }

  function renderTags() {
    const box = $("tags");
    box.replaceChildren();
    state.tags.forEach((tag, i) => {
      const c = state.counts.get(tag) || { predicted: 0, unreviewed: 0, labelled: 0 };
      const b = el("button", "tag");
      b.type = "button";
      b.dataset.tag = tag;
      if (i < 9) b.append(el("kbd", "", String(i + 1)));
      b.append(el("span", "name", tag));
      b.append(el("span", "counts",
        c.predicted + " predicted · " + c.unreviewed + " to review · " + c.labelled + " labelled"));
      b.title = "Label the selected capture " + tag + (i < 9 ? " (key " + (i + 1) + ")" : "");
      b.addEventListener("click", () => labelSelected(tag));
      box.append(b);
    });
  }

  function renderTagFilter() {
    const sel = $("f-tag");
    const current = sel.value;
    sel.replaceChildren(el("option", "", "any tag"));
    sel.firstChild.value = "";
    for (const tag of state.tags) {
      const o = el("option", "", tag);
      o.value = tag;
      sel.append(o);
    }
    sel.value = current;
  }

  // ---- the grid ----

  function query(after) {
    const p = new URLSearchParams();
    p.set("limit", String(PAGE));
    const reviewed = $("f-reviewed").value;
    if (reviewed) p.set("reviewed", reviewed);
    const tag = $("f-tag").value;
    if (tag) p.set("tag", tag);
    if ($("f-uncertain").checked) p.set("max_p", String(threshold()));
    p.set("order", $("f-order").value);
    if (after) p.set("after", after);
    return "/captures?" + p.toString();
  }

  async function loadPage(reset) {
    if (state.loading && !reset) return;
    if (reset) {
      state.generation++;
      state.captures = [];
      state.next = null;
      state.selected = -1;
      for (const img of grid.querySelectorAll("img")) releaseImage(img);
      grid.replaceChildren();
    } else if (!state.next) {
      return;
    }
    const generation = state.generation;
    state.loading = true;
    try {
      const page = await api("GET", query(reset ? null : state.next));
      if (generation !== state.generation) return;
      state.next = page.next;
      state.total = page.total;
      for (const c of page.captures) {
        state.captures.push(c);
        grid.append(card(c));
      }
      if (state.selected < 0 && state.captures.length) select(0, false);
      $("count").textContent = state.captures.length
        ? "Showing " + state.captures.length + " of " + state.total
        : "Nothing matches these filters.";
      $("load-more").hidden = !state.next;
      setStatus("");
    } catch (e) {
      if (generation !== state.generation) return;  // an error of filters no longer shown
      if (!(e instanceof AuthError)) setStatus("Could not load captures: " + e.message, true);
    } finally {
      if (generation === state.generation) state.loading = false;
    }
  }

  const isDetection = (c) => c.kind === "detection";

  function card(c) {
    const f = el("figure", "card");
    f.setAttribute("role", "option");
    f.dataset.id = c.id;
    f.dataset.kind = c.kind || "classification";
    const thumb = el("div", "thumb");
    const img = el("img");
    img.loading = "lazy";
    img.decoding = "async";
    showImage(img, c.image.url);
    img.alt = "Capture " + c.id;
    img.width = 320;
    img.height = 240;
    thumb.append(img);
    if (isDetection(c)) {
      // The whole image (no crop), so the boxes sit where they belong.
      img.classList.add("contain");
      const overlay = el("div", "overlay");
      thumb.append(overlay);
      img.addEventListener("load", () => fitOverlay(img, overlay));
    }
    f.append(thumb);
    const cap = el("figcaption");
    const pred = el("span", "pred");
    const top = c.top || { tagName: "(no tag)", probability: 0 };
    pred.append(el("span", "tagname", top.tagName), el("span", "prob", percent(top.probability)));
    if (top.probability < threshold()) pred.classList.add("uncertain");
    cap.append(pred, el("span", "label"));
    if (isDetection(c)) {
      const edit = el("button", "edit-boxes", "Edit boxes");
      edit.type = "button";
      edit.title = "Move, resize, add, delete or retag the boxes (key E)";
      edit.addEventListener("click", (e) => {
        e.stopPropagation();
        const i = state.captures.findIndex((x) => x.id === c.id);
        select(i, false);
        openEditor(i);
      });
      cap.append(el("span", "nboxes"), edit);
    }
    cap.append(el("time", "", c.created.replace("T", " ").slice(0, 19)));
    f.append(cap);
    f.addEventListener("click", () => select(state.captures.findIndex((x) => x.id === c.id), false));
    f.addEventListener("dblclick", () => {
      if (isDetection(c)) openEditor(state.captures.findIndex((x) => x.id === c.id));
    });
    updateCard(f, c);
    return f;
  }

  // Places the overlay on the part of the thumbnail the image fills
  // (object-fit: contain in a 4:3 box).
  function fitOverlay(img, overlay) {
    const a = img.naturalWidth / img.naturalHeight;
    const box = 4 / 3;
    if (!isFinite(a) || a <= 0) return;
    const w = a >= box ? 100 : (a / box) * 100;
    const h = a >= box ? (box / a) * 100 : 100;
    overlay.style.left = (100 - w) / 2 + "%";
    overlay.style.top = (100 - h) / 2 + "%";
    overlay.style.width = w + "%";
    overlay.style.height = h + "%";
  }

  // A box element at normalised coordinates, with its tag.
  function boxElement(r, cls) {
    const b = el("div", "box" + (cls ? " " + cls : ""));
    placeBox(b, r);
    b.append(el("span", "box-tag", r.tagName));
    return b;
  }

  function placeBox(b, r) {
    b.style.left = r.left * 100 + "%";
    b.style.top = r.top * 100 + "%";
    b.style.width = r.width * 100 + "%";
    b.style.height = r.height * 100 + "%";
  }

  // What a detection capture shows: the regions a person saved, else the
  // predicted boxes.
  function shownBoxes(c) {
    if (c.regions) return c.regions;
    return c.detections.map((d) => Object.assign({ tagName: d.tagName }, d.boundingBox));
  }

  function updateCard(f, c) {
    const label = f.querySelector(".label");
    if (isDetection(c)) {
      const reviewed = c.regions !== null && c.regions !== undefined;
      f.classList.toggle("reviewed", reviewed);
      f.classList.toggle("corrected", false);
      label.textContent = reviewed ? "✓ " + c.regions.length + (c.regions.length === 1 ? " box" : " boxes") : "";
      f.querySelector(".nboxes").textContent = reviewed ? "" : c.detections.length + " predicted";
      const overlay = f.querySelector(".overlay");
      overlay.replaceChildren(...shownBoxes(c).map((r) => boxElement(r, reviewed ? "reviewed" : "")));
      f.setAttribute("aria-label", "detection, " + (reviewed
        ? c.regions.length + " boxes reviewed" : c.detections.length + " boxes predicted, not reviewed"));
      return;
    }
    f.classList.toggle("reviewed", c.label !== null);
    f.classList.toggle("corrected", c.label !== null && (!c.top || c.label !== c.top.tagName));
    label.textContent = c.label === null ? "" : "✓ " + c.label;
    f.setAttribute("aria-label",
      (c.top ? c.top.tagName + " " + percent(c.top.probability) : "no tag") +
      (c.label === null ? ", not reviewed" : ", labelled " + c.label));
  }

  function cardAt(i) { return grid.children[i] || null; }

  function select(i, scroll) {
    if (i < 0 || i >= state.captures.length) return;
    const old = cardAt(state.selected);
    if (old) { old.classList.remove("selected"); old.setAttribute("aria-selected", "false"); }
    state.selected = i;
    const f = cardAt(i);
    f.classList.add("selected");
    f.setAttribute("aria-selected", "true");
    if (scroll !== false) f.scrollIntoView({ block: "nearest" });
    if (!$("zoom").hidden) showZoom();
    // Near the end: fetch the next page before the person gets there.
    if (state.next && i >= state.captures.length - 8) loadPage(false);
  }

  function columns() {
    const cards = grid.children;
    if (cards.length < 2) return 1;
    const top = cards[0].offsetTop;
    let n = 1;
    while (n < cards.length && cards[n].offsetTop === top) n++;
    return n;
  }

  // ---- changes ----

  // Changes go to the server one at a time, in the order they were made: two
  // quick keys on one capture must end with the second, on the server and on
  // the page, whichever connection answers first.
  let writes = Promise.resolve();
  function write(method, url, body) {
    const done = writes.then(() => api(method, url, body));
    writes = done.catch(() => {});
    return done;
  }

  // Where capture `id` is in the grid now (-1: no longer shown). An answer
  // finds its capture by id: while it was on its way the filters may have
  // changed or a capture before it may have been deleted.
  const indexOf = (id) => state.captures.findIndex((x) => x.id === id);

  // Shows the server's copy of a capture on its card, if it is still shown.
  function showUpdated(updated) {
    const i = indexOf(updated.id);
    if (i < 0) return;
    state.captures[i] = updated;
    updateCard(cardAt(i), updated);
  }

  // ---- labelling ----

  // Labels capture i; with `advance` the selection moves on at once, so the
  // next key labels the next capture even before the server has answered.
  async function setLabel(i, label, advance) {
    const c = state.captures[i];
    if (!c) return;
    if (advance && i === state.selected) select(Math.min(i + 1, state.captures.length - 1));
    try {
      showUpdated(await write("PUT", c.image.url.replace(/\/image$/, "/label"), { label }));
      setStatus(label === null ? "Label cleared." : "Labelled " + label + ".");
      loadStats().catch(() => {});
    } catch (e) {
      if (!(e instanceof AuthError)) setStatus("Could not save the label: " + e.message, true);
    }
  }

  function labelSelected(tag) {
    const c = state.captures[state.selected];
    if (!c) return;
    if (isDetection(c)) {
      setStatus("A detection is reviewed by its boxes: press E to edit them.");
      return;
    }
    setLabel(state.selected, tag, true);
  }

  async function deleteSelected() {
    const i = state.selected;
    const c = state.captures[i];
    if (!c || !window.confirm("Delete this capture and its image?")) return;
    try {
      await write("DELETE", "/captures/" + c.id);
      const at = indexOf(c.id);
      if (at >= 0) {
        const wasSelected = state.selected === at;
        state.captures.splice(at, 1);
        releaseImage(cardAt(at).querySelector("img"));
        cardAt(at).remove();
        state.total = Math.max(0, state.total - 1);
        if (wasSelected) {
          state.selected = -1;
          select(Math.min(at, state.captures.length - 1));
        } else if (state.selected > at) {
          state.selected--;
        }
      }
      setStatus("Deleted.");
      loadStats().catch(() => {});
    } catch (e) {
      if (!(e instanceof AuthError)) setStatus("Could not delete: " + e.message, true);
    }
  }

  function showZoom() {
    const c = state.captures[state.selected];
    if (!c) return;
    const z = $("zoom");
    showImage(z.querySelector("img"), c.image.url);
    z.hidden = false;
  }

  // ---- the box editor (detection captures) ----

  const MIN_BOX = 0.005; // smallest width/height a drawn box keeps (normalised)
  const editor = {
    capture: null,    // the capture being edited (as the grid had it when opened)
    regions: [],      // [{tagName, left, top, width, height}], normalised
    selected: -1,
    drag: null,       // {mode: "move"|"resize"|"draw", i, x0, y0, r0}
  };

  const clamp01 = (v) => Math.min(1, Math.max(0, v));

  function editorTags(c) {
    const tags = state.tags.slice();
    for (const d of c.detections) if (!tags.includes(d.tagName)) tags.push(d.tagName);
    for (const r of c.regions || []) if (!tags.includes(r.tagName)) tags.push(r.tagName);
    return tags;
  }

  function openEditor(i) {
    const c = state.captures[i];
    if (!c || !isDetection(c)) return;
    editor.capture = c;
    editor.selected = -1;
    editor.drag = null;
    // Start from the saved regions, else the prediction clipped to the image.
    editor.regions = c.regions ? c.regions.map((r) => Object.assign({}, r)) : predictedRegions(c);
    const sel = $("ed-tag");
    sel.replaceChildren();
    for (const t of editorTags(c)) {
      const o = el("option", "", t);
      o.value = t;
      sel.append(o);
    }
    $("ed-title").textContent = c.regions ? "Boxes (reviewed)" : "Boxes (predicted)";
    edStatus("");
    showImage($("ed-img"), c.image.url);
    $("editor").hidden = false;
    renderEditor();
    $("ed-save").focus();
  }

  function predictedRegions(c) {
    const out = [];
    for (const d of c.detections) {
      const b = d.boundingBox;
      const left = clamp01(b.left), top = clamp01(b.top);
      const right = clamp01(b.left + b.width), bottom = clamp01(b.top + b.height);
      if (right - left > 0 && bottom - top > 0) {
        out.push({ tagName: d.tagName, left, top, width: right - left, height: bottom - top });
      }
    }
    return out;
  }

  function closeEditor() {
    $("editor").hidden = true;
    editor.capture = null;
    editor.drag = null;
    grid.focus();
  }

  function edStatus(text, isError) {
    const s = $("ed-status");
    s.textContent = text || "";
    s.classList.toggle("error", !!isError);
  }

  function renderEditor() {
    const layer = $("ed-boxes");
    layer.replaceChildren();
    editor.regions.forEach((r, i) => {
      const b = boxElement(r, i === editor.selected ? "selected" : "");
      b.dataset.index = String(i);
      b.append(el("div", "handle"));
      layer.append(b);
    });
    $("ed-delete").disabled = editor.selected < 0;
    if (editor.selected >= 0) $("ed-tag").value = editor.regions[editor.selected].tagName;
  }

  function selectBox(i) {
    editor.selected = i;
    renderEditor();
  }

  // The pointer as normalised image coordinates.
  function pointerAt(e) {
    const rect = $("ed-img").getBoundingClientRect();
    return { x: (e.clientX - rect.left) / rect.width, y: (e.clientY - rect.top) / rect.height };
  }

  function onStageDown(e) {
    if (e.button !== 0) return;
    // Keys go to the editor again (not to the tag list last used).
    if (document.activeElement instanceof HTMLSelectElement) document.activeElement.blur();
    const p = pointerAt(e);
    const boxEl = e.target.closest(".box");
    if (boxEl) {
      const i = parseInt(boxEl.dataset.index, 10);
      const mode = e.target.classList.contains("handle") ? "resize" : "move";
      editor.drag = { mode, i, x0: p.x, y0: p.y, r0: Object.assign({}, editor.regions[i]) };
      editor.selected = i;
    } else {
      const tag = $("ed-tag").value;
      if (!tag) { edStatus("Choose a tag first.", true); return; }
      editor.regions.push({ tagName: tag, left: clamp01(p.x), top: clamp01(p.y), width: 0, height: 0 });
      const i = editor.regions.length - 1;
      editor.drag = { mode: "draw", i, x0: clamp01(p.x), y0: clamp01(p.y), r0: null };
      editor.selected = i;
    }
    $("ed-stage").setPointerCapture(e.pointerId);
    e.preventDefault();
    renderEditor();
  }

  function onStageMove(e) {
    const d = editor.drag;
    if (!d) return;
    const p = pointerAt(e);
    const r = editor.regions[d.i];
    if (d.mode === "move") {
      r.left = Math.min(Math.max(0, d.r0.left + p.x - d.x0), 1 - d.r0.width);
      r.top = Math.min(Math.max(0, d.r0.top + p.y - d.y0), 1 - d.r0.height);
    } else if (d.mode === "resize") {
      r.width = Math.max(MIN_BOX, clamp01(p.x) - d.r0.left);
      r.height = Math.max(MIN_BOX, clamp01(p.y) - d.r0.top);
      r.width = Math.min(r.width, 1 - r.left);
      r.height = Math.min(r.height, 1 - r.top);
    } else {
      const x = clamp01(p.x), y = clamp01(p.y);
      r.left = Math.min(d.x0, x);
      r.top = Math.min(d.y0, y);
      r.width = Math.abs(x - d.x0);
      r.height = Math.abs(y - d.y0);
    }
    const b = $("ed-boxes").children[d.i];
    if (b) placeBox(b, r);
  }

  function onStageUp(e) {
    const d = editor.drag;
    if (!d) return;
    editor.drag = null;
    if ($("ed-stage").hasPointerCapture(e.pointerId)) $("ed-stage").releasePointerCapture(e.pointerId);
    const r = editor.regions[d.i];
    if (d.mode === "draw" && (r.width < MIN_BOX || r.height < MIN_BOX)) {
      // A click, not a drag: no box; it deselects.
      editor.regions.splice(d.i, 1);
      editor.selected = -1;
    }
    renderEditor();
  }

  function deleteBox() {
    if (editor.selected < 0) return;
    editor.regions.splice(editor.selected, 1);
    editor.selected = -1;
    renderEditor();
  }

  function onEditorTag() {
    if (editor.selected >= 0) {
      editor.regions[editor.selected].tagName = $("ed-tag").value;
      renderEditor();
    }
  }

  async function saveEditor() {
    const c = editor.capture;
    if (!c) return;
    const regions = editor.regions.map((r) => ({
      tagName: r.tagName, left: r.left, top: r.top, width: r.width, height: r.height }));
    try {
      showUpdated(await write("PUT", "/captures/" + c.id + "/regions", { regions }));
      closeEditor();
      setStatus("Saved " + regions.length + (regions.length === 1 ? " box." : " boxes."));
      loadStats().catch(() => {});
    } catch (e) {
      if (!(e instanceof AuthError)) edStatus("Could not save the boxes: " + e.message, true);
    }
  }

  async function clearRegions(i) {
    const c = state.captures[i];
    if (!c || !c.regions) return;
    try {
      showUpdated(await write("PUT", "/captures/" + c.id + "/regions", { regions: null }));
      setStatus("Boxes cleared.");
      loadStats().catch(() => {});
    } catch (e) {
      if (!(e instanceof AuthError)) setStatus("Could not clear the boxes: " + e.message, true);
    }
  }

  function onEditorKey(e) {
    if (e.target instanceof HTMLSelectElement && e.key !== "Escape") return;
    if (e.key === "Escape") closeEditor();
    else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) saveEditor();
    else if (e.key === "Delete" || e.key === "Backspace") deleteBox();
    else return;
    e.preventDefault();
  }

  function initEditor() {
    const stage = $("ed-stage");
    stage.addEventListener("pointerdown", onStageDown);
    stage.addEventListener("pointermove", onStageMove);
    stage.addEventListener("pointerup", onStageUp);
    stage.addEventListener("pointercancel", onStageUp);
    $("ed-tag").addEventListener("change", onEditorTag);
    $("ed-delete").addEventListener("click", deleteBox);
    $("ed-save").addEventListener("click", saveEditor);
    $("ed-cancel").addEventListener("click", closeEditor);
    $("ed-reset").addEventListener("click", () => {
      const c = editor.capture;
      if (!c) return;
      editor.regions = predictedRegions(c);
      editor.selected = -1;
      renderEditor();
    });
  }

  function onKey(e) {
    if (!$("editor").hidden) {
      onEditorKey(e);
      return;
    }
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const i = state.selected;
    let handled = true;
    if (e.key === "ArrowRight") select(i + 1);
    else if (e.key === "ArrowLeft") select(i - 1);
    else if (e.key === "ArrowDown") select(Math.min(i + columns(), state.captures.length - 1));
    else if (e.key === "ArrowUp") select(Math.max(i - columns(), 0));
    else if (e.key === "Home") select(0);
    else if (e.key === "End") select(state.captures.length - 1);
    else if (/^[1-9]$/.test(e.key)) {
      const tag = state.tags[parseInt(e.key, 10) - 1];
      if (tag !== undefined) labelSelected(tag);
    } else if (e.key === "Enter" || e.key === "e" || e.key === "E") {
      const c = state.captures[i];
      if (c && isDetection(c)) openEditor(i);
      else if (c && c.top && e.key === "Enter") setLabel(i, c.top.tagName, true);
    } else if (e.key === "Backspace") {
      const c = state.captures[i];
      if (c && isDetection(c)) clearRegions(i); else setLabel(i, null, false);
    }
    else if (e.key === "Delete") deleteSelected();
    else if (e.key === " ") {
      if ($("zoom").hidden) showZoom(); else $("zoom").hidden = true;
    } else if (e.key === "Escape") $("zoom").hidden = true;
    else handled = false;
    if (handled) e.preventDefault();
  }

  function init() {
    for (const id of ["f-reviewed", "f-tag", "f-uncertain", "f-order"]) {
      $(id).addEventListener("change", () => loadPage(true));
    }
    $("f-threshold").addEventListener("change", () => { if ($("f-uncertain").checked) loadPage(true); });
    $("filters").addEventListener("submit", (e) => e.preventDefault());
    $("load-more").addEventListener("click", () => loadPage(false));
    $("zoom").addEventListener("click", () => { $("zoom").hidden = true; });
    document.addEventListener("keydown", onKey);
    initEditor();
    if ("IntersectionObserver" in window) {
      new IntersectionObserver((entries) => {
        if (entries.some((x) => x.isIntersecting)) loadPage(false);
      }, { rootMargin: "400px" }).observe($("more"));
    }
    $("login").addEventListener("submit", onLogin);
    loadAll();
  }

  function loadAll() {
    loadStats().catch((e) => {
      if (!(e instanceof AuthError)) setStatus("Could not load counts: " + e.message, true);
    });
    loadPage(true);
    grid.focus();
  }

  init();
})();
