/**
 * Writes a random dictionary (random-dictionary.ts) in the layout of each format's real files:
 *
 * - `saelens`: cfg.json + sae_weights.safetensors (W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc,
 *   b_dec, threshold), in DIR for one layer, else in DIR/blocks.L.<hook>/ per layer (as a SAELens
 *   release names its SAEs);
 * - `transcoder`: circuit-tracer's hub layout, config.yaml (model_kind: transcoder_set) and
 *   layer_L.safetensors (W_enc [d_sae, d_model], W_dec [d_sae, d_model], b_enc, b_dec,
 *   activation_function.threshold, W_skip [d_model, d_model] applied as x · W_skipᵀ); with
 *   `legacyLayout`, its first release's: transcoders.yaml listing {id, layer, filepath} and W_dec
 *   stored [d_model, d_sae];
 * - `clt`: config.yaml (model_kind: cross_layer_transcoder), W_enc_L.safetensors (W_enc_L
 *   [d_sae, d_model], b_enc_L, b_dec_L, threshold_L) and W_dec_L.safetensors (W_dec_L [d_sae, n_layers − L, d_model]);
 * - `gemma-scope-npz`: DIR/layer_L/width_W/average_l0_N/params.npz (W_enc [d_model, d_sae],
 *   W_dec [d_sae, d_model], b_enc, b_dec, threshold; JumpReLU only, as Gemma Scope).
 *
 * The SAELens cfg.json names the processing SAELens's training writes today,
 * model_from_pretrained_kwargs {"center_writing_weights": false} (fold_ln left on); the other
 * formats' loaders take the unprocessed model. randomDictionaryProcessing says which, so the
 * samples that calibrate the weights are read as the loaded dictionary will read its hook.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../errors.js';
import { writeSafetensorsFile, type TensorToWrite, type WritableDtype } from '../model/safetensors-writer.js';
import { writeNpz } from './npz-writer.js';
import { UNPROCESSED_MODEL, type ModelProcessing } from './dictionary.js';
import type { RandomDictionary, RandomDictionaryFormat, RandomDictionaryLayer } from './random-dictionary.js';
import { transpose } from './stored-tensors.js';

export interface RandomDictionaryFiles {
  /** The hooks the files name: short per-layer names (`hook_resid_pre`, `ln2.hook_normalized`, `hook_mlp_out`). */
  inputHook: string;
  /** A transcoder's output hook (SAEs write to inputHook). */
  outputHook: string;
  /** The dtype every safetensors tensor is stored in (default F32). */
  dtype?: WritableDtype;
  /** `transcoder` only: the first release's layout. */
  legacyLayout?: boolean;
  modelName: string;
}

const DTYPE_NAMES: Record<WritableDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The model processing a random dictionary of `format` is loaded with (see the file comment). */
export function randomDictionaryProcessing(format: RandomDictionaryFormat): ModelProcessing {
  return format === 'saelens' ? { centerWritingWeights: false, foldLn: true } : UNPROCESSED_MODEL;
}

/** The width as Gemma Scope names it in paths: 16384 → 16k, 64 → 64. */
function widthName(width: number): string {
  return width % 1024 === 0 ? `${width / 1024}k` : String(width);
}

