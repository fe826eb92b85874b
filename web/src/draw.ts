/**
 * A small drawing pad: white strokes on black, the look of a Fashion-MNIST picture.
 * Pointer events cover mouse, pen and touch alike.
 */
export interface DrawPad {
  /** Clears to black. */
  clear(): void;
  /** True once something was drawn since the last clear. */
  readonly dirty: boolean;
}

/** Makes `canvas` drawable; `onStroke` runs when a stroke ends (to classify the drawing). */
export function drawPad(canvas: HTMLCanvasElement, onStroke: () => void): DrawPad {
  const ctx = canvas.getContext('2d')!;
  let drawing = false;
  let dirty = false;
  let last: { x: number; y: number } | null = null;

  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    dirty = false;
    canvas.parentElement?.classList.remove('dirty'); // shows the "draw here" hint again
  };
  const at = (e: PointerEvent) => {
    const r = canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * canvas.width) / r.width, y: ((e.clientY - r.top) * canvas.height) / r.height };
  };
  const line = (to: { x: number; y: number }) => {
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = canvas.width / 14; // about two Fashion-MNIST pixels
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo((last ?? to).x, (last ?? to).y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    last = to;
    dirty = true;
    canvas.parentElement?.classList.add('dirty');
  };

  canvas.addEventListener('pointerdown', (e) => {
    drawing = true;
    last = null;
    canvas.setPointerCapture(e.pointerId);
    line(at(e));
  });
  canvas.addEventListener('pointermove', (e) => {
    if (drawing) line(at(e));
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    last = null;
    onStroke();
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  clear();
  return {
    clear,
    get dirty() {
      return dirty;
    },
  };
}
