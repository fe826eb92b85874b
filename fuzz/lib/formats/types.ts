/** The contract between the fuzz runner and each input format it fuzzes. */
import type { Rng } from '../rng.js';

/** Formats the fuzzer knows. */
export const FORMAT_NAMES = ['pth', 'pickle', 'safetensors', 'idx', 'image'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

/** A valid file the mutations start from. */
export interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Relative pick weight (expensive seeds are picked less often). */
  weight: number;
}

/** One generated case: the bytes to parse and how they were made. */
export interface CaseInput {
  bytes: Uint8Array;
  seed: string;
  /** Mutations applied, in order (for reports and reproduction). */
  notes: string[];
  /** Per-case options the run step uses (e.g. ask for EMA weights). */
  ema?: boolean;
}

/** A format's seeds, mutator and parser entry point, ready to run cases. */
export interface PreparedFormat {
  seeds: Seed[];
  /** Deterministic: the same rng state gives the same case. */
  mutate(rng: Rng): CaseInput;
  /**
   * Parses the case the way the package does for a user's file; returns what it produced (kept alive while memory is
   * measured).
   */
  run(input: CaseInput): unknown;
  /**
   * The most array-buffer memory this case may legitimately hold after parsing
   * (bytes): a small multiple of the input plus a constant, plus for images the
   * decoded pixels the header declared.
   */
  memoryBound(input: CaseInput, result: unknown): number;
}

/** A fuzzable format. */
export interface FormatTarget {
  name: FormatName;
  /** What the cases exercise, for the report. */
  description: string;
  /** Loads seeds; `quick` keeps only small ones (for the test suite). Throws naming any missing seed path. */
  prepare(opts: { quick: boolean }): Promise<PreparedFormat>;
}

export const MiB = 1024 * 1024;
