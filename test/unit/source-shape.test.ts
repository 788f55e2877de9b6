import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The sizes a newcomer can hold (issue 12's bar, kept): no source file outside test/ over 400
 * lines, and no function over 80 lines in images/restore and images/layout, where the planner and
 * the probe live. Read from the TypeScript sources, not the compiled output.
 */
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const SOURCE_DIRS = ['core', 'images', 'netboot', 'server', 'cli', 'bench', 'scripts'];

async function tsFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules') out.push(...(await tsFiles(path)));
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

test('no source file outside test/ is over 400 lines', async () => {
  const files = (await Promise.all(SOURCE_DIRS.map((d) => tsFiles(join(repo, d))))).flat();
  assert.ok(files.length > 150, `found ${files.length} source files`);
  const long: string[] = [];
  for (const f of files) {
    const lines = (await readFile(f, 'utf8')).split('\n').length - 1;
    if (lines > 400) long.push(`${relative(repo, f)}: ${lines} lines`);
  }
  assert.deepEqual(long, []);
});

test('no function in images/restore or images/layout is over 80 lines', async () => {
  const files = [...(await tsFiles(join(repo, 'images/restore'))), ...(await tsFiles(join(repo, 'images/layout')))];
  assert.ok(files.length > 30, `found ${files.length} files`);
  const long: string[] = [];
  for (const f of files) {
    const source = ts.createSourceFile(f, await readFile(f, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const name = (node as ts.FunctionLikeDeclaration).name?.getText(source) ?? '(anonymous)';
        if (last - first + 1 > 80) long.push(`${relative(repo, f)}:${first + 1} ${name}: ${last - first + 1} lines`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  assert.deepEqual(long, []);
});
