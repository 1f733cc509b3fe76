/**
 * The WebGL model grid (three): one instanced mesh of spheres (one instance per head, colour per
 * instance), a translucent plate behind each layer that lights up when the layer's results have
 * arrived, the measured head → head edges of a circuit as tubes (only with one; their caption is
 * an HTML overlay on screen and drawn into the PNG), rings for the selection and the keyboard cursor, orbit
 * and zoom (OrbitControls), and raycast picking. Renders on demand, not in a loop.
 */
import {
  Color,
  DoubleSide,
  Group,
  InstancedMesh,
  Matrix4,
  Mesh,
  MeshBasicMaterial,
  PerspectiveCamera,
  PlaneGeometry,
  Raycaster,
  Scene,
  SphereGeometry,
  TorusGeometry,
  TubeGeometry,
  CatmullRomCurve3,
  Vector2,
  Vector3,
  WebGLRenderer,
} from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import type { Palette, Rgb } from '../../shared/colour.js';
import { canvasPng, drawCaption } from '../../shared/canvas.js';
import type { HeadCursor } from '../../state/selection.js';
import { edgeCurve, GRID_SPACING, HEAD_RADIUS, headPosition } from './grid-model.js';
import type { GridData, GridRenderer, ScreenPoint } from './grid-renderer.js';

function colour(c: Rgb): Color {
  return new Color().setRGB(c[0] / 255, c[1] / 255, c[2] / 255, 'srgb');
}

export class WebGlGrid implements GridRenderer {
  readonly kind = 'webgl' as const;
  readonly canvas: HTMLCanvasElement;
  private readonly renderer: WebGLRenderer;
  private readonly scene = new Scene();
  private readonly camera = new PerspectiveCamera(35, 1, 0.1, 1000);
  private readonly controls: OrbitControls;
  private readonly sphere = new SphereGeometry(HEAD_RADIUS, 20, 14);
  private heads: InstancedMesh | null = null;
  private readonly plates = new Group();
  private readonly edges = new Group();
  private readonly selectedRing: Mesh;
  private readonly cursorRing: Mesh;
  private readonly raycaster = new Raycaster();
  private nLayers = 0;
  private nHeads = 0;
  private width = 1;
  private height = 1;
  private caption: { text: string; palette: Palette } | null = null;
  private readonly listeners: (() => void)[] = [];

  /** Throws when WebGL is unavailable (the caller falls back to the 2D grid). */
  constructor() {
    // preserveDrawingBuffer: the PNG export reads the canvas after the frame was presented.
    this.renderer = new WebGLRenderer({ antialias: true, preserveDrawingBuffer: true, alpha: false });
    this.canvas = this.renderer.domElement;
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    // Reading back link status makes every shader compile synchronous; the shaders are three's own.
    this.renderer.debug.checkShaderErrors = false;
    this.controls = new OrbitControls(this.camera, this.canvas);
    this.controls.enableDamping = false;
    this.controls.addEventListener('change', () => {
      this.render();
      for (const l of this.listeners) l();
    });
    this.selectedRing = new Mesh(new TorusGeometry(HEAD_RADIUS * 1.45, 0.06, 8, 40), new MeshBasicMaterial());
    this.cursorRing = new Mesh(new TorusGeometry(HEAD_RADIUS * 1.3, 0.03, 6, 40), new MeshBasicMaterial());
    this.selectedRing.visible = false;
    this.cursorRing.visible = false;
    this.scene.add(this.plates, this.edges, this.selectedRing, this.cursorRing);
  }

  setSize(width: number, height: number): void {
    this.width = Math.max(1, width);
    this.height = Math.max(1, height);
    this.renderer.setSize(this.width, this.height, true);
    this.camera.aspect = this.width / this.height;
    this.camera.updateProjectionMatrix();
  }

