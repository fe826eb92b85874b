/** Explicit NHWC pads of a k x k conv that keep the size at stride 1 (k // 2 on each side), as tf.conv2d takes them. */
export type Pads = [[number, number], [number, number], [number, number], [number, number]];

export function samePads(k: number): Pads {
  const p = Math.floor(k / 2);
  return [
    [0, 0],
    [p, p],
    [p, p],
    [0, 0],
  ];
}
