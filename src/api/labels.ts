/** Class names for a classifier head: ImageNet-1k's built in, custom lists for other heads. */
import { IMAGENET_CLASSES } from './imagenet-classes.js';

/**
 * The labels of a head with `numClasses` outputs: `labels` when given (must have exactly
 * one name per class), else the ImageNet-1k names for a 1000-class head, else
 * `class 0` ... `class <n-1>`.
 */
export function resolveLabels(numClasses: number, labels?: readonly string[]): readonly string[] {
  if (labels) {
    if (labels.length !== numClasses) {
      throw new Error(
        `got ${labels.length} labels for a classifier with ${numClasses} classes: give one label per class, in ` +
          `class-index order`,
      );
    }
    return [...labels];
  }
  if (numClasses === IMAGENET_CLASSES.length) return IMAGENET_CLASSES;
  return Array.from({ length: numClasses }, (_, i) => `class ${i}`);
}
