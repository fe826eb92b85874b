/** Classification losses, as timm defines them. */
import * as tf from '@tensorflow/tfjs';

/**
 * timm's LabelSmoothingCrossEntropy: per sample (1 - s) * nll + s * mean(-log p)
 * over classes, averaged over the batch. s = 0 is plain cross-entropy.
 * `targets` are int32 class indices.
 */
export function labelSmoothingCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, smoothing: number): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(targets, logits.shape[1]).toFloat();
    const nll = tf.neg(tf.sum(tf.mul(logp, onehot), 1));
    if (smoothing === 0) return tf.mean<tf.Scalar>(nll);
    const smooth = tf.neg(tf.mean(logp, 1));
    return tf.mean<tf.Scalar>(tf.add(tf.mul(nll, 1 - smoothing), tf.mul(smooth, smoothing)));
  });
}
