/** Rendering of results and status into the page (plain DOM, no framework). */
import type { Prediction, RgbImage } from '../../src/browser/index.js';

/**
 * `document.getElementById` that fails loudly when the page and the script disagree: the element
 * must exist and, when `kind` is given (e.g. `HTMLSelectElement`), be of that class.
 */
export function $(id: string): HTMLElement;
export function $<T extends HTMLElement>(id: string, kind: new () => T): T;
export function $(id: string, kind: new () => HTMLElement = HTMLElement): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`internal: the page has no #${id}`);
  const tag = el.tagName.toLowerCase();
  if (!(el instanceof kind)) throw new Error(`internal: #${id} is a <${tag}>, not a ${kind.name}`);
  return el;
}

/** Paints an RGB image onto a canvas at its own size (CSS scales it up, pixelated). */
export function paintRgb(canvas: HTMLCanvasElement, img: RgbImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d')!;
  const rgba = new ImageData(img.width, img.height);
  for (let i = 0, j = 0; j < img.data.length; i += 4, j += 3) {
    rgba.data[i] = img.data[j]!;
    rgba.data[i + 1] = img.data[j + 1]!;
    rgba.data[i + 2] = img.data[j + 2]!;
    rgba.data[i + 3] = 255;
  }
  ctx.putImageData(rgba, 0, 0);
}

/** The top-k list with probability bars. */
export function renderTopk(list: HTMLOListElement, top: readonly Prediction[]): void {
  list.replaceChildren(
    ...top.map((p, i) => {
      const li = document.createElement('li');
      li.className = i === 0 ? 'best' : '';
      const pct = p.probability * 100;
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = p.label;
      label.title = `class ${p.index}`;
      const value = document.createElement('span');
      value.className = 'value';
      value.textContent = pct >= 0.1 ? `${pct.toFixed(1)} %` : '< 0.1 %';
      const bar = document.createElement('span');
      bar.className = 'bar';
      const fill = document.createElement('span');
      fill.style.width = `${Math.max(0.5, pct).toFixed(2)}%`;
      bar.append(fill);
      li.append(label, value, bar);
      return li;
    }),
  );
}

/** Formats milliseconds for humans: 3 significant digits. */
export function ms(v: number): string {
  return v >= 100 ? `${v.toFixed(0)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`;
}

/** 2345678 -> "2.35 M". */
export function millions(v: number): string {
  return `${(v / 1e6).toFixed(2)} M`;
}

/** Shows one error line (the library's message) in the banner until dismissed or replaced. */
export function showError(banner: HTMLElement, message: string): void {
  banner.querySelector('.message')!.textContent = message;
  banner.hidden = false;
}

/** Hides the error banner. */
export function clearError(banner: HTMLElement): void {
  banner.hidden = true;
}

/** The one-line message of anything thrown. */
export function errorMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0]!;
}
