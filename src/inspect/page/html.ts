import { APP_SCRIPT } from './app.js';
import { DIAGRAM_SCRIPT } from './diagram.js';
import { STYLES } from './styles.js';

/** The dashboard's icon, served at `/favicon.svg` (the page loads nothing from anywhere else). */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1e293b"/>' +
  '<circle cx="16" cy="9" r="4" fill="#22c55e"/><circle cx="8" cy="23" r="4" fill="#3b82f6"/>' +
  '<circle cx="24" cy="23" r="4" fill="#f59e0b"/><path d="M16 13v3M16 16l-7 4M16 16l7 4" stroke="#cbd5e1" stroke-width="2"/></svg>';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The dashboard page: one HTML document with its CSS and script inline. It loads nothing but
 * `/favicon.svg` and the `/events` stream from its own server (system fonts, no CDN).
 */
export function renderPage(title: string): string {
  const t = escapeHtml(title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t} · warden dashboard</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<style>${STYLES}</style>
</head>
<body>
<header class="top">
  <div class="brand">${FAVICON_SVG.replace('<svg ', '<svg class="logo" ')}<span id="title" class="title">${t}</span><span class="sub">warden dashboard</span></div>
  <span id="health" class="pill st-idle">health</span>
  <span class="spacer"></span>
  <nav class="links"><a href="/health" target="_blank">/health</a><a href="/metrics" target="_blank">/metrics</a><a href="/api/snapshot" target="_blank">snapshot</a></nav>
  <span id="conn" class="conn"><span class="dot"></span><span id="conn-text">connecting…</span></span>
</header>
<div class="toolbar">
  <div id="chips" class="chips"></div>
  <input id="search" type="search" placeholder="Filter by name…" autocomplete="off" spellcheck="false">
</div>
<main>
  <section class="col">
    <div class="panel"><h2>Supervision tree <span id="tree-count" class="count"></span></h2><div id="tree"></div></div>
    <div class="panel"><h2>Transport servers</h2><div id="servers"></div></div>
    <div class="panel"><h2>Timeline<label class="opt"><input type="checkbox" id="only-selected"> only selected</label></h2><div id="timeline" class="timeline"></div></div>
  </section>
  <section class="col">
    <div class="panel sticky"><h2><span id="detail-title">Machine</span><label class="opt"><input type="checkbox" id="all-labels"> all labels</label></h2><div id="detail"></div></div>
  </section>
</main>
<div id="toast" class="toast" role="status"></div>
<script>${DIAGRAM_SCRIPT}</script>
<script>${APP_SCRIPT}</script>
</body>
</html>
`;
}
