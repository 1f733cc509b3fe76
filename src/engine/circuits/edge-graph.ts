/**
 * The nodes and edges of a model's computational graph at the granularity of edge attribution
 * (Syed et al. 2023; Hanna et al. 2024): what writes into the residual stream (upstream nodes) and
 * what reads from it (downstream nodes), and which writer each reader can see.
 *
 *  upstream   `embed` (token plus position embedding), each head's output z_h · W_O[h] (`L5H1`),
 *             each MLP's output (`mlp5`)
 *  downstream each head's query, key and value inputs (`L5H1.q`, `L5H1.k`, `L5H1.v`; with grouped-
 *             query attention the key and value inputs belong to key/value heads: `L5KV1.k`), each
 *             MLP's input (`mlp5`) and the logits (`logits`), each reading its own copy of the
 *             residual stream (TransformerLens's split q/k/v and MLP inputs)
 *  edges      u → v when u writes before v reads: the embedding feeds everything; a head feeds every
 *             later layer and its own layer's MLP (not with a parallel residual, where the MLP reads
 *             resid_pre); an MLP feeds every later layer; everything feeds the logits.
 */
import { EngineError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';

export type UpstreamNode = { kind: 'embed' } | { kind: 'head'; layer: number; head: number } | { kind: 'mlp'; layer: number };

/** Which projection of a head reads the input: its query, key or value. */
export type HeadInput = 'q' | 'k' | 'v';

export type DownstreamNode =
  /** For `k` and `v` with grouped-query attention, `head` is the key/value head. */
  { kind: 'head-input'; layer: number; head: number; input: HeadInput } | { kind: 'mlp'; layer: number } | { kind: 'logits' };

/** An edge by its nodes' indices in EdgeGraph.upstream and EdgeGraph.downstream. */
export interface EdgeRef {
  from: number;
  to: number;
}

type GraphShape = Pick<ModelConfig, 'nLayers' | 'nHeads' | 'nKvHeads' | 'parallelResidual'>;

export class EdgeGraph {
  /** `embed`, then per layer its heads and then its MLP. */
  readonly upstream: readonly UpstreamNode[];
  /** Per layer its heads' q inputs, k inputs, v inputs and then its MLP, then `logits`. */
  readonly downstream: readonly DownstreamNode[];
  /** Every edge, grouped by downstream node in `downstream`'s order, upstream nodes ascending within. */
  readonly edges: readonly EdgeRef[];
  private readonly upstreamByName: Map<string, number>;
  private readonly downstreamByName: Map<string, number>;
  private readonly edgeByKey: Map<number, number>;

  constructor(readonly shape: GraphShape) {
    const { nLayers, nHeads } = shape;
    const nKv = shape.nKvHeads ?? nHeads;
    const up: UpstreamNode[] = [{ kind: 'embed' }];
    const down: DownstreamNode[] = [];
    for (let layer = 0; layer < nLayers; layer++) {
      for (let head = 0; head < nHeads; head++) up.push({ kind: 'head', layer, head });
      up.push({ kind: 'mlp', layer });
      for (const input of ['q', 'k', 'v'] as const) {
        for (let head = 0; head < (input === 'q' ? nHeads : nKv); head++) down.push({ kind: 'head-input', layer, head, input });
      }
      down.push({ kind: 'mlp', layer });
    }
    down.push({ kind: 'logits' });
    this.upstream = up;
    this.downstream = down;
    this.upstreamByName = new Map(up.map((n, i) => [this.upstreamName(n), i]));
    this.downstreamByName = new Map(down.map((n, i) => [this.downstreamName(n), i]));
    const edges: EdgeRef[] = [];
    down.forEach((v, to) => up.forEach((u, from) => this.connects(u, v) && edges.push({ from, to })));
    this.edges = edges;
    this.edgeByKey = new Map(edges.map((e, i) => [e.from * down.length + e.to, i]));
  }

  get groupedQueryAttention(): boolean {
    return (this.shape.nKvHeads ?? this.shape.nHeads) !== this.shape.nHeads;
  }

  /** Whether upstream node `u` writes before downstream node `v` reads. */
  connects(u: UpstreamNode, v: DownstreamNode): boolean {
    if (u.kind === 'embed' || v.kind === 'logits') return true;
    if (u.kind === 'head') return v.layer > u.layer || (v.kind === 'mlp' && v.layer === u.layer && this.shape.parallelResidual !== true);
    return v.layer > u.layer;
  }

  upstreamName(n: UpstreamNode): string {
    return n.kind === 'embed' ? 'embed' : n.kind === 'mlp' ? `mlp${n.layer}` : `L${n.layer}H${n.head}`;
  }

  downstreamName(n: DownstreamNode): string {
    if (n.kind !== 'head-input') return n.kind === 'logits' ? 'logits' : `mlp${n.layer}`;
    const kv = n.input !== 'q' && this.groupedQueryAttention;
    return `L${n.layer}${kv ? 'KV' : 'H'}${n.head}.${n.input}`;
  }

  edgeName(e: EdgeRef): { from: string; to: string } {
    return { from: this.upstreamName(this.upstream[e.from]!), to: this.downstreamName(this.downstream[e.to]!) };
  }

  /** The index in `edges` of the edge between the named nodes; a typed error names what is missing. */
  edgeIndex(from: string, to: string): number {
    const u = this.upstreamByName.get(from);
    if (u === undefined) throw new EngineError('BAD_ARGUMENT', `"${from}" is not a node that writes to the residual stream of this model.`, this.namingHint());
    const v = this.downstreamByName.get(to);
    if (v === undefined) throw new EngineError('BAD_ARGUMENT', `"${to}" is not a node that reads the residual stream of this model.`, this.namingHint());
    const index = this.edgeByKey.get(u * this.downstream.length + v);
    if (index === undefined) throw new EngineError('BAD_ARGUMENT', `There is no edge ${from} → ${to}: ${from} does not write before ${to} reads.`);
    return index;
  }

  /** The index of the named upstream node, or undefined. */
  upstreamIndex(name: string): number | undefined {
    return this.upstreamByName.get(name);
  }

  private namingHint(): string {
    const { nLayers, nHeads } = this.shape;
    return `Nodes are embed, L<layer>H<head> (layers 0..${nLayers - 1}, heads 0..${nHeads - 1}) and mlp<layer>; inputs add .q, .k or .v; logits reads last.`;
  }
}
