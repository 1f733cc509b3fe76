import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseDevice } from '../../../src/engine/runtime/devices.js';

const bundled = [
  { name: 'cpu', bundled: true },
  { name: 'webgpu', bundled: true },
  { name: 'cuda', bundled: false },
];

test('cpu is always honoured', () => {
  assert.deepEqual(chooseDevice('cpu', bundled), { providers: ['cpu'], note: null });
});
test('auto picks CUDA only when its binaries are installed', () => {
  assert.deepEqual(chooseDevice('auto', bundled, 'linux').providers, ['cpu']);
  assert.deepEqual(chooseDevice('auto', [...bundled.slice(0, 2), { name: 'cuda', bundled: true }], 'linux').providers, ['cuda', 'cpu']);
});
test('an unavailable provider falls back to the CPU with a reason', () => {
  const cuda = chooseDevice('cuda', bundled, 'linux');
  assert.deepEqual(cuda.providers, ['cpu']);
  assert.match(cuda.note ?? '', /CUDA binaries/);
  const dml = chooseDevice('dml', bundled, 'linux');
  assert.deepEqual(dml.providers, ['cpu']);
  assert.match(dml.note ?? '', /dml.*not available/);
});
test('an available provider is tried first with the CPU behind it', () => {
  assert.deepEqual(chooseDevice('webgpu', bundled, 'linux'), { providers: ['webgpu', 'cpu'], note: null });
});
