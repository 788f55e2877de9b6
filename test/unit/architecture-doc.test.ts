import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// docs/architecture.md sends a newcomer to files and functions by name. A page that names what was
// moved or renamed sends them nowhere, so every source path and code name it quotes must exist.

const root = fileURLToPath(new URL('../../../', import.meta.url));
const FOLDERS = ['core', 'images', 'netboot', 'server', 'cli', 'test', 'bench', 'docs', 'bin', 'scripts', 'docker'];
const SOURCE_FOLDERS = ['core', 'images', 'netboot', 'server', 'cli', 'test', 'scripts', 'bench'];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name === 'fixtures') return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? walk(path) : [path];
  });
}

const page = readFileSync(join(root, 'docs/architecture.md'), 'utf8');
// Code spans outside fenced blocks; a span may wrap onto the next line.
const quoted = [...page.replace(/```[\s\S]*?```/g, '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\s+/g, ' ').trim());
const sources = SOURCE_FOLDERS.flatMap((f) => walk(join(root, f))).filter((f) => f.endsWith('.ts'));
const basenames = new Set(sources.map((f) => basename(f)));
const sourceTexts = sources.map((f) => readFileSync(f, 'utf8'));
const sourceText = sourceTexts.join('\n');
const repoFiles = FOLDERS.filter((f) => existsSync(join(root, f))).flatMap((f) => walk(join(root, f)));

/** `server/boot-files.ts`, `plan/`, `handler.ts`: repository paths, or source files named by their base name. */
function isSourcePath(token: string): boolean {
  return !/[\s<>*:…$]/.test(token) && (token.endsWith('.ts') || FOLDERS.some((f) => token.startsWith(`${f}/`)));
}

function pathExists(token: string): boolean {
  if (existsSync(join(root, token))) return true;
  if (!token.includes('/')) return basenames.has(token);
  // A path given from inside its folder: `plan/partition-disk.ts`, `plan/`.
  return repoFiles.some((f) => f.endsWith(`/${token}`) || (token.endsWith('/') && f.includes(`/${token}`)));
}

/** camelCase, PascalCase with two capitals, names with an underscore, and Class.method. */
const CODE_NAME = /^([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?$/;
function isCodeName(word: string): boolean {
  return /^[a-z]+[A-Z]/.test(word) || /^[A-Z][a-z0-9]*[A-Z]/.test(word) || word.includes('_');
}

function definesMethod(cls: string, method: string): boolean {
  return sourceTexts
    .filter((t) => new RegExp(`\\bclass ${cls}\\b`).test(t))
    .some((t) => new RegExp(`^\\s+(?:(?:async|static|private|readonly)\\s+)*${method}\\s*[(<]`, 'm').test(t));
}

test('the architecture page is linked from the README', () => {
  assert.match(readFileSync(join(root, 'README.md'), 'utf8'), /\(docs\/architecture\.md\)/);
});

test('every source path docs/architecture.md quotes exists', () => {
  const paths = quoted.filter(isSourcePath);
  assert.ok(paths.length > 80, `the page quotes ${paths.length} source paths`);
  assert.deepEqual(paths.filter((p) => !pathExists(p)), []);
});

test('every function, class, constant and method docs/architecture.md quotes is in the source', () => {
  const names = quoted.flatMap((q) => {
    const m = CODE_NAME.exec(q);
    if (!m) return [];
    const [, first, second] = m;
    // Class.method: a PascalCase class (README.md is a file, not a method of README).
    if (second !== undefined) return /^[A-Z][a-z0-9]+[A-Z]/.test(first!) ? [q] : [];
    return isCodeName(first!) ? [q] : [];
  });
  assert.ok(names.length > 60, `the page quotes ${names.length} code names`);
  const missing = names.filter((n) => {
    const [a, b] = n.split('.');
    if (b !== undefined) return !definesMethod(a!, b);
    return !new RegExp(`\\b${a}\\b`).test(sourceText);
  });
  assert.deepEqual(missing, []);
});
