/** The optimizer of `--opt` (timm's create_optimizer_v2 for sgd, momentum and adamw). */
import { AdamW } from './adamw.js';
import type { ParamLayout } from './layout.js';
import type { Optimizer } from './optimizer.js';
import type { TrainOptions } from './options.js';
import { Sgd } from './sgd.js';

/** Builds the optimizer over `layouts`; `trainable` leaves frozen parameters out, as timm's groups do. */
export function createOptimizer(
  o: Pick<TrainOptions, 'opt' | 'momentum' | 'weightDecay' | 'optEps' | 'optBetas'>,
  layouts: ParamLayout[],
  trainable: (key: string) => boolean,
): Optimizer {
  switch (o.opt) {
    case 'sgd':
      return new Sgd(layouts, { momentum: o.momentum, weightDecay: o.weightDecay, nesterov: true, trainable });
    case 'momentum':
      return new Sgd(layouts, { momentum: o.momentum, weightDecay: o.weightDecay, nesterov: false, trainable });
    case 'adamw':
      return new AdamW(layouts, { betas: o.optBetas, eps: o.optEps, weightDecay: o.weightDecay, trainable });
    default:
      throw new Error(`optimizer '${String(o.opt)}' is not supported (sgd, momentum, adamw)`);
  }
}