/** Writes `dictionary` under `dir`; returns the files written, relative to `dir`. */
export async function writeRandomDictionary(dir: string, dictionary: RandomDictionary, files: RandomDictionaryFiles): Promise<string[]> {
  const { spec } = dictionary;
  const dtype = files.dtype ?? 'F32';
  const d = dictionary.dModel;
  const n = spec.width;
  const written: string[] = [];
  const tensor = (name: string, shape: number[], data: Float32Array): TensorToWrite => ({ name, dtype, shape, data });
  const save = async (relative: string, tensors: TensorToWrite[]): Promise<void> => {
    await writeSafetensorsFile(join(dir, relative), tensors, { format: 'pt' });
    written.push(relative);
  };
  const text = (relative: string, content: string): void => {
    writeFileSync(join(dir, relative), content);
    written.push(relative);
  };
  const thresholdOf = (l: RandomDictionaryLayer): Float32Array => {
    if (!l.threshold) throw new EngineError('INTERNAL', 'A JumpReLU dictionary layer has no threshold.');
    return l.threshold;
  };
  mkdirSync(dir, { recursive: true });

  if (spec.format === 'saelens') {
    const single = dictionary.layers.length === 1;
    for (const l of dictionary.layers) {
      const hookName = `blocks.${l.layer}.${files.inputHook}`;
      const sub = single ? '' : hookName;
      if (sub) mkdirSync(join(dir, sub), { recursive: true });
      const cfg = {
        architecture: spec.activation === 'jumprelu' ? 'jumprelu' : spec.activation === 'topk' ? 'topk' : 'standard',
        d_in: d,
        d_sae: n,
        dtype: DTYPE_NAMES[dtype],
        device: 'cpu',
        model_name: files.modelName,
        hook_name: hookName,
        hook_layer: l.layer,
        hook_head_index: null,
        activation_fn_str: spec.activation === 'topk' ? 'topk' : 'relu',
        activation_fn_kwargs: spec.activation === 'topk' ? { k: spec.k } : {},
        apply_b_dec_to_input: spec.activation !== 'jumprelu',
        finetuning_scaling_factor: false,
        context_size: 128,
        prepend_bos: true,
        normalize_activations: 'none',
        sae_lens_training_version: null,
        model_from_pretrained_kwargs: { center_writing_weights: false },
      };
      text(join(sub, 'cfg.json'), `${JSON.stringify(cfg, null, 2)}\n`);
      const tensors = [
        tensor('W_enc', [d, n], l.W_enc),
        tensor('W_dec', [n, d], l.W_dec[0]!),
        tensor('b_enc', [n], l.b_enc),
        tensor('b_dec', [d], l.b_dec[0]!),
      ];
      if (spec.activation === 'jumprelu') tensors.push(tensor('threshold', [n], thresholdOf(l)));
      await save(join(sub, 'sae_weights.safetensors'), tensors);
    }
    return written;
  }

  if (spec.format === 'gemma-scope-npz') {
    if (spec.activation !== 'jumprelu') throw new EngineError('BAD_ARGUMENT', 'Gemma Scope dictionaries are JumpReLU: use --activation jumprelu.');
    for (const l of dictionary.layers) {
      const sub = join(`layer_${l.layer}`, `width_${widthName(n)}`, `average_l0_${Math.max(1, Math.round((spec.firingRate ?? 0.04) * n))}`);
      mkdirSync(join(dir, sub), { recursive: true });
      writeNpz(join(dir, sub, 'params.npz'), [
        { name: 'W_enc', shape: [d, n], data: l.W_enc },
        { name: 'W_dec', shape: [n, d], data: l.W_dec[0]! },
        { name: 'threshold', shape: [n], data: thresholdOf(l) },
        { name: 'b_enc', shape: [n], data: l.b_enc },
        { name: 'b_dec', shape: [d], data: l.b_dec[0]! },
      ]);
      written.push(join(sub, 'params.npz'));
    }
    return written;
  }

  const activationLine =
    spec.activation === 'topk' ? `activation: topk\nk: ${spec.k}\n` : `activation: ${spec.activation === 'jumprelu' ? 'jump_relu' : 'relu'}\n`;
  if (spec.format === 'clt') {
    if (spec.activation === 'topk') throw new EngineError('BAD_ARGUMENT', 'circuit-tracer cross-layer transcoders are relu or jumprelu, not topk.');
    text(
      'config.yaml',
      `# A random cross-layer transcoder (seed ${spec.seed})\nmodel_name: "${files.modelName}"\nmodel_kind: cross_layer_transcoder\nfeature_input_hook: "${files.inputHook}"\nfeature_output_hook: "${files.outputHook}"\n`,
    );
    const nLayers = dictionary.layers.length;
    for (const l of dictionary.layers) {
      const enc = [
        tensor(`W_enc_${l.layer}`, [n, d], transpose(l.W_enc, d, n)),
        tensor(`b_enc_${l.layer}`, [n], l.b_enc),
        tensor(`b_dec_${l.layer}`, [d], l.b_dec[0]!),
      ];
      if (spec.activation === 'jumprelu') enc.push(tensor(`threshold_${l.layer}`, [n], thresholdOf(l)));
      await save(`W_enc_${l.layer}.safetensors`, enc);
      // [d_sae, n_out, d_model]: feature f's rows for every output layer, one after another.
      const nOut = nLayers - l.layer;
      const dec = new Float32Array(n * nOut * d);
      for (let f = 0; f < n; f++) for (let j = 0; j < nOut; j++) dec.set(l.W_dec[j]!.subarray(f * d, (f + 1) * d), (f * nOut + j) * d);
      await save(`W_dec_${l.layer}.safetensors`, [tensor(`W_dec_${l.layer}`, [n, nOut, d], dec)]);
    }
    return written;
  }

  // Per-layer transcoders.
  const layerFile = (layer: number): string => `layer_${layer}.safetensors`;
  if (files.legacyLayout) {
    if (spec.activation === 'topk')
      throw new EngineError('BAD_ARGUMENT', "circuit-tracer's first layout has no way to store k: write topk transcoders in the current layout.");
    const entries = dictionary.layers.map((l) => `  - id: "random-${l.layer}"\n    layer: ${l.layer}\n    filepath: "${layerFile(l.layer)}"\n`).join('\n');
    text(
      'transcoders.yaml',
      `# Random transcoders (seed ${spec.seed}) in circuit-tracer's first layout\nmodel_name: "${files.modelName}"\nfeature_input_hook: "${files.inputHook}"\nfeature_output_hook: '${files.outputHook}'\n\ntranscoders:\n${entries}`,
    );
  } else {
    text(
      'config.yaml',
      `# Random transcoders (seed ${spec.seed})\nmodel_name: "${files.modelName}"\nmodel_kind: transcoder_set\nfeature_input_hook: "${files.inputHook}"\nfeature_output_hook: "${files.outputHook}"\n${activationLine}`,
    );
  }
  for (const l of dictionary.layers) {
    const tensors = [
      tensor('W_enc', [n, d], transpose(l.W_enc, d, n)),
      files.legacyLayout ? tensor('W_dec', [d, n], transpose(l.W_dec[0]!, n, d)) : tensor('W_dec', [n, d], l.W_dec[0]!),
      tensor('b_enc', [n], l.b_enc),
      tensor('b_dec', [d], l.b_dec[0]!),
    ];
    if (spec.activation === 'jumprelu') tensors.push(tensor('activation_function.threshold', [n], thresholdOf(l)));
    if (l.W_skip) tensors.push(tensor('W_skip', [d, d], transpose(l.W_skip, d, d)));
    await save(layerFile(l.layer), tensors);
  }
  return written;
}