  setData(data: GridData, palette: Palette): void {
    const rebuild = data.nLayers !== this.nLayers || data.nHeads !== this.nHeads || !this.heads;
    this.nLayers = data.nLayers;
    this.nHeads = data.nHeads;
    this.caption = data.caption ? { text: data.caption, palette } : null;
    this.scene.background = colour(palette.background);
    if (rebuild) {
      if (this.heads) {
        this.scene.remove(this.heads);
        this.heads.dispose();
      }
      const count = data.nLayers * data.nHeads;
      this.heads = new InstancedMesh(this.sphere, new MeshBasicMaterial(), Math.max(1, count));
      this.heads.count = count;
      const m = new Matrix4();
      for (let l = 0; l < data.nLayers; l++) {
        for (let h = 0; h < data.nHeads; h++) {
          const [x, y, z] = headPosition(l, h, data.nLayers, data.nHeads);
          this.heads.setMatrixAt(l * data.nHeads + h, m.makeTranslation(x, y, z));
        }
      }
      this.heads.instanceMatrix.needsUpdate = true;
      this.scene.add(this.heads);
      this.resetView();
    }
    const heads = this.heads!;
    data.colours.forEach((c, i) => heads.setColorAt(i, colour(c)));
    if (heads.instanceColor) heads.instanceColor.needsUpdate = true;

    this.clear(this.plates);
    const plateWidth = data.nHeads * GRID_SPACING;
    for (let l = 0; l < data.nLayers; l++) {
      const plate = new Mesh(
        new PlaneGeometry(plateWidth, GRID_SPACING * 0.92),
        new MeshBasicMaterial({
          color: colour(data.lit[l] ? palette.foreground : palette.grid),
          transparent: true,
          opacity: data.lit[l] ? 0.07 : 0.03,
          side: DoubleSide,
          depthWrite: false,
        }),
      );
      plate.position.set(0, headPosition(l, 0, data.nLayers, data.nHeads)[1], -HEAD_RADIUS * 1.2);
      this.plates.add(plate);
    }

    this.clear(this.edges);
    for (const edge of data.edges) {
      const points = edgeCurve(edge, data.nLayers, data.nHeads).map(([x, y, z]) => new Vector3(x, y, z));
      const tube = new TubeGeometry(new CatmullRomCurve3(points), 24, 0.025 + 0.055 * edge.weight, 6, false);
      this.edges.add(new Mesh(tube, new MeshBasicMaterial({ color: colour(palette.path), transparent: true, opacity: 0.35 + 0.6 * edge.weight })));
    }
  }

  setMarks(selected: HeadCursor | null, cursor: HeadCursor | null, palette: Palette): void {
    const place = (ring: Mesh, at: HeadCursor | null, c: Rgb) => {
      ring.visible = at !== null && at.layer < this.nLayers && at.head < this.nHeads;
      if (!at || !ring.visible) return;
      const [x, y, z] = headPosition(at.layer, at.head, this.nLayers, this.nHeads);
      ring.position.set(x, y, z);
      (ring.material as MeshBasicMaterial).color = colour(c);
    };
    place(this.selectedRing, selected, palette.accent);
    place(this.cursorRing, cursor, palette.foreground);
  }

  pick(x: number, y: number): HeadCursor | null {
    if (!this.heads) return null;
    const ndc = new Vector2((x / this.width) * 2 - 1, -(y / this.height) * 2 + 1);
    this.raycaster.setFromCamera(ndc, this.camera);
    const hit = this.raycaster.intersectObject(this.heads, false)[0];
    if (hit?.instanceId === undefined) return null;
    return { layer: Math.floor(hit.instanceId / this.nHeads), head: hit.instanceId % this.nHeads };
  }

  project(layer: number, head: number): ScreenPoint | null {
    const [x, y, z] = headPosition(layer, head, this.nLayers, this.nHeads);
    const v = new Vector3(x, y, z).project(this.camera);
    if (v.z > 1) return null;
    return { x: ((v.x + 1) / 2) * this.width, y: ((1 - v.y) / 2) * this.height };
  }

  resetView(): void {
    // Far enough that the whole grid (plus a margin for the slight turn) fits both ways.
    const needHeight = this.nLayers * GRID_SPACING + 1;
    const needWidth = this.nHeads * GRID_SPACING + 1.5;
    const visible = Math.max(needHeight, needWidth / this.camera.aspect) * 1.08;
    const distance = visible / (2 * Math.tan((this.camera.fov * Math.PI) / 360));
    // Turned a little, so that the depth of the path edges shows.
    const direction = new Vector3(0.22, -0.12, 1).normalize();
    this.camera.position.copy(direction.multiplyScalar(distance));
    this.controls.target.set(0, 0, 0);
    this.controls.update();
  }

  render(): void {
    this.renderer.render(this.scene, this.camera);
  }

  png(): Uint8Array {
    this.render();
    if (!this.caption) return canvasPng(this.canvas);
    // The caption is HTML on screen; the PNG gets it drawn over a copy of the frame.
    const copy = document.createElement('canvas');
    copy.width = this.canvas.width;
    copy.height = this.canvas.height;
    const ctx = copy.getContext('2d');
    if (!ctx) return canvasPng(this.canvas);
    ctx.drawImage(this.canvas, 0, 0);
    ctx.scale(copy.width / this.width, copy.height / this.height);
    drawCaption(ctx, this.caption.text, this.caption.palette.foreground, this.caption.palette.fontFamily);
    return canvasPng(copy);
  }

  onViewChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  dispose(): void {
    this.controls.dispose();
    this.clear(this.plates);
    this.clear(this.edges);
    this.heads?.dispose();
    this.sphere.dispose();
    this.renderer.dispose();
    this.listeners.length = 0;
  }

  private clear(group: Group): void {
    for (const child of [...group.children]) {
      group.remove(child);
      if (child instanceof Mesh) {
        child.geometry.dispose();
        (child.material as MeshBasicMaterial).dispose();
      }
    }
  }
}
