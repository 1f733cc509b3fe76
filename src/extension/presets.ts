/**
 * The five preset prompts of the original Circuit Trace web app, each with the circuit the
 * interpretability literature expects to find on GPT-2 small. The same five live in the sample
 * workspace's `presets.prompt` (test/e2e/workspace) and a unit test keeps the two in step.
 */

import type { MetricRequest } from '../protocol/engine.js';

export interface Preset {
  id: 'ioi' | 'induction' | 'factual-recall' | 'greater-than' | 'duplicate-token';
  /** The name used as the prompt's header in `.prompt` files. */
  name: string;
  label: string;
  prompt: string;
  /** Traced token (JSON-string form in `.prompt` files); absent: the model's top prediction. */
  target?: string;
  contrast?: string;
  /** Corrupted counterpart with the same token length, for activation patching. */
  corrupt?: string;
  /** The metric its analyses report and its patch sweeps restore, when the literature names one (`@metric` in `.prompt` files; default: see MetricRequest). */
  metric?: MetricRequest;
  /** What the literature expects, as the original app described it. */
  expectedCircuit: string;
  /** Where the expectation comes from. */
  source: string;
}

export const PRESETS: readonly Preset[] = [
  {
    id: 'ioi',
    name: 'IOI',
    label: 'Indirect object identification',
    prompt: 'When Mary and John went to the store, John gave a drink to',
    target: ' Mary',
    contrast: ' John',
    corrupt: 'When Mary and John went to the store, Mary gave a drink to',
    expectedCircuit: 'Name-mover heads in L9–L11 write " Mary".',
    source: 'Wang et al. 2022, Interpretability in the Wild (IOI circuit in GPT-2 small)',
  },
  {
    id: 'induction',
    name: 'Induction',
    label: 'Induction copying',
    prompt: 'The cat sat on the mat. The cat sat on the',
    target: ' mat',
    contrast: ' rug',
    corrupt: 'The cat sat on the rug. The cat sat on the',
    expectedCircuit: 'Induction heads (L5–L7 typically) attend from the current token to the token after its previous occurrence and copy " mat".',
    source: 'Olsson et al. 2022, In-context Learning and Induction Heads',
  },
  {
    id: 'factual-recall',
    name: 'Factual recall',
    label: 'Factual recall',
    prompt: 'The capital of France is',
    target: ' Paris',
    contrast: ' Rome',
    corrupt: 'The capital of Italy is',
    expectedCircuit: 'MLPs do most of the work; few attention heads dominate.',
    source: 'Meng et al. 2022, Locating and Editing Factual Associations in GPT (ROME)',
  },
  {
    id: 'greater-than',
    name: 'Greater-than',
    label: 'Greater-than (year continuation)',
    prompt: 'The war lasted from the year 1732 to 17',
    corrupt: 'The war lasted from the year 1701 to 17',
    // The paper's metric: p(year > 32) − p(year ≤ 32) over the tokens "00".."99".
    metric: { kind: 'greater-than', startYear: 32 },
    expectedCircuit: 'Early positional heads + deep digit heads.',
    source: 'Hanna et al. 2023, How does GPT-2 compute greater-than?',
  },
  {
    id: 'duplicate-token',
    name: 'Duplicate token',
    label: 'Duplicate token',
    prompt: 'The password is SWORDFISH. Again, the password is',
    expectedCircuit: 'Duplicate-token heads in early layers feed downstream induction heads.',
    source: 'Wang et al. 2022 (duplicate-token heads); Olsson et al. 2022 (induction heads)',
  },
];

/** Renders presets in `.prompt` format (docs/prompt-format.md). */
export function presetsAsPromptFile(presets: readonly Preset[] = PRESETS): string {
  const blocks = presets.map((p) => {
    const lines = [`// ${p.label}. Expected: ${p.expectedCircuit}`, `## ${p.name}`, p.prompt];
    if (p.target !== undefined) lines.push(`@target ${JSON.stringify(p.target)}`);
    if (p.contrast !== undefined) lines.push(`@contrast ${JSON.stringify(p.contrast)}`);
    if (p.corrupt !== undefined) lines.push(`@corrupt ${JSON.stringify(p.corrupt)}`);
    if (p.metric !== undefined) lines.push(`@metric ${p.metric.kind} ${String(p.metric.startYear).padStart(2, '0')}`);
    return lines.join('\n');
  });
  return blocks.join('\n\n') + '\n';
}
