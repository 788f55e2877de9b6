import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDumpdir } from '../../images/archive/archive-chain.js';
import { ChainTree } from '../../images/compare/chain-facts.js';

// The tree a chain stands for, from directory listings alone: the same rules tar applies on
// extraction (renames first, then everything the listing no longer names goes), on listings
// shaped exactly as GNU tar 1.34 writes them (captured from `tar --list -G -vv`).

type F = { type: 'dir' | 'file'; dumpdir?: Buffer; tag: string };
const listing = (...records: string[]) => Buffer.from(`${records.join('\0')}\0\0`, 'utf8');
const dir = (tag: string, ...records: string[]): F => ({ type: 'dir', dumpdir: listing(...records), tag });
const file = (tag: string): F => ({ type: 'file', tag });
const layer = (entries: Array<[string, F]>) => new Map(entries);
const view = (t: ChainTree<F>) => [...t.facts.entries()].map(([k, v]) => `${k || '.'}=${v.tag}`).sort();

test('dumpdir records parse as tar writes them, the empty record ending the list', () => {
  assert.deepEqual(parseDumpdir(listing('Da', 'Nex', 'Ynewtop', 'R./x', 'T./y', 'X./srv', 'R./srv/c', 'T')), [
    { code: 'D', name: 'a' }, { code: 'N', name: 'ex' }, { code: 'Y', name: 'newtop' },
    { code: 'R', name: './x' }, { code: 'T', name: './y' }, { code: 'X', name: './srv' },
    { code: 'R', name: './srv/c' }, { code: 'T', name: '' },
  ]);
  assert.deepEqual(parseDumpdir(Buffer.from([0])), []);
  assert.throws(() => parseDumpdir(Buffer.from('Qbad\0\0')), /unknown record "Q"/);
});

test('a later level drops what its listings no longer name, whole subtrees included', () => {
  const t = new ChainTree<F>();
  t.apply(layer([['', dir('r0', 'Da', 'Yf')], ['a', dir('a0', 'Db')], ['a/b', dir('b0', 'Yg')], ['f', file('f0')], ['a/b/g', file('g0')]]));
  t.apply(layer([['', dir('r1', 'Nf', 'Ynew')], ['new', file('new1')]]));
  assert.deepEqual(view(t), ['.=r1', 'f=f0', 'new=new1']);
});

test('renames move subtrees, a cycle goes through the temporary name, unchanged files come along', () => {
  const t = new ChainTree<F>();
  t.apply(layer([
    ['', dir('r0', 'Dsrv')], ['srv', dir('s0', 'Da', 'Db', 'Dc')],
    ['srv/a', dir('a0', 'Yin-a')], ['srv/b', dir('b0', 'Yin-b')], ['srv/c', dir('c0', 'Yin-c')],
    ['srv/a/in-a', file('A')], ['srv/b/in-b', file('B')], ['srv/c/in-c', file('C')],
  ]));
  // b → tmp, c → b, tmp → c; and a renamed to d: as tar 1.34 lists it in the root's dumpdir.
  t.apply(layer([
    ['', dir('r1', 'Dsrv', 'X./srv', 'R./srv/c', 'T', 'R./srv/b', 'T./srv/c', 'R', 'T./srv/b', 'R./srv/a', 'T./srv/d')],
    ['srv', dir('s1', 'Db', 'Dc', 'Dd')],
    ['srv/b', dir('b1', 'Nin-c')], ['srv/c', dir('c1', 'Nin-b')], ['srv/d', dir('d1', 'Nin-a')],
  ]));
  assert.deepEqual(view(t), ['.=r1', 'srv/b/in-c=C', 'srv/b=b1', 'srv/c/in-b=B', 'srv/c=c1', 'srv/d/in-a=A', 'srv/d=d1', 'srv=s1']);
});

test('a file replaced by a directory of the same name, and a name that comes back', () => {
  const t = new ChainTree<F>();
  t.apply(layer([['', dir('r0', 'Yx', 'Yy')], ['x', file('x0')], ['y', file('y0')]]));
  t.apply(layer([['', dir('r1', 'Dx')], ['x', dir('x1', 'Yinside')], ['x/inside', file('i1')]]));
  t.apply(layer([['', dir('r2', 'Nx', 'Yy')], ['x', dir('x2', 'Ninside')], ['y', file('y2')]]));
  assert.deepEqual(view(t), ['.=r2', 'x/inside=i1', 'x=x2', 'y=y2']);
});
