/** `repghost convert <in> <out>`: any checkpoint -> the official deploy-form state dict. */
import type { Command } from 'commander';
export function register(program: Command): void {
  void program;
}
