/**
 * Static assets of the pages: their stylesheets, and their scripts — typed TypeScript under
 * src/pages/client/, bundled by the build step (scripts/build.ts) into string modules. Served
 * from the Worker under /assets/, so the pages need no CDN and run under a strict CSP.
 */
import { Hono } from 'hono';
import dashboardScript from '../../build/dashboard.client';
import demoScript from '../../build/demo.client';
import type { AppEnv } from '../context';

export const DEMO_CSS = `:root{--fg:#1d2330;--muted:#5b6475;--line:#dde1e8;--accent:#0b6e4f;--bg:#f7f8fa}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:.8rem 1.2rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:baseline}
header h1{font-size:1.2rem;margin:0}#model-info{color:var(--muted);font-size:.85rem}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem;padding:1rem 1.2rem}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem}
h2{font-size:1rem;margin:.2rem 0 .6rem}label{display:block;font-weight:600;margin-bottom:.25rem}
input[type=search],input[type=text],input[type=password]{width:100%;padding:.45rem .55rem;border:1px solid #b9c0cc;border-radius:6px;font:inherit}
ol,ul{padding-left:1.3rem;margin:.3rem 0}li{margin:.25rem 0}
button{font:inherit;font-size:.8rem;padding:.15rem .5rem;margin-left:.3rem;border:1px solid #b9c0cc;border-radius:5px;background:#fff;cursor:pointer}
button:hover,button:focus{border-color:var(--accent)}.score{color:var(--muted);font-variant-numeric:tabular-nums;font-size:.8rem}
.tag{display:inline-block;font-size:.75rem;padding:0 .4rem;border-radius:4px;background:#e6f2ee;color:var(--accent)}
.muted{color:var(--muted)}.error{color:#a11}
select{font:inherit;padding:.35rem .45rem;border:1px solid #b9c0cc;border-radius:6px;background:#fff;min-width:14rem}
label.inline{display:inline-flex;gap:.35rem;align-items:center;font-weight:400;margin:.4rem 0}
li.card{margin:.45rem 0;padding:.35rem .5rem;border:1px solid var(--line);border-radius:6px;background:#fcfcfd}
li.card.unavailable{background:#fbf1f1}.facts{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;font-size:.82rem;margin-top:.15rem}
.price{font-weight:600;font-variant-numeric:tabular-nums}.category{color:var(--accent)}.stock{color:var(--muted)}
.badge{display:inline-block;font-size:.72rem;font-weight:600;padding:0 .4rem;border-radius:4px;border:1px solid}
.badge.out{color:#a11;border-color:#e2b4b4;background:#fff}.badge.pinned{color:#6b3fa0;border-color:#cdb8e6;background:#f6f1fc}
.badge.boosted{color:#8a5a00;border-color:#ecd29a;background:#fff8e6}.badge.new{color:#0b5394;border-color:#b6cde6;background:#eef5fc}
.because{margin:.2rem 0 0;font-size:.82rem;color:var(--muted)}.actions{margin-top:.2rem}.actions button:first-child{margin-left:0}
pre{white-space:pre-wrap;word-break:break-all;background:#f3f4f7;padding:.5rem;border-radius:6px;font-size:.75rem}
details summary{cursor:pointer;font-weight:600}[hidden]{display:none!important}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}`;

export const DOCS_CSS = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
section{border-top:1px solid #ddd;padding:.5rem 0}.m{display:inline-block;min-width:4rem;font-weight:700;color:#0a5}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:13px}code{font-size:14px}`;

export const DASHBOARD_CSS = `:root{--fg:#1d2330;--muted:#5b6475;--line:#dde1e8;--accent:#0b6e4f;--bg:#f7f8fa;--bad:#a11}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:.8rem 1.2rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:baseline}
header h1{font-size:1.2rem;margin:0}
main{display:grid;grid-template-columns:minmax(0,1fr);gap:1rem;padding:0 1.2rem 1.2rem}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem}
#auth{margin:1rem 1.2rem}
h2{font-size:1.05rem;margin:.2rem 0 .6rem}h3{font-size:.95rem;margin:1rem 0 .4rem}
label{font-weight:600}label.inline{display:inline;margin-right:.3rem}
#token-form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
input[type=password]{min-width:18rem;padding:.45rem .55rem;border:1px solid #b9c0cc;border-radius:6px;font:inherit}
select{font:inherit;padding:.3rem .45rem;border:1px solid #b9c0cc;border-radius:6px;background:#fff}
button{font:inherit;font-size:.85rem;padding:.25rem .6rem;border:1px solid #b9c0cc;border-radius:5px;background:#fff;cursor:pointer}
button:hover,button:focus{border-color:var(--accent)}button.danger{color:var(--bad);border-color:#e2b4b4}
.toolbar{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;padding:.8rem 0 0}
.muted{color:var(--muted)}.error{color:var(--bad);font-weight:600}td.problem{color:var(--bad)}.note{font-size:.85rem;color:var(--muted);max-width:70rem}
.table-wrap{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem;margin:.3rem 0;min-width:100%}
caption{text-align:left;color:var(--muted);font-size:.8rem;padding-bottom:.2rem}
th,td{border-bottom:1px solid var(--line);padding:.25rem .5rem;text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
th:first-child,td:first-child{text-align:left}th{background:#f3f4f7;font-weight:600}
td.text{text-align:left;white-space:normal}tr.selected td{background:#eef7f3}
.interval{display:block;color:var(--muted);font-size:.75rem}
.yes{color:var(--accent);font-weight:600}.no{color:var(--muted)}
.status-running{color:var(--accent);font-weight:600}.status-stopped{color:var(--muted)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1rem}.charts figure.wide{grid-column:1/-1}
figure{margin:.5rem 0}figcaption{font-size:.8rem;color:var(--muted);text-align:center}
.chart{position:relative;height:260px}
details summary{cursor:pointer;font-weight:600;margin:.4rem 0}[hidden]{display:none!important}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}`;

/**
 * Content-Security-Policy of every page: only this origin's scripts, styles and API. The
 * dashboard's charts need nothing more: Chart.js (bundled into /assets/dashboard.js) draws on a
 * canvas, injects no stylesheet and sets no style attribute — it only assigns `element.style`
 * properties through the CSSOM, which `style-src` does not govern — so no 'unsafe-inline'.
 */
export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const ASSETS: Record<string, { type: string; body: string }> = {
  'demo.js': { type: 'text/javascript; charset=utf-8', body: demoScript },
  'dashboard.js': { type: 'text/javascript; charset=utf-8', body: dashboardScript },
  'dashboard.css': { type: 'text/css; charset=utf-8', body: DASHBOARD_CSS },
  'demo.css': { type: 'text/css; charset=utf-8', body: DEMO_CSS },
  'docs.css': { type: 'text/css; charset=utf-8', body: DOCS_CSS },
};

export const assets = new Hono<AppEnv>();

assets.get('/assets/:name', (c) => {
  const name = c.req.param('name');
  // own names only: "constructor" or "__proto__" are properties of every object
  const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!asset) return c.notFound();
  c.header('content-type', asset.type);
  c.header('cache-control', 'public, max-age=300');
  c.header('x-content-type-options', 'nosniff');
  return c.body(asset.body);
});
