// The console's bridge to the API, shared by every page: the bearer token
// (asked once, kept in sessionStorage), JSON calls, the live event stream
// read with fetch (EventSource cannot send a header), and DOM built with
// textContent only: run data is hostile and never parsed as markup.
'use strict';

const Maestro = (() => {
  const KEY = 'maestro.token';

  function headers(extra) {
    const all = Object.assign({}, extra || {});
    const token = sessionStorage.getItem(KEY);
    if (token) all.Authorization = 'Bearer ' + token;
    return all;
  }

  // Show the token form; resolves once a token is saved. Calls refused at
  // the same time share one form, and all go on once it is answered.
  let asking = null;
  function askToken() {
    if (asking) return asking;
    const dialog = document.getElementById('token-dialog');
    const form = dialog.querySelector('form');
    asking = new Promise((resolve) => {
      form.onsubmit = (e) => {
        e.preventDefault();
        const value = form.elements.token.value.trim();
        if (!value) return;
        sessionStorage.setItem(KEY, value);
        form.reset();
        dialog.close();
        asking = null;
        resolve();
      };
      if (!dialog.open) dialog.showModal();
    });
    return asking;
  }

  // A request with the token and any `extra` headers; a 401 asks for it
  // and tries again (3 times).
  async function call(method, path, body, extra) {
    for (let i = 0; i < 3; i += 1) {
      const json = body === undefined ? {} : { 'Content-Type': 'application/json' };
      const init = { method, headers: headers(Object.assign(json, extra || {})) };
      if (body !== undefined) init.body = JSON.stringify(body);
      const response = await fetch(path, init);
      if (response.status !== 401) return response;
      sessionStorage.removeItem(KEY);
      await askToken();
    }
    throw new Error('the token was refused');
  }

  // GET JSON; an API error becomes an Error with its message.
  async function json(path) {
    const response = await call('GET', path);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((body.error && body.error.message) || 'HTTP ' + response.status);
    return body;
  }

  async function text(path) {
    const response = await call('GET', path);
    if (!response.ok) throw new Error('HTTP ' + response.status);
    return response.text();
  }

  // Follow `/v1/events...`: `onEvent({type, data})` per event; reconnects
  // after a pause when the stream ends. Returns a function that stops it.
  function follow(path, onEvent) {
    let stopped = false;
    let controller = null;
    const live = document.getElementById('live');
    const show = (on) => { if (live) { live.className = on ? 'on' : ''; live.textContent = on ? 'live' : 'reconnecting'; } };
    async function once() {
      controller = new AbortController();
      const response = await fetch(path, { headers: headers({ Accept: 'text/event-stream' }), signal: controller.signal });
      if (response.status === 401) { sessionStorage.removeItem(KEY); await askToken(); return; }
      // Nothing to follow (an unknown run): no point in asking again.
      if (response.status === 404) { stopped = true; return; }
      if (!response.ok || !response.body) throw new Error('HTTP ' + response.status);
      show(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value.replace(/\r\n/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          dispatch(block, onEvent);
        }
      }
    }
    (async () => {
      while (!stopped) {
        try { await once(); } catch (e) { /* shown as reconnecting */ }
        show(false);
        if (!stopped) await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    return () => { stopped = true; if (controller) controller.abort(); };
  }

  function dispatch(block, onEvent) {
    let type = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) type = line.slice(6).trim();
      else if (line.startsWith('data:')) data += line.slice(5).trimStart();
    }
    if (!data) return;
    try { onEvent({ type, data: JSON.parse(data) }); } catch (e) { console.error(e); }
  }

  // An element: attributes set as given, children appended as text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  // An SVG document from the server, imported as nodes (never innerHTML).
  function importSvg(source) {
    const doc = new DOMParser().parseFromString(source, 'image/svg+xml');
    const root = doc.documentElement;
    if (root.nodeName !== 'svg') throw new Error('not an SVG image');
    return document.importNode(root, true);
  }

  function badge(value) {
    return el('span', { class: 'badge ' + String(value) }, String(value));
  }

  function when(rfc3339) {
    const at = new Date(rfc3339);
    return isNaN(at) ? String(rfc3339) : at.toLocaleString();
  }

  function runLink(id) {
    return el('a', { href: '/runs/' + encodeURIComponent(id), class: 'mono' }, id);
  }

  function clear(node) { while (node.firstChild) node.firstChild.remove(); }

  function pretty(value) {
    return el('pre', {}, JSON.stringify(value === undefined ? null : value, null, 2));
  }

  return { call, json, text, follow, el, svg, importSvg, badge, when, runLink, clear, pretty };
})();
