/**
 * The packed forward (activation patching's fast path, see PackedRunRequest): prompts and patched
 * branches of their last positions as the rows of one sequence per block call, laid out by
 * packed-layout.ts. A branch's start point (its layer and its prompt's resid_pre there) is the
 * branch's own.
 */
import { throwIfCancelled } from '../errors.js';
import { attentionWindowOf } from '../model/config.js';
import { rotaryFeeds } from './block-feeds.js';
import { embed } from './embedding.js';
import { planHooks } from './hook-plan.js';
import { f32, flag, indexTensor, int64 } from './ort-tensors.js';
import { throwIfNonFinite } from './output-check.js';
import { packedLayout, packedMask, packedPositions, packedRouting, packedScoreRows, rowsAt } from './packed-layout.js';
import { checkIds, checkScoreTokens } from './prompt-checks.js';
import type { ModelSessions } from './sessions.js';
import type { PackedRunRequest, PackedRunResult, TokenScores } from './types.js';

export async function runPacked(s: ModelSessions, request: PackedRunRequest): Promise<PackedRunResult> {
  const started = performance.now();
  const { config } = s;
  const { nLayers, dModel: D } = config;
  for (const ids of request.prompts) checkIds(ids, config);
  const scoreTokens = checkScoreTokens(request.scoreTokens, config);
  const layout = packedLayout(request, config);
  const { P } = layout;
  const noHooks = planHooks([], nLayers);

  // The prompts' embeddings, then at each layer the branches joining there, copied from their
  // prompt's rows (its resid_pre of that layer) before the call.
  let resid: Float32Array = new Float32Array(request.prompts.length * P * D);
  request.prompts.forEach((ids, i) => resid.set(embed(s.weights, D, ids, 0, noHooks, []), i * P * D));
  const residPost: Float32Array[] = [];
  for (let layer = 0; layer < nLayers; layer++) {
    throwIfCancelled(request.signal);
    const N = rowsAt(layout, layer);
    if (N * D > resid.length) {
      const grown = new Float32Array(N * D);
      grown.set(resid);
      for (const { branch, row } of layout.branches) {
        if (branch.layer === layer) grown.set(resid.subarray((branch.prompt * P + branch.from) * D, (branch.prompt + 1) * P * D), row * D);
      }
      resid = grown;
    }
    const routing = packedRouting(layout, layer);
    const mask = packedMask(layout, layer, attentionWindowOf(config, layer));
    const block = s.blocks[layer]!;
    const out = await block.run(
      {
        ...s.unpatched,
        resid_pre: f32(resid, [1, N, D]),
        attn_mask: f32(mask.mask, mask.dims),
        // GPT-2's graphs: whether ONNX's Attention operator may run it; rotary graphs: each row's position.
        ...(block.inputNames.includes('plain') ? { plain: flag(layout.mode !== 'prefix' && routing.to.length === 0) } : {}),
        ...(block.inputNames.includes('positions') ? { positions: int64(packedPositions(layout, layer)) } : {}),
        ...rotaryFeeds(block, config, packedPositions(layout, layer))(1),
        prefix_rows: int64([layout.mode === 'prefix' ? layout.nPrompts * P : 0]),
        z_route_from: indexTensor(routing.from, 3),
        z_route_to: indexTensor(routing.to, 3),
        ...s.weightFeeds[layer],
      },
      ['resid_post'],
    );
    resid = out['resid_post']!.data as Float32Array;
    residPost.push(resid);
  }

  throwIfCancelled(request.signal);
  // The last position of every prompt, then of every branch in request order.
  const lastRows = [
    ...request.prompts.map((_, i) => i * P + P - 1),
    ...[...layout.branches].sort((a, b) => a.index - b.index).map(({ row, branch }) => row + P - 1 - branch.from),
  ];
  // The final calls score at most packedScoreRows rows each: the logits and their softmax are
  // [rows, vocab] apiece, which for many branches of a large vocabulary would outgrow the blocks' memory.
  const t = scoreTokens.length;
  const logits = new Float32Array(lastRows.length * t),
    probs = new Float32Array(lastRows.length * t);
  const perCall = packedScoreRows(config.dVocab);
  for (let from = 0; from < lastRows.length; from += perCall) {
    throwIfCancelled(request.signal);
    const rows = lastRows.slice(from, from + perCall);
    const out = await s.final.run(
      {
        resid: f32(resid, [1, rowsAt(layout, nLayers - 1), D]),
        logit_pos: int64(rows),
        score: flag(true),
        score_tokens: int64(scoreTokens),
        ...s.weightFeeds[nLayers],
      },
      ['token_logits', 'token_probs'],
    );
    logits.set(out['token_logits']!.data as Float32Array, from * t);
    probs.set(out['token_probs']!.data as Float32Array, from * t);
  }
  throwIfNonFinite({ nLayers, finalResid: resid, residPost, caches: [], extra: [logits, probs] });
  const scores = lastRows.map((_, r): TokenScores => ({ logits: logits.slice(r * t, (r + 1) * t), probs: probs.slice(r * t, (r + 1) * t) }));
  return {
    prompts: scores.slice(0, request.prompts.length),
    branches: scores.slice(request.prompts.length),
    provider: s.provider,
    elapsedMs: performance.now() - started,
  };
}
