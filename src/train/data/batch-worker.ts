/**
 * Entry of a data worker thread (see batch-pool.ts): runs each job it is sent and posts
 * the images back, their buffer transferred rather than copied.
 */
import { parentPort } from 'node:worker_threads';
import { runSampleJob, type SampleJob } from './sample-pipeline.js';

const port = parentPort;
if (!port) throw new Error('batch-worker.ts runs as a worker thread');

// Jobs run one after another, never interleaved: a job queued behind another starts the
// moment it ends (the worker never idles while work is queued), and each job's time is one
// thread's time for its own images.
let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: { id: number; job: SampleJob }) => {
  queue = queue.then(() =>
    runSampleJob(msg.job).then(
      (result) => port.postMessage({ id: msg.id, result }, [result.data.buffer as ArrayBuffer]),
      (e: unknown) => port.postMessage({ id: msg.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    ),
  );
});
port.postMessage({ ready: true });
