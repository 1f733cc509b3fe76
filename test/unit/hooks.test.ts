import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allHookNames, parseHookName } from '../../src/engine/hooks.js';

test('allHookNames lists TransformerLens hook points in forward order', () => {
  const names = allHookNames(2);
  assert.equal(names[0], 'hook_embed');
  assert.equal(names.at(-1), 'logits');
  assert.ok(names.includes('blocks.1.attn.hook_z'));
  assert.equal(names.length, 2 + 2 * 7 + 2);
});

test('parseHookName accepts layer and global hooks and rejects the rest', () => {
  assert.deepEqual(parseHookName('blocks.9.attn.hook_z', 12), { layer: 9, hook: 'attn.hook_z' });
  assert.deepEqual(parseHookName('ln_final.hook_scale', 12), { layer: null, hook: 'ln_final.hook_scale' });
  assert.equal(parseHookName('blocks.12.hook_resid_pre', 12), null);
  assert.equal(parseHookName('blocks.x.hook_resid_pre', 12), null);
  assert.equal(parseHookName('hook_nonsense', 12), null);
});
