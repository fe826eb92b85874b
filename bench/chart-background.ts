/** Chart.js paints on a transparent canvas; benchmark PNGs get a white one so they read in any viewer. */
import type { Plugin } from 'chart.js';

export const whiteBackground: Plugin<'bar'> = {
  id: 'white',
  beforeDraw: (chart) => {
    const ctx = chart.ctx;
    ctx.save();
    ctx.fillStyle = 'white';
    ctx.fillRect(0, 0, chart.width, chart.height);
    ctx.restore();
  },
};
