// Bundles GraphiQL (versions pinned by package-lock.json) into ../dist,
// which server/graphiql embeds: one script, one style sheet and the fonts
// and images the style sheet used to carry as data: URLs, written out as
// files so the page's Content-Security-Policy can be 'self' alone.
// Run by `make graphiql` (npm ci first); the output is committed.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';

const out = new URL('../dist/', import.meta.url);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: { graphiql: 'main.jsx' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"', global: 'window' },
  loader: { '.woff2': 'dataurl', '.woff': 'dataurl', '.png': 'dataurl', '.svg': 'dataurl' },
  outdir: out.pathname,
  legalComments: 'none',
  logLevel: 'warning',
});

// Move data: URLs out of the style sheet into files of their own.
const cssPath = new URL('graphiql.css', out);
const ext = { 'font/woff2': 'woff2', 'font/woff': 'woff', 'image/png': 'png', 'image/svg+xml': 'svg' };
const css = readFileSync(cssPath, 'utf8').replace(/url\(\s*"?data:([a-z0-9+./-]+);base64,([A-Za-z0-9+/=]+)"?\s*\)/g, (_, type, data) => {
  const bytes = Buffer.from(data, 'base64');
  const name = `asset-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.${ext[type] || 'bin'}`;
  writeFileSync(new URL(name, out), bytes);
  return `url(${name})`;
});
writeFileSync(cssPath, css);
copyFileSync('index.html', new URL('index.html', out));

// What the bundle was built from, so a test can tell it is stale.
const sources = ['package-lock.json', 'main.jsx', 'app.css', 'index.html', 'build.mjs'];
const h = createHash('sha256');
for (const f of sources) h.update(f + '\0' + readFileSync(f) + '\0');
writeFileSync(new URL('SOURCES.sha256', out), h.digest('hex') + '\n');
