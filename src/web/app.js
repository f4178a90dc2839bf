// app.js: the little the chat page does in the browser. The server
// renders every fragment (HTMX swaps them in, the SSE extension streams
// them); this file adds what only a browser can do: the theme, the slash
// command menu and the keys of the composer, auto-scroll, code
// highlighting with copy buttons, the login dialog, clipboard, downloads.
// It never builds HTML from text: text goes in through textContent.
'use strict';

(function () {
  // ---- theme: before the first paint, so the page does not flash ----
  const THEME_KEY = 'smolbot-theme';
  function applyTheme(t) {
    document.documentElement.dataset.theme = t;
    const light = document.getElementById('hljs-light');
    const dark = document.getElementById('hljs-dark');
    if (light && dark) { light.disabled = t === 'dark'; dark.disabled = t !== 'dark'; }
  }
  function initialTheme() {
    let t = null;
    try { t = localStorage.getItem(THEME_KEY); } catch (e) { /* storage off */ }
    if (t !== 'light' && t !== 'dark')
      t = window.matchMedia && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
    return t;
  }
  function toggleTheme() {
    const t = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    try { localStorage.setItem(THEME_KEY, t); } catch (e) { /* storage off */ }
    applyTheme(t);
  }
  applyTheme(initialTheme());

  // ---- the slash commands: names, arguments, what they do ----
  const COMMANDS = [
    ['/help', '', 'list the commands'],
    ['/clear', '', 'delete every message of this chat'],
    ['/reset', '', 'forget the context, keep the page'],
    ['/export', '[md|json]', 'download this chat'],
    ['/think', '', 'thinking on'],
    ['/no_think', '', 'thinking off'],
    ['/temp', 'T', 'sampling temperature (0 to 2)'],
    ['/system', 'TEXT', 'set the system prompt'],
    ['/model', '', 'about the model'],
    ['/status', '', 'server, queue and memory'],
    ['/regenerate', '', 'answer the last message again'],
    ['/continue', '', 'go on writing the last answer'],
    ['/summarize', '', 'summarize the chat so far'],
    ['/theme', '', 'switch light and dark'],
    ['/quote', '', 'stream a fixed passage (no model)'],
  ];
  const REQUIRED_ARGS = new Set(['/temp', '/system']);

  const $ = (id) => document.getElementById(id);
  const chatId = () => { const c = $('chat'); return c ? c.dataset.chatId : null; };

  function openChat(url) {
    htmx.ajax('GET', url, { target: '#main', swap: 'innerHTML' });
  }

  function download(url) {
    const a = document.createElement('a');
    a.href = url;
    a.download = '';
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  // Commands that run here rather than on the server. True if handled.
  function runLocal(text) {
    const [name, arg] = text.trim().split(/\s+/, 2);
    if (name === '/theme') { toggleTheme(); return true; }
    if (name === '/export' && chatId()) {
      const fmt = arg === 'json' ? 'json' : 'md';
      download(`/ui/chats/${chatId()}/export?format=${fmt}`);
      return true;
    }
    return false;
  }

  // ---- the composer: keys, size, the menu ----
  const menu = { open: false, items: [], sel: 0 };

  function autosize(ta) {
    ta.style.height = 'auto';
    ta.style.height = Math.min(ta.scrollHeight, window.innerHeight * 0.4) + 'px';
  }

  function renderMenu() {
    const box = $('slash-menu');
    if (!box) return;
    box.replaceChildren();
    if (!menu.open || menu.items.length === 0) { box.hidden = true; return; }
    menu.items.forEach((c, i) => {
      const row = document.createElement('div');
      row.className = 'slash-item';
      row.setAttribute('role', 'option');
      row.setAttribute('aria-selected', i === menu.sel ? 'true' : 'false');
      row.dataset.index = String(i);
      const cmd = document.createElement('span');
      cmd.className = 'cmd';
      cmd.textContent = c[0] + (c[1] ? ' ' + c[1] : '');
      const desc = document.createElement('span');
      desc.className = 'desc';
      desc.textContent = c[2];
      row.append(cmd, desc);
      box.appendChild(row);
    });
    box.hidden = false;
    const cur = box.children[menu.sel];
    if (cur) cur.scrollIntoView({ block: 'nearest' });
  }

  function updateMenu(ta) {
    const v = ta.value;
    const m = /^\/\S*$/.exec(v);
    menu.open = !!m;
    menu.items = m ? COMMANDS.filter((c) => c[0].startsWith(v)) : [];
    if (menu.sel >= menu.items.length) menu.sel = 0;
    renderMenu();
  }

  function closeMenu() { menu.open = false; menu.items = []; menu.sel = 0; renderMenu(); }

  function submit(form, ta) {
    const text = ta.value;
    if (!text.trim()) return;
    if (text.startsWith('/') && runLocal(text)) { ta.value = ''; autosize(ta); return; }
    form.requestSubmit();
  }

  // The command picked from the menu: complete it, or run it.
  function choose(form, ta, i) {
    const c = menu.items[i];
    if (!c) return;
    closeMenu();
    if (REQUIRED_ARGS.has(c[0])) { ta.value = c[0] + ' '; ta.focus(); return; }
    ta.value = c[0];
    submit(form, ta);
  }

  function onKey(e) {
    const ta = e.target;
    const form = ta.form;
    if (menu.open && menu.items.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        const n = menu.items.length;
        menu.sel = (menu.sel + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
        renderMenu();
        e.preventDefault();
        return;
      }
      if (e.key === 'Tab') {
        const c = menu.items[menu.sel];
        ta.value = c[0] + (c[1] ? ' ' : '');
        closeMenu();
        e.preventDefault();
        return;
      }
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); choose(form, ta, menu.sel); return; }
      if (e.key === 'Escape') { closeMenu(); e.preventDefault(); return; }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (!document.body.classList.contains('busy')) submit(form, ta);
    }
  }

  // ---- after every swap: highlight, busy state, times, scroll ----
  function decorateCode(root) {
    root.querySelectorAll('.md pre > code').forEach((code) => {
      const pre = code.parentElement;
      if (pre.dataset.decorated) return;
      pre.dataset.decorated = '1';
      const m = /(?:^|\s)language-(\S+)/.exec(code.className);
      const lang = m ? m[1] : '';
      if (window.hljs) {
        try {
          if (lang && hljs.getLanguage(lang)) hljs.highlightElement(code);
          else if (!lang && code.textContent.length < 4000) {
            const r = hljs.highlightAuto(code.textContent);
            if (r.relevance > 5) { code.innerHTML = r.value; code.classList.add('hljs'); }
          }
        } catch (e) { /* leave it plain */ }
      }
      const head = document.createElement('div');
      head.className = 'code-head';
      const name = document.createElement('span');
      name.textContent = lang || 'text';
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'copy-code';
      btn.textContent = 'Copy';
      head.append(name, btn);
      pre.insertBefore(head, code);
    });
  }

  function formatTimes(root) {
    root.querySelectorAll('time[data-ms]').forEach((t) => {
      if (t.textContent) return;
      const d = new Date(Number(t.dataset.ms));
      const today = new Date().toDateString() === d.toDateString();
      t.textContent = today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
        : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
    });
  }

  function markActive() {
    const id = chatId();
    document.querySelectorAll('.chat-item').forEach((el) => {
      el.classList.toggle('active', el.dataset.chatId === id);
    });
  }

  let pending = false;
  function refresh() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      const busy = !!document.querySelector('#messages .msg[data-status="generating"]');
      document.body.classList.toggle('busy', busy);
      decorateCode(document);
      formatTimes(document);
      markActive();
      stickToBottom();
    });
  }

  // ---- auto-scroll: follow the answer until the reader scrolls up ----
  let sticky = true;
  function stickToBottom() {
    const sc = $('scroller');
    if (!sc) return;
    if (sticky) sc.scrollTop = sc.scrollHeight;
    const btn = $('to-bottom');
    if (btn) btn.hidden = sticky || sc.scrollHeight <= sc.clientHeight;
  }
  function bindScroller() {
    const sc = $('scroller');
    if (!sc || sc.dataset.bound) return;
    sc.dataset.bound = '1';
    sticky = true;
    sc.addEventListener('scroll', () => {
      sticky = sc.scrollHeight - sc.scrollTop - sc.clientHeight < 60;
      const btn = $('to-bottom');
      if (btn) btn.hidden = sticky;
    }, { passive: true });
    new MutationObserver(refresh).observe(sc, { childList: true, subtree: true, characterData: true });
  }

  function onChatLoaded() {
    const id = chatId();
    if (id && location.hash !== '#chat-' + id) history.replaceState(null, '', '#chat-' + id);
    bindScroller();
    const ta = $('input');
    if (ta && window.matchMedia('(min-width: 761px)').matches) ta.focus();
    document.body.classList.remove('side-open');
    refresh();
  }

  // ---- clipboard ----
  async function copyText(text, btn) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const ta = document.createElement('textarea');
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    const old = btn.textContent;
    btn.textContent = 'Copied';
    setTimeout(() => { btn.textContent = old; }, 1200);
  }

  // ---- login ----
  function showLogin() {
    const d = $('login');
    if (d && !d.open) d.showModal();
  }
  async function login(e) {
    e.preventDefault();
    const key = $('login-key').value;
    const r = await fetch('/ui/login', {
      method: 'POST',
      headers: { 'HX-Request': 'true', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'key=' + encodeURIComponent(key),
    });
    if (r.ok) { location.reload(); return; }
    const err = $('login-error');
    err.textContent = r.status === 401 ? 'That is not the key.' : 'Login failed (' + r.status + ').';
    err.hidden = false;
  }

  // ---- wiring ----
  document.addEventListener('DOMContentLoaded', () => {
    const m = /^#chat-(\d+)$/.exec(location.hash);
    openChat(m ? `/ui/chats/${m[1]}` : '/ui/chats/latest');
    $('theme-btn').addEventListener('click', toggleTheme);
    $('login-form').addEventListener('submit', login);
    $('scrim').addEventListener('click', () => document.body.classList.remove('side-open'));
    $('import-file').addEventListener('change', async (e) => {
      const f = e.target.files[0];
      e.target.value = '';
      if (!f) return;
      const text = await f.text();
      htmx.ajax('POST', '/ui/import', { values: { data: text }, target: '#main', swap: 'innerHTML' });
    });
    window.addEventListener('hashchange', () => {
      const h = /^#chat-(\d+)$/.exec(location.hash);
      if (h && h[1] !== chatId()) openChat(`/ui/chats/${h[1]}`);
    });
  });

  document.addEventListener('input', (e) => {
    if (e.target.id === 'input') { autosize(e.target); updateMenu(e.target); }
  });
  document.addEventListener('keydown', (e) => {
    if (e.target.id === 'input') onKey(e);
  });
  document.addEventListener('click', (e) => {
    const t = e.target;
    const item = t.closest('.slash-item');
    if (item) { const ta = $('input'); choose(ta.form, ta, Number(item.dataset.index)); return; }
    if (t.closest('#menu-btn')) { document.body.classList.toggle('side-open'); return; }
    if (t.closest('#to-bottom')) { sticky = true; stickToBottom(); return; }
    if (t.closest('.notice-close')) { t.closest('.notice').remove(); return; }
    if (t.closest('.copy-code')) {
      copyText(t.closest('pre').querySelector('code').innerText, t.closest('.copy-code'));
      return;
    }
    if (t.closest('.copy-msg')) {
      const msg = t.closest('.msg');
      const src = msg.querySelector('.answer') || msg.querySelector('.bubble');
      if (src) copyText(src.innerText, t.closest('.copy-msg'));
      return;
    }
    const ren = t.closest('.rename-btn');
    if (ren) {
      const item2 = ren.closest('.chat-item');
      const cur = item2.querySelector('.chat-name').textContent;
      const title = window.prompt('Rename the chat', cur);
      if (title && title.trim() && title !== cur)
        htmx.ajax('POST', `/ui/chats/${ren.dataset.chatId}/rename`,
          { values: { title: title.trim() }, target: '#chat-list', swap: 'outerHTML' });
    }
  });


  document.addEventListener('htmx:afterSwap', (e) => {
    if (e.detail.target && e.detail.target.id === 'main') onChatLoaded();
    refresh();
  });
  document.addEventListener('htmx:oobAfterSwap', refresh);
  document.addEventListener('htmx:sseMessage', refresh);

  // Errors: 401 asks for the key; other 4xx/5xx fragments are notices,
  // shown in the chat whatever the request's target was.
  document.addEventListener('htmx:beforeSwap', (e) => {
    const s = e.detail.xhr.status;
    if (s === 401) { e.detail.shouldSwap = false; showLogin(); return; }
    if (s >= 400 && $('notices') && /text\/html/.test(e.detail.xhr.getResponseHeader('Content-Type') || '')) {
      e.detail.shouldSwap = true;
      e.detail.target = $('notices');
      e.detail.swapOverride = 'innerHTML';
    }
  });

  // The composer clears once its message is taken.
  document.addEventListener('htmx:afterRequest', (e) => {
    const elt = e.detail.elt;
    if (elt && elt.id === 'composer' && e.detail.successful) {
      const ta = $('input');
      ta.value = '';
      autosize(ta);
      closeMenu();
      sticky = true;
    }
    if (elt && elt.classList && elt.classList.contains('delete-btn') && e.detail.successful) {
      const deleted = elt.closest('.chat-item');
      if (!deleted || deleted.dataset.chatId === chatId()) openChat('/ui/chats/latest');
    }
  });

  // /think and /no_think move the switch.
  document.addEventListener('smolbot-thinking', (e) => {
    const t = $('think-toggle');
    if (t) t.checked = !!(e.detail && e.detail.on);
  });
})();
